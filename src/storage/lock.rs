use std::fs::File;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::{Error, Result};

/// An exclusive advisory lock on one container, held until dropped. Every operation that
/// changes a container (create, start, stop, delete) holds it, so two CLIs cannot interleave.
pub struct Lock {
    _file: Flock<File>,
}

impl Lock {
    pub fn acquire(path: &Path) -> Result<Lock> {
        let err = |source| Error::Lock { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_owned(), source: e })?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::Write { path: path.to_owned(), source: e })?;
        let file = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| err(e))?;
        Ok(Lock { _file: file })
    }
}
