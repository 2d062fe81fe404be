//! Running a command inside a running container: join init's cgroups and namespaces, make
//! the command's stdio (a pty from the container's own devpts, or pipes we relay), fork (the
//! pid namespace applies to children), and in the child: credentials, capabilities no wider
//! than init's, every other descriptor closed, then the working directory, then exec.
//! Runs in a single-threaded front-end process (the CLI), never in a multi-threaded daemon.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::relay::{self, Io};
use super::{passwd, Error, Result};
use crate::cgroup::Hierarchies;

/// Namespaces joined, in order: mount late, because after it host paths are gone; user
/// last, because after it we hold no capability over the host's (the cgroup namespace of
/// a user-namespaced guest is the host's to own).
pub const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("user", CloneFlags::CLONE_NEWUSER),
];

/// What to run, and how.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub argv: Vec<String>,
    /// `NAME=value` overrides on top of the login-like defaults.
    pub env: Vec<String>,
    /// A name or number, resolved in the container; default root.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Default: the user's home, else `/`.
    pub cwd: Option<String>,
    /// A pty instead of pipes.
    pub tty: bool,
    /// `TERM` of the caller, for a pty.
    pub term: Option<String>,
    /// The container's seccomp filter (its bundle's `linux.seccomp`), applied to the
    /// command as to init.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// Run `req` in the container whose init is `pid`; its exit status (128+N if killed by N).
pub fn enter(pid: Pid, start_time: u64, req: &Request, cgroup_root: &Path) -> Result<i32> {
    let sys = |what, source| Error::Sys { what, path: format!("/proc/{pid}").into(), source };
    let io = |what| move |source| Error::Io { what, source };
    // Open everything first, while /proc is still the host's.
    let mut ns = Vec::new();
    for (name, flag) in NAMESPACES {
        let mine = std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{name}")).map_err(io("read a namespace of init"))?;
        if mine.as_ref() != Some(&theirs) {
            ns.push((std::fs::File::open(format!("/proc/{pid}/ns/{name}")).map_err(io("open a namespace of init"))?, *flag));
        }
    }
    // Only now, with its namespaces open, is it safe to check that `pid` is still our init:
    // a check before opening could pass for a recycled pid.
    if !super::alive(pid, start_time) {
        return Err(Error::Child("the container stopped".into()));
    }
    let bounding = init_bounding_set(pid)?;
    // No process of the container may ptrace us or open our /proc files (exe, fds, memory)
    // while we stand between host and container.
    nix::sys::prctl::set_dumpable(false).map_err(|e| sys("clear dumpable", e))?;
    // Join init's cgroups (the leaf it sits in) before its cgroup namespace.
    Hierarchies::discover(cgroup_root)?.join_like(pid.as_raw(), std::process::id() as i32)?;
    if !super::alive(pid, start_time) {
        return Err(Error::Child("the container stopped while we joined it".into()));
    }
    // Signals we relay or wait for arrive through a signalfd from here on.
    let mut mask = SigSet::empty();
    for s in relay::FORWARDED.iter().chain(&[Signal::SIGCHLD, Signal::SIGWINCH]) {
        mask.add(*s);
    }
    mask.thread_block().map_err(|e| sys("block signals", e))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(|e| sys("signalfd", e))?;
    for (f, flag) in &ns {
        setns(f.as_fd(), *flag).map_err(|e| sys("setns", e))?;
    }
    let in_userns = ns.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWUSER);
    drop(ns);

    // The command's stdio, made inside the container: its devpts, or pipes.
    let (host_io, child_fds) = if req.tty { open_pty()? } else { open_pipes()? };
    match crate::sys::fork().map_err(|e| sys("fork", e))? {
        crate::sys::Forked::Child => {
            drop(host_io);
            drop(sfd);
            let err = exec_in(req, child_fds, &bounding, in_userns);
            eprintln!("Error: {}", super::chain(&err));
            std::process::exit(if matches!(err, Error::NoCommand(_)) { 127 } else { 126 });
        }
        crate::sys::Forked::Parent(child) => {
            drop(child_fds);
            relay::run(host_io, child, &sfd)
        }
    }
}

/// The command's side of its stdio: the pty slave thrice, or three pipe ends.
struct ChildFds([OwnedFd; 3]);

fn open_pty() -> Result<(Io, ChildFds)> {
    let sys = |what, source| Error::Sys { what, path: "/dev/pts/ptmx".into(), source };
    // We are in the container's mount namespace: this is its own devpts instance.
    let master = crate::sys::openat(
        None,
        Path::new("/dev/pts/ptmx"),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| sys("open the container's ptmx", e))?;
    crate::sys::pty_unlock(master.as_fd()).map_err(|e| sys("unlock pty", e))?;
    let slave = crate::sys::pty_peer(master.as_fd()).map_err(|e| sys("open the pty slave", e))?;
    if let Ok((rows, cols)) = crate::sys::winsize(std::io::stdin().as_fd()) {
        let _ = crate::sys::set_winsize(master.as_fd(), rows, cols);
    }
    let dup = |f: &OwnedFd| f.try_clone().map_err(|e| Error::Io { what: "dup the pty slave", source: e });
    let fds = ChildFds([dup(&slave)?, dup(&slave)?, slave]);
    Ok((Io::Pty(master), fds))
}

