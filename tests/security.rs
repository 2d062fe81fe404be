//! Unprivileged by default: the guest's root is a host uid of its range, its rootfs keeps
//! on-disk owners through an idmapped mount, a seccomp denylist holds in both modes, and
//! what an attacker who is root inside tries fails with the host unchanged.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::host::{make_sentinel, HostView};
use common::*;

/// `Uid:`/`Gid:` (real) and the capability and seccomp lines of /proc/PID/status.
fn status(pid: &str) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.split_whitespace().next().unwrap_or("").to_owned()))
        .collect()
}

fn sha256(path: &str) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Run `script` with sh inside as root; stdout and stderr together, and the exit status.
fn sh(env: &Env, name: &str, script: &str) -> (i32, String) {
    env.exec(name, &["sh", "-c", &format!("{{ {script} ; }} 2>&1")])
}

#[test]
fn guest_root_is_a_host_uid_of_its_range_and_files_keep_on_disk_owners() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox_with_probe(&env, "uns");
    let info = env.info(&name);
    assert_eq!(info["privileged"], false);
    let map = &info["idmap"];
    let (base, size) = (map["uid"].as_u64().unwrap(), map["size"].as_u64().unwrap());
    assert_eq!(size, 65536);
    assert!(base >= 65536, "a range away from host users: {base}");
    let pid = info["pid"].as_i64().unwrap().to_string();
    let st = status(&pid);
    assert_eq!(st["Uid"], base.to_string(), "init runs as the range's first uid on the host");
    assert_eq!(st["Gid"], map["gid"].as_u64().unwrap().to_string());
    assert!(env.ok(&["info", &name]).contains(&format!("host uids {base}-{}", base + 65535)));
    assert!(env.ok(&["list"]).lines().any(|l| l.starts_with(&name) && l.contains("unpriv")));

    // Inside it is root, and what it writes is uid 0 on disk (no chown of the rootfs).
    assert_eq!(env.exec(&name, &["id", "-u"]).1, "0");
    assert_eq!(sh(&env, &name, "echo hi > /root-file && chown 1000:1000 /root-file && touch /own0").0, 0);
    let rootfs = env.state.join("containers").join(&name).join("rootfs");
    let m = std::fs::metadata(rootfs.join("own0")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0), "root's file is uid 0 on disk");
    let m = std::fs::metadata(rootfs.join("root-file")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000), "ids inside are ids on disk");
    assert_eq!(std::fs::metadata(rootfs.join("bin")).unwrap().uid(), 0, "the image's files stay as they were");

    // An exec'd process is in the same user namespace, as the same host uid.
    let (_, out) = env.exec(&name, &["cat", "/proc/self/uid_map"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", &base.to_string(), "65536"]);

    // Isolated: a block of its own; the shared block is unchanged for the others.
    let iso = env.name("iso");
    let root = busybox_rootfs(&env.dir.join("src2"));
    env.ok(&["create", &iso, "--rootfs", root.to_str().unwrap(), "-c", "security.idmap.isolated=true"]);
    env.ok(&["start", &iso]);
    let iso_base = env.info(&iso)["idmap"]["uid"].as_u64().unwrap();
    assert!(iso_base >= base + 65536, "isolated {iso_base} overlaps the shared {base}");
    assert_eq!(status(&env.info(&iso)["pid"].as_i64().unwrap().to_string())["Uid"], iso_base.to_string());
    env.ok(&["delete", "--force", &iso]);
    env.ok(&["delete", "--force", &name]);
}

#[test]
fn init_and_exec_have_no_inheritable_or_ambient_caps_and_a_seccomp_filter() {
    if !require_root() {
        return;
    }
    for (base, cfg) in [("capu", vec![]), ("capp", vec!["security.privileged=true"])] {
        let env = Env::new();
        let name = running_busybox_with_probe_cfg(&env, base, &cfg);
        let pid = env.info(&name)["pid"].as_i64().unwrap().to_string();
        let st = status(&pid);
        assert_eq!((st["CapInh"].as_str(), st["CapAmb"].as_str(), st["Seccomp"].as_str()), ("0000000000000000", "0000000000000000", "2"), "init ({base})");
        let (_, out) = env.exec(&name, &["cat", "/proc/self/status"]);
        let line = |k: &str| out.lines().find(|l| l.starts_with(k)).unwrap().split_whitespace().nth(1).unwrap().to_owned();
        assert_eq!((line("CapInh:"), line("CapAmb:"), line("Seccomp:")), ("0000000000000000".into(), "0000000000000000".into(), "2".into()), "exec ({base})");
        // The denylist answers EPERM in both modes.
        let (_, out) = env.exec(&name, &["/probe", "--load-module"]);
        assert_eq!(json(&out), serde_json::json!({"finit_module": "EPERM", "init_module": "EPERM"}), "{base}");
        // Configurable: a syscall added to the list is refused, with the default kept.
        env.ok(&["stop", "--force", &name]);
        env.ok(&["config", "set", &name, "security.syscalls.deny=chroot"]);
        env.ok(&["start", &name]);
        let (code, out) = sh(&env, &name, "chroot / true; echo rc=$?");
        assert!(out.contains("rc=1") || out.contains("Operation not permitted"), "chroot denied ({base}): {code} {out}");
        env.ok(&["delete", "--force", &name]);
    }
    let env = Env::new();
    let msg = env.fails(&["create", &env.name("bad"), "--rootfs", "/nonexistent", "-c", "security.syscalls.deny=nosuchcall"]);
    assert!(msg.contains("unknown syscall \"nosuchcall\"") && msg.contains("open_by_handle_at"), "{msg}");
}

#[test]
fn attacks_from_root_inside_fail_and_leave_the_host_unchanged() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let sentinel = make_sentinel(&env.dir.join("sentinel"));
    let src = busybox_rootfs(&env.dir.join("src"));
    install_binary(&src, Path::new(PROBE), "/probe");
    // CVE-2019-5736's trigger: a "program" whose interpreter is the runtime itself.
    std::fs::write(src.join("evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(src.join("evil"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let name = env.name("atk");
    env.ok(&["create", &name, "--rootfs", src.to_str().unwrap(), "-c", "limits.memory=256MiB", "-c", "limits.processes=500"]);
    env.ok(&["start", &name]);

    let binary_sum = sha256(SYSCTR);
    let before = HostView::take(&sentinel);
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let memory_limit = || {
        let file = if pure_v2() { "memory.max" } else { "memory.limit_in_bytes" };
        cgroup_file(&name, "memory", file)
    };
    let limit_before = memory_limit();
    let host_release_agents: Vec<(String, String)> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("release_agent"))
        .filter(|p| p.exists())
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();

    // 1. Overwrite the runtime binary through /proc/PID/exe while `exec` runs.
    env.exec(&name, &["sh", "-c", "/probe --exe-attack 8 > /tmp/attack.json 2>&1 &"]);
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..30 {
        if i % 2 == 0 {
            env.sysctr(&["exec", &name, "--", "/evil"]);
        } else {
            env.sysctr(&["exec", &name, "--", "true"]);
        }
    }
    assert!(wait_for(Duration::from_secs(15), || env.exec(&name, &["cat", "/tmp/attack.json"]).1.starts_with('{')));
    let attack = json(&env.exec(&name, &["cat", "/tmp/attack.json"]).1);
    eprintln!("exe attack: {attack}");
    let results = attack["results"].as_object().unwrap();
    assert!(!results.values().any(|v| v == "OPENED FOR WRITING"), "the runtime binary opened for writing: {attack}");
    assert!(!attack["seen"].as_object().unwrap().is_empty(), "the attacker never caught the runtime's binary: {attack}");
    assert_eq!(sha256(SYSCTR), binary_sum, "the sysctr binary changed");

    // 2. mknod a host disk and read it.
    let root_dev = std::fs::metadata("/").unwrap().dev();
    let (maj, min) = (nix::sys::stat::major(root_dev), nix::sys::stat::minor(root_dev));
    let (_, out) = sh(&env, &name, &format!("mknod /tmp/disk b {maj} {min} && head -c 512 /tmp/disk | wc -c; echo rc=$?"));
    assert!(out.contains("Operation not permitted") && !out.contains("512"), "mknod + read of the host disk: {out}");

    // 3. sysrq and core_pattern.
    let (_, out) = sh(&env, &name, "echo h > /proc/sysrq-trigger; echo rc=$?");
    assert!(out.ends_with("rc=1"), "sysrq-trigger written: {out}");
    let (_, out) = sh(&env, &name, "echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo rc=$?");
    assert!(out.ends_with("rc=1"), "core_pattern written: {out}");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), core_pattern);

    // 4. A fresh proc or sysfs (which would show what the masks hide), and undoing the masks
    // and read-only paths: the container's mounts were made by the host and are locked.
    let (_, out) = sh(
        &env,
        &name,
        "mkdir -p /tmp/p /tmp/s; mount -t proc proc /tmp/p && echo PROC-MOUNTED || echo proc-refused; \
         mount -t sysfs sysfs /tmp/s && echo SYSFS-MOUNTED || echo sysfs-refused; \
         umount /proc/kcore && echo MASK-GONE || echo mask-stays; umount -l /sys/firmware && echo MASK-GONE || echo mask-stays; \
         mount -o remount,bind,rw /proc/sys && echo PROC-SYS-RW || echo proc-sys-ro; \
         umount -l /proc && echo PROC-GONE || echo proc-stays; head -c 1 /proc/kcore | wc -c",
    );
    for want in ["proc-refused", "sysfs-refused", "proc-sys-ro", "proc-stays"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert_eq!(out.matches("mask-stays").count(), 2, "{out}");
    assert!(out.ends_with('0'), "/proc/kcore readable: {out}");

    // 5. A v1 cgroup hierarchy and its release_agent (CVE-2022-0492); raising its own limits.
    let (_, out) = sh(
        &env,
        &name,
        "mkdir -p /tmp/cg; if mount -t cgroup -o memory cgroup /tmp/cg; then echo /evil > /tmp/cg/release_agent; echo agent=$?; \
         echo max > /tmp/cg/memory.limit_in_bytes; echo v1limit=$?; else echo v1-refused; fi; \
         for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; do echo max > $f; done; echo limits=$?",
    );
    // Refused outright (no v1 hierarchy on a pure v2 host), or mounted and then unwritable.
    assert!(out.contains("v1-refused") || (out.contains("agent=1") && out.contains("v1limit=1")), "release_agent or a v1 limit written: {out}");
    assert!(out.contains("limits=1"), "its own v2 limits written: {out}");
    for (p, v) in &host_release_agents {
        assert_eq!(&std::fs::read_to_string(p).unwrap(), v, "{p} changed");
    }
    assert_eq!(memory_limit(), limit_before, "the container raised its own memory limit");

    // 6. Shocker: open a host inode by handle.
    assert_eq!(json(&env.exec(&name, &["/probe", "--shocker"]).1)["open_by_handle_at"], "EPERM");

    // 7. The double-chroot escape.
    let esc = json(&env.exec(&name, &["/probe", "--chroot-escape", sentinel.join("canary").to_str().unwrap()]).1);
    assert_eq!(esc["host_path_visible"], false, "escaped to the host: {esc}");

    // 8. Loading a kernel module.
    assert_eq!(json(&env.exec(&name, &["/probe", "--load-module"]).1), serde_json::json!({"finit_module": "EPERM", "init_module": "EPERM"}));

    before.assert_unchanged(&HostView::take(&sentinel), "attacks from inside");
    assert_eq!(env.status(&name), "RUNNING", "the container survived its own attacks");
    env.ok(&["delete", "--force", &name]);
}

