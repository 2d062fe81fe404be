//! What an image says about itself: Incus's `metadata.yaml` (with `templates/*.tpl`) or
//! LXC's `meta.tar.xz` files (`config`, `templates`), and the rendering of its file
//! templates into a container's rootfs.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::sys::files::{open_below, Resolve};

/// One file the image wants rendered, keyed by its path in the container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// `create`, `copy`, `start`.
    pub when: Vec<String>,
    /// The template's file under the image's `templates/`; empty for LXC's in-place
    /// templates (the file itself, with `LXC_NAME` replaced).
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub create_only: bool,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default)]
    pub mode: Option<u32>,
}

/// The parts of an image's metadata sysctr uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    pub architecture: String,
    pub creation_date: i64,
    pub properties: BTreeMap<String, String>,
    pub templates: BTreeMap<String, Template>,
    /// Template sources by file name (`hostname.tpl`).
    pub template_files: BTreeMap<String, Vec<u8>>,
}

#[derive(Deserialize)]
struct Yaml {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    creation_date: i64,
    #[serde(default)]
    properties: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    templates: BTreeMap<String, YamlTemplate>,
}

#[derive(Deserialize)]
struct YamlTemplate {
    #[serde(default)]
    when: Vec<String>,
    template: String,
    #[serde(default)]
    create_only: bool,
    #[serde(default)]
    uid: Option<serde_yaml::Value>,
    #[serde(default)]
    gid: Option<serde_yaml::Value>,
    #[serde(default)]
    mode: Option<serde_yaml::Value>,
}

fn yaml_num(v: &Option<serde_yaml::Value>, octal: bool) -> Result<Option<u32>, String> {
    match v {
        None => Ok(None),
        // `mode: 644` means octal, as Incus reads it.
        Some(serde_yaml::Value::Number(n)) if octal => n.as_u64().and_then(|n| u32::from_str_radix(&n.to_string(), 8).ok()).map(Some).ok_or_else(|| format!("bad mode {n}")),
        Some(serde_yaml::Value::Number(n)) => n.as_u64().map(|n| Some(n as u32)).ok_or_else(|| format!("bad number {n}")),
        Some(serde_yaml::Value::String(s)) => {
            let r = if octal { u32::from_str_radix(s.trim_start_matches("0o"), 8) } else { s.parse() };
            r.map(Some).map_err(|_| format!("bad number {s:?}"))
        }
        Some(other) => Err(format!("bad number {other:?}")),
    }
}

impl Metadata {
    /// From a metadata tarball's files (Incus or LXC). None when they hold neither format.
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Option<Metadata>, String> {
        if let Some(y) = files.get("metadata.yaml") {
            return Self::from_incus(y, files).map(Some);
        }
        if files.contains_key("config") || files.contains_key("templates") {
            return Ok(Some(Self::from_lxc(files)));
        }
        Ok(None)
    }

