//! Lifecycle of a busybox-init container: boot, exec, stop (clean, forced, timed out),
//! guest reboot, a killed CLI or monitor, and no trace after delete.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Everything of container `name` is gone: directories, cgroups, runtime state, the
/// processes that ran it, mounts below the instance.
fn assert_no_trace(env: &Env, name: &str, pids: &[i64]) {
    for d in env.container_dirs(name) {
        assert!(!d.exists(), "{d:?} left behind");
    }
    assert_no_cgroup(name);
    if let Ok(rd) = std::fs::read_dir(env.run.join("runtime")) {
        for rt in rd.flatten() {
            assert!(!rt.path().join(name).exists(), "runtime state of {name} left in {:?}", rt.path());
        }
    }
    for pid in pids {
        let gone = wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z ")).unwrap_or(true)
        });
        assert!(gone, "process {pid} still runs");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.dir.to_str().unwrap()), "a mount below {:?} remains", env.dir);
}

fn pids_of(env: &Env, name: &str) -> Vec<i64> {
    let i = env.info(name);
    [i["pid"].as_i64(), i["monitor_pid"].as_i64()].into_iter().flatten().collect()
}

fn new_busybox(env: &Env, base: &str) -> String {
    new_busybox_cfg(env, base, &[])
}

fn new_busybox_cfg(env: &Env, base: &str, config: &[&str]) -> String {
    let name = env.name(base);
    let root = busybox_rootfs(&env.dir.join("src"));
    let mut args = vec!["create", name.as_str(), "--rootfs", root.to_str().unwrap()];
    for c in config {
        args.extend(["-c", c]);
    }
    env.ok(&args);
    name
}

#[test]
fn busybox_init_boots_and_stops_cleanly_in_under_2s() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "bb");
    env.ok(&["start", &name]);
    assert_eq!(env.status(&name), "RUNNING");
    // busybox init renames itself `init`.
    let (code, cmdline) = env.exec(&name, &["cat", "/proc/1/cmdline"]);
    assert_eq!((code, cmdline.trim_end_matches('\0')), (0, "init"));
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["name"], name.as_str());
    let pids = pids_of(&env, &name);

    let t0 = Instant::now();
    env.ok(&["stop", &name]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2) * slowdown(), "stop took {took:?}");
    let info = env.info(&name);
    assert_eq!(info["status"], "STOPPED");
    assert_eq!(info["last_exit"]["reason"], "halt", "a clean halt, not a kill");
    let log = std::fs::read_to_string(env.state.join("containers").join(&name).join("console.log")).unwrap();
    assert!(log.contains("sysctr-test: shutting down"), "the guest ran its shutdown actions: {log}");

    // It boots again from the same persistent rootfs.
    env.ok(&["start", &name]);
    let pids2 = pids_of(&env, &name);
    env.ok(&["delete", "--force", &name]);
    assert_no_trace(&env, &name, &[pids, pids2].concat());
}

