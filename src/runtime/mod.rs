//! The built-in OCI runtime: executes a runtime-spec bundle with the OCI verbs
//! (`create`, `start`, `state`, `kill`, `delete`, `run`), keeping per-container state under
//! its `--root` as runc does. [`command`] is the runc-compatible command line.

mod caps;
pub mod command;
mod devices;
mod init;
mod mounts;
pub mod nsenter;
mod passwd;
pub mod relay;
pub mod pty;
pub mod seccomp;
pub mod userns;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use crate::cgroup::Hierarchies;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}")]
    Sys { what: &'static str, path: PathBuf, #[source] source: nix::Error },
    #[error("cannot {what}")]
    Io { what: &'static str, #[source] source: std::io::Error },
    #[error("cannot mount {}{}", source_path.as_ref().map(|s| format!("{} on ", s.display())).unwrap_or_default(), target.display())]
    Mount { target: PathBuf, source_path: Option<PathBuf>, #[source] source: nix::Error },
    #[error("rootfs: {path} is a symlink (to {target}); a container's {path} must be a real directory: replace the link with an empty directory")]
    SymlinkInRootfs { path: PathBuf, target: PathBuf },
    #[error("rootfs: {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("path {0} leaves the container root")]
    BadPath(PathBuf),
    #[error("bad bundle: {0}")]
    Spec(String),
    #[error("cannot load {path}")]
    LoadSpec { path: PathBuf, #[source] source: oci_spec::OciSpecError },
    #[error("{0}: no such file or not executable in the rootfs; is this a root filesystem with an init?")]
    NoInit(PathBuf),
    #[error("{0}: command not found in the container")]
    NoCommand(PathBuf),
    #[error("{0}")]
    User(String),
    #[error("capabilities: cannot {what}: {reason}")]
    Caps { what: &'static str, reason: String },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("container {id:?} is {status}; {hint}")]
    WrongState { id: String, status: Status, hint: &'static str },
    #[error("container init failed: {0}")]
    Child(String),
    #[error("unknown signal {0:?}")]
    Signal(String),
    #[error("cannot idmap the rootfs {path} for the user namespace ({source}); the kernel or this filesystem lacks idmapped mounts: set security.privileged=true, or keep containers on ext4, xfs, btrfs or tmpfs")]
    Idmap { path: PathBuf, source: nix::Error },
    #[error("cgroup {0} already holds processes (a container of the same name in another sysctr instance?); pick another name")]
    CgroupBusy(String),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The PATH used to find init when the spec's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// OCI rlimit names and the resources behind them.
pub const RLIMITS: &[(&str, nix::sys::resource::Resource)] = {
    use nix::sys::resource::Resource::*;
    &[
        ("RLIMIT_AS", RLIMIT_AS),
        ("RLIMIT_CORE", RLIMIT_CORE),
        ("RLIMIT_CPU", RLIMIT_CPU),
        ("RLIMIT_DATA", RLIMIT_DATA),
        ("RLIMIT_FSIZE", RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", RLIMIT_NICE),
        ("RLIMIT_NOFILE", RLIMIT_NOFILE),
        ("RLIMIT_NPROC", RLIMIT_NPROC),
        ("RLIMIT_RSS", RLIMIT_RSS),
        ("RLIMIT_RTPRIO", RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", RLIMIT_STACK),
    ]
};

/// OCI container status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers of one container (`<root>/<id>/state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/PID/stat): tells our init from a reused pid.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub cgroup: Option<String>,
    pub annotations: std::collections::HashMap<String, String>,
}

/// The OCI `state` document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: std::collections::HashMap<String, String>,
}

/// The runtime, rooted at its state directory.
pub struct Runtime {
    pub root: PathBuf,
    pub cgroup_root: PathBuf,
}

pub struct CreateOptions<'a> {
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
}

impl Runtime {
    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn check_id(id: &str) -> Result<()> {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." || id.len() > 1024 {
            return Err(Error::Spec(format!("invalid container id {id:?}")));
        }
        Ok(())
    }

    /// Set the container up to the point where only execve of its process remains; that
    /// waits for [`Runtime::start`]. Returns the pid of the container's init.
    pub fn create(&self, id: &str, opts: &CreateOptions<'_>) -> Result<Pid> {
        Self::check_id(id)?;
        let bundle = std::fs::canonicalize(opts.bundle).map_err(|e| Error::Io { what: "find the bundle", source: e })?;
        let spec_path = bundle.join("config.json");
        let spec = Spec::load(&spec_path).map_err(|source| Error::LoadSpec { path: spec_path, source })?;
        let root = spec.root().as_ref().ok_or_else(|| Error::Spec("no root".into()))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| Error::Io { what: "find the rootfs", source: e })?;

        let dir = self.dir(id);
        std::fs::create_dir_all(&self.root).map_err(|e| Error::Io { what: "create the runtime root", source: e })?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists(id.into())),
            Err(e) => return Err(Error::Io { what: "create the state directory", source: e }),
        }
        let result = self.create_in(id, &dir, &bundle, &rootfs, &spec, opts);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn create_in(
        &self,
        id: &str,
        dir: &Path,
        bundle: &Path,
        rootfs: &Path,
        spec: &Spec,
        opts: &CreateOptions<'_>,
    ) -> Result<Pid> {
        let fifo_path = dir.join("exec.fifo");
        nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o600))
            .map_err(|source| Error::Sys { what: "mkfifo", path: fifo_path.clone(), source })?;
        let fifo = crate::sys::openat(None, &fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| Error::Sys { what: "open", path: fifo_path.clone(), source })?;
        // With a user namespace, init opens the fifo as the guest's root.
        let idmap = userns::IdMap::from_spec(spec)?;
        if let Some(m) = &idmap {
            let (u, g) = m.root();
            std::os::unix::fs::lchown(&fifo_path, Some(u), Some(g)).map_err(|e| Error::Io { what: "hand the exec fifo to the guest's root", source: e })?;
        }
        let console_socket = match opts.console_socket {
            Some(p) => Some(OwnedFd::from(
                UnixStream::connect(p).map_err(|e| Error::Io { what: "connect to the console socket", source: e })?,
            )),
            None => None,
        };

        // Create the container's cgroups here; the child joins them itself before it unshares
        // its cgroup namespace (so the namespace is rooted there) and this process never moves.
        let linux = spec.linux().as_ref();
        let cgroup = linux.and_then(|l| l.cgroups_path().clone()).map(|p| p.to_string_lossy().trim_start_matches('/').to_owned());
        let hier = match &cgroup {
            Some(cg) => {
                let h = Hierarchies::discover(&self.cgroup_root)?;
                let resources = linux.and_then(|l| l.resources().as_ref());
                let limits = match resources {
                    Some(r) => Some(crate::cgroup::Resources::from_oci(r, h.is_pure_v2()).map_err(Error::Spec)?),
                    None => None,
                };
                // Never share a cgroup with processes that are not ours.
                if !h.create(cg)? && !h.pids(cg)?.is_empty() {
                    return Err(Error::CgroupBusy(cg.clone()));
                }
                let setup = || -> Result<()> {
                    // Bound how deep the guest may nest cgroups (set on our parent, out of
                    // the guest's reach): host-side walks and paths stay bounded.
                    if let Some((parent, _)) = cg.rsplit_once('/') {
                        h.limit_depth(parent, 1 + crate::cgroup::GUEST_DEPTH)?;
                    }
                    let rules = device_rules(resources);
                    if !rules.is_empty() {
                        h.set_device_rules(cg, &rules)?;
                    }
                    if let Some(l) = &limits {
                        h.apply(cg, l)?;
                    }
                    if let Some(m) = &idmap {
                        let (u, g) = m.root();
                        h.delegate(cg, u, g)?;
                    }
                    Ok(())
                };
                if let Err(e) = setup() {
                    let _ = h.remove(cg);
                    return Err(e);
                }
                Some(h)
            }
            None => None,
        };
        let undo_cgroup = |h: &Option<Hierarchies>| {
            if let (Some(h), Some(cg)) = (h, &cgroup) {
                let _ = h.remove(cg);
            }
        };

        // With a user namespace, init is cloned into it and the namespaces it owns.
        let clone_ns = idmap.as_ref().map(|_| userns::clone_flags(spec)).unwrap_or(nix::sched::CloneFlags::empty());
        let want_tree = spec.annotations().as_ref().and_then(|a| a.get(IDMAP_ROOTFS)).is_some_and(|v| v == "true");

        // The pid namespace applies to children only: enter it here, the child becomes PID 1.
        for ns in linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
            if ns.typ() == LinuxNamespaceType::Pid && !clone_ns.contains(nix::sched::CloneFlags::CLONE_NEWPID) {
                match ns.path() {
                    Some(p) => {
                        let f = std::fs::File::open(p).map_err(|e| Error::Io { what: "open pid namespace", source: e })?;
                        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWPID)
                            .map_err(|source| Error::Sys { what: "setns", path: p.clone(), source })?;
                    }
                    None => nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
                        .map_err(|source| Error::Sys { what: "unshare", path: "pid".into(), source })?,
                }
            }
        }

        // On a pure v2 host the child is born in its cgroup; otherwise it joins each
        // hierarchy itself before unsharing its cgroup namespace.
        let into = match (&hier, &cgroup) {
            (Some(h), Some(cg)) if h.is_pure_v2() => {
                let dir = h.dirs(cg)?.remove(0);
                Some(std::fs::File::open(&dir).map_err(|e| Error::Io { what: "open the container cgroup", source: e })?)
            }
            _ => None,
        };
        let (mut parent_end, mut child_end) = UnixStream::pair().map_err(|e| Error::Io { what: "make a socketpair", source: e })?;
        let forked = match (&into, clone_ns.is_empty()) {
            (None, true) => crate::sys::fork(),
            (dir, _) => crate::sys::clone_child(clone_ns.bits() as u64, dir.as_ref().map(|d| d.as_fd())),
        };
        match forked.map_err(|source| Error::Sys { what: "fork", path: "/".into(), source })? {
            crate::sys::Forked::Child => {
                drop(parent_end);
                // In a user namespace the parent moves us into our cgroups before anything.
                let wait_for_cgroup = hier.is_some() && cgroup.is_some() && into.is_none() && idmap.is_none();
                let ctx = init::Context {
                    spec,
                    rootfs,
                    bundle,
                    console_socket,
                    fifo,
                    wait_for_cgroup,
                    userns: idmap.as_ref(),
                };
                let err = init::run(ctx, &mut child_end);
                let _ = std::io::Write::write_all(&mut child_end, format!("error: {}\n", chain(&err)).as_bytes());
                std::process::exit(1);
            }
            crate::sys::Forked::Parent(pid) => {
                drop(child_end);
                // A user namespace gets its maps, and its root is built by a host-root helper
                // and handed over, before the child does anything.
                if let Some(m) = &idmap {
                    let built = (|| -> Result<()> {
                        let (h, cg) = (hier.as_ref(), cgroup.as_deref());
                        let join = |p: Pid| -> Result<()> {
                            match (h, cg, &into) {
                                (Some(h), Some(cg), None) => Ok(h.join(cg, p.as_raw())?),
                                _ => Ok(()),
                            }
                        };
                        userns::write_maps(pid, m)?;
                        let tree = if want_tree { Some(userns::idmapped_tree(rootfs, pid)?) } else { None };
                        let helper = HelperCtx { spec, rootfs, bundle, console_socket: console_socket.as_ref(), fifo: &fifo, map: m, tree, clone_ns, into: into.as_ref(), pid };
                        let fds = build_userns_root(helper, join)?;
                        join(pid)?;
                        let raw: Vec<i32> = fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
                        crate::sys::fdpass::send_fds(parent_end.as_fd(), &raw, b"mapped\n")
                            .map_err(|source| Error::Sys { what: "send the container's root", path: rootfs.to_owned(), source })
                    })();
                    if let Err(e) = built {
                        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                        let _ = waitpid(pid, None);
                        undo_cgroup(&hier);
                        return Err(e);
                    }
                }
                drop(console_socket);
                // Move the child into its cgroups while it sets up its mounts; it waits for
                // `joined` before it makes its cgroup namespace.
                if let (Some(h), Some(cg), None, None) = (&hier, &cgroup, &into, &idmap) {
                    if let Err(e) = h.join(cg, pid.as_raw()) {
                        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                        let _ = waitpid(pid, None);
                        undo_cgroup(&hier);
                        return Err(e.into());
                    }
                    let _ = std::io::Write::write_all(&mut parent_end, b"joined\n");
                }
                let mut line = String::new();
                let _ = BufReader::new(&mut parent_end).read_line(&mut line);
                if line.trim() != "ok" {
                    let _ = waitpid(pid, None);
                    undo_cgroup(&hier);
                    let msg = line.trim().strip_prefix("error: ").unwrap_or("it exited before reporting").to_owned();
                    return Err(Error::Child(msg));
                }
                let saved = Saved {
                    id: id.into(),
                    pid: pid.as_raw(),
                    start_time: start_time(pid).unwrap_or(0),
                    bundle: bundle.to_owned(),
                    cgroup: cgroup.clone(),
                    annotations: spec.annotations().clone().unwrap_or_default(),
                };
                let write = || -> std::io::Result<()> {
                    std::fs::write(dir.join("state.json"), serde_json::to_vec(&saved)?)?;
                    if let Some(p) = opts.pid_file {
                        std::fs::write(p, pid.to_string())?;
                    }
                    Ok(())
                };
                if let Err(e) = write() {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(pid, None);
                    undo_cgroup(&hier);
                    return Err(Error::Io { what: "write the container state", source: e });
                }
                let _ = &mut parent_end;
                Ok(pid)
            }
        }
    }

    fn load(&self, id: &str) -> Result<Saved> {
        Self::check_id(id)?;
        let p = self.dir(id).join("state.json");
        let data = std::fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.into()),
            _ => Error::Io { what: "read the container state", source: e },
        })?;
        serde_json::from_slice(&data).map_err(|e| Error::Io { what: "parse the container state", source: e.into() })
    }

    fn status_of(&self, s: &Saved) -> Status {
        if !alive(Pid::from_raw(s.pid), s.start_time) {
            Status::Stopped
        } else if self.dir(&s.id).join("exec.fifo").exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    pub fn state(&self, id: &str) -> Result<State> {
        let s = self.load(id)?;
        let status = self.status_of(&s);
        Ok(State {
            oci_version: "1.0.2".into(),
            id: s.id.clone(),
            status,
            pid: if status == Status::Stopped { 0 } else { s.pid },
            bundle: s.bundle,
            annotations: s.annotations,
        })
    }

    /// Let the created container's process exec its program.
    pub fn start(&self, id: &str) -> Result<()> {
        let s = self.load(id)?;
        let status = self.status_of(&s);
        if status != Status::Created {
            return Err(Error::WrongState { id: id.into(), status, hint: "only a created container can be started" });
        }
        let fifo_path = self.dir(id).join("exec.fifo");
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)
            .map_err(|e| Error::Io { what: "open the exec fifo", source: e })?;
        // The init writes one byte right after our open lets its blocked open complete.
        let pid = Pid::from_raw(s.pid);
        let mut buf = [0u8; 1];
        loop {
            let mut fds = [nix::poll::PollFd::new(fifo.as_fd(), nix::poll::PollFlags::POLLIN)];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fifo), &mut buf) {
                Ok(1) => break,
                Ok(_) | Err(nix::Error::EAGAIN) => {
                    if !alive(pid, s.start_time) {
                        return Err(Error::Child("the container process died before start".into()));
                    }
                }
                Err(source) => return Err(Error::Sys { what: "read", path: fifo_path, source }),
            }
        }
        std::fs::remove_file(&fifo_path).map_err(|e| Error::Io { what: "remove the exec fifo", source: e })
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let s = self.load(id)?;
        let sig = parse_signal(signal)?;
        let status = self.status_of(&s);
        if status == Status::Stopped {
            return Err(Error::WrongState { id: id.into(), status, hint: "there is nothing to signal" });
        }
        crate::sys::kill_raw(Pid::from_raw(s.pid), sig).map_err(|source| Error::Sys { what: "kill", path: id.into(), source })
    }

    /// Remove a stopped container's state and cgroups. `force` kills a live one first.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let s = self.load(id)?;
        let status = self.status_of(&s);
        let pid = Pid::from_raw(s.pid);
        if status != Status::Stopped {
            if !force {
                return Err(Error::WrongState { id: id.into(), status, hint: "stop it first, or use --force" });
            }
            if let Ok(fd) = crate::sys::pidfd_open(pid) {
                let _ = crate::sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
                wait_exit(&fd, Duration::from_secs(10));
            }
        }
        if let Some(cg) = &s.cgroup {
            Hierarchies::discover(&self.cgroup_root)?.remove(cg)?;
        }
        std::fs::remove_dir_all(self.dir(id)).map_err(|e| Error::Io { what: "remove the container state", source: e })
    }

    /// create + start + wait, in the foreground; the exit status of the container process.
    pub fn run(&self, id: &str, opts: &CreateOptions<'_>) -> Result<i32> {
        let pid = self.create(id, opts)?;
        let started = self.start(id);
        let code = match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, c)) => c,
            Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
            _ => 1,
        };
        self.delete(id, true)?;
        started.map(|()| code)
    }
}