    fn from_incus(yaml: &[u8], files: &BTreeMap<String, Vec<u8>>) -> Result<Metadata, String> {
        if let Some(line) = yaml_alias(yaml) {
            return Err(format!("metadata.yaml line {line}: YAML aliases are not accepted (an alias bomb expands a small file into gigabytes)"));
        }
        let y: Yaml = serde_yaml::from_slice(yaml).map_err(|e| format!("metadata.yaml: {e}"))?;
        let mut m = Metadata { architecture: y.architecture, creation_date: y.creation_date, ..Default::default() };
        for (k, v) in y.properties {
            let v = match v {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            m.properties.insert(k, v);
        }
        for (path, t) in y.templates {
            if !path.starts_with('/') {
                return Err(format!("metadata.yaml: template path {path:?} is not absolute"));
            }
            if t.template.contains('/') || t.template.is_empty() || t.template == ".." {
                return Err(format!("metadata.yaml: template file {:?} must be a plain name in templates/", t.template));
            }
            let src = files
                .get(&format!("templates/{}", t.template))
                .ok_or_else(|| format!("metadata.yaml: template {:?} for {path} is not in templates/", t.template))?;
            m.template_files.insert(t.template.clone(), src.clone());
            let spec = Template {
                when: t.when,
                template: t.template,
                create_only: t.create_only,
                uid: yaml_num(&t.uid, false).map_err(|e| format!("template {path}: uid: {e}"))?,
                gid: yaml_num(&t.gid, false).map_err(|e| format!("template {path}: gid: {e}"))?,
                mode: yaml_num(&t.mode, true).map_err(|e| format!("template {path}: mode: {e}"))?,
            };
            m.templates.insert(path, spec);
        }
        Ok(m)
    }

    /// LXC's download format: `templates` lists files in the rootfs in which `LXC_NAME`
    /// and friends are replaced at create.
    fn from_lxc(files: &BTreeMap<String, Vec<u8>>) -> Metadata {
        let mut m = Metadata::default();
        if let Some(list) = files.get("templates") {
            for line in String::from_utf8_lossy(list).lines().map(str::trim).filter(|l| l.starts_with('/')) {
                m.templates.insert(line.to_owned(), Template { when: vec!["create".into()], ..Default::default() });
            }
        }
        if let Some(msg) = files.get("create-message") {
            m.properties.insert("create-message".into(), String::from_utf8_lossy(msg).trim().to_owned());
        }
        m
    }
}

/// The line of the first YAML alias (`*name` where a value starts), if any. Image metadata
/// never needs one, and expanding them is how a 1 MiB file becomes billions of nodes.
fn yaml_alias(yaml: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(yaml);
    for (i, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev: Vec<char> = Vec::new();
        for c in line.chars() {
            match (quote, c) {
                (None, '#') if prev.last().map_or(true, |p| p.is_whitespace()) => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '*') => {
                    let before: String = prev.iter().rev().skip_while(|p| p.is_whitespace()).take(1).collect();
                    if prev.iter().all(|p| p.is_whitespace()) || matches!(before.as_str(), ":" | "-" | "[" | "," | "{" | "?") {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            prev.push(c);
        }
    }
    None
}

/// What a template may name.
pub struct Context<'a> {
    pub name: &'a str,
    pub architecture: &'a str,
    pub trigger: &'a str,
    pub config: &'a BTreeMap<String, String>,
    pub properties: &'a BTreeMap<String, String>,
}

/// Render an Incus template: `{{ expr }}` with `container.name` / `instance.name`,
/// `.architecture`, `.privileged`, `.ephemeral`, `trigger`, `path`, `properties.KEY`,
/// `config_get("key", "default")`. Control blocks (`{% %}`) are not supported: an error.
pub fn render(src: &str, path: &str, ctx: &Context<'_>) -> Result<String, String> {
    if src.contains("{%") {
        return Err("it uses {% %} control blocks, which sysctr does not render".into());
    }
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or("an unclosed {{")?;
        out.push_str(&value(after[..j].trim(), path, ctx)?);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn value(expr: &str, path: &str, ctx: &Context<'_>) -> Result<String, String> {
    if let Some(args) = expr.strip_prefix("config_get(").and_then(|a| a.strip_suffix(')')) {
        let (k, d) = args.split_once(',').ok_or("config_get needs a key and a default")?;
        let unq = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_owned();
        return Ok(ctx.config.get(&unq(k)).cloned().unwrap_or_else(|| unq(d)));
    }
    let field = expr.strip_prefix("container.").or_else(|| expr.strip_prefix("instance."));
    Ok(match (expr, field) {
        (_, Some("name")) => ctx.name.to_owned(),
        (_, Some("architecture")) => ctx.architecture.to_owned(),
        (_, Some("privileged")) => "true".into(),
        (_, Some("ephemeral")) => "false".into(),
        ("trigger", _) => ctx.trigger.to_owned(),
        ("path", _) => path.to_owned(),
        (e, _) if e.starts_with("properties.") => ctx.properties.get(&e["properties.".len()..]).cloned().unwrap_or_default(),
        (e, _) if e.starts_with("config.") => ctx.config.get(&e["config.".len()..]).cloned().unwrap_or_default(),
        (e, _) => return Err(format!("unknown variable {e:?}")),
    })
}

/// Write `content` to `path` inside the rootfs `root`, resolved as the container will see
/// it (a symlinked `/etc` stays inside the root), replacing the leaf atomically: a symlink
/// in the image's place is replaced, never followed.
pub fn write_in_root(root: BorrowedFd<'_>, path: &str, content: &[u8], uid: u32, gid: u32, mode: u32) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let p = Path::new(path.trim_start_matches('/'));
    let leaf = p.file_name().ok_or("no file name")?;
    let parent = p.parent().unwrap_or(Path::new(""));
    let dir = open_below(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty(), Resolve::InRoot)
        .map_err(|e| format!("cannot open its directory: {e}"))?;
    let tmp = format!(".{}.sysctr-new", leaf.to_string_lossy());
    let _ = nix::unistd::unlinkat(Some(dir.as_raw_fd()), tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    let fd = open_below(
        dir.as_fd(),
        Path::new(&tmp),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
        Resolve::Strict,
    )
    .map_err(|e| format!("cannot create it: {e}"))?;
    let mut f = std::fs::File::from(fd);
    let done = f
        .write_all(content)
        .map_err(|e| format!("cannot write it: {e}"))
        .and_then(|()| {
            nix::unistd::fchown(f.as_raw_fd(), Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))
                .map_err(|e| format!("cannot chown it: {e}"))
        })
        .and_then(|()| nix::sys::stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode)).map_err(|e| format!("cannot chmod it: {e}")))
        .and_then(|()| {
            nix::fcntl::renameat(Some(dir.as_raw_fd()), tmp.as_str(), Some(dir.as_raw_fd()), leaf).map_err(|e| format!("cannot put it in place: {e}"))
        });
    if done.is_err() {
        let _ = nix::unistd::unlinkat(Some(dir.as_raw_fd()), tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    done
}

/// Does `path` exist inside the rootfs (as the container sees it)?
pub fn exists_in_root(root: BorrowedFd<'_>, path: &str) -> bool {
    open_below(root, Path::new(path.trim_start_matches('/')), OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::InRoot).is_ok()
}

/// Read a small file inside the rootfs (LXC's in-place templates), never through a symlink
/// out of it; at most 1 MiB.
pub fn read_in_root(root: BorrowedFd<'_>, path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let fd = open_below(root, Path::new(path.trim_start_matches('/')), OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::InRoot)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let mut data = Vec::new();
    std::fs::File::from(fd).take(1 << 20).read_to_end(&mut data).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(config: &'a BTreeMap<String, String>, props: &'a BTreeMap<String, String>) -> Context<'a> {
        Context { name: "web1", architecture: "x86_64", trigger: "create", config, properties: props }
    }

    #[test]
    fn renders_the_variables_images_use() {
        let (c, mut p) = (BTreeMap::from([("user.a".to_owned(), "A".to_owned())]), BTreeMap::new());
        p.insert("os".into(), "debian".into());
        let out = render("127.0.1.1\t{{ container.name }}\n{{instance.name}} {{ properties.os }} {{ config_get(\"user.a\", \"x\") }} {{ config_get('user.b', 'dflt') }} {{ trigger }}", "/etc/hosts", &ctx(&c, &p)).unwrap();
        assert_eq!(out, "127.0.1.1\tweb1\nweb1 debian A dflt create");
        assert!(render("{% if x %}y{% endif %}", "/p", &ctx(&c, &p)).is_err());
        assert!(render("{{ nope }}", "/p", &ctx(&c, &p)).is_err());
        assert!(render("{{ container.name ", "/p", &ctx(&c, &p)).is_err());
    }

    #[test]
    fn parses_incus_and_lxc_metadata() {
        let mut files = BTreeMap::new();
        files.insert(
            "metadata.yaml".to_owned(),
            b"architecture: x86_64\ncreation_date: 17\nproperties:\n  os: debian\n  release: 12\ntemplates:\n  /etc/hostname:\n    when: [create, start]\n    template: hostname.tpl\n    mode: \"0644\"\n".to_vec(),
        );
        files.insert("templates/hostname.tpl".to_owned(), b"{{ container.name }}\n".to_vec());
        let m = Metadata::from_files(&files).unwrap().unwrap();
        assert_eq!(m.properties["release"], "12");
        assert_eq!(m.templates["/etc/hostname"].when, ["create", "start"]);
        assert_eq!(m.templates["/etc/hostname"].mode, Some(0o644));
        let bomb = BTreeMap::from([("metadata.yaml".to_owned(), b"a: &a [1,2]\nb: [*a, *a]\n".to_vec())]);
        assert!(Metadata::from_files(&bomb).unwrap_err().contains("alias"));
        let fine = BTreeMap::from([("metadata.yaml".to_owned(), b"architecture: x86_64\nproperties:\n  description: Foo *bar* \"*x\"\n".to_vec())]);
        Metadata::from_files(&fine).unwrap();
        files.remove("templates/hostname.tpl");
        assert!(Metadata::from_files(&files).is_err(), "a template file that is missing");
        let lxc = BTreeMap::from([("templates".to_owned(), b"/etc/hostname\n/etc/hosts\n".to_vec()), ("config".to_owned(), vec![])]);
        let m = Metadata::from_files(&lxc).unwrap().unwrap();
        assert_eq!(m.templates.len(), 2);
        assert!(m.templates["/etc/hosts"].template.is_empty());
    }
}
