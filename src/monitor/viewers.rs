//! Attached console viewers. Output fans out to all of them; a viewer that cannot keep up
//! gets a bounded backlog and is then dropped, so the guest's console never blocks on us.
//! Input frames from any viewer are delivered.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags};

use super::protocol::Frame;

/// Bytes a slow viewer may fall behind before it is dropped.
pub const BACKLOG_CAP: usize = 1 << 20;

struct Viewer {
    conn: UnixStream,
    inbuf: Vec<u8>,
    backlog: Vec<u8>,
    dead: bool,
}

#[derive(Default)]
pub struct Viewers {
    list: Vec<Viewer>,
}

impl Viewers {
    pub fn add(&mut self, conn: UnixStream, first: &[u8]) {
        let _ = conn.set_nonblocking(true);
        let mut v = Viewer { conn, inbuf: Vec::new(), backlog: Vec::new(), dead: false };
        v.send(first);
        self.list.push(v);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn broadcast(&mut self, data: &[u8]) {
        for v in &mut self.list {
            v.send(data);
        }
        self.list.retain(|v| !v.dead);
    }

    /// Poll entries, one per viewer, in order.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        self.list
            .iter()
            .map(|v| {
                let mut ev = PollFlags::POLLIN;
                if !v.backlog.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                PollFd::new(v.conn.as_fd(), ev)
            })
            .collect()
    }

    /// Serve the viewers whose poll entries fired; the frames they sent.
    pub fn service(&mut self, ready: &[bool]) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut buf = [0u8; 4096];
        for (v, _) in self.list.iter_mut().zip(ready).filter(|(_, r)| **r) {
            v.flush();
            loop {
                match v.conn.read(&mut buf) {
                    Ok(0) => {
                        v.dead = true;
                        break;
                    }
                    Ok(n) => v.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        v.dead = true;
                        break;
                    }
                }
            }
            while let Some(f) = Frame::decode(&mut v.inbuf) {
                frames.push(f);
            }
            if v.inbuf.len() > 1 << 16 {
                v.dead = true; // no sane viewer sends that much without a complete frame
            }
        }
        self.list.retain(|v| !v.dead);
        frames
    }
}

impl Viewer {
    fn send(&mut self, data: &[u8]) {
        if data.is_empty() || self.dead {
            return;
        }
        if self.backlog.is_empty() {
            match self.conn.write(data) {
                Ok(n) if n == data.len() => return,
                Ok(n) => self.backlog.extend_from_slice(&data[n..]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.backlog.extend_from_slice(data),
                Err(_) => self.dead = true,
            }
        } else {
            self.backlog.extend_from_slice(data);
        }
        if self.backlog.len() > BACKLOG_CAP {
            self.dead = true;
        }
    }

    fn flush(&mut self) {
        while !self.backlog.is_empty() {
            match self.conn.write(&self.backlog) {
                Ok(n) => {
                    self.backlog.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
}
