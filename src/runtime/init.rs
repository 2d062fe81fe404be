//! What the container's first process does between fork and execve, as a checklist.
//! It runs as PID 1 of the new pid namespace (the parent unshared it before forking, or
//! cloned it with its user namespace) and already sits in the container's cgroup or is
//! moved there by the parent. Privileged, it builds its root itself ([`build_root`]);
//! with a user namespace a host-root helper builds it and init joins a locked copy.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{umask, Mode};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::mounts::{mount_at, open_in_root, parse_options, Kind};
use super::userns::IdMap;
use super::{devices, pty, Error, Result};

pub struct Context<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub console_socket: Option<OwnedFd>,
    /// O_PATH descriptor of the exec fifo; opening it for writing blocks until `start`.
    pub fifo: OwnedFd,
    /// The parent moves us into the container's cgroups (while we set up mounts) and says
    /// `joined` on the sync socket; we must wait for that before our cgroup namespace.
    pub wait_for_cgroup: bool,
    /// Cloned into a new user namespace with these maps: the parent writes them (and sends
    /// the idmapped rootfs) and says `mapped`; init then becomes the guest's root.
    pub userns: Option<&'a IdMap>,
}

/// Run the checklist, report to the parent, wait for `start`, exec. Returns only on error.
pub fn run(ctx: Context<'_>, sync: &mut UnixStream) -> Error {
    match prepare(&ctx, sync) {
        Ok(stdio) => {
            if let Err(e) = sync.write_all(b"ok\n") {
                return Error::Io { what: "report to the runtime", source: e };
            }
            drop(stdio);
            wait_for_start(&ctx).and_then(|()| exec(ctx.spec)).err().unwrap_or(Error::Spec("exec returned".into()))
        }
        Err(e) => e,
    }
}

fn prepare(ctx: &Context<'_>, sync: &mut UnixStream) -> Result<Option<OwnedFd>> {
    let spec = ctx.spec;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::Spec("no linux section".into()))?;
    let process = spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;

    let console = match ctx.userns {
        // Privileged: we build the container's root ourselves.
        None => build_root(ctx, sync, &Setup::default())?,
        // In a user namespace a helper built it, as host root, and locked it: we join it.
        Some(_) => {
            let (mnt, console) = wait_for_root(sync, wants_console(ctx)?)?;
            setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS).map_err(|source| Error::Sys { what: "join the container's mount namespace", path: "mnt".into(), source })?;
            // The parent moved us into our cgroups before it sent the root: a cgroup
            // namespace of our user namespace's, rooted there (the helper's, which the
            // cgroup view was mounted in, has the same root).
            if linux.namespaces().iter().flatten().any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none()) {
                unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|source| Error::Sys { what: "unshare", path: "cgroup".into(), source })?;
            }
            become_root()?;
            console
        }
    };

    for rl in process.rlimits().iter().flatten() {
        set_rlimit(rl)?;
    }
    // Credentials before capabilities: changing uid would otherwise clear the sets again.
    set_user(process.user())?;
    if let Some(c) = process.capabilities() {
        super::caps::apply(c)?;
    }
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().map_err(|source| Error::Sys { what: "no_new_privs", path: "/".into(), source })?;
    }
    umask(Mode::from_bits_truncate(0o022));
    if let Some(sc) = linux.seccomp() {
        super::seccomp::install(sc)?;
    }
    nix::unistd::chdir(process.cwd()).map_err(|source| Error::Sys { what: "chdir", path: process.cwd().clone(), source })?;

    // The console becomes init's controlling terminal and stdio, as on a real machine.
    if let Some(slave) = &console {
        nix::unistd::setsid().map_err(|source| Error::Sys { what: "setsid", path: "/".into(), source })?;
        crate::sys::set_controlling_tty(slave.as_fd())
            .map_err(|source| Error::Sys { what: "set controlling tty", path: "/dev/console".into(), source })?;
        for fd in 0..=2 {
            nix::unistd::dup2(slave.as_raw_fd(), fd)
                .map_err(|source| Error::Sys { what: "dup console", path: "/dev/console".into(), source })?;
        }
    }
    // Init starts with fds 0-2 only: everything else closes at execve.
    crate::sys::cloexec_from(3).map_err(|source| Error::Sys { what: "close_range", path: "/".into(), source })?;
    Ok(console)
}

