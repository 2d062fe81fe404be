//! The host side of an exec: copies between our stdio and the command's pty or pipes,
//! forwards window resizes and termination signals, delivers stdin EOF, and returns the
//! command's exit status once its output is drained.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{Error, Result};

/// The command's end of the conversation, as seen from the host side.
pub enum Io {
    /// Master of a pty from the container's devpts; the command has the slave.
    Pty(OwnedFd),
    /// Pipes: we write the command's stdin, read its stdout and stderr.
    Pipes { stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd },
}

/// How long output may trickle in after the command exited (background children may hold
/// its output open forever).
const DRAIN: Duration = Duration::from_millis(200);

/// Signals forwarded from us to the command.
pub const FORWARDED: &[Signal] = &[Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT];

pub fn run(io: Io, child: Pid, sfd: &SignalFd) -> Result<i32> {
    let (mut to_cmd, mut out, mut err, pty) = match io {
        Io::Pty(m) => {
            let w = m.try_clone().map_err(|e| Error::Io { what: "dup the pty", source: e })?;
            (Some(w), Some(m), None, true)
        }
        Io::Pipes { stdin, stdout, stderr } => (Some(stdin), Some(stdout), Some(stderr), false),
    };
    for fd in [&to_cmd, &out, &err].into_iter().flatten() {
        let _ = crate::sys::set_nonblocking(fd.as_fd());
    }
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let (host_in, host_out, host_err) = (stdin.as_fd(), stdout.as_fd(), stderr.as_fd());
    // Our terminal passes every key through to the command's pty; restored on return.
    let _raw = if pty { RawMode::enter(host_in) } else { None };
    let mut stdin_open = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut status: Option<i32> = None;
    let mut stdout_ok = true;
    let mut stderr_ok = true;
    let mut buf = vec![0u8; 65536];
    loop {
        if status.is_some() && out.is_none() && err.is_none() {
            break;
        }
        // Slots: 0 host stdin, 1 to command, 2 out, 3 err, 4 signals.
        let mut slots: Vec<(usize, PollFd)> = Vec::with_capacity(5);
        if stdin_open && pending.is_empty() && to_cmd.is_some() {
            slots.push((0, PollFd::new(host_in, PollFlags::POLLIN)));
        }
        if !pending.is_empty() {
            if let Some(w) = &to_cmd {
                slots.push((1, PollFd::new(w.as_fd(), PollFlags::POLLOUT)));
            }
        }
        if let Some(o) = &out {
            slots.push((2, PollFd::new(o.as_fd(), PollFlags::POLLIN)));
        }
        if let Some(e) = &err {
            slots.push((3, PollFd::new(e.as_fd(), PollFlags::POLLIN)));
        }
        slots.push((4, PollFd::new(sfd.as_fd(), PollFlags::POLLIN)));
        let timeout = if status.is_some() { PollTimeout::try_from(DRAIN).unwrap_or(PollTimeout::ZERO) } else { PollTimeout::NONE };
        let mut fds: Vec<PollFd> = slots.iter().map(|(_, f)| *f).collect();
        let n = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(source) => return Err(Error::Sys { what: "poll", path: "exec".into(), source }),
        };
        if n == 0 && status.is_some() {
            break; // exited, and nothing more came within the drain window
        }
        let ready: Vec<usize> =
            slots.iter().zip(&fds).filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty())).map(|((i, _), _)| *i).collect();
        drop(fds);
        for slot in ready {
            match slot {
                0 => match nix::unistd::read(host_in.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        if pty {
                            // EOF on a pty is the terminal's EOF character.
                            pending.push(0x04);
                        } else {
                            to_cmd = None; // close the pipe: the command reads EOF
                        }
                    }
                    Ok(k) => pending.extend_from_slice(&buf[..k]),
                },
                1 => {
                    if let Some(w) = &to_cmd {
                        match nix::unistd::write(w, &pending) {
                            Ok(k) => {
                                pending.drain(..k);
                            }
                            Err(nix::Error::EAGAIN) => {}
                            Err(_) => {
                                pending.clear();
                                to_cmd = None;
                            }
                        }
                    }
                }
                2 => copy(&mut out, &mut buf, host_out, &mut stdout_ok),
                3 => copy(&mut err, &mut buf, host_err, &mut stderr_ok),
                _ => {
                    while let Ok(Some(si)) = sfd.read_signal() {
                        match Signal::try_from(si.ssi_signo as i32) {
                            Ok(Signal::SIGCHLD) => {}
                            Ok(Signal::SIGWINCH) => {
                                if let (true, Some(m)) = (pty, &out) {
                                    if let Ok((rows, cols)) = crate::sys::winsize(host_in) {
                                        let _ = crate::sys::set_winsize(m.as_fd(), rows, cols);
                                    }
                                }
                            }
                            Ok(sig) => {
                                let _ = nix::sys::signal::kill(child, sig);
                            }
                            Err(_) => {}
                        }
                    }
                    if status.is_none() {
                        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                            Ok(WaitStatus::Exited(_, c)) => status = Some(c),
                            Ok(WaitStatus::Signaled(_, s, _)) => status = Some(128 + s as i32),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(status.unwrap_or(1))
}

/// Move what is readable from `from` to our descriptor `to`; EOF or EIO (a pty whose
/// slaves are all closed) ends that stream.
fn copy(from: &mut Option<OwnedFd>, buf: &mut [u8], to: BorrowedFd<'_>, ok: &mut bool) {
    let Some(f) = from else { return };
    match nix::unistd::read(f.as_raw_fd(), buf) {
        Ok(0) | Err(nix::Error::EIO) => *from = None,
        Ok(n) => {
            if *ok {
                let mut rest = &buf[..n];
                while !rest.is_empty() {
                    match nix::unistd::write(to, rest) {
                        Ok(k) => rest = &rest[k..],
                        Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => continue,
                        Err(_) => {
                            *ok = false; // our reader went away: keep draining, stop writing
                            break;
                        }
                    }
                }
            }
        }
        Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
        Err(_) => *from = None,
    }
}

/// A terminal in raw mode until dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: nix::sys::termios::Termios,
}

impl<'a> RawMode<'a> {
    /// None when `fd` is not a terminal.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<Self> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSADRAIN, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(self.fd, nix::sys::termios::SetArg::TCSADRAIN, &self.saved);
    }
}
