//! The syscall seam: the only module allowed `unsafe`. Everything here is a thin, documented
//! wrapper over one kernel call that `nix`/`rustix` do not offer safely.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// Which side of a `fork()` we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2).
///
/// Callers must be single-threaded: every caller is a freshly exec'd helper process
/// (`sysctr oci create`) or the single-threaded CLI (exec), so the child
/// inherits a consistent heap and no lock can be held by a vanished thread.
pub fn fork() -> nix::Result<Forked> {
    // SAFETY: see the function comment; the callers are single-threaded processes, so the
    // child may run arbitrary (not just async-signal-safe) code until it execs or exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// Mark every descriptor from `first` upwards close-on-exec (close_range(2) with
/// CLOSE_RANGE_CLOEXEC), so the next execve leaves exactly the lower ones open.
pub fn cloexec_from(first: RawFd) -> nix::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; it touches no memory of ours.
    let r = unsafe {
        libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC)
    };
    Errno::result(r).map(drop)
}

/// Make `fd` (a terminal) the controlling terminal of this session (ioctl TIOCSCTTY).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(r).map(drop)
}

/// The index N of the pty slave `/dev/pts/N` that belongs to master `fd` (ioctl TIOCGPTN).
pub fn pty_number(fd: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint through the pointer, which points at `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    Errno::result(r).map(|_| n)
}

/// Unlock the pty slave of master `fd` (ioctl TIOCSPTLCK with 0).
pub fn pty_unlock(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int through the pointer, which points at `unlock`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) };
    Errno::result(r).map(drop)
}

/// Set the window size of terminal `fd` (ioctl TIOCSWINSZ).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which points at `ws`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    Errno::result(r).map(drop)
}

/// pidfd_open(2): a descriptor that becomes readable when process `pid` exits.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(r)? as RawFd;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2): signal the process behind `pidfd`, immune to pid reuse.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: libc::c_int) -> nix::Result<()> {
    // SAFETY: a null siginfo pointer is allowed (the kernel fills in SI_USER).
    let r = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    Errno::result(r).map(drop)
}

/// kill(2) with a raw signal number, for real-time signals (`SIGRTMIN+3`) that
/// `nix::sys::signal::Signal` cannot name.
pub fn kill_raw(pid: Pid, signal: libc::c_int) -> nix::Result<()> {
    // SAFETY: kill takes two integers.
    let r = unsafe { libc::kill(pid.as_raw(), signal) };
    Errno::result(r).map(drop)
}

/// SIGRTMIN as the C library defines it (glibc reserves the first two real-time signals).
pub fn sigrtmin() -> libc::c_int {
    libc::SIGRTMIN()
}

/// Bring up the loopback interface of the current network namespace (SIOCSIFFLAGS on `lo`),
/// as a fresh network namespace has `lo` down and systemd, busybox and most daemons
/// expect 127.0.0.1 to answer.
pub fn loopback_up() -> nix::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags into `req`, which we own.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: ifru_flags is the union member SIOCGIFFLAGS just filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, which we own.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}
pub mod mountapi;
pub mod mountinfo;
pub mod activation;
pub mod cancel;
pub mod fdpass;
pub mod files;
pub mod signals;
pub mod syscalls;

/// openat(2) returning an owned descriptor.
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    path: &std::path::Path,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::openat(dir.map(|d| d.as_raw_fd()), path, flags, mode)?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Take ownership of a descriptor the kernel just installed for us (SCM_RIGHTS).
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass only descriptors received from recvmsg, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A hex mask field of `/proc/<pid>/status` (`CapBnd`, `SigBlk`, ...); `pid` may be "self".
pub fn proc_status_mask(pid: &str, field: &str) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| std::io::Error::other(format!("no {field} in /proc/{pid}/status")))
}

/// Open the slave end of pty master `fd` without a path (ioctl TIOCGPTPEER): the console's
/// master then never reads EIO while the guest has /dev/console closed for a moment.
pub fn pty_peer(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new descriptor.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let peer = Errno::result(r)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(peer) })
}

/// The window size of terminal `fd` (ioctl TIOCGWINSZ): (rows, cols).
pub fn winsize(fd: BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    // SAFETY: winsize is plain old data; all-zero is valid.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which points at `ws`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(r).map(|_| (ws.ws_row, ws.ws_col))
}

/// Close every descriptor from `first` upwards (close_range(2)), so nothing of ours
/// reaches the next program, not even for a moment before execve.
pub fn close_from(first: RawFd) -> nix::Result<()> {
    // SAFETY: close_range only closes descriptors; callers hold no borrowed ones above `first`
    // that they use afterwards (they call it right before chdir and execve).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint) };
    Errno::result(r).map(drop)
}

/// Load a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: encoded `struct bpf_insn`s) and
/// attach it to the cgroup directory `cgroup` with BPF_F_ALLOW_MULTI (it then restricts in
/// addition to programs above and below). The attachment outlives our descriptors; it goes
/// with the cgroup. On a verifier error the message is the kernel's log.
pub fn attach_device_program(cgroup: BorrowedFd<'_>, insns: &[u8]) -> Result<(), String> {
    const BPF_PROG_LOAD: libc::c_int = 5;
    const BPF_PROG_ATTACH: libc::c_int = 8;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    #[repr(C)]
    #[derive(Default)]
    struct ProgAttach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let license = b"GPL\0";
    let mut log = vec![0u8; 1 << 16];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"sysctr_devs\0");
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: `attr` is a correctly laid out bpf_attr prefix for BPF_PROG_LOAD; the pointers
    // in it (instructions, license, log buffer) point at live buffers of the sizes given,
    // which outlive the call.
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &mut attr as *mut ProgLoad, std::mem::size_of::<ProgLoad>() as u32)
    };
    if r < 0 {
        let err = Errno::last();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).trim().to_owned();
        return Err(format!("cannot load the device program: {err}{}", if text.is_empty() { String::new() } else { format!(": {text}") }));
    }
    // SAFETY: the kernel just returned this program descriptor to us.
    let prog = unsafe { OwnedFd::from_raw_fd(r as RawFd) };
    let mut attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attach` is a correctly laid out bpf_attr prefix for BPF_PROG_ATTACH and both
    // descriptors in it are open for the duration of the call.
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &mut attach as *mut ProgAttach, std::mem::size_of::<ProgAttach>() as u32)
    };
    if r < 0 {
        return Err(format!("cannot attach the device program: {}", Errno::last()));
    }
    Ok(())
}

