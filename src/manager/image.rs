//! Images for the manager: resolving what `launch` names (local store, then the remotes,
//! then a template build), the image verbs, and making a container's rootfs from an image
//! (clone, then the image's `create` templates; `start` templates at each start).

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Error, Manager, Result};
use crate::api;
use crate::image::metadata::{self, Template};
use crate::image::remote::{self, Remotes, DEFAULT_REMOTE};
use crate::image::{self, recipe, store::Staging, Record, Source, Store};
use crate::storage::{self, HostConfig};

/// What a container keeps of its image: `containers/<name>/image.json` (templates to
/// render at each start, and the context they need) beside `templates/`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerImage {
    pub fingerprint: String,
    pub architecture: String,
    pub properties: BTreeMap<String, String>,
    pub templates: BTreeMap<String, Template>,
}

pub const CONTAINER_IMAGE: &str = "image.json";

impl Manager {
    pub(super) fn store(&self) -> Result<Store> {
        Ok(Store::open(self.paths.state.join("images"), Default::default())?)
    }

    fn remotes(&self) -> Remotes {
        Remotes::new(self.paths.state.join("remotes.toml"))
    }

    /// Find or fetch or build the image `spec` names; notes say what was done.
    pub(super) fn resolve_image(&self, spec: &str, notes: &mut Vec<String>) -> Result<Record> {
        let store = self.store()?;
        let (remote_name, name) = match spec.split_once(':') {
            Some((r, n)) => (Some(r), n),
            None => (None, spec),
        };
        if name.is_empty() {
            return Err(Error::Invalid(format!("image {spec:?}: name an image, e.g. debian, debian/12 or images:ubuntu/24.04")));
        }
        if remote_name.is_none() {
            if let Some(r) = store.resolve(name)? {
                return Ok(r);
            }
        }
        let rname = remote_name.unwrap_or(DEFAULT_REMOTE);
        // Asked for before: the image it gave (`image refresh` is a new launch after delete).
        if let Some(r) = store.cached(&["remote"], rname, name)? {
            return Ok(r);
        }
        let host = HostConfig::load(&self.paths.config)?;
        if remote_name.is_none() {
            if let Some(r) = self.cached_template(&store, &host, name)? {
                return Ok(r);
            }
        }
        let remote_err = match self.remotes().get(rname) {
            Ok(remote) => match self.fetch(&store, rname, &remote, name, notes) {
                Ok(r) => return Ok(r),
                Err(e) => e,
            },
            Err(e) => e.into(),
        };
        if remote_name.is_some() {
            return Err(remote_err);
        }
        // No remote has it (or none answers): a template build, when there is a recipe.
        match self.build_image(&store, &host, name, notes).map_err(|e| {
            Error::Invalid(format!("remote {rname} did not give {name} ({}), and the template build failed: {}", crate::runtime::chain(&remote_err), crate::runtime::chain(&e)))
        }) {
            Ok(Some(r)) => {
                notes.insert(0, format!("remote {rname} did not give {name}: {}", crate::runtime::chain(&remote_err)));
                Ok(r)
            }
            Ok(None) => Err(Error::Invalid(format!(
                "image {name}: no local image or alias has that name (`sysctr image list`), and remote {rname} did not give it: {}",
                crate::runtime::chain(&remote_err)
            ))),
            Err(e) => Err(e),
        }
    }

    /// A template-built image already made for `name` (`debian` is also `debian/13`).
    fn cached_template(&self, store: &Store, host: &HostConfig, name: &str) -> Result<Option<Record>> {
        let (os, rel) = name.split_once('/').map_or((name, None), |(o, r)| (o, Some(r)));
        let Some(recipe) = recipe::load(os, host.templates.as_deref())? else { return Ok(None) };
        let Some((number, _)) = recipe.release_for(rel) else { return Ok(None) };
        Ok(store.cached(&["template"], os, &format!("{os}/{number}"))?.or(store.cached(&["template"], os, name)?))
    }

