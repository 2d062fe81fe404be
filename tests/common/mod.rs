//! Shared pieces of the integration tests: an isolated sysctr instance per test (its own
//! state and run dirs, unique container names), rootfs fixtures, and polling helpers.
//! Every container a test makes is deleted when its `Env` drops, failed tests included.
#![allow(dead_code)]

pub mod host;
pub mod tmux;

use std::hash::{Hash, Hasher};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SYSCTR: &str = env!("CARGO_BIN_EXE_sysctr");
pub const PROBE: &str = env!("CARGO_BIN_EXE_sysctr-probe");

/// Where per-machine fixtures (debootstrapped rootfs) are cached.
pub const CACHE: &str = "/var/tmp/sysctr-test";

/// Root is required to boot containers. Off CI a non-root run skips with a note; in CI a
/// missing prerequisite is a failure.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("integration tests must run as root in CI");
    }
    eprintln!("skipped: needs root");
    false
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One isolated sysctr instance.
pub struct Env {
    pub dir: PathBuf,
    pub state: PathBuf,
    pub run: PathBuf,
    tag: String,
}

impl Env {
    pub fn new() -> Env {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{:x}{n}", std::process::id() % 0xffff);
        let dir = PathBuf::from(format!("/tmp/sysctr-it-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Containers get no network unless a test asks for one (`with_network`).
        std::fs::write(dir.join("sysctr.toml"), "default_network = \"none\"\n").unwrap();
        Env { state: dir.join("state"), run: dir.join("run"), dir, tag }
    }

    /// A test-unique network name (a bridge name too: short), recorded for the leak check.
    pub fn net_name(&self, base: &str) -> String {
        let name = format!("{base}{}", self.tag);
        assert!(name.len() <= 15, "{name} is too long for a bridge name");
        if let Some(file) = std::env::var_os("SYSCTR_TEST_NAMES") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
                let _ = writeln!(f, "{name}");
            }
        }
        name
    }

    /// Make this instance's default network a test-unique one (created on first use with
    /// a free subnet) and return its name.
    pub fn with_default_network(&self) -> String {
        let net = self.net_name("nt");
        std::fs::write(self.dir.join("sysctr.toml"), format!("default_network = \"{net}\"\n")).unwrap();
        net
    }

    /// A container name unique to this test run: `base-<tag>`. Recorded in
    /// `$SYSCTR_TEST_NAMES` when set, for the leak check after the suite.
    pub fn name(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.tag);
        if let Some(file) = std::env::var_os("SYSCTR_TEST_NAMES") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
                let _ = writeln!(f, "{name}");
            }
        }
        name
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SYSCTR);
        c.args(args)
            .env("SYSCTR_STATE_DIR", &self.state)
            .env("SYSCTR_RUN_DIR", &self.run)
            .env("SYSCTR_CONFIG", self.dir.join("sysctr.toml"))
            .stdin(Stdio::null());
        c
    }

    pub fn sysctr(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run, require success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.sysctr(args);
        assert!(
            out.status.success(),
            "sysctr {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run, require failure, return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.sysctr(args);
        assert!(!out.status.success(), "sysctr {args:?} unexpectedly succeeded: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn info(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["info", name, "--format", "json"])).unwrap()
    }

    pub fn status(&self, name: &str) -> String {
        self.info(name)["status"].as_str().unwrap().to_owned()
    }

    /// `sysctr exec NAME -- args`: (exit code, stdout).
    pub fn exec(&self, name: &str, args: &[&str]) -> (i32, String) {
        let mut all = vec!["exec", name, "--"];
        all.extend_from_slice(args);
        let out = self.sysctr(&all);
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Poll `systemctl is-system-running` until `running` (or a terminal state); returns
    /// the last answer and how long it took.
    pub fn wait_system_running(&self, name: &str, timeout: Duration) -> (String, Duration) {
        let t0 = Instant::now();
        let mut last = String::new();
        while t0.elapsed() < timeout {
            let (_, out) = self.exec(name, &["systemctl", "is-system-running"]);
            last = out;
            if last == "running" || last == "degraded" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (last, t0.elapsed())
    }

    pub fn container_dirs(&self, name: &str) -> Vec<PathBuf> {
        vec![self.state.join("containers").join(name), self.run.join("containers").join(name)]
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.state.join("containers")) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if !n.starts_with('.') {
                    let _ = self.sysctr(&["delete", "--force", &n]);
                }
            }
        }
        // The `sysctr` parent cgroups, once empty (also after OCI-level tests, which make
        // containers under it without the manager).
        if let Ok(h) = sysctr::cgroup::Hierarchies::discover(Path::new("/sys/fs/cgroup")) {
            let _ = h.remove_if_empty("sysctr");
        }
        if let Ok(rd) = std::fs::read_dir(self.state.join("networks")) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str().and_then(|f| f.strip_suffix(".toml")) {
                    let _ = self.sysctr(&["network", "delete", n]);
                }
            }
        }
        self.stop_daemon();
        let _ = sysctr::storage::remove_tree(&self.dir);
    }
}

