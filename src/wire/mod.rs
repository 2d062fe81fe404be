//! HTTP/1.1 framing over a local stream socket, both halves: the daemon reads requests and
//! writes responses, the client the other way round. Small on purpose: one request per
//! connection (`Connection: close`), bodies framed by Content-Length (or, for streams, by
//! the connection closing), hard caps on header size and count, body size and the time a
//! peer may take to send its headers. A leaf: it knows nothing of the rest of sysctr.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// Longest wait for each part of a request body.
const BODY_TIME: Duration = Duration::from_secs(10);

/// What a peer may send at most.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_bytes: usize,
    pub headers: usize,
    pub body_bytes: usize,
    /// From the first byte to the end of the headers (a byte-a-second client is cut off).
    pub header_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { header_bytes: 16 << 10, headers: 64, body_bytes: 1 << 20, header_time: Duration::from_secs(10) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the peer closed the connection")]
    Closed,
    #[error("malformed HTTP: {0}")]
    Malformed(String),
    #[error("headers larger than {0} bytes or too many")]
    HeadersTooLarge(usize),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("the headers took longer than {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query, as sent (segments may hold `%2F`).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The path's segments, each percent-decoded (so `debian%2F12` is one segment).
    pub fn segments(&self) -> Option<Vec<String>> {
        self.path.trim_matches('/').split('/').map(decode).collect()
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A stream whose read timeout can be set (UnixStream, TcpStream).
pub trait Timed {
    fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
}

impl Timed for std::os::unix::net::UnixStream {
    fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)
    }
}

/// Read the request line and headers within `limits.header_time`, then the body.
pub fn read_request<S: Read + Timed>(r: &mut BufReader<S>, limits: &Limits) -> Result<Request, Error> {
    let head = read_head(r, limits)?;
    let mut lines = head.iter();
    let first = lines.next().ok_or(Error::Closed)?;
    let mut parts = first.split(' ');
    let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Err(Error::Malformed(format!("bad request line {first:?}")));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(|q| {
                let (k, v) = q.split_once('=').unwrap_or((q, ""));
                (decode(k).unwrap_or_default(), decode(&v.replace('+', " ")).unwrap_or_default())
            })
            .collect(),
        headers: parse_headers(lines)?,
        body: Vec::new(),
    };
    let start = Instant::now();
    req.body = read_body(&mut Deadline { inner: r, until: start + BODY_TIME * 3 }, &req.headers, limits.body_bytes)?;
    Ok(req)
}

/// Reads that fail once `until` has passed: a whole body must arrive in time, not just
/// each piece of it.
struct Deadline<'a, R> {
    inner: &'a mut R,
    until: Instant,
}

impl<R: Read> Read for Deadline<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() > self.until {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the body took too long"));
        }
        self.inner.read(buf)
    }
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a String>) -> Result<Vec<(String, String)>, Error> {
    lines
        .map(|l| {
            let (k, v) = l.split_once(':').ok_or_else(|| Error::Malformed(format!("bad header line {l:?}")))?;
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(Error::Malformed(format!("bad header name {k:?}")));
            }
            Ok((k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Lines up to the empty line, under the size, count and time caps.
fn read_head<S: Read + Timed>(r: &mut BufReader<S>, limits: &Limits) -> Result<Vec<String>, Error> {
    let start = Instant::now();
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        loop {
            let left = limits.header_time.checked_sub(start.elapsed()).filter(|d| !d.is_zero()).ok_or(Error::Timeout(limits.header_time))?;
            r.get_ref().set_timeout(Some(left))?;
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Err(Error::Timeout(limits.header_time))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Err(if lines.is_empty() && line.is_empty() { Error::Closed } else { Error::Malformed("the connection closed inside the headers".into()) });
            }
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            total += chunk.len();
            if total > limits.header_bytes {
                return Err(Error::HeadersTooLarge(limits.header_bytes));
            }
            line.extend_from_slice(chunk);
            let n = chunk.len();
            r.consume(n);
            if done {
                break;
            }
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue; // a stray CRLF before the request line
            }
            // The body (at most 1 MiB) gets one short wait per read; a body trickled a byte
            // per wait is cut off by the total in `read_request`.
            r.get_ref().set_timeout(Some(BODY_TIME))?;
            return Ok(lines);
        }
        if lines.len() > limits.headers {
            return Err(Error::HeadersTooLarge(limits.header_bytes));
        }
        lines.push(String::from_utf8(line).map_err(|_| Error::Malformed("a header that is not UTF-8".into()))?);
    }
}

fn read_body<R: Read>(r: &mut R, headers: &[(String, String)], max: usize) -> Result<Vec<u8>, Error> {
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && !v.eq_ignore_ascii_case("identity")) {
        return Err(Error::Malformed("chunked bodies are not accepted; send Content-Length".into()));
    }
    let len = match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        None => return Ok(Vec::new()),
        Some((_, v)) => v.parse::<usize>().map_err(|_| Error::Malformed(format!("bad Content-Length {v:?}")))?,
    };
    if len > max {
        return Err(Error::BodyTooLarge(max));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Malformed("the body is shorter than its Content-Length".into()),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Timeout(BODY_TIME),
        _ => Error::Io(e),
    })?;
    Ok(body)
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A whole response with a JSON (or other) body; the connection closes after it.
pub fn write_response<W: Write>(w: &mut W, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    write!(w, "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", reason(status), body.len())?;
    w.write_all(body)?;
    w.flush()
}

