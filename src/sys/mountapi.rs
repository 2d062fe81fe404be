//! The new mount API where the runtime needs it: a detached copy of a directory
//! (`open_tree`), made idmapped through a user namespace (`mount_setattr` with
//! `MOUNT_ATTR_IDMAP`), then attached in the container's mount namespace (`move_mount`);
//! and a seccomp filter for the calling thread.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached bind mount of the directory `dir` refers to (not of mounts below it).
pub fn open_tree_clone(dir: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let empty = CString::default();
    // SAFETY: a valid descriptor and a NUL-terminated empty path with AT_EMPTY_PATH.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir.as_raw_fd(),
            empty.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    let fd = Errno::result(r)?;
    // SAFETY: open_tree returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Make the detached mount `tree` show its files' owners through the id map of `userns`:
/// on-disk uid 0 appears as the namespace's root, and what the namespace's root writes is
/// stored as uid 0. Fails with EINVAL when the filesystem or kernel cannot idmap. The tree
/// is made private too: a clone of a shared mount (systemd hosts) would be a peer of the
/// host's, and pivot_root refuses to leave a root whose parent is shared.
pub fn idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE as u64,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = CString::default();
    // SAFETY: `attr` is a valid mount_attr of the size passed; the path is empty with AT_EMPTY_PATH.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// Attach the detached mount `tree` on top of the directory `target` refers to.
pub fn move_mount_onto(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    let empty = CString::default();
    // SAFETY: two valid descriptors with empty paths and the matching EMPTY_PATH flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

/// One classic-BPF instruction, as seccomp takes them.
pub type Insn = libc::sock_filter;

/// Install `program` as a seccomp filter of the calling thread (inherited by its children
/// and kept across execve). Needs no_new_privs or CAP_SYS_ADMIN in the caller's namespace.
pub fn install_seccomp(program: &[Insn]) -> nix::Result<()> {
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut Insn };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it.
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) };
    Errno::result(r).map(drop)
}

/// setfsuid(2)/setfsgid(2): the ids new files get and DAC checks use. Returns the old ones.
pub fn set_fs_ids(uid: u32, gid: u32) -> (u32, u32) {
    // SAFETY: plain syscalls on integer arguments; they cannot fail in a way that matters
    // here (an unchanged id shows in the returned value).
    unsafe {
        let g = libc::setfsgid(gid) as u32;
        let u = libc::setfsuid(uid) as u32;
        (u, g)
    }
}
