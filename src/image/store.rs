//! The local image store, content-addressed: `images/<fingerprint>/` holds the image's
//! original files (exported as they came), its unpacked `rootfs/`, its `templates/` and
//! `image.json`; `images/aliases.toml` maps names to fingerprints. Every addition is made
//! in a `.tmp-*` directory of the store and renamed into place, so a failure or a kill
//! leaves no record (and the next open sweeps what a killed process left).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::metadata::{Metadata, Template};
use super::unpack::{self, Layout, Limits};
use super::{decompress, Error, Result};
use crate::storage::{self, Lock};

/// Where an image came from: what `launch` matches a name against before asking a remote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `remote`, `template` or `import`.
    pub kind: String,
    /// The remote's or template's name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    /// Names this image was asked for by (`debian`, `debian/13`).
    #[serde(default)]
    pub names: Vec<String>,
}

/// One original file of the image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: String,
    /// `meta`, `rootfs` or `unified`.
    pub role: String,
    pub sha256: String,
    pub size: u64,
}

/// `image.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub fingerprint: String,
    pub architecture: String,
    /// The image's own creation date (seconds).
    pub created: i64,
    /// When it entered this store (seconds).
    pub added: u64,
    pub files: Vec<File>,
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub requirements: BTreeMap<String, String>,
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    pub source: Source,
    /// Bytes and entries of the unpacked rootfs.
    pub unpacked_bytes: u64,
    pub entries: u64,
    #[serde(default)]
    pub skipped_devices: u64,
}

impl Record {
    /// `debian/13`, from the image's own properties.
    pub fn short_name(&self) -> String {
        let p = |k: &str| self.properties.get(k).map(String::as_str).unwrap_or("");
        match (p("os"), p("release")) {
            ("", _) => self.fingerprint.get(..12).unwrap_or(&self.fingerprint).to_owned(),
            (os, "") => os.to_lowercase(),
            (os, rel) => format!("{}/{}", os.to_lowercase(), rel),
        }
    }
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Aliases {
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

pub struct Store {
    dir: PathBuf,
    pub limits: Limits,
}

/// A directory in the store where an image is being put together; removed on drop unless
/// committed.
pub struct Staging {
    pub dir: PathBuf,
    done: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = storage::remove_tree(&self.dir);
        }
    }
}

static STAGE: AtomicU32 = AtomicU32::new(0);

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An alias: 1-128 of a-z, A-Z, 0-9 and `-_./`, not starting with `.` or `/`, no `..`.
pub fn validate_alias(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '/'])
        && !name.contains("..")
        && !name.contains("//")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadAlias(name.into()))
    }
}