/// How [`build_root`] runs: as init itself (privileged, the default), or as the host-root
/// helper of a user-namespaced container.
#[derive(Default)]
struct Setup<'a> {
    /// The guest's id maps: mounts and device nodes get its ids, and new directories in
    /// the idmapped rootfs its root's.
    map: Option<&'a IdMap>,
    /// Namespaces to join rather than make (those the user namespace owns).
    join: &'a [(OwnedFd, CloneFlags)],
    /// The idmapped rootfs, to attach in place of a bind.
    tree: Option<OwnedFd>,
}

fn wants_console(ctx: &Context<'_>) -> Result<bool> {
    let process = ctx.spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;
    match (process.terminal().unwrap_or(false), &ctx.console_socket) {
        (true, Some(_)) => Ok(true),
        (true, None) => Err(Error::Spec("process.terminal is true but no --console-socket was given".into())),
        _ => Ok(false),
    }
}

/// The container's namespaces (but pid and user) and root filesystem, every mount of the
/// spec, ending in it by pivot_root. Returns the console's pty slave.
fn build_root(ctx: &Context<'_>, sync: &mut UnixStream, setup: &Setup<'_>) -> Result<Option<OwnedFd>> {
    let spec = ctx.spec;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::Spec("no linux section".into()))?;

    // Namespaces first: every mount and name below must land in the container's own. The
    // pid namespace was entered by the parent (it applies to children only); the cgroup
    // namespace waits until we stand in the container's cgroups (it is rooted there).
    let (new_net, new_cgroup_ns) = enter_namespaces(spec, setup.join)?;

    // Device nodes get exactly the spec's modes.
    umask(Mode::empty());

    // Nothing mounted from here on may propagate back into the host's namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| Error::Mount { target: "/".into(), source_path: None, source: e })?;

    // pivot_root needs the new root to be a mount point of its own: the idmapped view of
    // the rootfs, or a plain bind of it.
    let open_rootfs = || {
        crate::sys::openat(None, ctx.rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| Error::Sys { what: "open rootfs", path: ctx.rootfs.to_owned(), source })
    };
    let root = match &setup.tree {
        Some(tree) => {
            crate::sys::mountapi::move_mount_onto(tree.as_fd(), open_rootfs()?.as_fd())
                .map_err(|e| Error::Mount { target: ctx.rootfs.to_owned(), source_path: None, source: e })?;
            // Host root's own ids have no place in the idmapped view: directories we make
            // in it (missing mount targets) are the guest root's.
            if let Some(m) = setup.map {
                super::mounts::create_as(m.root());
            }
            open_rootfs()?
        }
        None => {
            mount(Some(ctx.rootfs), ctx.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| Error::Mount { target: ctx.rootfs.to_owned(), source_path: None, source: e })?;
            open_rootfs()?
        }
    };

    // The spec's mounts, in order (proc, dev, devpts, ..., sys, run), but for the cgroup
    // view, which needs our cgroup namespace: it comes last (nothing is mounted below it).
    let sources = spec.mounts().iter().flatten().map(|m| bind_source(m, ctx.bundle)).collect::<Result<Vec<_>>>()?;
    let (cgroup_mounts, mounts): (Vec<(&Mount, &Option<OwnedFd>)>, Vec<_>) =
        spec.mounts().iter().flatten().zip(&sources).partition(|(m, _)| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    for (m, src) in mounts {
        mount_one(root.as_fd(), m, src.as_ref(), setup.map)?;
    }

    // Device nodes after /dev is our tmpfs, so the image's own /dev never gets them.
    for dev in linux.devices().iter().flatten() {
        devices::create(root.as_fd(), dev, setup.map)?;
    }
    devices::symlinks(root.as_fd())?;

    // The console after devpts: its pty comes from the container's own devpts instance.
    let console = match (wants_console(ctx)?, &ctx.console_socket) {
        (true, Some(sock)) => Some(pty::setup_console(root.as_fd(), sock.as_fd(), setup.map.map(IdMap::root))?),
        _ => None,
    };

    // Masked and read-only paths once /proc, /sys and the container's own /dev/null (what
    // masked files are covered with) exist.
    for p in linux.masked_paths().iter().flatten() {
        mask(root.as_fd(), Path::new(p))?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        make_readonly(root.as_fd(), Path::new(p))?;
    }

    // All of the above overlapped with the parent moving us into our cgroups (the first
    // cgroup.procs write after idle stalls for an RCU grace period). Now the cgroup
    // namespace, rooted in our own cgroup, and the cgroup view.
    if ctx.wait_for_cgroup {
        wait_for_line(sync, "joined")?;
    }
    if new_cgroup_ns {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|source| Error::Sys { what: "unshare", path: "cgroup".into(), source })?;
    }
    for (m, src) in cgroup_mounts {
        mount_one(root.as_fd(), m, src.as_ref(), setup.map)?;
    }

    // A fresh network namespace has lo down; every init expects 127.0.0.1 to answer.
    if new_net {
        crate::sys::loopback_up().map_err(|source| Error::Sys { what: "bring up lo", path: "lo".into(), source })?;
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(|source| Error::Sys { what: "sethostname", path: h.into(), source })?;
    }

    // pivot_root last among the mount steps: afterwards the host's tree is detached and gone.
    pivot_root(root.as_fd(), ctx.rootfs)?;
    Ok(console)
}

