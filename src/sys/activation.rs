//! systemd socket activation (sd_listen_fds(3)): a service manager that listens on our
//! socket hands it over as descriptor 3, naming us in `LISTEN_PID` and the count in
//! `LISTEN_FDS`.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{getsockopt, sockopt, AddressFamily, SockType, SockaddrLike};

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
pub const FIRST: RawFd = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("LISTEN_FDS={0}: sysctr listens on one socket, the service manager passed another count")]
    Count(String),
    #[error("descriptor 3 from the service manager is not a listening unix stream socket ({0})")]
    NotListening(String),
}

/// Descriptors passed to process `pid` per `LISTEN_PID` / `LISTEN_FDS`: None when they
/// are not meant for it (unset, or another pid's: a parent's variables we inherited).
pub fn passed(listen_pid: Option<&str>, listen_fds: Option<&str>, pid: u32) -> Result<Option<RawFd>, Error> {
    let (Some(p), Some(n)) = (listen_pid, listen_fds) else { return Ok(None) };
    if p.trim().parse::<u32>().ok() != Some(pid) {
        return Ok(None);
    }
    match n.trim().parse::<u32>() {
        Ok(1) => Ok(Some(FIRST)),
        Ok(0) => Ok(None),
        _ => Err(Error::Count(n.to_owned())),
    }
}

/// The listening socket systemd passed to this process, if it passed one. Clears the
/// variables (as `sd_listen_fds(1)` does) so no child of ours takes them for its own, and
/// marks the descriptor close-on-exec.
pub fn listener() -> Result<Option<UnixListener>, Error> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let Some(fd) = passed(pid.as_deref(), fds.as_deref(), std::process::id())? else { return Ok(None) };
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    // Open at all? (fcntl on a closed descriptor fails with EBADF.)
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).map_err(|e| Error::NotListening(e.to_string()))?;
    // SAFETY: LISTEN_PID names this process, so the service manager passed descriptor 3 to
    // it to own; it is open (F_GETFD succeeded), and nothing of ours took it: an open
    // descriptor is never handed out again by open/socket, and nothing else reads
    // LISTEN_FDS (the variables were just cleared).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let cloexec = nix::fcntl::FdFlag::from_bits_truncate(flags) | nix::fcntl::FdFlag::FD_CLOEXEC;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(cloexec)).map_err(|e| Error::NotListening(e.to_string()))?;
    check(&owned)?;
    Ok(Some(UnixListener::from(owned)))
}

/// A unix stream socket in the listening state, or why not.
fn check(fd: &OwnedFd) -> Result<(), Error> {
    let ty = getsockopt(&fd.as_fd(), sockopt::SockType).map_err(|e| Error::NotListening(format!("not a socket: {e}")))?;
    if ty != SockType::Stream {
        return Err(Error::NotListening(format!("type {ty:?}")));
    }
    let family = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(fd))
        .map_err(|e| Error::NotListening(e.to_string()))?
        .family();
    if family != Some(AddressFamily::Unix) {
        return Err(Error::NotListening(format!("family {family:?}")));
    }
    if !getsockopt(&fd.as_fd(), sockopt::AcceptConn).map_err(|e| Error::NotListening(e.to_string()))? {
        return Err(Error::NotListening("not listening".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_descriptors_meant_for_us_are_taken() {
        assert_eq!(passed(None, None, 42), Ok(None));
        assert_eq!(passed(Some("42"), None, 42), Ok(None));
        // A parent's activation variables, inherited: not ours.
        assert_eq!(passed(Some("41"), Some("1"), 42), Ok(None));
        assert_eq!(passed(Some("42"), Some("1"), 42), Ok(Some(3)));
        assert_eq!(passed(Some("42"), Some("0"), 42), Ok(None));
        assert!(matches!(passed(Some("42"), Some("2"), 42), Err(Error::Count(_))));
        assert!(matches!(passed(Some("42"), Some("x"), 42), Err(Error::Count(_))));
    }

    #[test]
    fn a_listening_unix_socket_passes_the_check_and_others_fail() {
        let dir = tempfile::tempdir().unwrap();
        let l = UnixListener::bind(dir.path().join("s")).unwrap();
        assert_eq!(check(&OwnedFd::from(l)), Ok(()));
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(matches!(check(&OwnedFd::from(a)), Err(Error::NotListening(_))));
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(check(&OwnedFd::from(f)), Err(Error::NotListening(_))));
    }
}