fn open_pipes() -> Result<(Io, ChildFds)> {
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|source| Error::Sys { what: "pipe", path: "exec".into(), source });
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    Ok((Io::Pipes { stdin: in_w, stdout: out_r, stderr: err_r }, ChildFds([in_r, out_w, err_w])))
}

fn exec_in(req: &Request, fds: ChildFds, bounding: &caps::CapsHashSet, in_userns: bool) -> Error {
    let sys = |what, source| Error::Sys { what, path: "exec".into(), source };
    // A session of its own; with a pty, the pty is its controlling terminal.
    if let Err(e) = nix::unistd::setsid() {
        return sys("setsid", e);
    }
    if req.tty {
        if let Err(e) = crate::sys::set_controlling_tty(fds.0[0].as_fd()) {
            return sys("set controlling tty", e);
        }
    }
    for (i, fd) in fds.0.iter().enumerate() {
        if let Err(e) = nix::unistd::dup2(fd.as_raw_fd(), i as i32) {
            return sys("dup stdio", e);
        }
    }
    drop(fds);
    let user = match passwd::resolve(req.user.as_deref().unwrap_or("root"), req.group.as_deref()) {
        Ok(u) => u,
        Err(e) => return Error::User(e),
    };
    // Capabilities no wider than init's: drop from the bounding set while we still may.
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false) {
            if let Err(e) = caps::drop(None, caps::CapSet::Bounding, cap) {
                return Error::Caps { what: "drop from the bounding set", reason: e.to_string() };
            }
        }
    }
    // The filter while we still hold CAP_SYS_ADMIN (no no_new_privs needed, setuid
    // programs keep working inside).
    if let Some(sc) = &req.seccomp {
        if let Err(e) = super::seccomp::install(sc) {
            return e;
        }
    }
    let groups: Vec<nix::unistd::Gid> = user.groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    let (uid, gid) = (nix::unistd::Uid::from_raw(user.uid), nix::unistd::Gid::from_raw(user.gid));
    if let Err(e) = nix::unistd::setgroups(&groups).and_then(|()| nix::unistd::setresgid(gid, gid, gid)) {
        return sys("set groups", e);
    }
    if let Err(e) = nix::unistd::setresuid(uid, uid, uid) {
        return sys("set user", e);
    }
    // Nothing of ours may stay open, not even for the chdir below: a working directory of
    // /proc/self/fd/N must find no host directory there.
    if let Err(e) = crate::sys::close_from(3) {
        return sys("close_range", e);
    }
    // A user-namespaced guest's uid now, holding nothing of the host's: dumpable again, so
    // what it opens of its own /proc (a --cwd of /proc/self/fd) belongs to it. (A
    // privileged command stays non-dumpable until execve: as root inside, a guest process
    // could otherwise reopen our binary through /proc/PID/exe.)
    if in_userns {
        if let Err(e) = nix::sys::prctl::set_dumpable(true) {
            return sys("set dumpable", e);
        }
    }
    let cwd = req.cwd.clone().unwrap_or_else(|| if passwd::is_dir(&user.home) { user.home.clone() } else { "/".into() });
    if let Err(source) = nix::unistd::chdir(cwd.as_str()) {
        return Error::Sys { what: "chdir", path: cwd.into(), source };
    }
    let env = environment(req, &user);
    crate::sys::reset_signals();
    // After execve a root process holds bounding ∪ inheritable: nothing inherited from our
    // caller may widen that past init's set.
    let _ = caps::clear(None, caps::CapSet::Ambient);
    let _ = caps::clear(None, caps::CapSet::Inheritable);
    let Some(prog) = req.argv.first() else { return Error::Spec("no command given".into()) };
    let Some(path) = super::init::resolve_program(prog, &env) else { return Error::NoCommand(prog.into()) };
    let c = |s: &String| CString::new(s.as_str()).unwrap_or_default();
    let argv: Vec<CString> = req.argv.iter().map(c).collect();
    let envp: Vec<CString> = env.iter().map(c).collect();
    let path_c = CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default();
    let e = nix::unistd::execve(&path_c, &argv, &envp).unwrap_err();
    Error::Sys { what: "execve", path, source: e }
}

/// What a login would set, then the caller's overrides.
fn environment(req: &Request, user: &passwd::User) -> Vec<String> {
    let mut env = vec![
        format!("PATH={}", super::DEFAULT_PATH),
        format!("HOME={}", user.home),
        format!("USER={}", user.name),
        format!("LOGNAME={}", user.name),
        "LANG=C.UTF-8".to_owned(),
    ];
    if let (true, Some(t)) = (req.tty, &req.term) {
        env.push(format!("TERM={t}"));
    }
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    env
}

fn init_bounding_set(pid: Pid) -> Result<caps::CapsHashSet> {
    crate::sys::bounding_set(&pid.to_string()).map_err(|source| Error::Io { what: "read init's capability bounding set", source })
}