/// Like [`fork`], but the child is born in the cgroup2 directory `cgroup` (clone3 with
/// CLONE_INTO_CGROUP): no migration through `cgroup.procs`, whose first write after an idle
/// spell stalls for an RCU grace period.
///
/// Same contract as [`fork`]: the caller is single-threaded. The raw clone3 skips glibc's
/// fork bookkeeping (atfork handlers, resetting locks of other threads), which a
/// single-threaded process without atfork handlers does not need.
pub fn fork_into_cgroup(cgroup: BorrowedFd<'_>) -> nix::Result<Forked> {
    clone_child(0, Some(cgroup))
}

/// fork(2) through clone3 with namespace flags (`CLONE_NEW*`: the child is born in new
/// namespaces, all owned by a new user namespace when CLONE_NEWUSER is among them) and,
/// optionally, born in the cgroup2 directory `cgroup`. Same contract as [`fork`].
pub fn clone_child(namespaces: u64, cgroup: Option<BorrowedFd<'_>>) -> nix::Result<Forked> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: namespaces | if cgroup.is_some() { CLONE_INTO_CGROUP } else { 0 },
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.map(|c| c.as_raw_fd() as u64).unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack given the child
    // continues on a copy of ours, as after fork(2); see the function comment for why a
    // single-threaded caller may run on in the child.
    let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    match Errno::result(r)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Restore the default SIGPIPE action (Rust ignores it), so a front end whose reader went
/// away (`sysctr list | head -1`) ends quietly, as other Unix tools do.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Push `byte` into the input queue of terminal `fd` (ioctl TIOCSTI), as an attacker inside
/// a container would try with a terminal it was handed. Used by the probe to show that an
/// exec'd process holds only the container's own pty.
pub fn tiocsti(fd: BorrowedFd<'_>, byte: u8) -> nix::Result<()> {
    let c = byte as libc::c_char;
    // SAFETY: TIOCSTI reads one char through the pointer, which points at `c`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSTI, &c) };
    Errno::result(r).map(drop)
}

/// Give the next program default signal handling: every disposition back to SIG_DFL (an
/// ignored signal would survive execve; Rust ignores SIGPIPE) and an empty signal mask.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code; invalid numbers just fail.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}

/// Open a directory below `at` (or by absolute path) for reading, never through a symlink.
pub fn open_dir(at: Option<BorrowedFd<'_>>, path: &std::path::Path) -> nix::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(at, path, flags, nix::sys::stat::Mode::empty())
}

/// The entries of directory `dir` but `.` and `..`, with their types where the filesystem
/// tells them.
pub fn dir_entries(dir: BorrowedFd<'_>) -> nix::Result<Vec<(std::ffi::CString, Option<nix::dir::Type>)>> {
    use std::os::fd::IntoRawFd;
    let fd = dir.try_clone_to_owned().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)))?;
    let mut d = nix::dir::Dir::from_fd(fd.into_raw_fd())?;
    Ok(d.iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_bytes() != b"." && e.file_name().to_bytes() != b"..")
        .map(|e| (e.file_name().to_owned(), e.file_type()))
        .collect())
}