/// The host-root helper of a user-namespaced container: it stands in the container's pid
/// namespace and joins the network, uts and ipc namespaces the user namespace owns
/// (`join`), builds the container's root as host root in a mount namespace of the host's,
/// then joins the user namespace (`userns`) and copies that mount namespace into it. The
/// kernel locks every mount of the copy: the guest's root can neither unmount a mask nor
/// remount a read-only path, and a fresh proc or sysfs, which would show what the masks
/// hide, is refused ("too revealing"). Sends the copy (and the console's pty slave) on
/// `out`; the parent hands them to init. Returns only on error.
pub fn build_for_userns(
    ctx: Context<'_>,
    map: &IdMap,
    join: &[(OwnedFd, CloneFlags)],
    userns: BorrowedFd<'_>,
    tree: Option<OwnedFd>,
    out: &mut UnixStream,
) -> Error {
    let built = (|| -> Result<()> {
        let setup = Setup { map: Some(map), join, tree };
        let console = build_root(&ctx, out, &setup)?;
        setns(userns, CloneFlags::CLONE_NEWUSER).map_err(|source| Error::Sys { what: "join the user namespace", path: "user".into(), source })?;
        unshare(CloneFlags::CLONE_NEWNS).map_err(|source| Error::Sys { what: "unshare", path: "mount (in the user namespace)".into(), source })?;
        let mnt = std::fs::File::open("/proc/self/ns/mnt").map_err(|e| Error::Io { what: "open the locked mount namespace", source: e })?;
        let mut fds = vec![mnt.as_raw_fd()];
        if let Some(c) = &console {
            fds.push(c.as_raw_fd());
        }
        crate::sys::fdpass::send_fds(out.as_fd(), &fds, b"root\n").map_err(|source| Error::Sys { what: "send the container's root", path: "sync socket".into(), source })
    })();
    built.err().unwrap_or(Error::Spec("the helper's work is done".into()))
}

/// Hear from the parent that the helper built our root: the mount namespace to join, and
/// the console's pty slave when there is a console.
fn wait_for_root(sync: &mut UnixStream, console: bool) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let (fds, body) = crate::sys::fdpass::recv_fds_body(sync.as_fd(), 2)
        .map_err(|source| Error::Sys { what: "hear from the runtime", path: "sync socket".into(), source })?;
    if body != b"mapped\n" {
        return Err(Error::Child(format!("the runtime said {:?}, not mapped", String::from_utf8_lossy(&body))));
    }
    let mut fds = fds.into_iter();
    let mnt = fds.next().ok_or_else(|| Error::Child("the runtime sent no mount namespace".into()))?;
    let slave = if console { Some(fds.next().ok_or_else(|| Error::Child("the runtime sent no console".into()))?) } else { None };
    Ok((mnt, slave))
}

