//! HTTP(S) for remotes: small JSON/text documents with a size cap, and file downloads that
//! are retried (resuming with a Range request where the server allows) and show progress
//! (bytes, rate, ETA) when stderr is a terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Error, Result};

const ATTEMPTS: u32 = 4;
/// An index larger than this is not an image index.
const DOC_MAX: u64 = 64 << 20;
/// A download whose size the index does not state stops here (no image file is larger).
const FILE_MAX: u64 = 8 << 30;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(30))
        .user_agent(concat!("sysctr/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn http_err(url: &str, e: ureq::Error) -> Error {
    let message = match e {
        ureq::Error::Status(code, r) => format!("the server answered {code} {}", r.status_text()),
        ureq::Error::Transport(t) => match t.kind() {
            ureq::ErrorKind::Dns => format!("cannot resolve the host name ({})", t.message().unwrap_or("no address")),
            ureq::ErrorKind::ConnectionFailed => format!("cannot connect ({})", t.message().unwrap_or("refused")),
            _ => t.to_string(),
        },
    };
    Error::Http { url: url.into(), message }
}

/// Is this failure worth another attempt? Server errors and cut connections are; 4xx and
/// name resolution are not.
fn transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Status(code, _) => *code >= 500 || *code == 429,
        ureq::Error::Transport(t) => !matches!(t.kind(), ureq::ErrorKind::Dns | ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme),
    }
}

/// GET a small document.
pub fn get(url: &str) -> Result<Vec<u8>> {
    let agent = agent();
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
        match agent.get(url).call() {
            Ok(r) => {
                let mut body = Vec::new();
                match r.into_reader().take(DOC_MAX + 1).read_to_end(&mut body) {
                    Ok(_) if body.len() as u64 > DOC_MAX => return Err(Error::Http { url: url.into(), message: "the document is larger than 64 MiB".into() }),
                    Ok(_) => return Ok(body),
                    Err(e) => last = Some(Error::Http { url: url.into(), message: format!("the connection broke: {e}") }),
                }
            }
            Err(e) if transient(&e) => last = Some(http_err(url, e)),
            Err(e) => return Err(http_err(url, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::Http { url: url.into(), message: "failed".into() }))
}

/// Download `url` into `dest`, expecting `size` bytes when known. Retries transient
/// failures, resuming from what arrived when the server honours Range.
pub fn download(url: &str, dest: &Path, size: Option<u64>, label: &str) -> Result<()> {
    let agent = agent();
    let io = |source| Error::Io { what: "write", path: dest.to_owned(), source };
    let mut file = std::fs::File::create(dest).map_err(io)?;
    let mut have = 0u64;
    let mut last: Option<Error> = None;
    let mut progress = Progress::new(label, size);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250 << attempt));
        }
        let mut req = agent.get(url);
        if have > 0 {
            req = req.set("Range", &format!("bytes={have}-"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) if transient(&e) => {
                last = Some(http_err(url, e));
                continue;
            }
            Err(e) => return Err(http_err(url, e)),
        };
        if have > 0 && resp.status() != 206 {
            // No resume: start over.
            have = 0;
            file.set_len(0).map_err(io)?;
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        }
        let mut body = resp.into_reader();
        let mut buf = vec![0u8; 256 << 10];
        let broke = loop {
            match body.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    file.write_all(&buf[..n]).map_err(io)?;
                    have += n as u64;
                    if have > size.unwrap_or(FILE_MAX) {
                        return Err(Error::Http { url: url.into(), message: format!("the server sent more than {} bytes", size.unwrap_or(FILE_MAX)) });
                    }
                    if crate::sys::cancel::requested() {
                        return Err(Error::Http { url: url.into(), message: "cancelled".into() });
                    }
                    progress.update(have);
                }
                Err(e) => break Some(e),
            }
        };
        match (broke, size) {
            (None, Some(s)) if have < s => last = Some(Error::Http { url: url.into(), message: format!("the connection closed after {have} of {s} bytes") }),
            (None, _) => {
                progress.done(have);
                file.sync_all().map_err(io)?;
                return Ok(());
            }
            (Some(e), _) => last = Some(Error::Http { url: url.into(), message: format!("the connection broke after {have} bytes: {e}") }),
        }
    }
    progress.done(have);
    Err(last.unwrap_or_else(|| Error::Http { url: url.into(), message: "failed".into() }))
}

/// A one-line progress display on a terminal; silent otherwise.
struct Progress {
    label: String,
    total: Option<u64>,
    start: Instant,
    last: Instant,
    on: bool,
}

fn mib(b: u64) -> String {
    format!("{:.1}MiB", b as f64 / (1 << 20) as f64)
}

impl Progress {
    fn new(label: &str, total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress { label: label.into(), total, start: now, last: now, on: std::io::stderr().is_terminal() }
    }
    fn update(&mut self, have: u64) {
        if !self.on || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = have as f64 / secs;
        let tail = match self.total {
            Some(t) if rate > 0.0 => format!(" / {}  {}/s  ETA {:.0}s", mib(t), mib(rate as u64), (t.saturating_sub(have)) as f64 / rate),
            _ => format!("  {}/s", mib(rate as u64)),
        };
        eprint!("\r\x1b[K{}: {}{}", self.label, mib(have), tail);
    }
    fn done(&mut self, have: u64) {
        if self.on {
            eprintln!("\r\x1b[K{}: {} in {:.1}s", self.label, mib(have), self.start.elapsed().as_secs_f64());
        }
    }
}
