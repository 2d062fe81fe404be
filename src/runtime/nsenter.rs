//! Running a command inside a running container: join init's cgroups and namespaces, fork
//! (the pid namespace applies to children), limit capabilities to init's bounding set, exec.
//! Runs in a freshly exec'd single-threaded helper (`sysctr __nsexec`), never in a daemon.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::{Error, Result};
use crate::cgroup::Hierarchies;

/// Namespaces joined, in order: mount last, because after it host paths are gone.
pub const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Run `argv` in the container whose init is `pid`; its exit status (128+N if killed by N).
pub fn enter(pid: Pid, argv: &[String], env: &[String], cgroup_root: &Path) -> Result<i32> {
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
    let bounding = init_bounding_set(pid)?;
    let start = super::start_time(pid);
    // Join init's cgroups (the leaf it sits in) before its cgroup namespace.
    Hierarchies::discover(cgroup_root)?.join_like(pid.as_raw(), std::process::id() as i32)?;
    if super::start_time(pid) != start || start.is_none() {
        return Err(Error::Child("the container stopped while we joined it".into()));
    }
    for (f, flag) in &ns {
        setns(f.as_fd(), *flag).map_err(|e| sys("setns", e))?;
    }
    drop(ns);
    let cwd = if Path::new("/root").is_dir() { "/root" } else { "/" };
    match crate::sys::fork().map_err(|e| sys("fork", e))? {
        crate::sys::Forked::Child => {
            let err = exec_in(argv, env, cwd, &bounding);
            eprintln!("sysctr: {}", super::chain(&err));
            std::process::exit(if matches!(err, Error::NoCommand(_)) { 127 } else { 126 });
        }
        crate::sys::Forked::Parent(child) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(sys("wait", e)),
            }
        },
    }
}

fn exec_in(argv: &[String], env: &[String], cwd: &str, bounding: &caps::CapsHashSet) -> Error {
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false) {
            if let Err(e) = caps::drop(None, caps::CapSet::Bounding, cap) {
                return Error::Caps { what: "drop from the bounding set", reason: e.to_string() };
            }
        }
    }
    if let Err(source) = nix::unistd::chdir(cwd) {
        return Error::Sys { what: "chdir", path: cwd.into(), source };
    }
    let Some(prog) = argv.first() else { return Error::Spec("no command given".into()) };
    let Some(path) = super::init::resolve_program(prog, env) else { return Error::NoCommand(prog.into()) };
    let c = |s: &String| CString::new(s.as_str()).unwrap_or_default();
    let argv: Vec<CString> = argv.iter().map(c).collect();
    let envp: Vec<CString> = env.iter().map(c).collect();
    let path_c = CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default();
    let e = nix::unistd::execve(&path_c, &argv, &envp).unwrap_err();
    Error::Sys { what: "execve", path, source: e }
}

fn init_bounding_set(pid: Pid) -> Result<caps::CapsHashSet> {
    let mask = crate::sys::proc_status_mask(&pid.to_string(), "CapBnd")
        .map_err(|source| Error::Io { what: "read init's capability bounding set", source })?;
    Ok(caps::all().into_iter().filter(|c| mask & (1u64 << c.index()) != 0).collect())
}
