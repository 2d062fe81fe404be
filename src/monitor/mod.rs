//! The per-container supervisor. One runs for each running container, detached from the
//! CLI and any daemon: it drives the OCI runtime's `create`/`start`, holds the console pty
//! master (ring buffer + size-capped `console.log`), reaps init, records why init ended
//! and boots the container again when the guest rebooted. It answers on `monitor.sock`.

pub mod attach;
mod console;
mod protocol;
mod viewers;

pub use console::{Ring, CONSOLE_LOG_CAP, RING_CAP};
pub use protocol::{ExitReason, ExitRecord, Frame, MonitorState, Request, Response};

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {what}")]
    Io { what: &'static str, #[source] source: std::io::Error },
    #[error(transparent)]
    Network(#[from] crate::network::Error),
    #[error("cannot {what}")]
    Sys { what: &'static str, #[source] source: nix::Error },
    #[error("the OCI runtime's {verb} failed: {message}")]
    Runtime { verb: &'static str, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to reach the OCI runtime: its command line up to the verb, and the container id.
#[derive(Clone, Debug)]
pub struct RuntimeCommand {
    pub argv: Vec<String>,
    pub root: PathBuf,
    pub id: String,
}

impl RuntimeCommand {
    fn command(&self, log: &Path) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]).arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        // A file, never a pipe: the container's init could inherit a pipe and hold it open.
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log);
        match out.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => {
                c.stdout(a).stderr(b);
            }
            Err(_) => {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        c
    }

    /// The `start` verb. The built-in runtime's is a read of its exec fifo, done here rather
    /// than in a process of its own (an exec saved on every boot); others run their command.
    pub fn start(&self, log: &Path) -> Result<()> {
        if let Some(root) = self.builtin_root() {
            let rt = crate::runtime::Runtime { root, cgroup_root: "/sys/fs/cgroup".into() };
            return rt.start(&self.id).map_err(|e| Error::Runtime { verb: "start", message: crate::runtime::chain(&e) });
        }
        self.run("start", &[&self.id], log)
    }

    /// `--root` of the built-in runtime when this command is it (`<our exe> oci`).
    fn builtin_root(&self) -> Option<PathBuf> {
        let ours = std::env::current_exe().ok()?;
        (self.argv.len() == 2 && Path::new(&self.argv[0]) == ours && self.argv[1] == "oci").then(|| self.root.clone())
    }

    /// Run one verb to completion; its error output on failure.
    pub fn run(&self, verb: &'static str, args: &[&str], log: &Path) -> Result<()> {
        let before = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let status = self
            .command(log)
            .arg(verb)
            .args(args)
            .status()
            .map_err(|e| Error::Runtime { verb, message: format!("cannot run {}: {e}", self.argv[0]) })?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read(log).unwrap_or_default();
        let tail = String::from_utf8_lossy(&text[(before as usize).min(text.len())..]).trim().to_owned();
        Err(Error::Runtime { verb, message: if tail.is_empty() { status.to_string() } else { tail } })
    }
}

/// Everything the monitor needs, passed by the manager.
pub struct Config {
    pub name: String,
    pub run_dir: PathBuf,
    pub bundle: PathBuf,
    pub console_log: PathBuf,
    pub runtime: RuntimeCommand,
}

impl Config {
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("monitor.sock")
    }
    pub fn state_file(&self) -> PathBuf {
        self.run_dir.join("monitor.json")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.run_dir.join("exit.json")
    }
    pub fn stopping_file(&self) -> PathBuf {
        self.run_dir.join("stopping")
    }
    fn runtime_log(&self) -> PathBuf {
        self.run_dir.join("runtime.log")
    }
}

/// A booted container: init's pid, the console master and our own slave end of it (held so
/// the master never reads EIO while the guest has closed /dev/console for a moment).
struct Booted {
    pid: Pid,
    master: Option<OwnedFd>,
    peer: Option<OwnedFd>,
}

