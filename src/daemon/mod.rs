//! The host service: `sysctr daemon` owns the host's containers and answers the REST API on
//! a unix socket (`/run/sysctr/sysctr.sock`), streams events, runs long work as operations
//! (one per container at a time), starts `boot.autostart` containers after a host boot and
//! stops them in order at `--shutdown` or SIGPWR. It holds no container state of its own:
//! killed and restarted, it finds every container again through its monitor and state files.

mod attach;
mod boot;
pub mod events;
pub mod ops;
pub mod routes;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use crate::api;
use crate::manager::Manager;
use crate::storage::Paths;
use crate::wire;

pub use boot::BOOT_ID_FILE;
use events::Events;
use ops::Ops;
use routes::Reply;

/// Connections served at once; more get 503.
const MAX_CONNECTIONS: usize = 256;
/// The group whose members may use the API (else root only).
pub const ADMIN_GROUP: &str = "sysctr-admin";

pub struct Daemon {
    pub manager: Manager,
    pub ops: Arc<Ops>,
    pub events: Arc<Events>,
    /// Last status the event stream reported per container, and a generation bumped at
    /// each report (the watcher skips what changed while it looked).
    known: Mutex<HashMap<String, (api::Status, u64)>>,
    generation: std::sync::atomic::AtomicU64,
    pub limits: wire::Limits,
    conns: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("another sysctr daemon is running (pid {pid}) on {socket}")]
    Running { pid: String, socket: PathBuf },
    #[error("cannot {what} {path}")]
    Io { what: &'static str, path: PathBuf, #[source] source: std::io::Error },
    #[error("socket activation")]
    Activation(#[from] crate::sys::activation::Error),
    #[error(transparent)]
    Manager(#[from] crate::manager::Error),
}

pub fn socket_path(paths: &Paths) -> PathBuf {
    paths.run.join("sysctr.sock")
}

pub fn pid_path(paths: &Paths) -> PathBuf {
    paths.run.join("daemon.pid")
}

impl Daemon {
    pub fn new(paths: Paths) -> Result<Arc<Daemon>, Error> {
        let events = Arc::new(Events::default());
        Ok(Arc::new(Daemon {
            manager: Manager::new(paths)?,
            ops: Arc::new(Ops::new(events.clone())),
            events,
            known: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(1),
            limits: wire::Limits::default(),
            conns: AtomicUsize::new(0),
        }))
    }

    /// Report a lifecycle event and remember the status it implies.
    pub fn lifecycle(&self, kind: &str, name: &str) {
        let status = match kind {
            "container-started" | "container-thawed" => Some(api::Status::Running),
            "container-frozen" => Some(api::Status::Frozen),
            "container-stopped" | "container-created" => Some(api::Status::Stopped),
            _ => None,
        };
        // Reported under the lock, so the watcher cannot slip a stale report in between.
        let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let g = self.generation.fetch_add(1, Ordering::SeqCst);
        match status {
            Some(s) => {
                k.insert(name.to_owned(), (s, g));
            }
            None => {
                k.remove(name);
            }
        }
        self.events.lifecycle(kind, name);
    }

    /// 409 when an operation holds `name`.
    pub fn not_busy(&self, name: &str) -> Result<(), Reply> {
        match self.ops.holder(name) {
            Some(op) => Err(routes::busy(&op)),
            None => Ok(()),
        }
    }

    /// Notice what happened without us (a guest that halted itself, a container started
    /// by another daemon's predecessor) and report it.
    fn watch(self: &Arc<Self>) {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let before = self.generation.load(Ordering::SeqCst);
            let Ok(list) = self.manager.statuses() else { continue };
            let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
            for (name, status) in &list {
                // Reported by an operation since we looked, or one is at work on it: theirs.
                if self.ops.holder(name).is_some() || k.get(name).is_some_and(|(_, g)| *g >= before) {
                    continue;
                }
                let g = self.generation.fetch_add(1, Ordering::SeqCst);
                let was = k.insert(name.clone(), (*status, g)).map(|(s, _)| s);
                let now_up = matches!(status, api::Status::Running | api::Status::Frozen);
                match was {
                    Some(w) if w == *status => {}
                    Some(api::Status::Running | api::Status::Frozen) if *status == api::Status::Stopped => self.events.lifecycle("container-stopped", name),
                    Some(api::Status::Stopped) if now_up => self.events.lifecycle("container-started", name),
                    _ => {}
                }
            }
            k.retain(|n, (_, g)| list.iter().any(|(name, _)| name == n) || *g >= before);
        }
    }
}

/// `sysctr daemon`'s own flags.
#[derive(Debug, clap::Parser)]
#[command(name = "sysctr daemon", about = "The sysctr host service: the REST API on a unix socket, autostart, ordered shutdown")]
pub struct Args {
    /// Persistent state directory [env: SYSCTR_STATE_DIR] [default: /var/lib/sysctr]
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Runtime state directory [env: SYSCTR_RUN_DIR] [default: /run/sysctr]
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Host configuration file [env: SYSCTR_CONFIG] [default: /etc/sysctr/sysctr.toml]
    #[arg(long)]
    pub host_config: Option<PathBuf>,
    /// Stop every running container (boot.stop.priority order, in parallel within a
    /// priority, each with its boot.host_shutdown_timeout) and exit; through the running
    /// daemon when there is one.
    #[arg(long, conflicts_with = "boot")]
    pub shutdown: bool,
    /// Make sure the daemon runs (a connection starts it under socket activation) and wait
    /// until it has started this boot's boot.autostart containers; then exit. The start
    /// half of sysctr-startup.service, whose stop half is --shutdown.
    #[arg(long)]
    pub boot: bool,
}

/// Entry point of `sysctr daemon`; the exit code.
pub fn command(a: Args) -> i32 {
    let mut paths = Paths::from_env();
    if let Some(d) = a.state_dir {
        paths.state = d;
    }
    if let Some(d) = a.run_dir {
        paths.run = d;
    }
    if let Some(c) = a.host_config {
        paths.config = c;
    }
    let r = if a.shutdown {
        boot::shutdown_command(&paths)
    } else if a.boot {
        boot::boot_command(&paths)
    } else {
        serve_main(&paths)
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {}", crate::manager::chain(&e));
            1
        }
    }
}