    fn fetch(&self, store: &Store, rname: &str, remote: &remote::Remote, name: &str, notes: &mut Vec<String>) -> Result<Record> {
        let found = remote::find(rname, remote, name)?;
        check_requirements(&found.canonical, &found.requirements, self.hierarchies()?.is_pure_v2())?;
        let names: Vec<String> = [name.to_owned(), found.canonical.clone()].into_iter().collect();
        if let Some(fp) = &found.fingerprint {
            if store.get(fp).is_ok() {
                store.add_names(fp, &names)?;
                return Ok(store.get(fp)?);
            }
        }
        let staging: Staging = store.stage()?;
        for f in &found.files {
            let dest = staging.dir.join(&f.name);
            image::http::download(&f.url, &dest, f.size, &format!("{rname}:{} {}", found.canonical, f.name))?;
            let (got, _) = image::store::sha256_file(&dest, None)?;
            if got != f.sha256 {
                return Err(image::Error::Checksum { what: f.url.clone(), got, want: f.sha256.clone() }.into());
            }
        }
        let files: Vec<(&str, &str)> = found.files.iter().map(|f| (f.name.as_str(), f.role)).collect();
        let source = Source { kind: "remote".into(), name: rname.into(), url: remote.url.clone(), names };
        let (r, _) = store.commit(staging, &files, source, found.fingerprint.as_deref(), found.requirements.clone())?;
        notes.push(format!("downloaded {rname}:{} ({}) as {}", found.canonical, found.serial, &r.fingerprint[..12]));
        Ok(r)
    }

    /// Build `name` from its template recipe; None when there is no recipe for it.
    fn build_image(&self, store: &Store, host: &HostConfig, name: &str, notes: &mut Vec<String>) -> Result<Option<Record>> {
        let (os, rel) = name.split_once('/').map_or((name, None), |(o, r)| (o, Some(r)));
        let Some(recipe) = recipe::load(os, host.templates.as_deref())? else { return Ok(None) };
        let Some((number, codename)) = recipe.release_for(rel) else {
            return Err(Error::Invalid(format!(
                "template {os} has no release {:?}; it builds {}",
                rel.unwrap_or(""),
                recipe.releases.iter().map(|(n, c)| format!("{os}/{n} ({c})")).collect::<Vec<_>>().join(", ")
            )));
        };
        let mirror = host.mirrors.get(os).map(String::as_str);
        eprintln!("building {os}/{number} ({codename}) from the template with {} from {} (about a minute, once)...", recipe.tool, mirror.unwrap_or(&recipe.mirror));
        let mut names = vec![name.to_owned(), format!("{os}/{number}")];
        // The current release is also what the bare name means.
        if number == recipe.current {
            names.push(os.to_owned());
        }
        names.dedup();
        let r = recipe.build(store, &number, &codename, mirror, names)?;
        notes.push(format!("built {os}/{number} from the template as {}", &r.fingerprint[..12]));
        Ok(Some(r))
    }

    /// `sysctr image build debian/13`.
    pub fn image_build(&self, name: &str) -> Result<(api::Image, Vec<String>)> {
        let store = self.store()?;
        let host = HostConfig::load(&self.paths.config)?;
        let mut notes = Vec::new();
        match self.build_image(&store, &host, name, &mut notes)? {
            Some(r) => Ok((self.image_api(&store, &r)?, notes)),
            None => Err(Error::Invalid(format!(
                "there is no template {:?}; templates: {}",
                name.split('/').next().unwrap_or(""),
                recipe::names(host.templates.as_deref()).join(", ")
            ))),
        }
    }

    fn image_api(&self, store: &Store, r: &Record) -> Result<api::Image> {
        Ok(image_api(&store.aliases()?, r))
    }

    pub fn image_list(&self) -> Result<Vec<api::Image>> {
        let store = self.store()?;
        // The aliases file once for all images.
        let aliases = store.aliases()?;
        Ok(store.list()?.iter().map(|r| image_api(&aliases, r)).collect())
    }

    fn local_image(&self, store: &Store, name: &str) -> Result<Record> {
        if let Some(r) = store.resolve(name)? {
            return Ok(r);
        }
        // Names it was launched by (`debian`) also find it.
        let mut hits: Vec<Record> = store.list()?.into_iter().filter(|r| r.source.names.iter().any(|n| n == name) || r.short_name() == name).collect();
        hits.sort_by_key(|r| std::cmp::Reverse((r.created, r.added)));
        hits.into_iter().next().ok_or_else(|| image::Error::NotFound(name.into()).into())
    }

    pub fn image_info(&self, name: &str) -> Result<api::Image> {
        let store = self.store()?;
        let r = self.local_image(&store, name)?;
        self.image_api(&store, &r)
    }