/// The monitor's main: boot, report to the manager on `report` (one line: `ok PID` or
/// `error: ...`), then supervise until the container is down for good.
pub fn run(cfg: Config, report: &mut dyn Write) -> Result<()> {
    // Become the reaper of whatever the runtime leaves behind (the container's init).
    nix::sys::prctl::set_child_subreaper(true).map_err(|source| Error::Sys { what: "become a subreaper", source })?;
    let mut sigs = SigSet::empty();
    sigs.add(Signal::SIGCHLD);
    sigs.thread_block().map_err(|source| Error::Sys { what: "block SIGCHLD", source })?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|source| Error::Sys { what: "make a signalfd", source })?;

    let _ = std::fs::remove_file(cfg.socket());
    let listener = UnixListener::bind(cfg.socket()).map_err(|e| Error::Io { what: "bind the monitor socket", source: e })?;
    listener.set_nonblocking(true).map_err(|e| Error::Io { what: "set the socket non-blocking", source: e })?;

    let mut state = MonitorState {
        monitor_pid: std::process::id() as i32,
        monitor_start_time: crate::runtime::start_time(nix::unistd::getpid()).unwrap_or(0),
        init_pid: 0,
        init_start_time: 0,
        started: now(),
        restarts: 0,
        runtime: cfg.runtime.argv.clone(),
        runtime_root: cfg.runtime.root.clone(),
    };
    let mut booted = match boot(&cfg, &sfd) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(report, "error: {}", crate::runtime::chain(&e));
            let _ = std::fs::remove_file(cfg.socket());
            return Err(e);
        }
    };
    state.init_pid = booted.pid.as_raw();
    state.init_start_time = crate::runtime::start_time(booted.pid).unwrap_or(0);
    write_state(&cfg, &state)?;
    let _ = writeln!(report, "ok {}", booted.pid);
    let _ = report.flush();

    let mut ring = Ring::new(RING_CAP);
    let mut log = console::Log::open(&cfg.console_log, CONSOLE_LOG_CAP);
    let mut viewers = viewers::Viewers::default();
    let mut buf = vec![0u8; 16384];
    loop {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        let pty_slot = booted.master.as_ref().map(|m| {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let first_viewer = fds.len();
        fds.extend(viewers.poll_fds());
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(source) => return Err(Error::Sys { what: "poll", source }),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let (sig_ready, sock_ready) = (ready[0], ready[1]);
        let pty_ready = pty_slot.is_some_and(|i| ready[i]);

        if pty_ready {
            if let Some(m) = &booted.master {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    // Our slave end was hung up (the guest's getty calls vhangup): take a new one.
                    Ok(0) | Err(nix::Error::EIO) => match crate::sys::pty_peer(m.as_fd()) {
                        Ok(p) => booted.peer = Some(p),
                        Err(_) => booted.master = None,
                    },
                    Ok(n) => {
                        ring.push(&buf[..n]);
                        log.write(&buf[..n]);
                        viewers.broadcast(&buf[..n]);
                    }
                    Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
                    Err(_) => booted.master = None,
                }
            }
        }
        if !viewers.is_empty() {
            for frame in viewers.service(&ready[first_viewer..]) {
                match (frame, &booted.master) {
                    (Frame::Input(data), Some(m)) => {
                        let _ = nix::unistd::write(m, &data);
                    }
                    (Frame::Resize { rows, cols }, Some(m)) => {
                        let _ = crate::sys::set_winsize(m.as_fd(), rows, cols);
                    }
                    _ => {}
                }
            }
        }
        if sock_ready {
            if let Ok((conn, _)) = listener.accept() {
                if let Some((conn, replay)) = serve(conn, &state, &ring) {
                    let first = if replay { ring.contents() } else { Vec::new() };
                    viewers.add(conn, &first);
                }
            }
        }
        if sig_ready {
            while sfd.read_signal().ok().flatten().is_some() {}
            let Some(status) = reap(booted.pid) else { continue };
            // Drain what the guest printed last before the pty goes away.
            if let Some(m) = &booted.master {
                while let Ok(n @ 1..) = nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    ring.push(&buf[..n]);
                    log.write(&buf[..n]);
                }
            }
            let reason = ExitReason::from_status(status);
            let stopping = cfg.stopping_file().exists();
            let record = ExitRecord { reason, at: now(), status: format!("{status:?}") };
            let _ = crate::storage::write_volatile(&cfg.exit_file(), &serde_json::to_vec(&record).unwrap_or_default());
            let _ = cfg.runtime.run("delete", &["--force", &cfg.runtime.id], &cfg.runtime_log());
            if reason == ExitReason::Reboot && !stopping {
                let msg = "\r\n[sysctr: guest rebooted; starting it again]\r\n";
                ring.push(msg.as_bytes());
                log.write(msg.as_bytes());
                viewers.broadcast(msg.as_bytes());
                match boot(&cfg, &sfd) {
                    Ok(b) => {
                        booted = b;
                        state.init_pid = booted.pid.as_raw();
                        state.init_start_time = crate::runtime::start_time(booted.pid).unwrap_or(0);
                        state.restarts += 1;
                        state.started = now();
                        write_state(&cfg, &state)?;
                        continue;
                    }
                    Err(e) => {
                        let msg = format!("[sysctr: restart after reboot failed: {}]\r\n", crate::runtime::chain(&e));
                        log.write(msg.as_bytes());
                    }
                }
            }
            let _ = std::fs::remove_file(cfg.socket());
            let _ = std::fs::remove_file(cfg.state_file());
            let _ = std::fs::remove_file(cfg.stopping_file());
            return Ok(());
        }
    }
}

