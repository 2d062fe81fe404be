//! What the CLI and TUI call: the REST API of the host service on its unix socket. When no
//! daemon answers, the first call starts one in the background (logging to the state dir)
//! and carries on: the embedded default. `exec` and `console` hand this process's stdio to
//! the daemon over the socket (SCM_RIGHTS), so the command talks to our terminal directly.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::api;
use crate::wire;

pub use crate::storage::Paths;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon's answer to a request it refused (status and its message).
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("{0}")]
    Daemon(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an attached console ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The viewer typed the escape sequence (or its input ended).
    Detached,
    /// The console went away: the container stopped.
    Closed,
    /// It could not attach; the reason was printed on our stderr. The exit code.
    Failed(i32),
}

/// Upgrade protocols (the daemon's names for them).
const EXEC_PROTOCOL: &str = "sysctr-exec";
const CONSOLE_PROTOCOL: &str = "sysctr-console";
/// The console helper's exit code when the console closed (the container stopped).
pub const CONSOLE_CLOSED: i32 = 3;

#[derive(Clone)]
pub struct Client {
    paths: Paths,
    socket: PathBuf,
    /// Start the embedded default daemon when none answers.
    autostart: bool,
}

fn enc(s: &str) -> String {
    wire::encode(s)
}

impl Client {
    /// A client of the daemon of `paths`. Nothing is contacted (or started) until the first
    /// request, so input refused at the edge never starts a daemon.
    pub fn connect(paths: Paths) -> Result<Client> {
        let socket = paths.run.join("sysctr.sock");
        Ok(Client { paths, socket, autostart: true })
    }

    /// The same client, but one that never starts a daemon: when none answers, its requests
    /// fail (a dashboard waits for the daemon to come back rather than fight whoever
    /// stopped it).
    pub fn without_autostart(&self) -> Client {
        Client { autostart: false, ..self.clone() }
    }

    /// The embedded default: `sysctr daemon` in a session of its own, its output in the
    /// state dir; wait until it answers.
    fn start_daemon(&self) -> Result<()> {
        if !nix::unistd::geteuid().is_root() {
            return Err(Error::Daemon(format!("no sysctr daemon answers on {}; start it (systemctl start sysctr) or run as root", self.socket.display())));
        }
        let log_path = self.paths.state.join("daemon.log");
        let fail = |m: String| Error::Daemon(format!("cannot start the sysctr daemon: {m}"));
        std::fs::create_dir_all(&self.paths.state).map_err(|e| fail(format!("{}: {e}", self.paths.state.display())))?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| fail(format!("{}: {e}", log_path.display())))?;
        let err_log = log.try_clone().map_err(|e| fail(e.to_string()))?;
        let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
        let mut cmd = Command::new(exe);
        cmd.arg("daemon")
            .env("SYSCTR_STATE_DIR", &self.paths.state)
            .env("SYSCTR_RUN_DIR", &self.paths.run)
            .env("SYSCTR_CONFIG", &self.paths.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        crate::sys::signals::new_session(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.socket).is_ok() {
                // Reaped by whoever ends last; we do not wait for it.
                std::mem::forget(child);
                return Ok(());
            }
            if let Ok(Some(st)) = child.try_wait() {
                // Another CLI's daemon may have won the race for the lock: fine if it answers.
                if UnixStream::connect(&self.socket).is_ok() {
                    return Ok(());
                }
                if !st.success() {
                    std::thread::sleep(Duration::from_millis(100));
                    if UnixStream::connect(&self.socket).is_ok() {
                        return Ok(());
                    }
                    let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                    return Err(fail(tail.lines().last().unwrap_or("it exited").to_owned()));
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(fail(format!("it did not answer on {} within 15 s; see {}", self.socket.display(), log_path.display())))
    }

    /// A connection to the daemon, started in the background when none answers.
    fn open(&self) -> Result<UnixStream> {
        match UnixStream::connect(&self.socket) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(Error::Daemon(format!("permission denied on {}: run as root or join the group sysctr-admin", self.socket.display())))
            }
            Err(e) if !self.autostart => return Err(Error::Daemon(format!("cannot reach the sysctr daemon on {}: {e}", self.socket.display()))),
            Err(_) => self.start_daemon()?,
        }
        UnixStream::connect(&self.socket).map_err(|e| Error::Daemon(format!("cannot reach the sysctr daemon on {}: {e}", self.socket.display())))
    }

