use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::{Error, Result};

/// An exclusive advisory lock on a directory (flock on the directory itself, so no lock file
/// is ever made), held until dropped. Operations on a container lock its directory; create
/// locks the containers directory, so two CLIs cannot interleave on one container.
pub struct Lock {
    _dir: Flock<File>,
}

impl Lock {
    /// Lock directory `path`, which must exist (and not be a symlink).
    pub fn acquire(path: &Path) -> Result<Lock> {
        let dir = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let dir = Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| Error::Lock { path: path.to_owned(), source: e })?;
        // While we waited, the directory may have been deleted (and another made at the same
        // path): a lock on the old one guards nothing.
        use std::os::unix::fs::MetadataExt;
        let locked = dir.metadata().map_err(|source| Error::Read { path: path.to_owned(), source })?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => Ok(Lock { _dir: dir }),
            _ => Err(Error::Gone { path: path.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_for_the_first() {
        let t = tempfile::tempdir().unwrap();
        let l = Lock::acquire(t.path()).unwrap();
        let p = t.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let _l2 = Lock::acquire(&p).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err(), "the second lock must wait");
        drop(l);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        h.join().unwrap();
        assert!(std::fs::read_dir(t.path()).unwrap().next().is_none(), "no lock file made");
    }

    #[test]
    fn a_lock_on_a_directory_replaced_meanwhile_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join("c");
        std::fs::create_dir(&c).unwrap();
        let first = Lock::acquire(&c).unwrap();
        let p = c.clone();
        let waiter = std::thread::spawn(move || Lock::acquire(&p).map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Delete and re-create while the waiter blocks on the old directory.
        std::fs::remove_dir(&c).unwrap();
        std::fs::create_dir(&c).unwrap();
        drop(first);
        assert!(matches!(waiter.join().unwrap(), Err(Error::Gone { .. })));
    }
}