use std::os::unix::fs::OpenOptionsExt;

/// What the host-root helper of a user-namespaced container needs.
struct HelperCtx<'a> {
    spec: &'a Spec,
    rootfs: &'a Path,
    bundle: &'a Path,
    console_socket: Option<&'a OwnedFd>,
    fifo: &'a OwnedFd,
    map: &'a userns::IdMap,
    tree: Option<OwnedFd>,
    /// The namespaces init was cloned into (with its user namespace).
    clone_ns: nix::sched::CloneFlags,
    /// The container's cgroup2 directory, on a pure v2 host.
    into: Option<&'a std::fs::File>,
    /// Init.
    pid: Pid,
}

/// Fork the helper into init's pid namespace (see [`init::build_for_userns`]), let `join`
/// move it into the container's cgroups, and receive what it built: the locked mount
/// namespace and the console's pty slave. The caller is single-threaded.
fn build_userns_root(c: HelperCtx<'_>, join: impl Fn(Pid) -> Result<()>) -> Result<Vec<OwnedFd>> {
    use nix::sched::CloneFlags;
    let open = |name: &str| -> Result<OwnedFd> {
        std::fs::File::open(format!("/proc/{}/ns/{name}", c.pid)).map(OwnedFd::from).map_err(|e| Error::Io { what: "open a namespace of init", source: e })
    };
    let user = open("user")?;
    let mut joined = Vec::new();
    for (flag, name) in [(CloneFlags::CLONE_NEWNET, "net"), (CloneFlags::CLONE_NEWUTS, "uts"), (CloneFlags::CLONE_NEWIPC, "ipc")] {
        if c.clone_ns.contains(flag) {
            joined.push((open(name)?, flag));
        }
    }
    // Our children from here on are born in init's pid namespace (we stay where we are).
    if c.clone_ns.contains(CloneFlags::CLONE_NEWPID) {
        nix::sched::setns(open("pid")?.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|source| Error::Sys { what: "setns", path: "init's pid namespace".into(), source })?;
    }
    let (mut ours, mut theirs) = UnixStream::pair().map_err(|e| Error::Io { what: "make a socketpair", source: e })?;
    let forked = match c.into {
        Some(dir) => crate::sys::fork_into_cgroup(dir.as_fd()),
        None => crate::sys::fork(),
    };
    match forked.map_err(|source| Error::Sys { what: "fork", path: "the userns helper".into(), source })? {
        crate::sys::Forked::Child => {
            drop(ours);
            let dup = |f: &OwnedFd| f.try_clone().unwrap_or_else(|_| std::process::exit(1));
            let ctx = init::Context {
                spec: c.spec,
                rootfs: c.rootfs,
                bundle: c.bundle,
                console_socket: c.console_socket.map(dup),
                fifo: dup(c.fifo),
                wait_for_cgroup: c.into.is_none(),
                userns: Some(c.map),
            };
            let err = init::build_for_userns(ctx, c.map, &joined, user.as_fd(), c.tree, &mut theirs);
            let _ = std::io::Write::write_all(&mut theirs, format!("error: {}\n", chain(&err)).as_bytes());
            std::process::exit(1);
        }
        crate::sys::Forked::Parent(helper) => {
            drop(theirs);
            // A helper that failed early (a hostile rootfs) may be gone by now: what it
            // said is the error worth reporting, not our failed hand-over.
            let joined = if c.into.is_none() {
                join(helper).and_then(|()| {
                    std::io::Write::write_all(&mut ours, b"joined\n").map_err(|e| Error::Io { what: "tell the userns helper it joined", source: e })
                })
            } else {
                Ok(())
            };
            if joined.is_err() {
                let _ = nix::sys::signal::kill(helper, nix::sys::signal::Signal::SIGKILL);
            }
            let got = crate::sys::fdpass::recv_fds_body(ours.as_fd(), 2);
            let _ = waitpid(helper, None);
            let said = got.as_ref().ok().map(|(_, body)| String::from_utf8_lossy(body).trim().to_owned()).unwrap_or_default();
            if let Some(msg) = said.strip_prefix("error: ") {
                return Err(Error::Child(msg.to_owned()));
            }
            joined?;
            let (fds, body) = got.map_err(|source| Error::Sys { what: "hear from the userns helper", path: "sync socket".into(), source })?;
            if body != b"root\n" {
                return Err(Error::Child("the userns helper exited before reporting".into()));
            }
            Ok(fds)
        }
    }
}