    fn raw(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<(u16, Vec<u8>)> {
        let s = self.open()?;
        let mut w = s.try_clone().map_err(|e| Error::Daemon(e.to_string()))?;
        wire::write_request(&mut w, method, path, body.as_deref(), None).map_err(|e| Error::Daemon(format!("the daemon went away: {e}")))?;
        let (status, body) = wire::read_response(&mut BufReader::new(s)).map_err(|e| Error::Daemon(format!("the daemon went away: {e}")))?;
        if status >= 400 {
            let message = serde_json::from_slice::<api::ErrorBody>(&body).map(|e| e.error).unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            return Err(Error::Api { status, message });
        }
        Ok((status, body))
    }

    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<&impl Serialize>) -> Result<T> {
        let b = body.map(|b| serde_json::to_vec(b).expect("API types serialise"));
        let (_, out) = self.raw(method, path, b)?;
        serde_json::from_slice(&out).map_err(|e| Error::Daemon(format!("unexpected answer to {method} {path}: {e}")))
    }

    /// A request answered with an operation: wait for it; its result, or its error.
    fn operation(&self, method: &str, path: &str, body: Option<&impl Serialize>) -> Result<Value> {
        let op: api::Operation = self.call(method, path, body)?;
        // Waited on in short pieces: work may take longer than any one wait.
        let done = loop {
            let now: api::Operation = self.call("GET", &format!("/1.0/operations/{}/wait?timeout=30", op.id), None::<&()>)?;
            if now.status != api::OperationStatus::Running {
                break now;
            }
        };
        match done.status {
            api::OperationStatus::Success => Ok(done.result.unwrap_or(Value::Null)),
            _ => Err(Error::Api { status: 500, message: done.error.unwrap_or_else(|| format!("operation {} failed", done.id)) }),
        }
    }

    fn container_path(name: &str) -> Result<String> {
        edge(crate::storage::validate_name(name))?;
        Ok(format!("/1.0/containers/{}", enc(name)))
    }

