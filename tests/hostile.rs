//! Acceptance "Hostile rootfs": a root filesystem whose mount points are symlinks out of it
//! (`/proc -> /`, `/dev -> a host directory`, ...) is refused at start with a one-line
//! error, and the host is left exactly as it was; `delete` of a container whose rootfs holds
//! symlinks to the host or a bind mount of a host directory removes the container and
//! nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::host::*;
use common::*;

/// A single-line `Error: ...` on stderr (warnings aside).
fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.trim().lines().filter(|l| !l.starts_with("warning: ")).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got:\n{stderr}");
    assert!(lines[0].starts_with("Error: "), "expected `Error: ...`, got:\n{stderr}");
    lines[0]
}

// ---------------------------------------------------------------------------------------
// Start of a rootfs with a symlinked mount point
// ---------------------------------------------------------------------------------------

/// Where a hostile symlink in the image points.
enum To {
    HostRoot,
    Sentinel,
}

/// A busybox rootfs whose `link` (an absolute path inside the image, e.g. `/proc`) is a
/// symlink out of it: `start` must fail with a one-line error naming `link` and "symlink",
/// leave the container STOPPED with no cgroup, and leave the host untouched; `delete` then
/// removes the container without following the link.
fn start_is_refused(base: &str, link: &str, to: To) {
    let env = Env::new();
    let sentinel = make_sentinel(&env.dir.join("sentinel"));
    let root = busybox_rootfs(&env.dir.join("src"));
    let at = root.join(link.trim_start_matches('/'));
    std::fs::remove_dir(&at).unwrap();
    let target = match to {
        To::HostRoot => PathBuf::from("/"),
        To::Sentinel => sentinel.clone(),
    };
    std::os::unix::fs::symlink(&target, &at).unwrap();
    let name = env.name(base);
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);

    let before = HostView::take(&sentinel);
    let stderr = env.fails(&["start", &name]);
    let line = one_error_line(&stderr);
    assert!(line.contains(link) && line.contains("symlink"), "the error must name {link} and say symlink: {line}");
    assert_eq!(env.status(&name), "STOPPED");
    assert_no_cgroup(&name);
    before.assert_unchanged(&HostView::take(&sentinel), &format!("failed start with {link} -> {target:?}"));

    env.ok(&["delete", &name]);
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left behind by delete");
    }
    before.assert_unchanged(&HostView::take(&sentinel), &format!("delete with {link} -> {target:?}"));
}

#[test]
fn start_refuses_proc_symlink_to_host_root() {
    if !require_root() {
        return;
    }
    start_is_refused("hproc", "/proc", To::HostRoot);
}

#[test]
fn start_refuses_sys_symlink_to_host_root() {
    if !require_root() {
        return;
    }
    start_is_refused("hsys", "/sys", To::HostRoot);
}

/// `/dev` gets a tmpfs and device nodes: followed, the link would fill a host directory
/// with device nodes. The sentinel must stay as it was (no device nodes in it).
#[test]
fn start_refuses_dev_symlink_to_host_dir() {
    if !require_root() {
        return;
    }
    start_is_refused("hdev", "/dev", To::Sentinel);
}

/// `/dev` is also the one we would most regret following to `/`.
#[test]
fn start_refuses_dev_symlink_to_host_root() {
    if !require_root() {
        return;
    }
    start_is_refused("hdevr", "/dev", To::HostRoot);
}

/// `/run` gets a tmpfs (and `/run/lock` one more): a nested mount point. A symlink inside
/// the image's `/dev` or `/sys` would be hidden by the filesystem mounted over it, but
/// `/run` itself is the image's.
#[test]
fn start_refuses_run_symlink_to_host_dir() {
    if !require_root() {
        return;
    }
    start_is_refused("hrun", "/run", To::Sentinel);
}

/// A container's `rootfs` directory swapped for a symlink after `create` (e.g. by a
/// careless admin): `start` must not boot the link's target, `delete` must not follow it.
#[test]
fn start_refuses_and_delete_does_not_follow_a_rootfs_dir_symlink() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let sentinel = make_sentinel(&env.dir.join("sentinel"));
    let root = busybox_rootfs(&env.dir.join("src"));
    let name = env.name("hlnk");
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    let rootfs = env.state.join("containers").join(&name).join("rootfs");
    std::fs::rename(&rootfs, env.dir.join("moved-rootfs")).unwrap();
    std::os::unix::fs::symlink(&sentinel, &rootfs).unwrap();

    let before = HostView::take(&sentinel);
    let line = one_error_line(&env.fails(&["start", &name])).to_owned();
    assert!(line.contains("rootfs") && line.contains("not a directory"), "unexpected error: {line}");
    assert_eq!(env.status(&name), "STOPPED");
    env.ok(&["delete", &name]);
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left behind by delete");
    }
    before.assert_unchanged(&HostView::take(&sentinel), "rootfs swapped for a symlink");
}

