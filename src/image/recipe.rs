//! Template recipes (`templates/*.toml`, built into the binary and overridable from the
//! host's templates directory): declarative builds of an image with debootstrap, packed
//! into the same two tarballs a remote serves, so the result is an ordinary image.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::store::{Staging, Store};
use super::{metadata, pack, Error, Record, Result, Source};

const BUILT_IN: &[(&str, &str)] = &[("debian", include_str!("../../templates/debian.toml")), ("ubuntu", include_str!("../../templates/ubuntu.toml"))];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub os: String,
    pub description: String,
    pub tool: String,
    pub mirror: String,
    #[serde(default)]
    pub keyring: String,
    pub variant: String,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    pub current: String,
    pub releases: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default)]
    pub empty: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    #[serde(default = "default_mode")]
    pub mode: u32,
}

fn default_mode() -> u32 {
    0o644
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub path: String,
    pub target: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub when: Vec<String>,
    pub content: String,
}

/// The recipe for `os`: `dir/<os>.toml` when present, else the built-in one.
pub fn load(os: &str, dir: Option<&Path>) -> Result<Option<Recipe>> {
    let bad = |message: String| Error::Recipe { name: os.into(), message };
    if os.is_empty() || !os.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Ok(None);
    }
    let text = match dir.map(|d| d.join(format!("{os}.toml"))).filter(|p| p.exists()) {
        Some(p) => std::fs::read_to_string(&p).map_err(|e| bad(format!("cannot read {}: {e}", p.display())))?,
        None => match BUILT_IN.iter().find(|(n, _)| *n == os) {
            Some((_, t)) => (*t).to_owned(),
            None => return Ok(None),
        },
    };
    toml::from_str(&text).map(Some).map_err(|e| bad(e.message().to_owned()))
}

/// Recipe names there are (built in and in `dir`).
pub fn names(dir: Option<&Path>) -> Vec<String> {
    let mut n: Vec<String> = BUILT_IN.iter().map(|(n, _)| (*n).to_owned()).collect();
    if let Some(rd) = dir.and_then(|d| std::fs::read_dir(d).ok()) {
        n.extend(rd.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_owned)));
    }
    n.sort();
    n.dedup();
    n
}

impl Recipe {
    /// `13` for `debian`, `debian/13` or `debian/trixie`; None when the recipe lacks it.
    pub fn release_for(&self, release: Option<&str>) -> Option<(String, String)> {
        let r = release.unwrap_or(&self.current);
        self.releases.iter().find(|(n, c)| *n == r || *c == r).map(|(n, c)| (n.clone(), c.clone()))
    }

    /// Build release `number` into `store` (a few minutes: debootstrap); the image's record.
    pub fn build(&self, store: &Store, number: &str, codename: &str, mirror: Option<&str>, names: Vec<String>) -> Result<Record> {
        let bad = |message: String| Error::Recipe { name: format!("{}/{number}", self.os), message };
        if self.tool != "debootstrap" {
            return Err(bad(format!("unknown tool {:?}; sysctr knows debootstrap", self.tool)));
        }
        let staging = store.stage()?;
        let tree = staging.dir.join("build");
        let mirror = mirror.unwrap_or(&self.mirror);
        let log_path = staging.dir.join("build.log");
        let log = std::fs::File::create(&log_path).map_err(|source| Error::Io { what: "create", path: log_path.clone(), source })?;
        let mut cmd = Command::new("debootstrap");
        cmd.arg(format!("--variant={}", self.variant));
        if !self.include.is_empty() {
            cmd.arg(format!("--include={}", self.include.join(",")));
        }
        if !self.components.is_empty() {
            cmd.arg(format!("--components={}", self.components.join(",")));
        }
        if !self.keyring.is_empty() {
            if !Path::new(&self.keyring).exists() {
                return Err(bad(format!("keyring {} is missing (apt-get install {}-keyring)", self.keyring, self.os)));
            }
            cmd.arg(format!("--keyring={}", self.keyring));
        }
        cmd.arg(codename).arg(&tree).arg(mirror);
        let err_log = log.try_clone().map_err(|source| Error::Io { what: "open", path: log_path.clone(), source })?;
        let status = cmd.stdin(Stdio::null()).stdout(log).stderr(err_log).status().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad("debootstrap is not installed: apt-get install debootstrap".into()),
            _ => bad(format!("cannot run debootstrap: {e}")),
        })?;
        if !status.success() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(bad(format!("debootstrap {codename} from {mirror} failed ({status}):\n{}", tail.join("\n"))));
        }
        self.customise(&tree).map_err(bad)?;
        let meta = self.metadata(number, codename);
        write_tarballs(&staging, &tree, &meta).map_err(bad)?;
        crate::storage::remove_tree(&tree)?;
        let source = Source { kind: "template".into(), name: self.os.clone(), url: mirror.into(), names };
        finish(store, staging, source)
    }

    fn customise(&self, tree: &Path) -> Result<(), String> {
        let root = crate::sys::open_dir(None, tree).map_err(|e| format!("cannot open the built tree: {e}"))?;
        for f in &self.files {
            if let Some(parent) = Path::new(&f.path).parent() {
                make_dirs(tree, parent)?;
            }
            metadata::write_in_root(root.as_fd(), &f.path, f.content.trim_start_matches('\n').as_bytes(), 0, 0, f.mode).map_err(|e| format!("{}: {e}", f.path))?;
        }
        for l in &self.links {
            let p = Path::new(&l.path);
            make_dirs(tree, p.parent().unwrap_or(Path::new("/")))?;
            let dst = tree.join(l.path.trim_start_matches('/'));
            let _ = std::fs::remove_file(&dst);
            std::os::unix::fs::symlink(&l.target, &dst).map_err(|e| format!("{}: {e}", l.path))?;
        }
        for e in &self.empty {
            metadata::write_in_root(root.as_fd(), e, b"", 0, 0, 0o444).map_err(|m| format!("{e}: {m}"))?;
        }
        for r in &self.remove {
            remove_glob(tree, r)?;
        }
        // Device nodes debootstrap made: a container's /dev is a tmpfs made at boot.
        crate::storage::remove_tree(&tree.join("dev")).map_err(|e| e.to_string())?;
        std::fs::create_dir(tree.join("dev")).map_err(|e| format!("/dev: {e}"))?;
        Ok(())
    }

    fn metadata(&self, number: &str, codename: &str) -> BTreeMap<String, String> {
        let description = self.description.replace("{release}", number).replace("{codename}", codename);
        let (_, kernel_arch) = super::host_arch();
        let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut y = format!(
            "architecture: {kernel_arch}\ncreation_date: {created}\nproperties:\n  architecture: {kernel_arch}\n  description: \"{description}\"\n  os: {}\n  release: \"{number}\"\n  codename: {codename}\n  variant: default\n  serial: \"{created}\"\n",
            self.os
        );
        let mut files = BTreeMap::new();
        if !self.templates.is_empty() {
            y.push_str("templates:\n");
            for (i, (path, t)) in self.templates.iter().enumerate() {
                let tpl = format!("{}-{i}.tpl", Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                y.push_str(&format!("  {path}:\n    when: [{}]\n    template: {tpl}\n", t.when.join(", ")));
                files.insert(format!("templates/{tpl}"), t.content.trim_start_matches('\n').to_owned());
            }
        }
        files.insert("metadata.yaml".into(), y);
        files
    }
}