#[test]
fn host_users_cannot_reach_a_containers_rootfs_or_its_setuid_files() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let src = busybox_rootfs(&env.dir.join("src"));
    // A setuid-root shell in the image: the classic way to root from a shared rootfs.
    let busybox = std::fs::read_link(src.join("bin/sh")).map(|t| src.join("bin").join(t)).unwrap_or(src.join("bin/sh"));
    std::fs::copy(&busybox, src.join("suid-sh")).unwrap();
    std::fs::set_permissions(src.join("suid-sh"), std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let name = env.name("reach");
    env.ok(&["create", &name, "--rootfs", src.to_str().unwrap()]);
    env.ok(&["start", &name]);
    let pid = env.info(&name)["pid"].as_i64().unwrap();
    let rootfs = env.state.join("containers").join(&name).join("rootfs");
    assert_eq!(std::fs::metadata(rootfs.join("suid-sh")).unwrap().mode() & 0o4000, 0o4000, "the image keeps its setuid bit");
    // Through a shell: setpriv execs its own argument before the new ids apply to path walks.
    let nobody = |args: &[&str]| {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--", "sh", "-c", "exec \"$0\" \"$@\""])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let suid = rootfs.join("suid-sh");
    let through_proc = format!("/proc/{pid}/root/suid-sh");
    for args in [
        vec!["ls", rootfs.to_str().unwrap()],
        vec!["cat", rootfs.join("etc/passwd").to_str().unwrap()],
        vec![suid.to_str().unwrap(), "-c", "id -u"],
        vec!["ls", &format!("/proc/{pid}/root/")],
        vec![through_proc.as_str(), "-c", "id -u"],
    ] {
        let (ok, out) = nobody(&args);
        assert!(!ok, "uid 65534 ran {args:?}: {out}");
        assert!(out.contains("Permission denied"), "{args:?}: {out}");
    }
    env.ok(&["delete", "--force", &name]);
}