/// Read one line from the parent; it must be `want`.
fn wait_for_line(sync: &mut UnixStream, want: &str) -> Result<()> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while std::io::Read::read(sync, &mut b).map_err(|e| Error::Io { what: "hear from the runtime", source: e })? == 1 {
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    if line != want.as_bytes() {
        return Err(Error::Child(format!("the runtime said {:?}, not {want}", String::from_utf8_lossy(&line))));
    }
    Ok(())
}

/// Unshare (or join, when the spec gives a path) every namespace but pid, and but a new
/// cgroup namespace, which the caller unshares once in the container's cgroups. Returns
/// whether a new network namespace was made, and whether a new cgroup namespace is due.
fn enter_namespaces(spec: &Spec, join: &[(OwnedFd, CloneFlags)]) -> Result<(bool, bool)> {
    let mut new_net = false;
    let mut new_cgroup = false;
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    // Join by path before unsharing, so a joined namespace is the one the new ones nest in.
    for ns in namespaces.iter().filter(|ns| ns.path().is_some()) {
        let flag = clone_flag(ns.typ())?;
        if flag == CloneFlags::CLONE_NEWPID {
            continue;
        }
        let path = ns.path().as_ref().expect("filtered on path");
        let f = std::fs::File::open(path).map_err(|e| Error::Io { what: "open namespace", source: e })?;
        setns(f.as_fd(), flag).map_err(|source| Error::Sys { what: "setns", path: path.clone(), source })?;
    }
    // Those the user namespace owns: join them.
    for (f, flag) in join {
        setns(f.as_fd(), *flag).map_err(|source| Error::Sys { what: "setns", path: "a namespace of the user namespace".into(), source })?;
    }
    let mut flags = CloneFlags::empty();
    for ns in namespaces.iter().filter(|ns| ns.path().is_none()) {
        let flag = clone_flag(ns.typ())?;
        if flag == CloneFlags::CLONE_NEWPID || flag == CloneFlags::CLONE_NEWUSER {
            continue;
        }
        if flag == CloneFlags::CLONE_NEWNET {
            new_net = true;
        }
        if join.iter().any(|(_, f)| *f == flag) {
            continue;
        }
        if flag == CloneFlags::CLONE_NEWCGROUP {
            new_cgroup = true;
            continue;
        }
        flags |= flag;
    }
    unshare(flags).map_err(|source| Error::Sys { what: "unshare", path: "/".into(), source })?;
    Ok((new_net, new_cgroup))
}

pub fn clone_flag(t: LinuxNamespaceType) -> Result<CloneFlags> {
    Ok(match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        other => return Err(Error::Spec(format!("namespace {other:?} is not supported by the builtin runtime yet"))),
    })
}

/// The source of a bind mount, opened (relative ones in the bundle).
fn bind_source(m: &Mount, bundle: &Path) -> Result<Option<OwnedFd>> {
    let (flags, ..) = parse_options(m.options().as_deref().unwrap_or_default());
    if m.typ().as_deref() != Some("bind") && !flags.contains(MsFlags::MS_BIND) {
        return Ok(None);
    }
    let dest = m.destination();
    let src = m.source().as_ref().ok_or_else(|| Error::Spec(format!("bind mount {} has no source", dest.display())))?;
    let src = if src.is_absolute() { src.clone() } else { bundle.join(src) };
    crate::sys::openat(None, &src, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map(Some)
        .map_err(|source| Error::Sys { what: "open bind source", path: src, source })
}

/// Take the guest's root ids (0 inside the user namespace) keeping our capabilities,
/// which live in that namespace.
fn become_root() -> Result<()> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let sys = |what, source| Error::Sys { what, path: "/".into(), source };
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).map_err(|e| sys("setresgid", e))?;
    setgroups(&[]).map_err(|e| sys("setgroups", e))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).map_err(|e| sys("setresuid", e))
}

