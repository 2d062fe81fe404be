//! Real distributions with systemd as PID 1: Debian 12 and 13 boot to `running` with no
//! failed unit, halt cleanly, reboot, keep their cgroups inside their own, and boot the same
//! bundle under runc.

mod common;

use std::time::{Duration, Instant};

use common::*;

const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

fn failed_units(env: &Env, name: &str) -> String {
    env.exec(name, &["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"]).1
}

/// Boot, check `running` with 0 failed units, check the guest's cgroups stay in its own
/// subtree, stop cleanly, delete without trace.
fn boot_and_halt(suite: &str, base: &str, config: &[&str]) {
    let rootfs = debian_rootfs(suite);
    let env = Env::new();
    let name = env.name(base);
    let mut args = vec!["create", name.as_str(), "--rootfs", rootfs.to_str().unwrap()];
    args.extend_from_slice(config);
    env.ok(&args);
    // Our own parent (`sysctr`, made at start and gone with the last container) aside.
    let top_level = || host_cgroup_top_level().into_iter().filter(|p| !p.ends_with("/sysctr")).collect::<Vec<_>>();
    let host_cgroups = top_level();

    env.ok(&["start", &name]);
    let (state, took) = env.wait_system_running(&name, BOOT_TIMEOUT);
    assert_eq!(state, "running", "{suite} after {took:?}; failed units:\n{}", failed_units(&env, &name));
    assert_eq!(failed_units(&env, &name), "", "no failed unit");
    assert_eq!(env.exec(&name, &["hostname"]).1, name);
    assert_eq!(env.exec(&name, &["systemd-detect-virt", "--container"]).1, "container-other");
    // Unprivileged (the default): every process of the guest is a host uid of its range.
    let info = env.info(&name);
    let privileged = config.contains(&"security.privileged=true");
    assert_eq!(info["privileged"], privileged);
    let init_uid = std::fs::read_to_string(format!("/proc/{}/status", info["pid"])).unwrap();
    let init_uid: u64 = init_uid.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    if privileged {
        assert_eq!(init_uid, 0);
    } else {
        let base = info["idmap"]["uid"].as_u64().unwrap();
        assert_eq!(init_uid, base, "init is the range's root");
        let (_, uids) = env.exec(&name, &["sh", "-c", "cat /proc/[0-9]*/status | grep ^Uid: | sort -u"]);
        assert!(uids.lines().all(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() < 65536), "ids inside: {uids}");
        let cg = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].into_iter().map(|m| format!("{m}/sysctr/{name}")).find(|p| std::path::Path::new(p).is_dir()).unwrap();
        let procs = std::process::Command::new("sh").args(["-c", &format!("find {cg} -name cgroup.procs -exec cat {{}} +")]).output().unwrap();
        let procs = String::from_utf8_lossy(&procs.stdout).into_owned();
        assert!(procs.lines().count() > 5, "the guest's processes: {procs}");
        for pid in procs.lines() {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(u) = st.lines().find(|l| l.starts_with("Uid:")) {
                let u: u64 = u.split_whitespace().nth(1).unwrap().parse().unwrap();
                assert!((base..base + 65536).contains(&u), "host uid {u} of pid {pid} outside the range");
            }
        }
        env.exec(&name, &["touch", "/root/made-inside"]);
        let rootfs = env.state.join("containers").join(&name).join("rootfs");
        // Idmapped, root's files are uid 0 on disk; shifted (runc), the range's first uid.
        let shifted = info["idmap"]["shifted"] == true;
        let want = if shifted { base } else { 0 };
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(rootfs.join("root/made-inside")).unwrap()) as u64, want);
        assert_eq!(shifted, config.iter().any(|c| c.starts_with("runtime=")), "only runc's rootfs is shifted");
    }

    // The guest's systemd made its slices inside the container's cgroup only.
    assert_eq!(top_level(), host_cgroups, "host top-level cgroups changed");
    let (_, own) = env.exec(&name, &["cat", "/proc/1/cgroup"]);
    assert!(own.contains("0::/init.scope"), "systemd moved itself into init.scope: {own}");
    let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(|m| std::path::Path::new(m).join("sysctr").join(&name))
        .find(|p| p.exists())
        .expect("the container's cgroup2 directory");
    assert!(unified.join("system.slice").is_dir(), "system.slice lives in {unified:?}");

    let pid = env.info(&name)["pid"].as_i64().unwrap();
    let t0 = Instant::now();
    env.ok(&["stop", &name]);
    let took = t0.elapsed();
    let info = env.info(&name);
    assert_eq!(info["last_exit"]["reason"], "halt", "a systemd halt, not a kill");
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    let log = std::fs::read_to_string(env.state.join("containers").join(&name).join("console.log")).unwrap();
    assert!(log.contains("Reached target") && log.contains("System Halt"), "console shows the halt:\n{log}");

    env.ok(&["delete", &name]);
    assert!(wait_for(Duration::from_secs(5), || !std::path::Path::new(&format!("/proc/{pid}")).exists()));
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left");
    }
    assert!(!unified.exists(), "cgroup {unified:?} left");
}

#[test]
fn debian12_boots_to_running_and_halts_cleanly() {
    if require_root() {
        boot_and_halt("bookworm", "deb12", &[]);
    }
}

#[test]
fn debian13_boots_to_running_and_halts_cleanly() {
    if require_root() {
        boot_and_halt("trixie", "deb13", &[]);
    }
}

#[test]
fn debian12_boots_privileged_too() {
    if require_root() {
        boot_and_halt("bookworm", "pdeb12", &["-c", "security.privileged=true"]);
    }
}

#[test]
fn same_bundle_boots_debian12_under_runc() {
    if !require_root() {
        return;
    }
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(runc) = runc else {
        assert!(std::env::var_os("CI").is_none(), "runc missing in CI");
        eprintln!("skipped: runc not installed");
        return;
    };
    // Unprivileged: runc does not idmap a rootfs, so its owners are shifted once on disk.
    let cfg = format!("runtime={runc}");
    boot_and_halt("bookworm", "runc12", &["-c", &cfg]);
}

#[test]
fn systemctl_reboot_brings_the_container_back_with_a_new_init() {
    if !require_root() {
        return;
    }
    let rootfs = debian_rootfs("bookworm");
    let env = Env::new();
    let name = env.name("reb12");
    env.ok(&["create", &name, "--rootfs", rootfs.to_str().unwrap()]);
    env.ok(&["start", &name]);
    assert_eq!(env.wait_system_running(&name, BOOT_TIMEOUT).0, "running");
    let first = env.info(&name)["pid"].as_i64().unwrap();
    env.exec(&name, &["systemctl", "reboot"]);
    assert!(wait_for(Duration::from_secs(30), || {
        let i = env.info(&name);
        i["status"] == "RUNNING" && i["pid"].as_i64().is_some_and(|p| p != first)
    }));
    let info = env.info(&name);
    assert_eq!(info["restarts"], 1);
    assert_eq!(info["last_exit"]["reason"], "reboot");
    assert_eq!(env.wait_system_running(&name, BOOT_TIMEOUT).0, "running");
    env.ok(&["stop", &name]);
    assert_eq!(env.info(&name)["last_exit"]["reason"], "halt");
}