#[test]
fn doctor_checks_the_host_and_explains_privileged_containers() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    // Exit status 1 exactly when a check fails (the cgroup v2 VM has no dnsmasq, say).
    let doctor = || {
        let o = env.sysctr(&["doctor"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let failed = out.lines().any(|l| l.starts_with("fail"));
        assert_eq!(o.status.code(), Some(i32::from(failed)), "{out}{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let out = doctor();
    assert!(out.contains("ok    user namespaces: enabled"), "{out}");
    assert!(out.contains("ok    idmapped mounts:") && out.contains("on ext4"), "{out}");
    assert!(out.contains("ok    privileged containers: none"), "{out}");
    let name = env.name("docp");
    let root = busybox_rootfs(&env.dir.join("src"));
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap(), "-c", "security.privileged=true"]);
    let out = doctor();
    let line = out.lines().find(|l| l.contains("privileged containers")).unwrap();
    assert!(line.starts_with("warn") && line.contains(&name) && line.contains("root in them is root on the host"), "{out}");
    assert!(out.contains("fix: sysctr config set NAME security.privileged=false"), "{out}");
    assert!(env.ok(&["list"]).lines().any(|l| l.starts_with(&name) && l.contains("privileged")));
    env.ok(&["delete", &name]);
}

/// Run, require success, return stdout and stderr together (warnings go to stderr).
fn ok_all(env: &Env, args: &[&str]) -> String {
    let out = env.sysctr(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sysctr {args:?} failed: {text}");
    text
}

/// A test instance whose state directory is a ramfs of its own. On drop, also after a
/// failure, the instance goes first (its containers and daemon, whose state is on the
/// ramfs), then the mount.
struct OnRamfs(Option<Env>);

impl OnRamfs {
    fn new() -> OnRamfs {
        let env = Env::new();
        std::fs::create_dir_all(&env.state).unwrap();
        nix::mount::mount(Some("ramfs"), &env.state, Some("ramfs"), nix::mount::MsFlags::empty(), Some("mode=0755")).unwrap();
        OnRamfs(Some(env))
    }

    fn env(&self) -> &Env {
        self.0.as_ref().expect("dropped only at the end")
    }
}

impl Drop for OnRamfs {
    fn drop(&mut self) {
        let state = self.env().state.clone();
        drop(self.0.take());
        let _ = nix::mount::umount2(&state, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_rootfs_the_kernel_cannot_idmap_is_shifted_once_and_back() {
    if !require_root() {
        return;
    }
    // ramfs: a filesystem without idmapped mounts, as the whole state directory.
    let instance = OnRamfs::new();
    let env = instance.env();
    let name = env.name("shift");
    let src = busybox_rootfs(&env.dir.join("src"));
    std::fs::create_dir_all(src.join("var/own")).unwrap();
    std::os::unix::fs::lchown(src.join("var/own"), Some(1000), Some(100)).unwrap();
    env.ok(&["create", &name, "--rootfs", src.to_str().unwrap()]);
    let out = ok_all(env, &["start", &name]);
    let info = env.info(&name);
    let base = info["idmap"]["uid"].as_u64().unwrap() as u32;
    assert_eq!(info["idmap"]["shifted"], true);
    assert!(out.contains(&format!("shifted the owners of {name}'s rootfs once to host uids {base}-")) && out.contains("cannot be idmapped"), "{out}");
    let rootfs = env.state.join("containers").join(&name).join("rootfs");
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(rootfs.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("bin"), (base, info["idmap"]["gid"].as_u64().unwrap() as u32));
    assert_eq!(owner("var/own"), (base + 1000, info["idmap"]["gid"].as_u64().unwrap() as u32 + 100));
    assert_eq!(status(&info["pid"].as_i64().unwrap().to_string())["Uid"], base.to_string());
    assert_eq!(env.exec(&name, &["stat", "-c", "%u:%g", "/var/own"]).1, "1000:100", "the guest sees its own ids");
    assert_eq!(env.exec(&name, &["touch", "/made"]).0, 0);
    assert_eq!(owner("made").0, base);
    // A second start shifts nothing.
    env.ok(&["stop", "--force", &name]);
    let out = ok_all(env, &["start", &name]);
    assert!(!out.contains("shifted"), "{out}");
    // Privileged again: the owners go back to the image's own ids.
    env.ok(&["stop", "--force", &name]);
    env.ok(&["config", "set", &name, "security.privileged=true"]);
    let out = ok_all(env, &["start", &name]);
    assert!(out.contains("back to the image's own ids"), "{out}");
    assert_eq!((owner("bin"), owner("var/own"), owner("made")), ((0, 0), (1000, 100), (0, 0)));
    env.ok(&["delete", "--force", &name]);
}