/// The head of a response whose body runs until the connection closes (event streams).
pub fn write_stream_head<W: Write>(w: &mut W, content_type: &str) -> std::io::Result<()> {
    write!(w, "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")?;
    w.flush()
}

/// `101 Switching Protocols` to `protocol`: the connection is the caller's from here on.
pub fn write_upgrade<W: Write>(w: &mut W, protocol: &str) -> std::io::Result<()> {
    write!(w, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n\r\n")?;
    w.flush()
}

/// A request, with a JSON body when given.
pub fn write_request<W: Write>(w: &mut W, method: &str, path: &str, body: Option<&[u8]>, upgrade: Option<&str>) -> std::io::Result<()> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: sysctr\r\nUser-Agent: sysctr/{}\r\n", env!("CARGO_PKG_VERSION"));
    match upgrade {
        Some(p) => head.push_str(&format!("Connection: Upgrade\r\nUpgrade: {p}\r\n")),
        None => head.push_str("Connection: close\r\n"),
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if let Some(b) = body {
        w.write_all(b)?;
    }
    w.flush()
}

/// The status and headers of a response; the body is left in `r`.
pub fn read_response_head<S: Read + Timed>(r: &mut BufReader<S>) -> Result<(u16, Vec<(String, String)>), Error> {
    let limits = Limits { header_time: Duration::from_secs(3600), ..Limits::default() };
    let head = read_head(r, &limits)?;
    r.get_ref().set_timeout(None)?;
    let mut lines = head.iter();
    let first = lines.next().ok_or(Error::Closed)?;
    let status = first.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| Error::Malformed(format!("bad status line {first:?}")))?;
    Ok((status, parse_headers(lines)?))
}

/// A whole response: status and body (Content-Length, else up to the close).
pub fn read_response<S: Read + Timed>(r: &mut BufReader<S>) -> Result<(u16, Vec<u8>), Error> {
    let (status, headers) = read_response_head(r)?;
    if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        return Ok((status, read_body(r, &headers, 1 << 30)?));
    }
    let mut body = Vec::new();
    r.read_to_end(&mut body)?;
    Ok((status, body))
}

/// Percent-decoding; None for a bad escape or non-UTF-8 result.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encoding of a path segment or query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn parse(raw: &[u8], limits: Limits) -> Result<Request, Error> {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(raw).unwrap();
        drop(a);
        read_request(&mut BufReader::new(b), &limits)
    }

    #[test]
    fn parses_requests_and_refuses_bad_ones() {
        let r = parse(b"POST /1.0/containers/web1%2Dx?recursion=1&a=b+c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", Limits::default()).unwrap();
        assert_eq!((r.method.as_str(), r.body.as_slice()), ("POST", &b"{}"[..]));
        assert_eq!(r.segments().unwrap(), ["1.0", "containers", "web1-x"]);
        assert_eq!(r.query("a"), Some("b c"));
        assert_eq!(r.header("content-length"), Some("2"));
        assert!(matches!(parse(b"GARBAGE\r\n\r\n", Limits::default()), Err(Error::Malformed(_))));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n", Limits::default()), Err(Error::BodyTooLarge(_))));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", Limits::default()), Err(Error::Malformed(_))));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20000));
        assert!(matches!(parse(big.as_bytes(), Limits::default()), Err(Error::HeadersTooLarge(_))));
        assert!(matches!(parse(b"", Limits::default()), Err(Error::Closed)));
    }

    #[test]
    fn a_slow_client_is_cut_off() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"GET / HTTP/1.1\r\nHost").unwrap();
        let limits = Limits { header_time: Duration::from_millis(200), ..Limits::default() };
        let t = Instant::now();
        assert!(matches!(read_request(&mut BufReader::new(b), &limits), Err(Error::Timeout(_))));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(a);
    }

    #[test]
    fn responses_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut w = a.try_clone().unwrap();
        write_response(&mut w, 409, "application/json", b"{\"error\":\"busy\"}").unwrap();
        drop(w);
        drop(a);
        let (status, body) = read_response(&mut BufReader::new(b)).unwrap();
        assert_eq!((status, body.as_slice()), (409, &b"{\"error\":\"busy\"}"[..]));
        assert_eq!(decode(&encode("a b/é")).unwrap(), "a b/é");
    }
}
