//! The viewer side of a console attach: our terminal in raw mode, keystrokes (minus the
//! escape sequence) framed to the monitor, console output straight to our stdout.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::protocol::{Frame, Request, Response};
use super::{Error, Result};

/// How an attach ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The viewer typed the escape sequence (or its input ended).
    Detached,
    /// The console went away: the container stopped.
    Closed,
}

/// Turns keystrokes into console input, catching `<escape> q` (detach) and
/// `<escape> <its letter>` (a literal escape character).
pub struct Escape {
    key: u8,
    pending: bool,
}

impl Escape {
    /// `key` is a control character, e.g. 0x01 for Ctrl-a.
    pub fn new(key: u8) -> Self {
        Escape { key, pending: false }
    }

    /// Feed keystrokes; what to send, and whether to detach.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.pending {
                self.pending = false;
                match b {
                    b'q' => return (out, true),
                    b if b == self.key + b'a' - 1 => out.push(self.key),
                    b => out.extend_from_slice(&[self.key, b]),
                }
            } else if b == self.key {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Attach to the console behind monitor socket `socket` until detached or closed.
/// `replay` first shows what the console printed so far (the ring buffer).
/// Once attached, and when stdin is a terminal, the viewer is told how to leave (only then:
/// a hint printed before would promise a console that may not come).
pub fn attach(socket: &Path, escape: u8, replay: bool) -> Result<Ended> {
    let io = |what| move |source| Error::Io { what, source };
    let mut conn = UnixStream::connect(socket).map_err(io("reach the container's monitor"))?;
    let mut req = serde_json::to_vec(&Request::Attach { replay }).expect("requests serialise");
    req.push(b'\n');
    conn.write_all(&req).map_err(io("ask the monitor to attach"))?;
    // Unbuffered: console output follows the answer on the same socket.
    let line = super::read_line_unbuffered(&conn).unwrap_or_default();
    match serde_json::from_str::<Response>(&line) {
        Ok(Response::Attached) => {}
        _ => return Err(Error::Runtime { verb: "attach", message: line }),
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("To detach from the console, press: <ctrl>+{} q", (escape + b'a' - 1) as char);
    }

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    mask.thread_block().map_err(|source| Error::Sys { what: "block SIGWINCH", source })?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|source| Error::Sys { what: "make a signalfd", source })?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let host_in = stdin.as_fd();
    let _raw = crate::runtime::relay::RawMode::enter(host_in);
    let send_size = |conn: &mut UnixStream| {
        if let Ok((rows, cols)) = crate::sys::winsize(host_in) {
            let _ = conn.write_all(&Frame::Resize { rows, cols }.encode());
        }
    };
    send_size(&mut conn);

    let mut esc = Escape::new(escape);
    let mut buf = vec![0u8; 16384];
    loop {
        let mut fds = [
            PollFd::new(host_in, PollFlags::POLLIN),
            PollFd::new(conn.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(source) => return Err(Error::Sys { what: "poll", source }),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        if ready[1] {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(Ended::Closed),
                Ok(n) => {
                    let mut out = stdout.lock();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
        if ready[0] {
            let n = nix::unistd::read(host_in.as_raw_fd(), &mut buf).unwrap_or(0);
            if n == 0 {
                return Ok(Ended::Detached);
            }
            let (data, detach) = esc.feed(&buf[..n]);
            if !data.is_empty() {
                for chunk in data.chunks(u16::MAX as usize) {
                    conn.write_all(&Frame::Input(chunk.to_vec()).encode()).map_err(io("send console input"))?;
                }
            }
            if detach {
                return Ok(Ended::Detached);
            }
        }
        if ready[2] {
            while let Ok(Some(_)) = sfd.read_signal() {}
            send_size(&mut conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences() {
        let mut e = Escape::new(1);
        assert_eq!(e.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(e.feed(b"x\x01a"), (b"x\x01".to_vec(), false), "^a a is a literal ^a");
        assert_eq!(e.feed(b"\x01"), (vec![], false), "a lone escape waits for the next key");
        assert_eq!(e.feed(b"z"), (b"\x01z".to_vec(), false), "escape + other key: both go through");
        assert_eq!(e.feed(b"ab\x01qrest"), (b"ab".to_vec(), true), "^a q detaches; the rest is not sent");
    }
}