/// Annotation asking the built-in runtime to show the rootfs through an idmapped mount of
/// the container's user namespace (files stay owned by uid 0 on disk).
pub const IDMAP_ROOTFS: &str = "org.sysctr.rootfs.idmap";

/// The spec's device cgroup rules.
fn device_rules(res: Option<&oci_spec::runtime::LinuxResources>) -> Vec<crate::cgroup::DeviceRule> {
    use oci_spec::runtime::LinuxDeviceType as T;
    res.and_then(|r| r.devices().as_ref())
        .into_iter()
        .flatten()
        // Fifos are no devices: the device cgroup does not govern them (v1 refuses such a
        // rule, and in an eBPF program it would match every device).
        .filter(|d| d.typ() != Some(T::P))
        .map(|d| crate::cgroup::DeviceRule {
            allow: d.allow(),
            kind: match d.typ() {
                Some(T::B) => 'b',
                Some(T::C) | Some(T::U) => 'c',
                Some(T::A) | Some(T::P) | None => 'a',
            },
            major: d.major().and_then(|n| u32::try_from(n).ok()),
            minor: d.minor().and_then(|n| u32::try_from(n).ok()),
            access: d.access().clone().unwrap_or_else(|| "rwm".into()),
        })
        .collect()
}

/// Wait up to `timeout` for the process behind `pidfd` to exit. True if it did.
pub fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)), Ok(n) if n > 0)
}