fn mount_one(root: BorrowedFd<'_>, m: &Mount, source: Option<&OwnedFd>, map: Option<&IdMap>) -> Result<()> {
    let dest = m.destination();
    let options = m.options().clone().unwrap_or_default();
    let (flags, propagation, data) = parse_options(&options);
    let typ = m.typ().as_deref().unwrap_or("none");
    // Filesystems mounted as host root for a user-namespaced guest: ids as the guest
    // means them, owned by its root.
    let data = match map {
        Some(map) if matches!(typ, "tmpfs" | "devpts") => super::userns::map_mount_data(typ, &data, map)?,
        _ => data,
    };
    let is_bind = typ == "bind" || flags.contains(MsFlags::MS_BIND);
    if is_bind {
        let src = source.ok_or_else(|| Error::Spec(format!("bind mount {} has no source", dest.display())))?;
        let is_dir = nix::sys::stat::fstat(src.as_raw_fd()).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false);
        let kind = if is_dir { Kind::Dir } else { Kind::File };
        let target = open_in_root(root, dest, kind)?;
        let src = super::mounts::fd_path(src.as_fd());
        mount_at(Some(&src), target.as_fd(), None, flags & (MsFlags::MS_BIND | MsFlags::MS_REC), None, dest)?;
        let rest = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !rest.is_empty() {
            let target = open_in_root(root, dest, kind)?;
            mount_at(None, target.as_fd(), None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest, None, dest)?;
        }
    } else {
        // The OCI "cgroup" type: we always give the container a cgroup2 view of its own subtree.
        let fstype = if typ == "cgroup" { "cgroup2" } else { typ };
        let target = open_in_root(root, dest, Kind::Dir)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(fstype));
        let data = (!data.is_empty()).then_some(data.as_str());
        mount_at(Some(&source), target.as_fd(), Some(fstype), flags, data, dest)?;
    }
    if !propagation.is_empty() {
        let target = open_in_root(root, dest, Kind::Dir)?;
        mount_at(None, target.as_fd(), None, propagation, None, dest)?;
    }
    Ok(())
}

/// Hide `path`: an empty read-only tmpfs over a directory, `/dev/null` over a file.
fn mask(root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let target = match open_existing(root, path)? {
        Some(t) => t,
        None => return Ok(()),
    };
    let is_dir = nix::sys::stat::fstat(target.as_raw_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false);
    if is_dir {
        mount_at(Some(Path::new("tmpfs")), target.as_fd(), Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0k,mode=755"), path)
    } else {
        let null = open_in_root(root, Path::new("/dev/null"), Kind::File)?;
        mount_at(Some(&super::mounts::fd_path(null.as_fd())), target.as_fd(), None, MsFlags::MS_BIND, None, path)
    }
}

/// Bind `path` onto itself and remount the bind read-only, keeping nosuid/nodev/noexec.
fn make_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let target = match open_existing(root, path)? {
        Some(t) => t,
        None => return Ok(()),
    };
    let here = super::mounts::fd_path(target.as_fd());
    mount_at(Some(&here), target.as_fd(), None, MsFlags::MS_BIND | MsFlags::MS_REC, None, path)?;
    // Reopen: the old descriptor points below the new bind, the remount must hit the bind.
    let target = open_in_root(root, path, Kind::Dir)?;
    let keep = nix::sys::statvfs::fstatvfs(&target)
        .map(|s| {
            use nix::sys::statvfs::FsFlags;
            let f = s.flags();
            let mut k = MsFlags::empty();
            k.set(MsFlags::MS_NOSUID, f.contains(FsFlags::ST_NOSUID));
            k.set(MsFlags::MS_NODEV, f.contains(FsFlags::ST_NODEV));
            k.set(MsFlags::MS_NOEXEC, f.contains(FsFlags::ST_NOEXEC));
            k
        })
        .unwrap_or(MsFlags::empty());
    mount_at(None, target.as_fd(), None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep, None, path)
}