#[test]
fn exec_joins_the_container_and_propagates_the_exit_status() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "ex");
    env.ok(&["start", &name]);
    assert_eq!(env.exec(&name, &["hostname"]), (0, name.clone()));
    assert_eq!(env.exec(&name, &["sh", "-c", "exit 7"]).0, 7);
    // Same pid namespace as init: ps sees init as pid 1.
    let (_, ps) = env.exec(&name, &["ps", "-o", "pid,comm"]);
    assert!(ps.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "init"]), "{ps}");
    // Same cgroup as init.
    let init_cg = std::fs::read_to_string(format!("/proc/{}/cgroup", env.info(&name)["pid"])).unwrap();
    let (_, mine) = env.exec(&name, &["cat", "/proc/self/cgroup"]);
    assert_eq!(mine.lines().count(), init_cg.lines().count());
    assert!(mine.lines().all(|l| l.ends_with(":/")), "exec sits at the container's cgroup root: {mine}");
    let out = env.sysctr(&["exec", &name, "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("command not found"));
}

#[test]
fn probe_inside_sees_a_proper_system_container() {
    if require_root() {
        probe_checks("probe", &[]);
    }
}

#[test]
fn probe_inside_sees_a_proper_privileged_container() {
    if require_root() {
        probe_checks("probep", &["security.privileged=true"]);
    }
}

/// What the probe sees inside; unprivileged (the default) or as `config` says.
fn probe_checks(base: &str, config: &[&str]) {
    let privileged = config.contains(&"security.privileged=true");
    let env = Env::new();
    let name = running_busybox_with_probe_cfg(&env, base, config);
    let (code, out) = env.exec(&name, &["/probe"]);
    assert_eq!(code, 0, "{out}");
    let p: serde_json::Value = serde_json::from_str(&out).unwrap();

    assert_eq!(p["hostname"], name.as_str());
    assert_eq!(p["pid1_cmdline"], "init", "busybox init is PID 1");
    // Read-only (its mount, checked below); unprivileged, its files are the host root's too.
    assert_eq!(p["proc_sys"], if privileged { "read-only" } else { "denied" });
    assert_eq!(p["sys"], "read-only");
    assert_eq!(p["pid1_fds"], serde_json::json!([0, 1, 2]), "init starts with stdio only");
    let ignored = u64::from_str_radix(p["pid1_sigign"].as_str().unwrap(), 16).unwrap();
    assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "init must not inherit an ignored SIGPIPE: {ignored:x}");
    let environ: Vec<&str> = p["pid1_environ"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(environ.contains(&"container=sysctr"));
    assert!(environ.iter().all(|e| e.starts_with("container=") || e.starts_with("PATH=")), "clean env: {environ:?}");

    // Devices: exactly the standard nodes, the console pty, and the usual links.
    let devs = p["devices"].as_array().unwrap();
    let dev = |n: &str| devs.iter().find(|d| d["name"] == n).unwrap_or_else(|| panic!("no /dev/{n}"));
    for (n, maj, min) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
        assert_eq!((&dev(n)["kind"], dev(n)["major"].as_u64(), dev(n)["minor"].as_u64()), (&"char".into(), Some(maj), Some(min)), "{n}");
        assert_eq!(dev(n)["mode"], "666");
    }
    assert_eq!(dev("console")["kind"], "char");
    assert_eq!(dev("console")["major"], 136, "/dev/console is a pty of the container's devpts");
    assert_eq!(dev("ptmx")["target"], "pts/ptmx");
    assert_eq!(dev("fd")["target"], "/proc/self/fd");
    let nodes: Vec<&str> = devs.iter().filter(|d| d["kind"] == "char" || d["kind"] == "block").map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 7, "no host devices leak in: {nodes:?}");
    // devpts is a new instance, not the host's.
    let host_pts = std::os::unix::fs::MetadataExt::dev(&std::fs::metadata("/dev/pts").unwrap());
    assert_ne!(p["devpts_dev"].as_u64(), Some(host_pts));

    // Capabilities: the LXC privileged drops, the rest kept; effective = permitted = bounding.
    let caps = &p["pid1_caps"];
    let bnd = u64::from_str_radix(caps["CapBnd"].as_str().unwrap(), 16).unwrap();
    for (cap, bit) in [("sys_module", 16), ("sys_rawio", 17), ("sys_time", 25), ("mac_override", 32), ("mac_admin", 33)] {
        assert_eq!(bnd & (1 << bit), 0, "{cap} must be dropped");
    }
    for (cap, bit) in [("sys_admin", 21), ("mknod", 27), ("net_admin", 12), ("setpcap", 8)] {
        assert_ne!(bnd & (1 << bit), 0, "{cap} must be kept");
    }
    assert_eq!(caps["CapEff"], caps["CapBnd"]);
    assert_eq!(caps["CapPrm"], caps["CapBnd"]);
    assert_eq!(caps["CapAmb"], "0000000000000000");

    // cgroup namespace rooted at the container's cgroup; a writable cgroup2 view.
    let cg = p["pid1_cgroup"].as_str().unwrap();
    assert!(cg.lines().all(|l| l.ends_with(":/")), "{cg}");
    assert_eq!(p["cgroupfs"]["fstype"], "cgroup2");
    assert_eq!(p["cgroupfs"]["writable"], true);
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // Pure v2 host: the controllers are delegated to the container's subtree.
        let ctrl = p["cgroupfs"]["controllers"].as_str().unwrap();
        for c in ["cpu", "memory", "pids"] {
            assert!(ctrl.split_whitespace().any(|x| x == c), "{c} not delegated: {ctrl}");
        }
    }
    let mounts = p["mounts"].as_array().unwrap();
    let mount = |t: &str| mounts.iter().rev().find(|m| m["target"] == t).unwrap_or_else(|| panic!("{t} not mounted"));
    assert_eq!(mount("/dev")["fstype"], "tmpfs");
    assert_eq!(mount("/dev/pts")["fstype"], "devpts");
    assert_eq!(mount("/run")["fstype"], "tmpfs");
    assert_eq!(mount("/dev/mqueue")["fstype"], "mqueue");
    assert!(mount("/sys")["options"].as_str().unwrap().starts_with("ro"));
    assert!(mount("/proc/sys")["options"].as_str().unwrap().starts_with("ro"));
}

#[test]
fn guest_that_ignores_the_halt_signal_is_killed_at_the_timeout() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = env.name("deaf");
    let root = deaf_busybox_rootfs(&env.dir.join("src"));
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    env.ok(&["start", &name]);
    let t0 = Instant::now();
    env.ok(&["stop", "--timeout", "2", &name]);
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5) * slowdown(), "stop took {took:?}");
    assert_eq!(env.info(&name)["last_exit"]["reason"], "killed");

    // --force kills at once, without waiting for the guest.
    env.ok(&["start", &name]);
    let t0 = Instant::now();
    env.ok(&["stop", "--force", &name]);
    assert!(t0.elapsed() < Duration::from_secs(1) * slowdown(), "force stop took {:?}", t0.elapsed());
    assert_eq!(env.info(&name)["last_exit"]["reason"], "killed");
}