/// Set O_NONBLOCK on `fd`, keeping its other status flags.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK)).map(drop)
}

/// The capabilities in the bounding set of process `pid` ("self" for this one).
pub fn bounding_set(pid: &str) -> std::io::Result<caps::CapsHashSet> {
    let mask = proc_status_mask(pid, "CapBnd")?;
    Ok(caps::all().into_iter().filter(|c| mask & (1u64 << c.index()) != 0).collect())
}

/// The text of a small kernel file (`/proc`, cgroupfs) in one open, one read, one close:
/// no size probe and no read for EOF. Such files hand out their whole content at once
/// when the buffer is large enough; a larger one is read on to the end.
pub fn read_small(path: &std::path::Path) -> std::io::Result<String> {
    read_all(std::fs::File::open(path)?)
}

/// [`read_small`] of `name` in directory `dir` (no path walk from the root).
pub fn read_small_at(dir: BorrowedFd<'_>, name: &str) -> std::io::Result<String> {
    use nix::fcntl::OFlag;
    let fd = openat(Some(dir), std::path::Path::new(name), OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
    read_all(std::fs::File::from(fd))
}

fn read_all(mut f: std::fs::File) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..])?;
        len += n;
        if n == 0 || len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

/// State (field 3) and start time (field 22) of /proc/PID/stat, or None when there is no
/// such process.
pub fn proc_stat(pid: i32) -> Option<(String, u64)> {
    let stat = read_small(std::path::Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    // comm may hold spaces and parens: fields resume after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.to_owned();
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// Is `pid` the process that started at `start_time` (`/proc/PID/stat` field 22), and not
/// a zombie? Tells a live process from a reused pid.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    matches!(proc_stat(pid), Some((state, t)) if t == start_time && state != "Z" && state != "X")
}

/// Make the child of `cmd` a supervised helper: it gets SIGTERM when the thread that
/// spawned it exits, and starts with no signal blocked (a supervisor blocks the signals it
/// reads from a signalfd; std's spawn would pass that mask on).
pub fn supervised_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl and sigprocmask are async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