/// Field 22 of /proc/PID/stat, or None when there is no such process.
pub fn start_time(pid: Pid) -> Option<u64> {
    crate::sys::proc_stat(pid.as_raw()).map(|(_, t)| t)
}

/// Is `pid` the process that started at `start_time`, and not yet a zombie?
pub fn alive(pid: Pid, start_time: u64) -> bool {
    crate::sys::process_alive(pid.as_raw(), start_time)
}

/// Signal names as runc takes them: `KILL`, `SIGKILL`, `9`, `RTMIN+3`, `SIGRTMIN+3`.
pub fn parse_signal(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(Error::Signal(s.into())) };
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if let Some(off) = name.strip_prefix("RTMIN") {
        let off: libc::c_int = if off.is_empty() { 0 } else { off.strip_prefix('+').and_then(|o| o.parse().ok()).ok_or_else(|| Error::Signal(s.into()))? };
        return Ok(crate::sys::sigrtmin() + off);
    }
    format!("SIG{name}").parse::<nix::sys::signal::Signal>().map(|sig| sig as libc::c_int).map_err(|_| Error::Signal(s.into()))
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("sigpwr").unwrap(), libc::SIGPWR);
        for bad in ["", "NOPE", "0", "65", "RTMIN+x"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn start_time_reads_our_own() {
        assert!(start_time(nix::unistd::getpid()).is_some());
        assert!(start_time(Pid::from_raw(i32::MAX)).is_none());
    }
}