/// `create` with a console socket, then `start`. On failure nothing of the attempt remains.
/// The NICs the manager reserved for this run (`nics.json` in the run dir).
pub const NICS: &str = "nics.json";

fn attach_nics(cfg: &Config, pid: Pid) -> Result<()> {
    let nics: Vec<crate::network::Nic> = match std::fs::read(cfg.run_dir.join(NICS)) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Io { what: "read nics.json", source: e.into() })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(Error::Io { what: "read nics.json", source: e }),
    };
    for nic in &nics {
        crate::network::attach(nic, pid.as_raw())?;
    }
    Ok(())
}

/// A user-namespaced guest's cgroup2 directory belongs to its root (the built-in runtime
/// hands it over itself; runc and crun do not).
fn delegate_cgroup(cfg: &Config) -> Result<()> {
    let Ok(spec) = oci_spec::runtime::Spec::load(cfg.bundle.join("config.json")) else { return Ok(()) };
    let map = crate::runtime::userns::IdMap::from_spec(&spec).map_err(|e| Error::Runtime { verb: "create", message: e.to_string() })?;
    let cg = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    if let (Some(map), Some(cg)) = (map, cg) {
        let (u, g) = map.root();
        let h = crate::cgroup::Hierarchies::discover(Path::new("/sys/fs/cgroup")).map_err(|e| Error::Runtime { verb: "create", message: e.to_string() })?;
        h.delegate(cg.to_string_lossy().trim_start_matches('/'), u, g).map_err(|e| Error::Runtime { verb: "create", message: e.to_string() })?;
    }
    Ok(())
}