    pub fn image_delete(&self, name: &str) -> Result<String> {
        let store = self.store()?;
        let r = self.local_image(&store, name)?;
        store.delete(&r.fingerprint)?;
        Ok(r.fingerprint)
    }

    pub fn image_alias_add(&self, alias: &str, target: &str) -> Result<()> {
        let store = self.store()?;
        let r = self.local_image(&store, target)?;
        Ok(store.alias_add(alias, &r.fingerprint)?)
    }

    pub fn image_alias_remove(&self, alias: &str) -> Result<()> {
        Ok(self.store()?.alias_remove(alias)?)
    }

    pub fn image_aliases(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.store()?.aliases()?)
    }

    /// Import one file (a rootfs or a unified tarball) or two (metadata and rootfs, in
    /// either order: the one holding metadata.yaml or LXC's meta files is the metadata).
    pub fn image_import(&self, req: &api::ImagesPost) -> Result<api::Image> {
        for a in &req.aliases {
            image::store::validate_alias(a)?;
        }
        let store = self.store()?;
        let paths: Vec<PathBuf> = req.files.iter().map(PathBuf::from).collect();
        for p in &paths {
            if !std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false) {
                return Err(Error::Invalid(format!("{}: not a file; give the image's tarball(s)", p.display())));
            }
        }
        let existing = store.aliases()?;
        for a in &req.aliases {
            if existing.contains_key(a) {
                return Err(image::Error::AliasExists { alias: a.clone(), fingerprint: existing[a].clone() }.into());
            }
        }
        let staging = store.stage()?;
        let ext = |p: &Path| -> Result<&'static str> {
            let mut f = std::fs::File::open(p).map_err(|source| Error::Io { what: "open the image file", source })?;
            let mut head = [0u8; 8];
            let n = std::io::Read::read(&mut f, &mut head).map_err(|source| Error::Io { what: "read the image file", source })?;
            image::decompress::Compression::detect(&head[..n]).map(|c| c.suffix()).map_err(|m| Error::Invalid(format!("{}: {m}", p.display())))
        };
        let files: Vec<(String, &'static str)> = match paths.as_slice() {
            [one] => {
                let role = if is_meta(one)? { "unified" } else { "rootfs" };
                let name = format!("{role}.{}", ext(one)?);
                copy_in(one, &staging.dir.join(&name))?;
                vec![(name, role)]
            }
            [a, b] => {
                let (meta, root) = match (is_meta(a)?, is_meta(b)?) {
                    (true, false) => (a, b),
                    (false, true) => (b, a),
                    (true, true) => return Err(Error::Invalid("both files hold image metadata; give one metadata and one rootfs tarball".into())),
                    _ => return Err(Error::Invalid("neither file holds image metadata (metadata.yaml, or LXC's config/templates)".into())),
                };
                let (m, r) = (format!("meta.{}", ext(meta)?), format!("rootfs.{}", ext(root)?));
                copy_in(meta, &staging.dir.join(&m))?;
                copy_in(root, &staging.dir.join(&r))?;
                vec![(m, "meta"), (r, "rootfs")]
            }
            _ => return Err(Error::Invalid("give one file (rootfs or unified tarball) or two (metadata and rootfs)".into())),
        };
        let list: Vec<(&str, &str)> = files.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        let source = Source { kind: "import".into(), ..Default::default() };
        let (r, created) = store.commit(staging, &list, source, None, BTreeMap::new())?;
        for a in &req.aliases {
            if let Err(e) = store.alias_add(a, &r.fingerprint) {
                // Taken meanwhile: an image this import added goes again.
                if created {
                    let _ = store.delete(&r.fingerprint);
                }
                return Err(e.into());
            }
        }
        self.image_api(&store, &r)
    }

    /// Write the image's original files into `dir`; their paths.
    pub fn image_export(&self, name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        let store = self.store()?;
        let r = self.local_image(&store, name)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { what: "create the export directory", source })?;
        let mut out = Vec::new();
        for f in &r.files {
            let dst = dir.join(format!("{}.{}", &r.fingerprint[..12], f.name));
            // Never through a symlink planted at the destination, never over a file.
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&dst)
                .map_err(|e| Error::Invalid(format!("{}: {e}; export into another directory or remove it", dst.display())))?;
            let mut src = std::fs::File::open(store.file(&r.fingerprint, &f.name)).map_err(|source| Error::Io { what: "read the image file", source })?;
            std::io::copy(&mut src, &mut w).map_err(|source| Error::Io { what: "write the exported file", source })?;
            out.push(dst);
        }
        Ok(out)
    }

    pub fn remote_list(&self) -> Result<Vec<api::Remote>> {
        Ok(self.remotes().list()?.into_iter().map(|(name, r)| api::Remote { name, url: r.url, protocol: r.protocol }).collect())
    }

    pub fn remote_add(&self, name: &str, url: &str, protocol: Option<&str>) -> Result<api::Remote> {
        let r = self.remotes().add(name, url, protocol)?;
        Ok(api::Remote { name: name.into(), url: r.url, protocol: r.protocol })
    }

    pub fn remote_remove(&self, name: &str) -> Result<()> {
        Ok(self.remotes().remove(name)?)
    }

    /// Make `dir/rootfs` from image `r` and render its `create` templates; keeps what the
    /// container needs of the image beside it.
    pub(super) fn rootfs_from_image(&self, store: &Store, r: &Record, name: &str, dir: &Path, config: &BTreeMap<String, String>) -> Result<Vec<String>> {
        if !image::arch_matches(&r.architecture) {
            return Err(image::Error::Unsupported { name: r.short_name(), reason: format!("it is built for {}, this host is {}", r.architecture, std::env::consts::ARCH) }.into());
        }
        check_requirements(&r.short_name(), &r.requirements, self.hierarchies()?.is_pure_v2())?;
        storage::clone_tree(&store.rootfs(&r.fingerprint), &dir.join("rootfs"))?;
        let tdir = dir.join("templates");
        std::fs::create_dir(&tdir).map_err(|source| Error::Io { what: "create the templates directory", source })?;
        for t in r.templates.values().filter(|t| !t.template.is_empty()) {
            std::fs::copy(store.templates_dir(&r.fingerprint).join(&t.template), tdir.join(&t.template))
                .map_err(|source| Error::Io { what: "copy the image's templates", source })?;
        }
        let ci = ContainerImage { fingerprint: r.fingerprint.clone(), architecture: r.architecture.clone(), properties: r.properties.clone(), templates: r.templates.clone() };
        storage::write_atomic(&dir.join(CONTAINER_IMAGE), &serde_json::to_vec_pretty(&ci).expect("image record serialises"))?;
        Ok(render_templates(dir, name, "create", config))
    }

    /// The `start` templates of a container made from an image; warnings.
    pub(super) fn render_start_templates(&self, name: &str, config: &BTreeMap<String, String>) -> Vec<String> {
        render_templates(&self.paths.container(name), name, "start", config)
    }
}

