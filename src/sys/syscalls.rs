//! Syscall names and numbers, for seccomp filters and the keys that configure them.

/// Syscalls and their numbers: (name, native, 32-bit x86 on an x86_64 host or -1).
#[rustfmt::skip]
const SYSCALLS: &[(&str, libc::c_long, i32)] = &[
    ("acct", libc::SYS_acct, 51),
    ("add_key", libc::SYS_add_key, 286),
    ("bpf", libc::SYS_bpf, 357),
    ("chroot", libc::SYS_chroot, 61),
    ("clock_adjtime", libc::SYS_clock_adjtime, 343),
    ("clock_settime", libc::SYS_clock_settime, 264),
    ("delete_module", libc::SYS_delete_module, 129),
    ("finit_module", libc::SYS_finit_module, 350),
    ("fsconfig", libc::SYS_fsconfig, 431),
    ("fsmount", libc::SYS_fsmount, 432),
    ("fsopen", libc::SYS_fsopen, 430),
    ("fspick", libc::SYS_fspick, 433),
    ("init_module", libc::SYS_init_module, 128),
    ("io_uring_enter", libc::SYS_io_uring_enter, 426),
    ("io_uring_register", libc::SYS_io_uring_register, 427),
    ("io_uring_setup", libc::SYS_io_uring_setup, 425),
    ("kcmp", libc::SYS_kcmp, 349),
    ("kexec_file_load", libc::SYS_kexec_file_load, -1),
    ("kexec_load", libc::SYS_kexec_load, 283),
    ("keyctl", libc::SYS_keyctl, 288),
    ("mknodat", libc::SYS_mknodat, 297),
    ("mount", libc::SYS_mount, 21),
    ("mount_setattr", libc::SYS_mount_setattr, 442),
    ("move_mount", libc::SYS_move_mount, 429),
    ("name_to_handle_at", libc::SYS_name_to_handle_at, 341),
    ("open_by_handle_at", libc::SYS_open_by_handle_at, 342),
    ("open_tree", libc::SYS_open_tree, 428),
    ("perf_event_open", libc::SYS_perf_event_open, 336),
    ("personality", libc::SYS_personality, 136),
    ("pivot_root", libc::SYS_pivot_root, 217),
    ("process_vm_readv", libc::SYS_process_vm_readv, 347),
    ("process_vm_writev", libc::SYS_process_vm_writev, 348),
    ("ptrace", libc::SYS_ptrace, 26),
    ("quotactl", libc::SYS_quotactl, 131),
    ("reboot", libc::SYS_reboot, 88),
    ("request_key", libc::SYS_request_key, 287),
    ("setns", libc::SYS_setns, 346),
    ("settimeofday", libc::SYS_settimeofday, 79),
    ("swapoff", libc::SYS_swapoff, 115),
    ("swapon", libc::SYS_swapon, 87),
    ("syslog", libc::SYS_syslog, 103),
    ("umount2", libc::SYS_umount2, 52),
    ("unshare", libc::SYS_unshare, 310),
    ("userfaultfd", libc::SYS_userfaultfd, 374),
    ("vhangup", libc::SYS_vhangup, 111),
];

/// Names the runtime can filter.
pub fn known(name: &str) -> bool {
    SYSCALLS.iter().any(|(n, ..)| *n == name)
}

/// Every name [`known`] accepts, for error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    SYSCALLS.iter().map(|(n, ..)| *n)
}

/// The native and 32-bit x86 numbers (-1: none) of syscall `name`.
pub fn lookup(name: &str) -> Option<(libc::c_long, i32)> {
    SYSCALLS.iter().find(|(n, ..)| *n == name).map(|(_, nr, nr32)| (*nr, *nr32))
}

/// open_by_handle_at(2) of inode 2 (a filesystem's root) by a generic 32-bit inode handle,
/// relative to `mount`: the first step of the "Shocker" container escape. sysctr itself
/// never calls it; the test probe checks that the kernel refuses it inside containers.
pub fn open_by_inode_handle(mount: std::os::fd::BorrowedFd<'_>) -> nix::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    #[repr(C)]
    struct Handle {
        bytes: u32,
        kind: i32,
        data: [u8; 8],
    }
    let mut h = Handle { bytes: 8, kind: 1, data: [2, 0, 0, 0, 0, 0, 0, 0] };
    // SAFETY: a valid descriptor and a file_handle-shaped buffer of the size it claims.
    let r = unsafe { libc::syscall(libc::SYS_open_by_handle_at, mount.as_raw_fd(), &mut h as *mut Handle, libc::O_RDONLY) };
    let fd = nix::errno::Errno::result(r)?;
    // SAFETY: the kernel returned a fresh descriptor.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// finit_module(2) of `image` and init_module(2) of an empty image: loading a kernel
/// module. For the test probe, which checks that both are refused inside containers.
pub fn load_module(image: std::os::fd::BorrowedFd<'_>) -> (nix::Result<()>, nix::Result<()>) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscalls with a valid descriptor, an empty image and empty strings.
    let f = unsafe { libc::syscall(libc::SYS_finit_module, image.as_raw_fd(), c"".as_ptr(), 0) };
    let f = nix::errno::Errno::result(f).map(drop);
    // SAFETY: as above; a zero-length image is never read.
    let i = unsafe { libc::syscall(libc::SYS_init_module, std::ptr::null::<u8>(), 0usize, c"".as_ptr()) };
    (f, nix::errno::Errno::result(i).map(drop))
}
