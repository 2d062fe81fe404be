//! Image servers: the remotes list (`remotes.toml`), and finding an image on a remote in
//! either protocol images.linuxcontainers.org speaks: simplestreams
//! (`streams/v1/index.json` -> `images.json`) and LXC's `meta/1.0/index-system`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{host_arch, http, Error, Result};
use crate::storage;

pub const DEFAULT_REMOTE: &str = "images";
const DEFAULT_URL: &str = "https://images.linuxcontainers.org";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    pub url: String,
    /// `simplestreams` or `lxc`.
    pub protocol: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    remotes: BTreeMap<String, Remote>,
}

/// `remotes.toml` in the state directory; absent = the default remote `images`.
pub struct Remotes {
    path: PathBuf,
}

impl Remotes {
    pub fn new(path: PathBuf) -> Remotes {
        Remotes { path }
    }

    pub fn list(&self) -> Result<BTreeMap<String, Remote>> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => toml::from_str::<File>(&t).map(|f| f.remotes).map_err(|e| Error::Corrupt { path: self.path.clone(), message: e.message().to_owned() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(BTreeMap::from([(DEFAULT_REMOTE.to_owned(), Remote { url: DEFAULT_URL.into(), protocol: "simplestreams".into() })]))
            }
            Err(source) => Err(Error::Io { what: "read", path: self.path.clone(), source }),
        }
    }

    fn save(&self, remotes: BTreeMap<String, Remote>) -> Result<()> {
        let text = toml::to_string(&File { remotes }).map_err(|e| Error::Corrupt { path: self.path.clone(), message: e.to_string() })?;
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d).map_err(|source| Error::Io { what: "create", path: d.to_owned(), source })?;
        }
        Ok(storage::write_atomic(&self.path, text.as_bytes())?)
    }

    pub fn get(&self, name: &str) -> Result<Remote> {
        self.list()?.remove(name).ok_or_else(|| Error::Remote { remote: name.into(), message: "no such remote; `sysctr remote list` shows them".into() })
    }

    /// Add a remote, finding out which protocol it speaks when `protocol` is None.
    pub fn add(&self, name: &str, url: &str, protocol: Option<&str>) -> Result<Remote> {
        let bad = |m: &str| Error::Remote { remote: name.into(), message: m.into() };
        if name.is_empty() || name.len() > 63 || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(bad("a remote name is 1-63 of a-z, 0-9 and '-'"));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
            return Err(bad("the URL must start with https:// (or http://)"));
        }
        let url = url.trim_end_matches('/').to_owned();
        let protocol = match protocol {
            Some(p @ ("simplestreams" | "lxc")) => p.to_owned(),
            Some(p) => return Err(bad(&format!("unknown protocol {p:?}; use simplestreams or lxc"))),
            None => match http::get(&format!("{url}/streams/v1/index.json")) {
                Ok(_) => "simplestreams".into(),
                Err(ss) => match http::get(&format!("{url}/meta/1.0/index-system")) {
                    Ok(_) => "lxc".into(),
                    Err(lxc) => return Err(bad(&format!("it speaks neither simplestreams ({ss}) nor LXC's index ({lxc})"))),
                },
            },
        };
        let mut all = self.list()?;
        if all.contains_key(name) {
            return Err(bad("exists already; remove it first (`sysctr remote remove`)"));
        }
        let r = Remote { url, protocol };
        all.insert(name.into(), r.clone());
        self.save(all)?;
        Ok(r)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let mut all = self.list()?;
        if all.remove(name).is_none() {
            return Err(Error::Remote { remote: name.into(), message: "no such remote; `sysctr remote list` shows them".into() });
        }
        self.save(all)
    }
}

/// One file of a remote image.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    pub url: String,
    /// `meta.tar.xz` / `rootfs.tar.xz`: the name it is stored under.
    pub name: String,
    pub role: &'static str,
    pub sha256: String,
    pub size: Option<u64>,
}