fn serve_main(paths: &Paths) -> Result<(), Error> {
    std::fs::create_dir_all(&paths.run).map_err(|source| Error::Io { what: "create", path: paths.run.clone(), source })?;
    let lock = take_lock(paths)?;
    // The state dir too: two daemons on different run dirs must not both own its containers.
    std::fs::create_dir_all(&paths.state).map_err(|source| Error::Io { what: "create", path: paths.state.clone(), source })?;
    let state_lock = take_lock_at(paths, &paths.state.join("daemon.lock"))?;
    // Socket activation (sysctr.socket): systemd owns the socket file and its mode, and
    // keeps it listening while the service restarts; otherwise we bind it ourselves.
    let (listener, activated) = match crate::sys::activation::listener()? {
        Some(l) => (l, true),
        None => (bind(paths)?, false),
    };
    std::fs::write(pid_path(paths), format!("{}\n", std::process::id())).map_err(|source| Error::Io { what: "write", path: pid_path(paths), source })?;
    let signals = crate::sys::signals::signal_pipe(&[libc::SIGTERM, libc::SIGINT, libc::SIGPWR, libc::SIGHUP])
        .map_err(|e| Error::Io { what: "catch signals for", path: paths.run.clone(), source: e.into() })?
        .ok_or_else(|| Error::Io { what: "catch signals for", path: paths.run.clone(), source: std::io::Error::other("signals taken") })?;
    let d = Daemon::new(paths.clone())?;
    eprintln!(
        "sysctr daemon {} listening on {}{} (pid {})",
        env!("CARGO_PKG_VERSION"),
        socket_path(paths).display(),
        if activated { " (socket activation)" } else { "" },
        std::process::id()
    );
    let w = d.clone();
    std::thread::spawn(move || w.watch());
    let b = d.clone();
    std::thread::spawn(move || boot::autostart_if_new_boot(&b));
    let sig = run(listener, &d, signals);
    // No new connections; work under way (a create, an import) finishes rather than leaving
    // half-made directories. An activated socket stays: systemd queues what arrives
    // meanwhile and hands it to the next daemon.
    if !activated {
        let _ = std::fs::remove_file(socket_path(paths));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while d.ops.running() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if sig == libc::SIGPWR {
        eprintln!("SIGPWR: stopping every container");
        if let Err(e) = boot::shutdown(&d) {
            eprintln!("shutdown: {e}");
        }
    }
    let _ = std::fs::remove_file(pid_path(paths));
    drop(state_lock);
    drop(lock);
    Ok(())
}

/// One daemon per run directory: an exclusive lock held for its life.
fn take_lock(paths: &Paths) -> Result<Flock<std::fs::File>, Error> {
    take_lock_at(paths, &paths.run.join("daemon.lock"))
}

/// An exclusive lock on `p`, which then names its holder (`PID SOCKET`).
fn take_lock_at(paths: &Paths, p: &std::path::Path) -> Result<Flock<std::fs::File>, Error> {
    let p = p.to_owned();
    let f = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&p).map_err(|source| Error::Io { what: "open", path: p.clone(), source })?;
    let mut lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| {
        let holder = std::fs::read_to_string(&p).unwrap_or_default();
        let (pid, socket) = holder.trim().split_once(' ').map(|(a, b)| (a.to_owned(), PathBuf::from(b))).unwrap_or_else(|| ("?".into(), socket_path(paths)));
        Error::Running { pid, socket }
    })?;
    let _ = lock.set_len(0);
    let _ = write!(lock, "{} {}", std::process::id(), socket_path(paths).display());
    Ok(lock)
}