// ---------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------

/// A bind mount the test made; detached on drop if still there, so a failing test leaves
/// nothing mounted.
struct BindMount {
    target: PathBuf,
}

impl BindMount {
    fn new(source: &Path, target: &Path) -> BindMount {
        let st = Command::new("mount").arg("--bind").arg(source).arg(target).status().unwrap();
        assert!(st.success(), "mount --bind {source:?} {target:?} failed");
        BindMount { target: target.to_owned() }
    }

    fn mounted(&self) -> bool {
        let t = self.target.to_string_lossy();
        mount_targets().iter().any(|m| *m == t)
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        while self.mounted() {
            if nix::mount::umount2(&self.target, nix::mount::MntFlags::MNT_DETACH).is_err() {
                eprintln!("cannot unmount {:?}", self.target);
                break;
            }
        }
    }
}

#[test]
fn delete_does_not_follow_rootfs_symlink_or_bind_mount() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let linked = make_sentinel(&env.dir.join("sentinel-linked"));
    let bound = make_sentinel(&env.dir.join("sentinel-bound"));
    let root = busybox_rootfs(&env.dir.join("src"));
    std::os::unix::fs::symlink("/", root.join("host")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../..", root.join("up")).unwrap();
    std::os::unix::fs::symlink(&linked, root.join("etc/sentinel")).unwrap();
    std::os::unix::fs::symlink(linked.join("canary"), root.join("root/canary")).unwrap();
    std::fs::create_dir_all(root.join("mnt/data")).unwrap();
    let name = env.name("hdel");
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);

    let container = env.state.join("containers").join(&name);
    let linked_before = tree_snapshot(&linked);
    let bound_before = tree_snapshot(&bound);
    let root_before = host_root_listing();
    let etc_before = host_files(HOST_ETC);

    let bind = BindMount::new(&bound, &container.join("rootfs/mnt/data"));
    assert!(bind.mounted(), "the test's bind mount did not show in mountinfo");
    assert!(container.join("rootfs/mnt/data/canary").exists());

    env.ok(&["delete", &name]);

    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left behind by delete");
    }
    let c = container.to_string_lossy();
    let left: Vec<String> = mount_targets().into_iter().filter(|t| t.starts_with(&*c)).collect();
    assert!(left.is_empty(), "mounts below the deleted container remain: {left:?}");
    assert_eq!(tree_snapshot(&linked), linked_before, "a symlinked host directory was touched");
    assert_eq!(tree_snapshot(&bound), bound_before, "a bind-mounted host directory was touched");
    assert_eq!(host_root_listing(), root_before, "the host's / changed");
    assert_eq!(host_files(HOST_ETC), etc_before, "a host /etc file changed");
    assert!(Path::new("/bin/sh").exists() && Path::new("/etc/passwd").exists(), "the host's / is damaged");
    drop(bind);
}

// ---------------------------------------------------------------------------------------
// /etc -> /
// ---------------------------------------------------------------------------------------

/// `/etc` is no mount point; a rootfs whose `/etc` is a link to `/` may boot (it only
/// fools its own guest) or be refused cleanly, but nothing may be written to the host's
/// `/etc` or `/` (a naive `rootfs/etc/hostname` write would land in the host's `/`).
#[test]
fn etc_symlink_to_host_root_never_writes_host_etc() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let sentinel = make_sentinel(&env.dir.join("sentinel"));
    let root = busybox_rootfs(&env.dir.join("src"));
    // The guest's /etc/inittab is now its /inittab.
    std::fs::rename(root.join("etc/inittab"), root.join("inittab")).unwrap();
    std::fs::remove_dir(root.join("etc")).unwrap();
    std::os::unix::fs::symlink("/", root.join("etc")).unwrap();
    let name = env.name("hetc");
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);

    let before = HostView::take(&sentinel);
    let out = env.sysctr(&["start", &name]);
    if out.status.success() {
        eprintln!("a rootfs with /etc -> / boots");
        assert_eq!(env.status(&name), "RUNNING");
        let (code, _) = env.exec(&name, &["true"]);
        assert_eq!(code, 0, "exec into the running container failed");
        // Host mounts are only compared once the container is gone (its own live in its
        // namespace, but do not rely on that).
        env.ok(&["delete", "--force", &name]);
    } else {
        eprintln!("a rootfs with /etc -> / is refused: {}", one_error_line(&String::from_utf8_lossy(&out.stderr)));
        assert_eq!(env.status(&name), "STOPPED");
        env.ok(&["delete", &name]);
    }
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left behind by delete");
    }
    assert_no_cgroup(&name);
    before.assert_unchanged(&HostView::take(&sentinel), "rootfs with /etc -> /");
}