/// Does this file hold image metadata (or is it a rootfs)? Reads only the first entries.
fn is_meta(p: &Path) -> Result<bool> {
    let f = std::fs::File::open(p).map_err(|source| Error::Io { what: "open the image file", source })?;
    let r = image::decompress::reader(f).map_err(|m| Error::Invalid(format!("{}: {m}", p.display())))?;
    // Only the first entries are looked at; their headers may not hold more than this.
    let mut ar = tar::Archive::new(std::io::Read::take(r, 16 << 20));
    let entries = ar.entries().map_err(|e| Error::Invalid(format!("{}: not a tar archive: {e}", p.display())))?;
    for e in entries.take(64) {
        let e = e.map_err(|e| Error::Invalid(format!("{}: not a tar archive: {}", p.display(), image::decompress::explain(&e))))?;
        let path = String::from_utf8_lossy(&e.path_bytes()).trim_start_matches("./").to_owned();
        if path == "metadata.yaml" || path == "config" || path == "templates" || path == "create-message" {
            return Ok(true);
        }
        // Incus's unified tarball: the rootfs under rootfs/, metadata.yaml anywhere.
        if path == "rootfs" || path.starts_with("rootfs/") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The API's view of image `r`; `aliases` is the store's whole alias map.
fn image_api(aliases: &BTreeMap<String, String>, r: &Record) -> api::Image {
    api::Image {
        fingerprint: r.fingerprint.clone(),
        aliases: aliases.iter().filter(|(_, fp)| **fp == r.fingerprint).map(|(a, _)| a.clone()).collect(),
        name: r.short_name(),
        description: r.properties.get("description").cloned().unwrap_or_default(),
        architecture: r.architecture.clone(),
        size: r.size(),
        unpacked_size: r.unpacked_bytes,
        created: r.created,
        added: r.added,
        source: match r.source.kind.as_str() {
            "import" => "import".into(),
            k => format!("{k} {}", r.source.name),
        },
        names: r.source.names.clone(),
        properties: r.properties.clone(),
        requirements: r.requirements.clone(),
        templates: r.templates.iter().map(|(p, t)| (p.clone(), t.when.clone())).collect(),
        files: r.files.iter().map(|f| api::ImageFile { name: f.name.clone(), role: f.role.clone(), sha256: f.sha256.clone(), size: f.size }).collect(),
    }
}

fn copy_in(src: &Path, dst: &Path) -> Result<()> {
    std::fs::copy(src, dst).map(drop).map_err(|source| Error::Io { what: "copy the image file", source })
}

/// Refuse an image whose requirements this host cannot meet, and say why.
fn check_requirements(name: &str, req: &BTreeMap<String, String>, pure_v2: bool) -> Result<()> {
    let no = |reason: String| Err(image::Error::Unsupported { name: name.into(), reason }.into());
    for (k, v) in req {
        match (k.as_str(), v.as_str()) {
            ("cgroup", "v2") if !pure_v2 => return no("it needs a pure cgroup v2 host (systemd 256+); this host has the v1/hybrid layout".into()),
            ("cgroup", "v1") if pure_v2 => return no("it needs cgroup v1 (an old systemd); this host is pure cgroup v2".into()),
            ("privileged", "false") => {
                return no("it must not run privileged, and sysctr runs containers privileged until user namespaces land".into())
            }
            ("nesting", "true") => return no("it needs nesting (containers inside it), which sysctr does not offer yet".into()),
            // VM-only requirements, and ones that hold here.
            ("cgroup", _) | ("privileged", _) | ("nesting", _) | ("secureboot", _) | ("cdrom_agent", _) => {}
            (k, v) => return no(format!("it has requirement {k}={v}, which sysctr does not know; it cannot tell whether it can run it")),
        }
    }
    Ok(())
}

/// Render the templates of a container's image for `trigger`; warnings for what could
/// not be (the container still boots).
fn render_templates(dir: &Path, name: &str, trigger: &str, config: &BTreeMap<String, String>) -> Vec<String> {
    let Ok(text) = std::fs::read(dir.join(CONTAINER_IMAGE)) else { return vec![] };
    let ci: ContainerImage = match serde_json::from_slice(&text) {
        Ok(c) => c,
        Err(e) => return vec![format!("{}: {e}; image templates not rendered", dir.join(CONTAINER_IMAGE).display())],
    };
    let root = match crate::sys::open_dir(None, &dir.join("rootfs")) {
        Ok(r) => r,
        Err(e) => return vec![format!("cannot open the rootfs to render templates: {e}")],
    };
    let mut warnings = Vec::new();
    for (path, t) in &ci.templates {
        if !t.when.iter().any(|w| w == trigger) {
            continue;
        }
        if t.create_only && metadata::exists_in_root(root.as_fd(), path) {
            continue;
        }
        let ctx = metadata::Context { name, architecture: &ci.architecture, trigger, config, properties: &ci.properties };
        let rendered = if t.template.is_empty() {
            // LXC: the file itself, with LXC_NAME replaced.
            metadata::read_in_root(root.as_fd(), path).map(|d| String::from_utf8_lossy(&d).replace("LXC_NAME", name).into_bytes())
        } else {
            std::fs::read_to_string(dir.join("templates").join(&t.template))
                .map_err(|e| format!("cannot read template {}: {e}", t.template))
                .and_then(|src| metadata::render(&src, path, &ctx).map(String::into_bytes))
        };
        let written = rendered.and_then(|data| metadata::write_in_root(root.as_fd(), path, &data, t.uid.unwrap_or(0), t.gid.unwrap_or(0), t.mode.unwrap_or(0o644)));
        if let Err(e) = written {
            warnings.push(format!("image template {path} not rendered: {e}"));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_checked_against_the_host() {
        let r = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(check_requirements("x", &r("cgroup", "v2"), true).is_ok());
        assert!(check_requirements("x", &r("cgroup", "v2"), false).is_err());
        assert!(check_requirements("x", &r("cgroup", "v1"), true).is_err());
        assert!(check_requirements("x", &r("secureboot", "true"), false).is_ok());
        assert!(check_requirements("x", &r("privileged", "false"), false).is_err());
        assert!(check_requirements("x", &r("weird", "1"), false).is_err());
    }
}
