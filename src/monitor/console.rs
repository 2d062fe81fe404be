//! The console's memory: a bounded ring of the latest output, and a size-capped log file
//! (one rotation: `console.log` -> `console.log.1`).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes of console output kept in memory (Incus's default buffer).
pub const RING_CAP: usize = 128 * 1024;
/// Size at which `console.log` rotates.
pub const CONSOLE_LOG_CAP: u64 = 1024 * 1024;

pub struct Ring {
    buf: VecDeque<u8>,
    cap: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Self {
        Ring { buf: VecDeque::with_capacity(cap), cap }
    }

    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.cap)..];
        let excess = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..excess);
        self.buf.extend(data);
    }

    pub fn contents(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }
}

pub struct Log {
    path: PathBuf,
    cap: u64,
    file: Option<std::fs::File>,
    size: u64,
}

impl Log {
    pub fn open(path: &Path, cap: u64) -> Self {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok();
        let size = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()).unwrap_or(0);
        Log { path: path.to_owned(), cap, file, size }
    }

    /// Append; a write that would pass the cap rotates first. A log that cannot be written
    /// is dropped silently: the guest's console must never block on our disk.
    pub fn write(&mut self, data: &[u8]) {
        if self.size + data.len() as u64 > self.cap {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            let _ = std::fs::rename(&self.path, old);
            *self = Log::open(&self.path, self.cap);
        }
        if let Some(f) = &mut self.file {
            if f.write_all(data).is_ok() {
                self.size += data.len() as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_latest_bytes() {
        let mut r = Ring::new(5);
        r.push(b"abc");
        r.push(b"defg");
        assert_eq!(r.contents(), b"cdefg");
        r.push(b"0123456789");
        assert_eq!(r.contents(), b"56789");
    }

    #[test]
    fn log_rotates_at_the_cap() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("console.log");
        let mut l = Log::open(&p, 10);
        l.write(b"12345678");
        l.write(b"abcd");
        assert_eq!(std::fs::read(&p).unwrap(), b"abcd");
        assert_eq!(std::fs::read(t.path().join("console.log.1")).unwrap(), b"12345678");
    }
}