/// Like [`open_in_root`] for a path that must already exist; absent is `None`.
fn open_existing(root: BorrowedFd<'_>, path: &Path) -> Result<Option<OwnedFd>> {
    let parent = match path.parent() {
        Some(p) => p,
        None => return Ok(None),
    };
    let name = path.file_name().ok_or_else(|| Error::BadPath(path.to_owned()))?;
    let dir = open_in_root(root, parent, Kind::Dir)?;
    match crate::sys::openat(
        Some(dir.as_fd()),
        Path::new(name),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(nix::Error::ENOENT) => Ok(None),
        Err(source) => Err(Error::Sys { what: "open", path: path.to_owned(), source }),
    }
}

/// Switch to the rootfs (`root`, the top of its mount) and detach the old root entirely
/// (pivot_root(".", ".") then a lazy unmount of the old root stacked underneath).
fn pivot_root(root: BorrowedFd<'_>, rootfs: &Path) -> Result<()> {
    let sys = |what, source| Error::Sys { what, path: rootfs.to_owned(), source };
    nix::unistd::fchdir(root.as_raw_fd()).map_err(|e| sys("chdir rootfs", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| sys("pivot_root", e))?;
    // The old root may be shared with the host: make our copy private before detaching.
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| sys("make old root slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| sys("detach old root", e))?;
    nix::unistd::chdir("/").map_err(|e| sys("chdir /", e))
}

fn set_rlimit(rl: &oci_spec::runtime::PosixRlimit) -> Result<()> {
    let name = serde_json::to_value(rl.typ()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let resource = super::RLIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .ok_or_else(|| Error::Spec(format!("unsupported rlimit {name}")))?;
    nix::sys::resource::setrlimit(resource, rl.soft(), rl.hard())
        .map_err(|source| Error::Sys { what: "setrlimit", path: name.into(), source })
}

fn set_user(user: &oci_spec::runtime::User) -> Result<()> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let sys = |what, source| Error::Sys { what, path: "/".into(), source };
    let groups: Vec<Gid> = user.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| sys("setgroups", e))?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| sys("setresgid", e))?;
    if user.uid() != 0 {
        // Keep the capability sets across the uid change; they are applied right after.
        nix::sys::prctl::set_keepcaps(true).map_err(|e| sys("keepcaps", e))?;
    }
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| sys("setresuid", e))
}

/// Block until `start` opens the exec fifo for reading, then tell it we are going.
fn wait_for_start(ctx: &Context<'_>) -> Result<()> {
    let path = super::mounts::fd_path(ctx.fifo.as_fd());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| Error::Io { what: "open exec fifo", source: e })?;
    f.write_all(b"0").map_err(|e| Error::Io { what: "write exec fifo", source: e })
}

fn exec(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref().ok_or_else(|| Error::Spec("no process".into()))?;
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let prog = args.first().ok_or_else(|| Error::Spec("process.args is empty".into()))?;
    let path = resolve_program(prog, &env).ok_or_else(|| Error::NoInit(PathBuf::from(prog)))?;
    let cstr = |s: &str| CString::new(s).map_err(|_| Error::Spec(format!("NUL byte in {s:?}")));
    let argv = args.iter().map(|a| cstr(a)).collect::<Result<Vec<_>>>()?;
    let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>>>()?;
    let path_c = cstr(&path.to_string_lossy())?;
    // Init starts with default signal handling, whatever this process inherited or set.
    crate::sys::reset_signals();
    let e = nix::unistd::execve(&path_c, &argv, &envp).unwrap_err();
    Err(Error::Sys { what: "execve", path, source: e })
}

/// `prog` itself when it holds a '/', else the first match in the spec's PATH.
pub(super) fn resolve_program(prog: &str, env: &[String]) -> Option<PathBuf> {
    if prog.contains('/') {
        // Missing is "not found" (127); present but not executable is execve's EACCES (126).
        return std::fs::metadata(prog).is_ok().then(|| PathBuf::from(prog));
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(super::DEFAULT_PATH);
    path.split(':').map(|d| Path::new(d).join(prog)).find(|p| {
        std::fs::metadata(p).map(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0).unwrap_or(false)
    })
}