#[test]
fn guest_reboot_boots_a_new_init() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "rb");
    env.ok(&["start", &name]);
    let first = env.info(&name)["pid"].as_i64().unwrap();
    // busybox reboot -f calls reboot(2) at once; the kernel ends init with SIGHUP.
    env.exec(&name, &["reboot", "-f"]);
    assert!(wait_for(Duration::from_secs(10), || {
        let i = env.info(&name);
        i["status"] == "RUNNING" && i["pid"].as_i64() != Some(first)
    }));
    let i = env.info(&name);
    assert_eq!(i["restarts"], 1);
    assert_eq!(i["last_exit"]["reason"], "reboot");
    assert_eq!(env.exec(&name, &["cat", "/proc/1/cmdline"]).1.trim_end_matches('\0'), "init");
}

#[test]
fn container_outlives_the_cli_that_started_it() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "cli");
    // The CLI runs in a shell whose whole process group is then killed with SIGKILL.
    let template = env.cmd(&[]);
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("{SYSCTR} start {name} && sleep 1000"))
        .envs(template.get_envs().filter_map(|(k, v)| Some((k, v?))));
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    let mut child = shell.spawn().unwrap();
    assert!(wait_for(Duration::from_secs(10), || env.status(&name) == "RUNNING"));
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300) * slowdown());
    assert_eq!(env.status(&name), "RUNNING");
    assert_eq!(env.exec(&name, &["true"]).0, 0);
}

/// Documented outcome of `kill -9` of a monitor: the container keeps running without its
/// console and reboot handling; `stop` still halts it (killing at the timeout) and leaves
/// nothing behind.
#[test]
fn monitor_killed_container_keeps_running_and_stop_cleans_up() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "mon");
    env.ok(&["start", &name]);
    let pids = pids_of(&env, &name);
    let monitor = env.info(&name)["monitor_pid"].as_i64().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_for(Duration::from_secs(5), || env.info(&name)["monitor_alive"] == false));
    let i = env.info(&name);
    assert_eq!(i["status"], "RUNNING");
    assert!(env.ok(&["info", &name]).contains("lost"));
    assert_eq!(env.exec(&name, &["true"]).0, 0, "exec works without the monitor");
    env.ok(&["stop", "--timeout", "5", &name]);
    assert_eq!(env.status(&name), "STOPPED");
    env.ok(&["delete", &name]);
    assert_no_trace(&env, &name, &pids);
}

/// The device allow-list holds on both host layouts (v1 `devices` controller, or an eBPF
/// program on v2): root in a privileged container may mknod any node, but only open
/// allowed ones. (Unprivileged, mknod itself is refused: tests/security.rs.)
#[test]
fn device_cgroup_denies_host_devices() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox_cfg(&env, "dev", &["security.privileged=true"]);
    env.ok(&["start", &name]);
    let (code, out) = env.exec(&name, &["sh", "-c", "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem 2>&1; echo rc=$?"]);
    assert_eq!(code, 0);
    assert!(out.contains("Operation not permitted") && out.ends_with("rc=1"), "/dev/mem readable: {out}");
    let (_, out) = env.exec(&name, &["sh", "-c", "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda 2>&1; echo rc=$?"]);
    assert!(out.ends_with("rc=1"), "a host disk readable: {out}");
    let (_, out) = env.exec(&name, &["sh", "-c", "mknod /tmp/null c 1 3 && echo x > /tmp/null; echo rc=$?"]);
    assert_eq!(out, "rc=0", "an allowed device works");
}

/// A guest nesting cgroups as deep as it can, with long names, must neither go past the
/// depth cap nor make its container impossible to delete (host-side walks go by
/// descriptors, so no host path grows past PATH_MAX).
#[test]
fn guest_cgroup_nesting_cannot_make_the_container_undeletable() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = new_busybox(&env, "nest");
    env.ok(&["start", &name]);
    let long = "n".repeat(200);
    let script = format!("cd /sys/fs/cgroup; i=0; while [ $i -lt 100 ]; do mkdir {long} 2>/dev/null || break; cd {long}; i=$((i+1)); done; echo $i");
    let (code, depth) = env.exec(&name, &["sh", "-c", &script]);
    assert_eq!(code, 0);
    let depth: u32 = depth.parse().unwrap();
    assert!((4..=32).contains(&depth), "nesting stopped at {depth}");
    env.ok(&["delete", "--force", &name]);
    assert_no_cgroup(&name);
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left");
    }
}