impl Env {
    /// The pid of this instance's daemon (started by its first command), if it runs.
    pub fn daemon_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.run.join("daemon.pid")).ok()?.trim().parse().ok()?;
        std::path::Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// SIGTERM this instance's daemon (containers keep running) and wait until it is gone.
    pub fn stop_daemon(&self) {
        if let Some(pid) = self.daemon_pid() {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
            if !wait_for(Duration::from_secs(10), || !std::path::Path::new(&format!("/proc/{pid}")).exists() || sysctr::sys::proc_stat(pid).is_some_and(|(s, _)| s == "Z")) {
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// How much slower this machine runs than a native one: 8 inside the software-emulated
/// cgroup v2 guest of `v2vm.sh` (which sets V2VM=1), else 1. Timeouts and time bounds scale
/// by it; the v2 tier checks behaviour, the native run checks speed.
pub fn slowdown() -> u32 {
    if std::env::var_os("V2VM").is_some() {
        8
    } else {
        1
    }
}

/// Poll `f` every 20 ms until true or `timeout` (scaled by [`slowdown`]).
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let timeout = timeout * slowdown();
    let t0 = Instant::now();
    loop {
        if f() {
            return true;
        }
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A busybox-static root filesystem with busybox init, made in `dir/rootfs`. The applet
/// links come from the host busybox's own list: running the fresh copy (`busybox
/// --install`) would race with other test threads forking while the copy is open for
/// writing (ETXTBSY). The inittab's last shutdown action halts at once (`halt -n -f`):
/// busybox init's own halt path otherwise sleeps twice for a second before calling
/// reboot(2), and without `-n` halt first syncs every filesystem of the host, which takes
/// seconds on a busy machine and does nothing for a container.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "run", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists()).expect("busybox-static installed");
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list-full").output().unwrap();
    assert!(list.status.success(), "busybox --list-full");
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|l| !l.is_empty() && *l != "bin/busybox") {
        let link = root.join(applet);
        if std::fs::symlink_metadata(&link).is_err() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink("/bin/busybox", &link).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/inittab"),
        "::sysinit:/bin/mount -o remount,rw /\n\
         ::respawn:/bin/sh -c 'exec sleep 100000'\n\
         ::shutdown:/bin/echo sysctr-test: shutting down\n\
         ::shutdown:/sbin/halt -n -f\n",
    )
    .unwrap();
    root
}

/// A busybox rootfs (in `dir/rootfs`) whose init has no SIGPWR handler: as PID 1 it
/// ignores the halt signal, so only a kill stops it.
pub fn deaf_busybox_rootfs(dir: &Path) -> PathBuf {
    let root = busybox_rootfs(dir);
    std::fs::remove_file(root.join("sbin/init")).unwrap();
    std::fs::write(root.join("sbin/init"), "#!/bin/sh\nexec sleep 100000\n").unwrap();
    std::fs::set_permissions(root.join("sbin/init"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    root
}

/// A running busybox container named `base-<tag>` with the probe binary at `/probe`.
pub fn running_busybox_with_probe(env: &Env, base: &str) -> String {
    running_busybox_with_probe_cfg(env, base, &[])
}

/// The same, created with `-c key=value` settings.
pub fn running_busybox_with_probe_cfg(env: &Env, base: &str, config: &[&str]) -> String {
    let name = env.name(base);
    let root = busybox_rootfs(&env.dir.join("src"));
    install_binary(&root, Path::new(PROBE), "/probe");
    let mut args = vec!["create", name.as_str(), "--rootfs", root.to_str().unwrap()];
    for c in config {
        args.extend(["-c", c]);
    }
    env.ok(&args);
    env.ok(&["start", &name]);
    name
}

/// Copy the shared libraries of `bin` (per ldd) into `root`, so a dynamically linked test
/// binary runs in a busybox rootfs.
pub fn install_binary(root: &Path, bin: &Path, dest: &str) {
    let target = root.join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(bin, &target).unwrap();
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let lib = line.split_whitespace().find(|w| w.starts_with('/')).map(PathBuf::from);
        if let Some(lib) = lib {
            let to = root.join(lib.strip_prefix("/").unwrap());
            if !to.exists() {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&lib, &to).unwrap();
            }
        }
    }
}

/// The cached Debian rootfs for `suite` (`bookworm`, `trixie`), built once per machine by
/// `tests/fixtures/debian-rootfs.sh` (debootstrap minbase + systemd, dbus, iproute2).
pub fn debian_rootfs(suite: &str) -> PathBuf {
    let version = match suite {
        "bookworm" => "12",
        "trixie" => "13",
        other => panic!("no fixture for {other}"),
    };
    let dest = PathBuf::from(format!("{CACHE}/debian-{version}"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-rootfs.sh");
    let st = Command::new("sh").arg(script).arg(suite).arg(&dest).status().unwrap();
    assert!(st.success(), "building the Debian {version} fixture failed (see {dest:?}.log)");
    dest
}

/// Where container `name`'s cgroup may be, on either host layout: `sysctr/NAME` at the
/// root of a pure v2 host, and in every v1/hybrid hierarchy.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut out = vec![Path::new("/sys/fs/cgroup/sysctr").join(name)];
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if h.path().is_dir() {
            out.push(h.path().join("sysctr").join(name));
        }
    }
    out
}

/// A cgroup file of container `name` as the host sees it: `sysctr/NAME/FILE` on a pure v2
/// host, in the `controller` hierarchy on a v1/hybrid one.
pub fn cgroup_file(name: &str, controller: &str, file: &str) -> String {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let p = if v2 {
        Path::new("/sys/fs/cgroup/sysctr").join(name).join(file)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join("sysctr").join(name).join(file)
    };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}")).trim().to_owned()
}

/// True on a pure cgroup v2 host.
pub fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Panics if any cgroup of container `name` exists.
pub fn assert_no_cgroup(name: &str) {
    for cg in cgroup_dirs(name) {
        assert!(!cg.exists(), "cgroup {cg:?} left behind");
    }
}

/// Top-level directory names of every host cgroup hierarchy: what a guest's systemd must
/// never add to.
pub fn host_cgroup_top_level() -> Vec<String> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = h.path();
        let dirs: Vec<PathBuf> = if p.join("cgroup.procs").exists() { vec![p.clone()] } else { vec![] };
        let base = if Path::new("/sys/fs/cgroup/cgroup.procs").exists() { vec![PathBuf::from("/sys/fs/cgroup")] } else { dirs };
        for b in base {
            for e in std::fs::read_dir(&b).unwrap().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    out.push(e.path().display().to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Everything below `dir`, one line per entry: path, type, mode, size, mtime, and a hash of
/// a file's bytes or a symlink's target. Symlinks are never followed.
pub fn tree_snapshot(dir: &Path) -> Vec<String> {
    fn walk(p: &Path, out: &mut Vec<String>) {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            out.push(format!("{} (absent)", p.display()));
            return;
        };
        let ft = m.file_type();
        let what = if ft.is_symlink() {
            format!("link -> {}", std::fs::read_link(p).unwrap().display())
        } else if ft.is_file() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::fs::read(p).unwrap().hash(&mut h);
            format!("file {:016x}", h.finish())
        } else if ft.is_dir() {
            "dir".to_owned()
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("DEVICE rdev={:x}", m.rdev())
        } else {
            "other".to_owned()
        };
        out.push(format!(
            "{} {what} mode={:o} size={} mtime={}.{:09}",
            p.display(),
            m.mode(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        ));
        if ft.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            for n in names {
                walk(&n, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}