/// Bind the socket (removing a stale one: we hold the lock, so nobody serves it), 0660,
/// group sysctr-admin when it exists, else root's.
fn bind(paths: &Paths) -> Result<UnixListener, Error> {
    let sock = socket_path(paths);
    let _ = std::fs::remove_file(&sock);
    let io = |what, source| Error::Io { what, path: sock.clone(), source };
    // Never world-accessible, not even between bind and chmod.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let l = UnixListener::bind(&sock);
    nix::sys::stat::umask(old);
    let l = l.map_err(|e| io("bind", e))?;
    let gid = nix::unistd::Group::from_name(ADMIN_GROUP).ok().flatten().map(|g| g.gid);
    if let Some(g) = gid {
        nix::unistd::chown(&sock, Some(nix::unistd::Uid::from_raw(0)), Some(g)).map_err(|e| io("chown", e.into()))?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660)).map_err(|e| io("chmod", e))?;
    } else {
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(|e| io("chmod", e))?;
    }
    Ok(l)
}

/// Serve `listener` until one of the signals on `signals` ends it (SIGHUP is ignored);
/// that signal. The listener is already bound (tests run the daemon on a socket of their
/// own).
pub fn run(listener: UnixListener, d: &Arc<Daemon>, signals: OwnedFd) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN), PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            let mut b = [0u8; 16];
            let n = nix::unistd::read(signals.as_raw_fd(), &mut b).unwrap_or(0);
            if let Some(&sig) = b[..n].iter().find(|s| i32::from(**s) != libc::SIGHUP) {
                return i32::from(sig);
            }
        }
        if !fds[0].revents().is_some_and(|r| !r.is_empty()) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else { continue };
        // A client that stops reading cannot hold a thread forever.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
        let slot = Slot::take(d.clone());
        if slot.is_none() {
            let mut s = stream;
            let _ = write_error(&mut s, 503, "too many connections; try again", None);
            continue;
        }
        let _ = std::thread::Builder::new().name("conn".into()).spawn(move || {
            let slot = slot;
            if let Some(s) = &slot {
                serve_connection(&s.0, stream);
            }
        });
    }
}

/// One of the connection slots, given back when dropped (also when a handler panics).
struct Slot(Arc<Daemon>);

impl Slot {
    fn take(d: Arc<Daemon>) -> Option<Slot> {
        if d.conns.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            d.conns.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(d))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.conns.fetch_sub(1, Ordering::SeqCst);
    }
}

fn write_error(s: &mut UnixStream, status: u16, message: &str, op: Option<String>) -> std::io::Result<()> {
    let body = serde_json::to_vec(&api::ErrorBody { error: message.into(), status, operation: op }).expect("errors serialise");
    wire::write_response(s, status, "application/json", &body)
}

fn serve_connection(d: &Arc<Daemon>, stream: UnixStream) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    let req = match wire::read_request(&mut r, &d.limits) {
        Ok(req) => req,
        Err(wire::Error::Closed | wire::Error::Io(_)) => return,
        Err(e) => {
            let status = match e {
                wire::Error::Timeout(_) => 408,
                wire::Error::BodyTooLarge(_) => 413,
                wire::Error::HeadersTooLarge(_) => 431,
                _ => 400,
            };
            let _ = write_error(&mut out, status, &e.to_string(), None);
            return;
        }
    };
    let reply = routes::handle(d, req, &mut out);
    let _ = match reply {
        Reply::Json(status, v) => wire::write_response(&mut out, status, "application/json", &serde_json::to_vec(&v).expect("values serialise")),
        Reply::Op(op) => wire::write_response(&mut out, 202, "application/json", &serde_json::to_vec(&op).expect("operations serialise")),
        Reply::Error(status, m, op) => write_error(&mut out, status, &m, op),
        Reply::Bytes(b) => wire::write_response(&mut out, 200, "application/octet-stream", &b),
        Reply::Done => Ok(()),
    };
}

/// `GET /1.0/events`: JSON lines until the client goes away.
fn stream_events(d: &Arc<Daemon>, out: &mut UnixStream) {
    let rx = d.events.subscribe();
    if wire::write_stream_head(out, "application/x-ndjson").is_err() {
        return;
    }
    loop {
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => {
                if out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
            // Quiet: a blank line tells a gone client from a live one.
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if out.write_all(b"\n").is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Is a daemon answering on `paths`' socket?
pub fn answering(paths: &Paths) -> bool {
    UnixStream::connect(socket_path(paths)).is_ok()
}

/// The path of the daemon's log when a CLI starts it in the background.
pub fn log_path(paths: &Paths) -> PathBuf {
    paths.state.join("daemon.log")
}