    /// The container, and notes worth showing (downloads, builds, template warnings).
    pub fn create(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        // Checked here, at the edge, before anything is contacted or made.
        edge(crate::storage::validate_name(&req.name))?;
        for (k, v) in &req.config {
            edge(crate::storage::validate_key(k, v))?;
        }
        let mut req = req.clone();
        if let Some(r) = &req.rootfs {
            let abs = absolute(Path::new(r));
            if !abs.is_dir() {
                return Err(Error::Api { status: 400, message: format!("--rootfs {r}: not a directory; give the path of a prepared root filesystem") });
            }
            req.rootfs = Some(abs.display().to_string());
        }
        let v = self.operation("POST", "/1.0/containers", Some(&req))?;
        Ok((serde_json::from_value(v["container"].clone()).map_err(|e| Error::Daemon(e.to_string()))?, strings(&v["notes"])))
    }
    /// Create from an image and boot; returns once init runs.
    pub fn launch(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        let mut r = req.clone();
        r.start = true;
        self.create(&r)
    }
    fn state(&self, name: &str, action: &str, timeout: Option<Duration>, force: bool) -> Result<Vec<String>> {
        let body = api::StatePut { action: action.into(), timeout: timeout.map(|t| t.as_secs()), force };
        let v = self.operation("PUT", &format!("{}/state", Self::container_path(name)?), Some(&body))?;
        Ok(strings(&v["warnings"]))
    }
    /// Warnings worth showing come back on success.
    pub fn start(&self, name: &str) -> Result<Vec<String>> {
        self.state(name, "start", None, false)
    }
    pub fn stop(&self, name: &str, timeout: Duration, force: bool) -> Result<()> {
        self.state(name, "stop", Some(timeout), force).map(drop)
    }
    pub fn restart(&self, name: &str, timeout: Duration, force: bool) -> Result<Vec<String>> {
        self.state(name, "restart", Some(timeout), force)
    }
    /// Freeze (`true`) or thaw a running container.
    pub fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        self.state(name, if frozen { "freeze" } else { "unfreeze" }, None, false).map(drop)
    }
    pub fn delete(&self, name: &str, force: bool) -> Result<()> {
        self.operation("DELETE", &format!("{}?force={force}", Self::container_path(name)?), None::<&()>).map(drop)
    }
    pub fn list(&self) -> Result<Vec<api::Container>> {
        self.call("GET", "/1.0/containers", None::<&()>)
    }
    pub fn info(&self, name: &str) -> Result<api::Container> {
        self.call("GET", &Self::container_path(name)?, None::<&()>)
    }
    /// `info` with CPU use measured over `interval` (this call takes that long).
    pub fn info_sampled(&self, name: &str, interval: Duration) -> Result<api::Container> {
        self.call("GET", &format!("{}?interval={}", Self::container_path(name)?, interval.as_secs_f64()), None::<&()>)
    }
    /// Set and unset configuration keys; live keys apply to a running container at once.
    pub fn update_config(&self, name: &str, patch: &api::ConfigPatch) -> Result<api::Container> {
        self.call("PATCH", &Self::container_path(name)?, Some(patch))
    }
    /// An error naming the known keys when `key` is none of them.
    pub fn check_key(&self, key: &str) -> Result<()> {
        crate::storage::known_key(key).map(drop).map_err(|e| Error::Api { status: 400, message: e.to_string() })
    }
    /// The daemon's event stream: lifecycle and operation events as they happen. The
    /// iterator ends when the daemon goes away.
    pub fn events(&self) -> Result<Events> {
        let gone = |e: String| Error::Daemon(format!("the daemon went away: {e}"));
        let s = self.open()?;
        let mut w = s.try_clone().map_err(|e| gone(e.to_string()))?;
        wire::write_request(&mut w, "GET", "/1.0/events", None, None).map_err(|e| gone(e.to_string()))?;
        let mut r = BufReader::new(s);
        let (status, _) = wire::read_response_head(&mut r).map_err(|e| gone(e.to_string()))?;
        if status != 200 {
            return Err(Error::Api { status, message: format!("GET /1.0/events answered {status}") });
        }
        Ok(Events { r })
    }
    pub fn console_log(&self, name: &str) -> Result<Vec<u8>> {
        self.raw("GET", &format!("{}/log", Self::container_path(name)?), None).map(|(_, b)| b)
    }

    pub fn network_list(&self) -> Result<Vec<api::Network>> {
        self.call("GET", "/1.0/networks", None::<&()>)
    }
    pub fn network_show(&self, name: &str) -> Result<api::Network> {
        self.call("GET", &format!("/1.0/networks/{}", enc(name)), None::<&()>)
    }
    /// The new network, and warnings about the host's firewall.
    pub fn network_create(&self, req: &api::NetworksPost) -> Result<(api::Network, Vec<String>)> {
        let v: Value = self.call("POST", "/1.0/networks", Some(req))?;
        Ok((serde_json::from_value(v["network"].clone()).map_err(|e| Error::Daemon(e.to_string()))?, strings(&v["warnings"])))
    }
    pub fn network_delete(&self, name: &str) -> Result<()> {
        self.call::<Value>("DELETE", &format!("/1.0/networks/{}", enc(name)), None::<&()>).map(drop)
    }
    pub fn network_set(&self, name: &str, key: &str, value: &str) -> Result<(api::Network, Vec<String>)> {
        let body = api::NetworkPatch { key: key.into(), value: value.into() };
        let v: Value = self.call("PATCH", &format!("/1.0/networks/{}", enc(name)), Some(&body))?;
        Ok((serde_json::from_value(v["network"].clone()).map_err(|e| Error::Daemon(e.to_string()))?, strings(&v["warnings"])))
    }

    pub fn image_list(&self) -> Result<Vec<api::Image>> {
        self.call("GET", "/1.0/images", None::<&()>)
    }
    pub fn image_info(&self, name: &str) -> Result<api::Image> {
        self.call("GET", &format!("/1.0/images/{}", enc(name)), None::<&()>)
    }
    /// The fingerprint of the image deleted.
    pub fn image_delete(&self, name: &str) -> Result<String> {
        let v: Value = self.call("DELETE", &format!("/1.0/images/{}", enc(name)), None::<&()>)?;
        Ok(v["fingerprint"].as_str().unwrap_or_default().to_owned())
    }
    pub fn image_import(&self, req: &api::ImagesPost) -> Result<api::Image> {
        // Paths as the daemon sees them: absolute.
        let mut r = req.clone();
        r.files = r.files.iter().map(|f| absolute(Path::new(f)).display().to_string()).collect();
        let v = self.operation("POST", "/1.0/images", Some(&r))?;
        serde_json::from_value(v).map_err(|e| Error::Daemon(e.to_string()))
    }
    pub fn image_export(&self, name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
        let body = serde_json::json!({"dir": absolute(dir)});
        let v: Value = self.call("POST", &format!("/1.0/images/{}/export", enc(name)), Some(&body))?;
        Ok(serde_json::from_value(v["files"].clone()).unwrap_or_default())
    }
    pub fn image_build(&self, name: &str) -> Result<(api::Image, Vec<String>)> {
        let v = self.operation("POST", "/1.0/images/build", Some(&serde_json::json!({"name": name})))?;
        Ok((serde_json::from_value(v["image"].clone()).map_err(|e| Error::Daemon(e.to_string()))?, strings(&v["notes"])))
    }
    pub fn image_alias_add(&self, alias: &str, target: &str) -> Result<()> {
        self.call::<Value>("POST", "/1.0/images/aliases", Some(&serde_json::json!({"name": alias, "target": target}))).map(drop)
    }
    pub fn image_alias_remove(&self, alias: &str) -> Result<()> {
        self.call::<Value>("DELETE", &format!("/1.0/images/aliases/{}", enc(alias)), None::<&()>).map(drop)
    }
    pub fn image_aliases(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.call("GET", "/1.0/images/aliases", None::<&()>)
    }
    pub fn doctor(&self) -> Result<Vec<api::Check>> {
        self.call("GET", "/1.0/doctor", None::<&()>)
    }
    pub fn remote_list(&self) -> Result<Vec<api::Remote>> {
        self.call("GET", "/1.0/remotes", None::<&()>)
    }
    pub fn remote_add(&self, name: &str, url: &str, protocol: Option<&str>) -> Result<api::Remote> {
        let body = api::Remote { name: name.into(), url: url.into(), protocol: protocol.unwrap_or_default().into() };
        self.call("POST", "/1.0/remotes", Some(&body))
    }
    pub fn remote_remove(&self, name: &str) -> Result<()> {
        self.call::<Value>("DELETE", &format!("/1.0/remotes/{}", enc(name)), None::<&()>).map(drop)
    }

    /// Run a command in the container on this process's stdin, stdout and stderr; its exit
    /// status. Signals this process gets (SIGINT, SIGTERM, SIGWINCH, ...) reach it.
    pub fn exec(&self, name: &str, req: &api::ExecPost) -> Result<i32> {
        let body = serde_json::to_vec(req).expect("exec requests serialise");
        self.attached("POST", &format!("{}/exec", Self::container_path(name)?), Some(body), EXEC_PROTOCOL)
    }

    /// Attach this terminal to the container's console; how it ended.
    pub fn console(&self, name: &str, escape: u8, replay: bool) -> Result<Ended> {
        let path = format!("{}/console?escape={escape}&replay={replay}", Self::container_path(name)?);
        Ok(match self.attached("GET", &path, None, CONSOLE_PROTOCOL)? {
            0 => Ended::Detached,
            CONSOLE_CLOSED => Ended::Closed,
            code => Ended::Failed(code),
        })
    }

    /// An upgraded connection: hand over our stdio, relay our signals, return the exit code.
    fn attached(&self, method: &str, path: &str, body: Option<Vec<u8>>, protocol: &str) -> Result<i32> {
        let gone = |e: String| Error::Daemon(format!("the daemon went away: {e}"));
        let s = self.open()?;
        let mut w = s.try_clone().map_err(|e| gone(e.to_string()))?;
        wire::write_request(&mut w, method, path, body.as_deref(), Some(protocol)).map_err(|e| gone(e.to_string()))?;
        let mut r = BufReader::new(s);
        let (status, headers) = wire::read_response_head(&mut r).map_err(|e| gone(e.to_string()))?;
        if status != 101 {
            let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
            let mut b = vec![0u8; len.min(1 << 20)];
            let _ = r.read_exact(&mut b);
            let message = serde_json::from_slice::<api::ErrorBody>(&b).map(|e| e.error).unwrap_or_else(|_| String::from_utf8_lossy(&b).into_owned());
            return Err(Error::Api { status, message });
        }
        crate::sys::fdpass::send_fds(w.as_fd(), &[0, 1, 2], b"F").map_err(|e| gone(e.to_string()))?;
        // Relayed while attached; our own handlers (a TUI's SIGWINCH) come back after.
        let signals = crate::sys::signals::Relay::new(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGWINCH, libc::SIGUSR1, libc::SIGUSR2])
            .map_err(|e| gone(e.to_string()))?;
        loop {
            if r.buffer().is_empty() {
                use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                let mut fds = vec![PollFd::new(r.get_ref().as_fd(), PollFlags::POLLIN), PollFd::new(signals.fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(gone(e.to_string())),
                }
                let sig_ready = fds.get(1).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
                let sock_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
                if sig_ready {
                    let mut b = [0u8; 32];
                    let n = nix::unistd::read(signals.fd().as_raw_fd(), &mut b).unwrap_or(0);
                    for s in &b[..n] {
                        let _ = writeln!(w, "{}", serde_json::json!({"signal": s}));
                    }
                }
                if !sock_ready {
                    continue;
                }
            }
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) => return Err(gone("the connection closed before the exit status".into())),
                Ok(_) => {
                    let v: Value = serde_json::from_str(line.trim()).map_err(|e| gone(e.to_string()))?;
                    if let Some(err) = v["error"].as_str() {
                        return Err(Error::Daemon(err.to_owned()));
                    }
                    if let Some(code) = v["exit"].as_i64() {
                        return Ok(code as i32);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(gone(e.to_string())),
            }
        }
    }
}

/// `GET /1.0/events`, one event at a time; blank keep-alive lines are skipped.
pub struct Events {
    r: BufReader<UnixStream>,
}

impl Iterator for Events {
    type Item = Result<api::Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => return Some(serde_json::from_str(line.trim()).map_err(|e| Error::Daemon(format!("unexpected event {:?}: {e}", line.trim())))),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(Error::Daemon(format!("the daemon went away: {e}")))),
            }
        }
    }
}

/// Input refused at the edge, as the daemon would refuse it.
fn edge<T>(r: std::result::Result<T, crate::storage::Error>) -> Result<T> {
    r.map_err(|e| Error::Api { status: 400, message: e.to_string() })
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
