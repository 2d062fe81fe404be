//! Signals as readable bytes (a self-pipe), for loops that poll sockets and must also see
//! SIGTERM or a SIGWINCH; and a detached session for a background service.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI32, Ordering};

static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on our stack, and a
        // full pipe just drops the byte (O_NONBLOCK).
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Deliver `signals` as bytes (the signal number) on the returned pipe end. One pipe per
/// process: a second call adds signals to the same pipe and returns None.
pub fn signal_pipe(signals: &[libc::c_int]) -> nix::Result<Option<OwnedFd>> {
    let mut read_end = None;
    if PIPE_WR.load(Ordering::Relaxed) < 0 {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        PIPE_WR.store(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::Relaxed);
        read_end = Some(r);
    }
    for &sig in signals {
        install(sig)?;
    }
    Ok(read_end)
}

/// Deliver `sig` on the self-pipe from now on; its previous action.
fn install(sig: libc::c_int) -> nix::Result<(nix::sys::signal::Signal, nix::sys::signal::SigAction)> {
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_signal),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    let sig = nix::sys::signal::Signal::try_from(sig)?;
    // SAFETY: the handler only calls write(2) on a descriptor stored before it is
    // installed; a handler (unlike SIG_IGN) is reset to the default at execve, so
    // children are unaffected.
    let old = unsafe { nix::sys::signal::sigaction(sig, &action) }?;
    Ok((sig, old))
}

/// Signals delivered on the self-pipe while a [`Relay`] lives; their previous handlers come
/// back when it drops. For a front end that attaches a console or exec many times in one
/// process (the TUI) and keeps its own handlers (SIGWINCH, default SIGTERM) between them.
pub struct Relay {
    read: std::os::fd::RawFd,
    saved: Vec<(nix::sys::signal::Signal, nix::sys::signal::SigAction)>,
}

static RELAY_PIPE: std::sync::OnceLock<(OwnedFd, OwnedFd)> = std::sync::OnceLock::new();

impl Relay {
    /// Relay `signals` until the guard drops. Signals caught by an earlier relay and never
    /// read are dropped first: they were meant for the command of that one.
    pub fn new(signals: &[libc::c_int]) -> nix::Result<Relay> {
        use std::os::fd::AsRawFd;
        let (r, w) = match RELAY_PIPE.get() {
            Some(p) => p,
            None => {
                let p = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
                RELAY_PIPE.get_or_init(|| p)
            }
        };
        // The daemon's `signal_pipe` and a relay never share a process; the first pipe wins.
        let _ = PIPE_WR.compare_exchange(-1, w.as_raw_fd(), Ordering::Relaxed, Ordering::Relaxed);
        let mut stale = [0u8; 64];
        while nix::unistd::read(r.as_raw_fd(), &mut stale).is_ok_and(|n| n > 0) {}
        let mut relay = Relay { read: r.as_raw_fd(), saved: Vec::new() };
        for &sig in signals {
            relay.saved.push(install(sig)?);
        }
        Ok(relay)
    }

    /// The pipe's read end: one byte (the signal number) per signal caught.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to RELAY_PIPE, which lives (open) until the process
        // ends; the borrow cannot outlive it.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.read) }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for (sig, old) in self.saved.drain(..).rev() {
            // SAFETY: puts back exactly the disposition sigaction returned for this signal.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &old) };
        }
    }
}

/// Put the next program in a session of its own (setsid), detached from our terminal and
/// process group, in `/`, with umask 022 and none of our descriptors but stdio: the host
/// service started in the background by a CLI.
pub fn new_session(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    cmd.current_dir("/");
    // SAFETY: setsid, umask and close_range (through cloexec_from: fcntl) are
    // async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::umask(0o022);
            let _ = super::cloexec_from(3);
            Ok(())
        });
    }
}
