//! The on-disk store: where containers live, their validated names and configuration,
//! per-container locks, and safe copy and removal of their directories.

mod clone;
mod config;
pub mod limits;
mod lock;
mod name;
mod paths;
mod remove;
pub mod shift;

pub use clone::{clone_tree, set_file_meta, Error as CloneError, Stats as CloneStats};
pub use config::{find_key, known_key, validate_key, ContainerConfig, HostConfig, ImageRef, KEYS};
pub use limits::Limits;
pub use lock::Lock;
pub use name::{network_name_problem, validate_name};
pub use paths::Paths;
pub use remove::{detach_mounts_below, remove_tree};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container name {name:?}: {reason}; use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-', not all digits")]
    InvalidName { name: String, reason: &'static str },
    #[error("unknown config key {key:?}; known keys: {known}")]
    UnknownKey { key: String, known: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue { key: String, value: String, reason: String },
    #[error("{path} line {line}: {message}; fix that line")]
    Parse { path: PathBuf, line: usize, message: String },
    #[error("{path}")]
    InFile { path: PathBuf, #[source] source: Box<Error> },
    #[error("cannot read {path}")]
    Read { path: PathBuf, #[source] source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, #[source] source: std::io::Error },
    #[error("{path} went away while we waited for its lock")]
    Gone { path: PathBuf },
    #[error("cannot lock {path}")]
    Lock { path: PathBuf, #[source] source: nix::Error },
    #[error("cannot remove {path}")]
    Remove { path: PathBuf, #[source] source: nix::Error },
    #[error("refusing to remove {path}: it is on another filesystem (a mount the unmount pass could not detach)")]
    CrossDevice { path: PathBuf },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A TOML error as one line: where, and what (toml's own Display spans several lines).
fn parse_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> Error {
    let mut line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1)).unwrap_or(1);
    // serde reports an unknown top-level key against the whole document: find its line.
    if let Some(key) = e.message().strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
        if let Some(i) = text.lines().position(|l| {
            let l = l.trim_start().trim_start_matches('"');
            l.starts_with(key) && l[key.len()..].trim_start_matches('"').trim_start().starts_with('=')
        }) {
            line = i + 1;
        }
    }
    Error::Parse { path: path.to_owned(), line, message: e.message().replace('\n', " ").trim().to_owned() }
}

/// Write `data` to `path` atomically and durably: a temp file beside it, fsync, rename,
/// fsync of the dir. A reader sees the old content or the new, never a torn file, also
/// after a power cut.
pub fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<()> {
    write_replacing(path, data, true)
}

/// [`write_atomic`] without the fsyncs, for state that does not outlive a reboot anyway
/// (everything under the run dir): readers still never see a torn file.
pub fn write_volatile(path: &std::path::Path, data: &[u8]) -> Result<()> {
    write_replacing(path, data, false)
}

fn write_replacing(path: &std::path::Path, data: &[u8], durable: bool) -> Result<()> {
    use std::io::Write;
    let err = |source| Error::Write { path: path.to_owned(), source };
    let dir = path.parent().ok_or_else(|| err(std::io::Error::other("no parent directory")))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    if durable {
        f.sync_all().map_err(err)?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    if durable {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
    }
    Ok(())
}
