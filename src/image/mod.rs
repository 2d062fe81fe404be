//! Images: a content-addressed local store, remotes (simplestreams and LXC's index),
//! template builds, import and export, and the safe unpack they all go through.

pub mod decompress;
pub mod http;
pub mod metadata;
pub mod pack;
pub mod recipe;
pub mod remote;
pub mod store;
pub mod unpack;

pub use store::{Record, Source, Store};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image {0} is not in the local store; `sysctr image list` shows what is")]
    NotFound(String),
    #[error("{0:?} matches more than one image; give more of the fingerprint")]
    Ambiguous(String),
    #[error("invalid alias {0:?}: use 1-128 of a-z, A-Z, 0-9 and '-_./', not starting with '.' or '/'")]
    BadAlias(String),
    #[error("alias {alias} already points at {fingerprint}; remove it first (`sysctr image alias remove {alias}`)")]
    AliasExists { alias: String, fingerprint: String },
    #[error("there is no alias {0}; `sysctr image alias list` shows them")]
    NoAlias(String),
    #[error("{path} is damaged: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot {what} {path}")]
    Io { what: &'static str, path: PathBuf, #[source] source: std::io::Error },
    #[error("{what}: sha256 is {got}, but {want} was expected; the download is corrupt or was tampered with, and nothing was stored")]
    Checksum { what: String, got: String, want: String },
    #[error("cannot unpack {file}")]
    Unpack { file: String, #[source] source: unpack::Error },
    #[error("bad image metadata: {0}")]
    Metadata(String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("remote {remote}: {message}")]
    Remote { remote: String, message: String },
    #[error("no image {name:?} on remote {remote}{hint}")]
    NoSuchImage { remote: String, name: String, hint: String },
    #[error("image {name} cannot run on this host: {reason}")]
    Unsupported { name: String, reason: String },
    #[error("template {name}: {message}")]
    Recipe { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The host's architecture as images name it (`amd64` / `x86_64`).
pub fn host_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "x86_64"),
        "aarch64" => ("arm64", "aarch64"),
        "arm" => ("armhf", "armv7l"),
        "riscv64" => ("riscv64", "riscv64"),
        "powerpc64" => ("ppc64el", "ppc64le"),
        "s390x" => ("s390x", "s390x"),
        other => (other, other),
    }
}

/// Is an image for `arch` runnable here?
pub fn arch_matches(arch: &str) -> bool {
    let (deb, kernel) = host_arch();
    arch.is_empty() || arch == deb || arch == kernel || (kernel == "x86_64" && arch == "x86-64")
}