/// An image found on a remote.
#[derive(Clone, Debug)]
pub struct Found {
    /// `debian/12` (what the product is called there).
    pub canonical: String,
    /// sha256(meta ‖ rootfs), when the index states it.
    pub fingerprint: Option<String>,
    pub files: Vec<RemoteFile>,
    pub requirements: BTreeMap<String, String>,
    pub serial: String,
}

/// Debian's and Ubuntu's release numbers and code names (LXC's index uses the names).
const RELEASES: &[(&str, &str, &str)] = &[
    ("debian", "10", "buster"),
    ("debian", "11", "bullseye"),
    ("debian", "12", "bookworm"),
    ("debian", "13", "trixie"),
    ("debian", "14", "forky"),
    ("ubuntu", "20.04", "focal"),
    ("ubuntu", "22.04", "jammy"),
    ("ubuntu", "24.04", "noble"),
];

/// Which numbered release a bare `debian` / `ubuntu` means among `have`: Debian's newest
/// stable (the highest number), Ubuntu's newest LTS (YY.04, YY even).
pub fn pick_friendly<'a>(os: &str, have: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(Vec<u64>, &str)> = None;
    for r in have {
        // `3.10` is newer than `3.9`: compare the numbers, not as decimals.
        let Some(n) = r.split('.').map(|p| p.parse::<u64>().ok()).collect::<Option<Vec<u64>>>() else { continue };
        let ok = match os {
            "ubuntu" => n.len() == 2 && n[1] == 4 && n[0] % 2 == 0,
            _ => true,
        };
        if ok && best.as_ref().map_or(true, |(b, _)| n > *b) {
            best = Some((n, r));
        }
    }
    best.map(|(_, r)| r.to_owned())
}

/// Index text shown to users: no control characters (a hostile index could send
/// terminal escapes).
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn release_number(os: &str, release: &str) -> Option<&'static str> {
    RELEASES.iter().find(|(o, n, c)| *o == os && (*n == release || *c == release)).map(|(_, n, _)| *n)
}

/// Find `name` (`debian`, `debian/12`, `debian/12/cloud`, `busybox`, an alias) on a remote.
pub fn find(remote_name: &str, remote: &Remote, name: &str) -> Result<Found> {
    match remote.protocol.as_str() {
        "lxc" => find_lxc(remote_name, remote, name),
        _ => find_simplestreams(remote_name, remote, name),
    }
}