fn boot(cfg: &Config, sfd: &SignalFd) -> Result<Booted> {
    let console_path = cfg.run_dir.join("console.sock");
    let pid_file = cfg.run_dir.join("init.pid");
    let _ = std::fs::remove_file(&console_path);
    let _ = std::fs::remove_file(&pid_file);
    let console = UnixListener::bind(&console_path).map_err(|e| Error::Io { what: "bind the console socket", source: e })?;
    console.set_nonblocking(true).map_err(|e| Error::Io { what: "set the socket non-blocking", source: e })?;
    let rt = &cfg.runtime;
    let mut child = rt
        .command(&cfg.runtime_log())
        .arg("create")
        .arg("--bundle")
        .arg(&cfg.bundle)
        .arg("--console-socket")
        .arg(&console_path)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&rt.id)
        .spawn()
        .map_err(|e| Error::Runtime { verb: "create", message: format!("cannot run {}: {e}", rt.argv[0]) })?;
    let log_start = std::fs::metadata(cfg.runtime_log()).map(|m| m.len()).unwrap_or(0);
    let mut master = None;
    // Wake on the console connection or on SIGCHLD (create exited), never on a timer.
    let status = loop {
        let mut fds = [PollFd::new(console.as_fd(), PollFlags::POLLIN), PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(1000u16));
        if let Ok((conn, _)) = console.accept() {
            master = crate::runtime::pty::recv_fd(conn.as_fd()).ok();
        }
        while sfd.read_signal().ok().flatten().is_some() {}
        if let Some(st) = child.try_wait().map_err(|e| Error::Io { what: "wait for the runtime", source: e })? {
            if master.is_none() {
                if let Ok((conn, _)) = console.accept() {
                    master = crate::runtime::pty::recv_fd(conn.as_fd()).ok();
                }
            }
            break st;
        }
    };
    drop(console);
    let _ = std::fs::remove_file(&console_path);
    if !status.success() {
        let text = std::fs::read(cfg.runtime_log()).unwrap_or_default();
        let tail = String::from_utf8_lossy(&text[(log_start as usize).min(text.len())..]).trim().to_owned();
        let _ = rt.run("delete", &["--force", &rt.id], &cfg.runtime_log());
        return Err(Error::Runtime { verb: "create", message: if tail.is_empty() { status.to_string() } else { tail } });
    }
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .map(Pid::from_raw)
        .ok_or_else(|| Error::Runtime { verb: "create", message: "it wrote no pid file".into() })?;
    // The NICs go into the new network namespace before init runs (at every boot: a
    // guest reboot makes a new namespace).
    if let Err(e) = attach_nics(cfg, pid).and_then(|()| delegate_cgroup(cfg)) {
        let _ = rt.run("delete", &["--force", &rt.id], &cfg.runtime_log());
        reap_blocking(pid, Duration::from_secs(5));
        return Err(e);
    }
    if let Err(e) = rt.start(&cfg.runtime_log()) {
        let _ = rt.run("delete", &["--force", &rt.id], &cfg.runtime_log());
        reap_blocking(pid, Duration::from_secs(5));
        return Err(e);
    }
    let mut peer = None;
    if let Some(m) = &master {
        let _ = crate::sys::set_nonblocking(m.as_fd());
        peer = crate::sys::pty_peer(m.as_fd()).ok();
    }
    Ok(Booted { pid, master, peer })
}

/// Reap every exited child; the wait status of `init` if it was among them.
fn reap(init: Pid) -> Option<WaitStatus> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(st) => {
                if st.pid() == Some(init) {
                    found = Some(st);
                }
            }
        }
    }
}

fn reap_blocking(pid: Pid, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
            _ => return,
        }
    }
}

/// Answer one request. An attach request hands the connection back (to become a viewer),
/// with whether the ring is to be replayed to it.
fn serve(conn: UnixStream, state: &MonitorState, ring: &Ring) -> Option<(UnixStream, bool)> {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_nonblocking(false);
    let line = read_line_unbuffered(&conn)?;
    let (response, viewer) = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Status) => (Response::Status(state.clone()), None),
        Ok(Request::ConsoleLog) => (Response::ConsoleLog(String::from_utf8_lossy(&ring.contents()).into_owned()), None),
        Ok(Request::Attach { replay }) => (Response::Attached, Some(replay)),
        Err(e) => (Response::Error(format!("bad request: {e}")), None),
    };
    let mut body = serde_json::to_vec(&response).expect("responses serialise");
    body.push(b'\n');
    (&conn).write_all(&body).ok()?;
    viewer.map(|replay| (conn, replay))
}

/// One request line, read a byte at a time: anything after it (a viewer's first frames)
/// must stay in the socket, not in a buffer we drop.
pub(crate) fn read_line_unbuffered(conn: &UnixStream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 4096 {
        match (&*conn).read(&mut b) {
            Ok(1) if b[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
    None
}

/// Ask the monitor of a container something; None when no monitor answers.
pub fn ask(socket: &Path, req: &Request) -> Option<Response> {
    let mut conn = UnixStream::connect(socket).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut body = serde_json::to_vec(req).ok()?;
    body.push(b'\n');
    conn.write_all(&body).ok()?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

fn write_state(cfg: &Config, state: &MonitorState) -> Result<()> {
    let body = serde_json::to_vec(state).expect("monitor state serialises");
    crate::storage::write_volatile(&cfg.state_file(), &body)
        .map_err(|e| Error::Io { what: "write monitor.json", source: std::io::Error::other(crate::runtime::chain(&e)) })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