fn make_dirs(tree: &Path, dir: &Path) -> Result<(), String> {
    let p = tree.join(dir.to_string_lossy().trim_start_matches('/'));
    std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Remove `/a/b` or every match of `/a/*.log` (a `*` in the last part only).
fn remove_glob(tree: &Path, pattern: &str) -> Result<(), String> {
    let rel = PathBuf::from(pattern.trim_start_matches('/'));
    let leaf = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = tree.join(rel.parent().unwrap_or(Path::new("")));
    // `/var/lock` may be a symlink to `/run/lock`, which on the host is the host's: only
    // directories that really are inside the tree.
    let (Ok(real), Ok(root)) = (dir.canonicalize(), tree.canonicalize()) else { return Ok(()) };
    if !real.starts_with(&root) || real != root.join(rel.parent().unwrap_or(Path::new(""))) {
        return Ok(());
    }
    let Some((pre, post)) = leaf.split_once('*') else {
        return crate::storage::remove_tree(&tree.join(&rel)).map_err(|e| e.to_string());
    };
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len() && e.file_type().map(|t| !t.is_dir() || post.is_empty()).unwrap_or(false) {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue; // keep directories such as /var/lib/apt/lists/partial
            }
            crate::storage::remove_tree(&e.path()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `meta.tar.xz` (metadata.yaml and templates) and `rootfs.tar.zst` of `tree`.
fn write_tarballs(staging: &Staging, tree: &Path, meta: &BTreeMap<String, String>) -> Result<(), String> {
    let mpath = staging.dir.join("meta.tar.xz");
    let f = std::fs::File::create(&mpath).map_err(|e| format!("{}: {e}", mpath.display()))?;
    let mut b = tar::Builder::new(xz2::write::XzEncoder::new(f, 6));
    for (name, content) in meta {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(content.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, content.as_bytes()).map_err(|e| format!("meta.tar.xz: {e}"))?;
    }
    b.into_inner().and_then(|x| x.finish()).and_then(|f| f.sync_all()).map_err(|e| format!("meta.tar.xz: {e}"))?;
    let rpath = staging.dir.join("rootfs.tar.zst");
    let f = std::fs::File::create(&rpath).map_err(|e| format!("{}: {e}", rpath.display()))?;
    let mut enc = zstd::stream::write::Encoder::new(f, 3).map_err(|e| format!("zstd: {e}"))?;
    let threads = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    enc.multithread(threads).map_err(|e| format!("zstd threads: {e}"))?;
    let root = pack::open_tree(tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    let mut buf = std::io::BufWriter::with_capacity(1 << 20, enc);
    pack::pack(root.as_fd(), "", &mut buf).map_err(|e| format!("packing the rootfs: {e}"))?;
    let enc = buf.into_inner().map_err(|e| format!("rootfs.tar.zst: {e}"))?;
    let mut f = enc.finish().map_err(|e| format!("rootfs.tar.zst: {e}"))?;
    f.flush().and_then(|()| f.sync_all()).map_err(|e| format!("rootfs.tar.zst: {e}"))
}

fn finish(store: &Store, staging: Staging, source: Source) -> Result<Record> {
    store.commit(staging, &[("meta.tar.xz", "meta"), ("rootfs.tar.zst", "rootfs")], source, None, BTreeMap::new()).map(|(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_recipes_parse_and_name_releases() {
        for os in ["debian", "ubuntu"] {
            let r = load(os, None).unwrap().unwrap();
            assert!(r.release_for(None).is_some(), "{os}: current release is listed");
        }
        let d = load("debian", None).unwrap().unwrap();
        assert_eq!(d.release_for(Some("bookworm")), Some(("12".into(), "bookworm".into())));
        assert_eq!(d.release_for(Some("12")), Some(("12".into(), "bookworm".into())));
        assert_eq!(d.release_for(Some("7")), None);
        assert!(load("nope", None).unwrap().is_none());
        assert!(load("../etc", None).unwrap().is_none());
    }
}