fn find_simplestreams(remote_name: &str, remote: &Remote, name: &str) -> Result<Found> {
    let err = |m: String| Error::Remote { remote: remote_name.into(), message: m };
    let index: Value = serde_json::from_slice(&http::get(&format!("{}/streams/v1/index.json", remote.url))?)
        .map_err(|e| err(format!("streams/v1/index.json is not JSON: {e}")))?;
    let path = index["index"]
        .as_object()
        .and_then(|o| o.values().find(|v| v["datatype"] == "image-downloads"))
        .and_then(|v| v["path"].as_str())
        .ok_or_else(|| err("streams/v1/index.json lists no image-downloads stream".into()))?;
    if path.contains("..") || path.starts_with('/') {
        return Err(err(format!("index path {path:?} is not below the server root")));
    }
    let images: Value = serde_json::from_slice(&http::get(&format!("{}/{path}", remote.url))?).map_err(|e| err(format!("{path} is not JSON: {e}")))?;
    let products = images["products"].as_object().ok_or_else(|| err(format!("{path} has no products")))?;
    let (arch, _) = host_arch();
    let ours: Vec<(&String, &Value)> = products.iter().filter(|(_, p)| p["arch"] == arch).collect();
    let aliases = |p: &Value| -> Vec<String> { p["aliases"].as_str().unwrap_or("").split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect() };
    let mut want = name.to_owned();
    if !name.contains('/') && !ours.iter().any(|(_, p)| aliases(p).contains(&want)) {
        // `debian`: the newest numbered release the remote has.
        let numbered: Vec<String> = ours
            .iter()
            .filter(|(_, p)| p["os"].as_str().is_some_and(|o| o.eq_ignore_ascii_case(name)) && p["variant"] == "default")
            .flat_map(|(_, p)| aliases(p))
            .filter_map(|a| a.strip_prefix(&format!("{name}/")).map(str::to_owned))
            .filter(|r| !r.contains('/'))
            .collect();
        if let Some(r) = pick_friendly(name, numbered.iter().map(String::as_str)) {
            want = format!("{name}/{r}");
        }
    }
    let product = ours.iter().find(|(_, p)| aliases(p).contains(&want)).map(|(_, p)| *p);
    let by_fp = || {
        let prefix = name.to_lowercase();
        (name.len() >= 8 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            ours.iter().find_map(|(_, p)| {
                p["versions"].as_object()?.iter().find_map(|(serial, v)| {
                    let items = v["items"].as_object()?;
                    items
                        .values()
                        .any(|i| ["combined_rootxz_sha256", "combined_sha256"].iter().any(|k| i[*k].as_str().is_some_and(|c| c.to_lowercase().starts_with(&prefix))))
                        .then(|| (*p, serial.clone()))
                })
            })
        })?
    };
    let (product, serial) = match product {
        Some(p) => {
            let versions = p["versions"].as_object().ok_or_else(|| err(format!("{want} has no versions")))?;
            let serial = versions
                .iter()
                .filter(|(_, v)| usable_items(&v["items"]).is_some())
                .map(|(s, _)| s.clone())
                .max()
                .ok_or_else(|| err(format!("{want} has no version with a metadata and a root.tar.xz file")))?;
            (p, serial)
        }
        None => by_fp().ok_or_else(|| {
            let mut known: Vec<String> = ours.iter().flat_map(|(_, p)| aliases(p)).filter(|a| a.matches('/').count() <= 1).collect();
            known.sort();
            known.truncate(40);
            Error::NoSuchImage { remote: remote_name.into(), name: name.into(), hint: format!(" for {arch}; it has: {}", known.join(", ")) }
        })?,
    };
    let (meta, root) = usable_items(&product["versions"][&serial]["items"]).ok_or_else(|| err("no usable files".into()))?;
    let file = |item: &Value, stored: &str, role: &'static str| -> Result<RemoteFile> {
        let p = item["path"].as_str().ok_or_else(|| err(format!("{want}: an item without a path")))?;
        if p.contains("..") || p.starts_with('/') {
            return Err(err(format!("item path {p:?} is not below the server root")));
        }
        let sha = item["sha256"].as_str().map(str::to_lowercase).filter(|s| super::store::is_fingerprint(s)).ok_or_else(|| err(format!("{}: no valid sha256 in the index", printable(p))))?;
        Ok(RemoteFile { url: format!("{}/{p}", remote.url), name: stored.into(), role, sha256: sha, size: item["size"].as_u64() })
    };
    let fingerprint = match meta["combined_rootxz_sha256"].as_str().or(meta["combined_sha256"].as_str()).map(str::to_lowercase) {
        Some(f) if super::store::is_fingerprint(&f) => Some(f),
        Some(f) => return Err(err(format!("{want}: fingerprint {:?} is not a sha256", printable(&f)))),
        None => None,
    };
    let requirements = product["requirements"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect())
        .unwrap_or_default();
    let canonical = printable(&format!("{}/{}", product["os"].as_str().unwrap_or("").to_lowercase(), product["release"].as_str().unwrap_or("")));
    Ok(Found {
        canonical,
        fingerprint,
        files: vec![file(meta, "meta.tar.xz", "meta")?, file(root, "rootfs.tar.xz", "rootfs")?],
        requirements,
        serial: printable(&serial),
    })
}

/// The metadata item (incus.tar.xz, else lxd.tar.xz) and the root.tar.xz of a version.
fn usable_items(items: &Value) -> Option<(&Value, &Value)> {
    let items = items.as_object()?;
    let meta = items.values().find(|i| i["ftype"] == "incus.tar.xz").or_else(|| items.values().find(|i| i["ftype"] == "lxd.tar.xz"))?;
    let root = items.values().find(|i| i["ftype"] == "root.tar.xz")?;
    Some((meta, root))
}