/// A fingerprint as the store names directories: 64 lowercase hex digits. Anything else
/// (from a remote's index, say) never becomes a path.
pub fn is_fingerprint(fp: &str) -> bool {
    fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    pub fn open(dir: PathBuf, limits: Limits) -> Result<Store> {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { what: "create the image store", path: dir.clone(), source })?;
        // Image trees hold set-uid files and the image's own owners: no host user may
        // reach into them.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|source| Error::Io { what: "restrict the image store", path: dir.clone(), source })?;
        let s = Store { dir, limits };
        s.sweep();
        Ok(s)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Remove what killed imports left: `.tmp-<pid>-*` of processes gone.
    fn sweep(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".tmp-").or_else(|| name.strip_prefix(".deleting-")) else { continue };
            let pid: i32 = rest.split('-').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            if pid <= 0 || !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = storage::remove_tree(&e.path());
            }
        }
    }

    fn lock(&self) -> Result<Lock> {
        Ok(Lock::acquire(&self.dir)?)
    }

    pub fn stage(&self) -> Result<Staging> {
        let dir = self.dir.join(format!(".tmp-{}-{}", std::process::id(), STAGE.fetch_add(1, Ordering::Relaxed)));
        let _ = storage::remove_tree(&dir);
        std::fs::create_dir(&dir).map_err(|source| Error::Io { what: "make a staging directory", path: dir.clone(), source })?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|source| Error::Io { what: "restrict the staging directory", path: dir.clone(), source })?;
        Ok(Staging { dir, done: false })
    }

    pub fn rootfs(&self, fp: &str) -> PathBuf {
        self.dir.join(fp).join("rootfs")
    }
    pub fn templates_dir(&self, fp: &str) -> PathBuf {
        self.dir.join(fp).join("templates")
    }
    pub fn file(&self, fp: &str, name: &str) -> PathBuf {
        self.dir.join(fp).join(name)
    }

    pub fn get(&self, fp: &str) -> Result<Record> {
        if !is_fingerprint(fp) {
            return Err(Error::NotFound(fp.into()));
        }
        let p = self.dir.join(fp).join("image.json");
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(fp.into())),
            Err(source) => return Err(Error::Io { what: "read", path: p, source }),
        };
        let r: Record = serde_json::from_slice(&text).map_err(|e| Error::Corrupt { path: p.clone(), message: e.to_string() })?;
        // The record must be the directory's, and its template names plain file names.
        if r.fingerprint != fp || r.templates.values().any(|t| t.template.contains('/') || t.template == "..") || r.files.iter().any(|f| f.name.contains('/')) {
            return Err(Error::Corrupt { path: p, message: "it does not match its directory".into() });
        }
        Ok(r)
    }

    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|source| Error::Io { what: "read the image store", path: self.dir.clone(), source })?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                if let Ok(r) = self.get(&name) {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| b.added.cmp(&a.added).then(a.fingerprint.cmp(&b.fingerprint)));
        Ok(out)
    }

    pub fn aliases(&self) -> Result<BTreeMap<String, String>> {
        let p = self.dir.join("aliases.toml");
        match std::fs::read_to_string(&p) {
            Ok(t) => toml::from_str::<Aliases>(&t).map(|a| a.aliases).map_err(|e| Error::Corrupt { path: p, message: e.message().to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(Error::Io { what: "read", path: p, source }),
        }
    }

    fn save_aliases(&self, aliases: BTreeMap<String, String>) -> Result<()> {
        let text = toml::to_string(&Aliases { aliases }).map_err(|e| Error::Corrupt { path: self.dir.join("aliases.toml"), message: e.to_string() })?;
        Ok(storage::write_atomic(&self.dir.join("aliases.toml"), text.as_bytes())?)
    }

    pub fn alias_add(&self, alias: &str, fp: &str) -> Result<()> {
        validate_alias(alias)?;
        let _l = self.lock()?;
        self.get(fp)?;
        let mut a = self.aliases()?;
        if let Some(old) = a.get(alias) {
            if old != fp {
                return Err(Error::AliasExists { alias: alias.into(), fingerprint: old.clone() });
            }
        }
        a.insert(alias.into(), fp.into());
        self.save_aliases(a)
    }

    pub fn alias_remove(&self, alias: &str) -> Result<()> {
        let _l = self.lock()?;
        let mut a = self.aliases()?;
        if a.remove(alias).is_none() {
            return Err(Error::NoAlias(alias.into()));
        }
        self.save_aliases(a)
    }

    /// A local alias or a unique fingerprint prefix (at least 4 hex digits).
    pub fn resolve(&self, name: &str) -> Result<Option<Record>> {
        if let Some(fp) = self.aliases()?.get(name) {
            return self.get(fp).map(Some);
        }
        if name.len() >= 4 && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<Record> = self.list()?.into_iter().filter(|r| r.fingerprint.starts_with(&name.to_lowercase())).collect();
            return match hits.len() {
                0 => Ok(None),
                1 => Ok(hits.into_iter().next()),
                _ => Err(Error::Ambiguous(name.into())),
            };
        }
        Ok(None)
    }

    /// The newest image that came from `source_name` (a remote or template) under `name`.
    pub fn cached(&self, kinds: &[&str], source_name: &str, name: &str) -> Result<Option<Record>> {
        // The newest by when it came here (an image's own date is the image's say).
        Ok(self
            .list()?
            .into_iter()
            .filter(|r| kinds.contains(&r.source.kind.as_str()) && r.source.name == source_name && r.source.names.iter().any(|n| n == name))
            .max_by_key(|r| r.added))
    }

    /// Record one more name an image answers to.
    pub fn add_names(&self, fp: &str, names: &[String]) -> Result<()> {
        let _l = self.lock()?;
        let mut r = self.get(fp)?;
        for n in names {
            if !r.source.names.contains(n) {
                r.source.names.push(n.clone());
            }
        }
        self.write_record(&self.dir.join(fp), &r)
    }

    fn write_record(&self, dir: &Path, r: &Record) -> Result<()> {
        let json = serde_json::to_vec_pretty(r).map_err(|e| Error::Corrupt { path: dir.join("image.json"), message: e.to_string() })?;
        Ok(storage::write_atomic(&dir.join("image.json"), &json)?)
    }

    pub fn delete(&self, fp: &str) -> Result<()> {
        let _l = self.lock()?;
        self.get(fp)?;
        let mut a = self.aliases()?;
        a.retain(|_, v| v != fp);
        let gone = self.dir.join(format!(".deleting-{}-{fp}", std::process::id()));
        std::fs::rename(self.dir.join(fp), &gone).map_err(|source| Error::Io { what: "move aside", path: self.dir.join(fp), source })?;
        self.save_aliases(a)?;
        Ok(storage::remove_tree(&gone)?)
    }

    /// Turn the files in `staging` into an image: `files` are (name in staging, role),
    /// metadata first. The fingerprint is the sha256 of the files in that order (Incus's
    /// `combined_sha256`); when `expect` is given it must match. Unpacks, reads the
    /// metadata, and renames into place. An image already present is kept as it is.
    /// Also says whether the image is new to the store.
    pub fn commit(&self, mut staging: Staging, files: &[(&str, &str)], mut source: Source, expect: Option<&str>, requirements: BTreeMap<String, String>) -> Result<(Record, bool)> {
        let mut combined = Sha256::new();
        let mut recs = Vec::new();
        for (name, role) in files {
            let p = staging.dir.join(name);
            let (sha, size) = sha256_file(&p, Some(&mut combined))?;
            recs.push(File { name: (*name).to_owned(), role: (*role).to_owned(), sha256: sha, size });
        }
        let fp = hex(&combined.finalize());
        if let Some(e) = expect {
            if !e.eq_ignore_ascii_case(&fp) {
                return Err(Error::Checksum { what: "the image".into(), got: fp, want: e.to_owned() });
            }
        }
        if self.get(&fp).is_ok() {
            self.add_names(&fp, &source.names)?;
            return Ok((self.get(&fp)?, false));
        }
        let rootfs = staging.dir.join("rootfs");
        std::fs::create_dir(&rootfs).map_err(|source| Error::Io { what: "create", path: rootfs.clone(), source })?;
        let root = crate::sys::open_dir(None, &rootfs).map_err(|e| Error::Io { what: "open", path: rootfs.clone(), source: e.into() })?;
        let mut meta_files = BTreeMap::new();
        let mut report = unpack::Report::default();
        for f in &recs {
            let layout = match f.role.as_str() {
                "meta" => Layout::Meta,
                "unified" => Layout::Unified,
                _ => Layout::Rootfs,
            };
            let file = std::fs::File::open(staging.dir.join(&f.name)).map_err(|source| Error::Io { what: "open", path: staging.dir.join(&f.name), source })?;
            let reader = decompress::reader(file).map_err(|m| Error::Unpack { file: f.name.clone(), source: unpack::Error::Read(m) })?;
            let r = unpack::unpack(reader, layout, root.as_fd(), self.limits).map_err(|e| Error::Unpack { file: f.name.clone(), source: e })?;
            meta_files.extend(r.meta);
            if layout != Layout::Meta {
                report = unpack::Report { meta: BTreeMap::new(), ..r };
            }
        }
        let meta = Metadata::from_files(&meta_files).map_err(Error::Metadata)?.unwrap_or_default();
        let tdir = staging.dir.join("templates");
        std::fs::create_dir(&tdir).map_err(|source| Error::Io { what: "create", path: tdir.clone(), source })?;
        for (name, data) in &meta.template_files {
            std::fs::write(tdir.join(name), data).map_err(|source| Error::Io { what: "write", path: tdir.join(name), source })?;
        }
        source.names.dedup();
        let record = Record {
            fingerprint: fp.clone(),
            architecture: if meta.architecture.is_empty() { std::env::consts::ARCH.to_owned() } else { meta.architecture.clone() },
            created: if meta.creation_date > 0 { meta.creation_date } else { now() as i64 },
            added: now(),
            files: recs,
            properties: meta.properties.clone(),
            requirements,
            templates: meta.templates.clone(),
            source,
            unpacked_bytes: report.bytes,
            entries: report.entries,
            skipped_devices: report.skipped_devices.len() as u64,
        };
        self.write_record(&staging.dir, &record)?;
        let _l = self.lock()?;
        let dst = self.dir.join(&fp);
        if dst.exists() {
            drop(_l);
            self.add_names(&fp, &record.source.names)?;
            return Ok((self.get(&fp)?, false));
        }
        std::fs::rename(&staging.dir, &dst).map_err(|source| Error::Io { what: "move into place", path: dst.clone(), source })?;
        staging.done = true;
        Ok((record, true))
    }
}

/// sha256 of a file (and fed into `also`), with its size.
pub fn sha256_file(path: &Path, mut also: Option<&mut Sha256>) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(|source| Error::Io { what: "open", path: path.to_owned(), source })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|source| Error::Io { what: "read", path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if let Some(a) = also.as_deref_mut() {
            a.update(&buf[..n]);
        }
        size += n as u64;
    }
    Ok((hex(&h.finalize()), size))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_checked() {
        validate_alias("debian/12").unwrap();
        validate_alias("my-img_1.0").unwrap();
        for bad in ["", "../x", "/abs", "a..b", "a b", "x:y", ".hidden"] {
            assert!(validate_alias(bad).is_err(), "{bad}");
        }
    }
}