fn find_lxc(remote_name: &str, remote: &Remote, name: &str) -> Result<Found> {
    let err = |m: String| Error::Remote { remote: remote_name.into(), message: m };
    let text = match http::get(&format!("{}/meta/1.0/index-system.7", remote.url)) {
        Ok(t) => t,
        Err(_) => http::get(&format!("{}/meta/1.0/index-system", remote.url))?,
    };
    let text = String::from_utf8_lossy(&text);
    let (arch, _) = host_arch();
    let mut parts = name.splitn(3, '/');
    let os = parts.next().unwrap_or("");
    let release = parts.next();
    let variant = parts.next().unwrap_or("default");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(';').collect::<Vec<_>>()).filter(|f| f.len() == 6 && f[0] == os && f[2] == arch && f[3] == variant).collect();
    let release = match release {
        Some(r) => r.to_owned(),
        None => {
            let numbered: Vec<&str> = rows.iter().filter_map(|f| release_number(os, f[1]).or(f[1].parse::<f64>().ok().map(|_| f[1]))).collect();
            pick_friendly(os, numbered.into_iter()).or_else(|| rows.iter().find(|f| f[1] == "current").map(|_| "current".to_owned())).ok_or_else(|| Error::NoSuchImage {
                remote: remote_name.into(),
                name: name.into(),
                hint: format!(" for {arch}; name a release, e.g. {os}/<release>"),
            })?
        }
    };
    let row = rows
        .iter()
        .filter(|f| f[1] == release || release_number(os, f[1]) == Some(release.as_str()))
        .max_by(|a, b| a[4].cmp(b[4]))
        .ok_or_else(|| Error::NoSuchImage { remote: remote_name.into(), name: name.into(), hint: format!(" for {arch} in its index") })?;
    let dir = row[5].trim_matches('/');
    if dir.contains("..") {
        return Err(err(format!("path {:?} is not below the server root", row[5])));
    }
    let base = format!("{}/{dir}", remote.url);
    let sums = String::from_utf8_lossy(&http::get(&format!("{base}/SHA256SUMS"))?).into_owned();
    let sum = |f: &str| -> Result<String> {
        sums.lines()
            .find_map(|l| {
                let (h, n) = l.split_once(char::is_whitespace)?;
                (n.trim().trim_start_matches('*') == f).then(|| h.to_lowercase()).filter(|h| super::store::is_fingerprint(h))
            })
            .ok_or_else(|| err(format!("{base}/SHA256SUMS lists no {f}; refusing an unverifiable image")))
    };
    let files = vec![
        RemoteFile { url: format!("{base}/meta.tar.xz"), name: "meta.tar.xz".into(), role: "meta", sha256: sum("meta.tar.xz")?, size: None },
        RemoteFile { url: format!("{base}/rootfs.tar.xz"), name: "rootfs.tar.xz".into(), role: "rootfs", sha256: sum("rootfs.tar.xz")?, size: None },
    ];
    Ok(Found {
        canonical: printable(&format!("{os}/{}", release_number(os, &release).unwrap_or(&release))),
        fingerprint: None,
        files,
        requirements: BTreeMap::new(),
        serial: printable(row[4]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_pick_stable_and_lts() {
        assert_eq!(pick_friendly("debian", ["11", "12", "13"].into_iter()).as_deref(), Some("13"));
        assert_eq!(pick_friendly("ubuntu", ["22.04", "24.04", "24.10", "25.04"].into_iter()).as_deref(), Some("24.04"));
        assert_eq!(pick_friendly("alpine", ["edge"].into_iter()), None);
        assert_eq!(pick_friendly("alpine", ["3.9", "3.10"].into_iter()).as_deref(), Some("3.10"));
        assert_eq!(printable("deb\x1b[2Jian"), "deb[2Jian");
        assert_eq!(release_number("debian", "bookworm"), Some("12"));
    }
}
