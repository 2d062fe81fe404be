//! Resource limits on real containers (issue 5): a fork bomb held at `limits.processes`,
//! an allocation OOM-killed inside `limits.memory` while the container lives on, a CPU
//! quota measured, a cpuset seen from inside, live changes that survive restarts and guest
//! reboots, and bad values that change nothing. Runs natively (v1/hybrid here) and in the
//! pure cgroup v2 guest of `v2vm.sh`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{cgroup_file, pure_v2, require_root, slowdown, wait_for, Env};

/// A busybox container with the probe at `/probe`, created with `-c` pairs, started.
fn started(env: &Env, base: &str, config: &[&str]) -> String {
    let name = env.name(base);
    let root = common::busybox_rootfs(&env.dir.join(format!("src-{base}")));
    common::install_binary(&root, Path::new(common::PROBE), "/probe");
    let mut args = vec!["create", name.as_str(), "--rootfs", root.to_str().unwrap()];
    for kv in config {
        args.extend(["-c", kv]);
    }
    env.ok(&args);
    env.ok(&["start", &name]);
    name
}

fn usage(env: &Env, name: &str) -> serde_json::Value {
    env.info(name)["usage"].clone()
}

fn memory_limit_file(name: &str) -> String {
    if pure_v2() {
        cgroup_file(name, "memory", "memory.max")
    } else {
        cgroup_file(name, "memory", "memory.limit_in_bytes")
    }
}

/// The v1 "no limit" value of memory.limit_in_bytes, or v2's `max`.
fn unlimited(v: &str) -> bool {
    v == "max" || v.parse::<u64>().is_ok_and(|n| n >= 1 << 62)
}

#[test]
fn fork_bomb_is_held_at_the_process_limit() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "bomb", &["limits.processes=256"]);
    assert_eq!(cgroup_file(&name, "pids", "pids.max"), "256");
    // The bomb runs in a subshell of its own, forked before any of it exists: the exec'd
    // shell's exit status does not race with the bomb filling the limit.
    let (code, _) = env.exec(&name, &["sh", "-c", "exec </dev/null >/dev/null 2>&1; (b() { b | b & }; b) & exit 0"]);
    assert_eq!(code, 0);
    // The bomb fills the limit and keeps hitting it: watched for 4 s, and on until it
    // has hit it (a machine busy with other tests' busy loops slows the bomb down).
    let refused = || -> u64 { cgroup_file(&name, "pids", "pids.events").split_whitespace().nth(1).unwrap().parse().unwrap() };
    let mut most = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) * slowdown() || (refused() == 0 && t0.elapsed() < Duration::from_secs(30) * slowdown()) {
        let n: u64 = cgroup_file(&name, "pids", "pids.current").parse().unwrap();
        assert!(n <= 256, "{n} processes in a container limited to 256");
        most = most.max(n);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(most >= 200, "the fork bomb only reached {most} processes");
    let events = cgroup_file(&name, "pids", "pids.events");
    assert!(refused() > 0, "no fork was refused: {events}");
    // The host still forks, and sysctr answers with the numbers.
    assert!(std::process::Command::new("true").status().unwrap().success());
    let u = usage(&env, &name);
    assert!(u["pids"].as_u64().unwrap() <= 256, "{u}");
    assert_eq!(u["pids_limit"], 256);
    assert!(env.ok(&["list"]).contains(&name));
    // A halt cannot fork its shutdown; the timeout kills it all.
    let t0 = Instant::now();
    env.ok(&["stop", &name, "--timeout", "2"]);
    assert!(t0.elapsed() < Duration::from_secs(30) * slowdown(), "stop took {:?}", t0.elapsed());
    assert_eq!(env.status(&name), "STOPPED");
    common::assert_no_cgroup(&name);
}

#[test]
fn oom_kills_the_allocation_and_the_container_lives_on() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "oom", &["limits.memory=256MiB"]);
    assert_eq!(memory_limit_file(&name), (256u64 << 20).to_string());
    let init = env.info(&name)["pid"].as_i64().unwrap();
    let before = usage(&env, &name)["oom_kills"].as_u64().expect("OOM kills are counted");
    let (code, out) = env.exec(&name, &["/probe", "--alloc", "2048"]);
    assert_eq!(code, 128 + 9, "the allocation must be SIGKILLed; it printed:\n{out}");
    let last: u64 = out.lines().last().and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(last < 256, "it got {last} MiB past a 256 MiB limit");
    let i = env.info(&name);
    assert_eq!(i["status"], "RUNNING");
    assert_eq!(i["pid"].as_i64().unwrap(), init, "init survives");
    let after = i["usage"]["oom_kills"].as_u64().unwrap();
    assert!(after > before, "OOM kills {before} -> {after}");
    assert!(i["usage"]["memory_peak"].as_u64().unwrap() <= 256 << 20);
    assert_eq!(i["usage"]["memory_limit"], 256u64 << 20);
    // The container still works.
    assert_eq!(env.exec(&name, &["echo", "alive"]), (0, "alive".into()));
    let text = env.ok(&["info", &name]);
    assert!(text.contains("OOM kills: ") && text.contains("of 256.0MiB"), "{text}");
}

#[test]
fn cpu_quota_holds_and_the_cpuset_shows_inside() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "cpu", &["limits.cpu.allowance=25ms/100ms"]);
    if pure_v2() {
        assert_eq!(cgroup_file(&name, "cpu", "cpu.max"), "25000 100000");
    } else {
        assert_eq!(cgroup_file(&name, "cpu", "cpu.cfs_quota_us"), "25000");
    }
    let spin = "exec </dev/null >/dev/null 2>&1; (while :; do :; done) & (while :; do :; done) &";
    assert_eq!(env.exec(&name, &["sh", "-c", spin]).0, 0);
    std::thread::sleep(Duration::from_secs(1));
    let cpu = |env: &Env| usage(env, &name)["cpu_ns"].as_u64().expect("CPU time is accounted");
    let (c0, t0) = (cpu(&env), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let (c1, t1) = (cpu(&env), t0.elapsed());
    let pct = (c1 - c0) as f64 * 100.0 / t1.as_nanos() as f64;
    eprintln!("two busy loops under 25ms/100ms: {pct:.1}% of one CPU over {t1:?}");
    assert!((20.0..=30.0).contains(&pct), "CPU use {pct:.1}% is not 25% +- 5");
    // `info --interval` measures the same.
    let i: serde_json::Value = serde_json::from_str(&env.ok(&["info", &name, "--interval", "2", "--format", "json"])).unwrap();
    let p = i["usage"]["cpu_percent"].as_f64().unwrap();
    assert!((15.0..=35.0).contains(&p), "info --interval says {p:.1}%");

    // limits.cpu=1, live: one CPU in the guest's affinity (and its cgroup on v2).
    env.ok(&["config", "set", &name, "limits.cpu=1"]);
    let cpus = cgroup_file(&name, "cpuset", "cpuset.cpus");
    assert!(cpus.parse::<u32>().is_ok(), "one CPU pinned, got {cpus:?}");
    let (_, status) = env.exec(&name, &["cat", "/proc/self/status"]);
    let allowed = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_owned();
    assert_eq!(allowed, cpus, "the guest sees its cpuset");
    let (_, n) = env.exec(&name, &["nproc"]);
    assert_eq!(n, "1");
    if pure_v2() {
        assert_eq!(env.exec(&name, &["cat", "/sys/fs/cgroup/cpuset.cpus.effective"]).1, cpus);
    }
    env.ok(&["stop", &name, "--timeout", "2"]);
}

#[test]
fn live_changes_apply_now_and_survive_restart_and_reboot() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "live", &[]);
    assert!(unlimited(&memory_limit_file(&name)));
    let init = env.info(&name)["pid"].as_i64().unwrap();
    let out = env.sysctr(&["config", "set", &name, "limits.memory=128MiB"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "a live key is not pending: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(memory_limit_file(&name), "134217728");
    assert_eq!(env.info(&name)["pid"].as_i64().unwrap(), init, "no restart");
    if pure_v2() {
        assert_eq!(env.exec(&name, &["cat", "/sys/fs/cgroup/memory.max"]).1, "134217728");
    }
    assert_eq!(env.ok(&["config", "get", &name, "limits.memory"]).trim(), "128MiB");

    // A key that cannot change live is pending until the next start.
    let out = env.sysctr(&["config", "set", &name, "limits.kernel.nofile=4096"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.kernel.nofile"), "pending is said");
    assert_eq!(env.info(&name)["pending"], serde_json::json!(["limits.kernel.nofile"]));
    assert!(env.ok(&["config", "show", &name]).contains("limits.kernel.nofile=4096  # pending"));

    // A guest reboot keeps the live limit (the bundle was updated) ...
    env.exec(&name, &["reboot", "-f"]);
    assert!(wait_for(Duration::from_secs(10), || {
        let i = env.info(&name);
        i["status"] == "RUNNING" && i["restarts"] == 1
    }));
    assert_eq!(memory_limit_file(&name), "134217728");
    // ... and a restart too, with the pending key now applied.
    env.ok(&["restart", &name, "--timeout", "2"]);
    assert_eq!(memory_limit_file(&name), "134217728");
    let i = env.info(&name);
    assert!(i.get("pending").is_none(), "nothing pending after the restart: {i}");
    let (_, limits) = env.exec(&name, &["cat", "/proc/1/limits"]);
    let nofile = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_owned();
    assert_eq!(nofile.split_whitespace().skip(3).take(2).collect::<Vec<_>>(), ["4096", "4096"], "{nofile}");

    // Unset, live: back to no limit.
    env.ok(&["config", "unset", &name, "limits.memory"]);
    assert!(unlimited(&memory_limit_file(&name)));
    let cfg = std::fs::read_to_string(env.state.join("containers").join(&name).join("config.toml")).unwrap();
    assert!(!cfg.contains("limits.memory") && cfg.contains("limits.kernel.nofile"), "{cfg}");
    env.ok(&["stop", &name, "--timeout", "2"]);
}

#[test]
fn bad_limits_are_refused_and_change_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "bad", &["limits.memory=512MiB"]);
    let cfg_path = env.state.join("containers").join(&name).join("config.toml");
    let cfg = std::fs::read(&cfg_path).unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    let too_many = format!("limits.cpu={}", cpus + 97);
    let cases: &[(&str, &str)] = &[
        ("limits.memory=abc", "use a size such as 512MiB"),
        ("limits.memory=-5", "must not be negative"),
        ("limits.disk.priority=-1", "from 0 (lowest) to 10"),
        ("limits.cpu.allowance=150%", "from 1% to 100%"),
        (&too_many, &format!("this host has {cpus} CPUs")),
        ("limits.cpu=0-4095", "not available on this host"),
        ("limits.bogus=1", "unknown config key \"limits.bogus\""),
        ("limits.memory.enforce=maybe", "use hard"),
    ];
    for (kv, says) in cases {
        // With a valid key beside it: nothing of the batch applies.
        let err = env.fails(&["config", "set", &name, "limits.processes=100", kv]);
        assert!(err.contains(says), "{kv}: {err}");
        assert!(!err.trim().contains('\n'), "{kv}: one line: {err}");
        assert_eq!(std::fs::read(&cfg_path).unwrap(), cfg, "{kv} changed config.toml");
        assert_eq!(memory_limit_file(&name), (512u64 << 20).to_string(), "{kv}");
        assert_eq!(cgroup_file(&name, "pids", "pids.max"), "max", "{kv}");
    }
    let err = env.fails(&["config", "unset", &name, "limits.processes"]);
    assert!(err.contains("limits.processes is not set"), "{err}");
    let err = env.fails(&["config", "get", &name, "limits.nope"]);
    assert!(err.contains("unknown config key"), "{err}");
    // Creating with a bad limit leaves no container.
    let other = env.name("bad2");
    let root = common::busybox_rootfs(&env.dir.join("src2"));
    let err = env.fails(&["create", &other, "--rootfs", root.to_str().unwrap(), "-c", &too_many]);
    assert!(err.contains("CPUs"), "{err}");
    assert!(!env.state.join("containers").join(&other).exists());
    env.ok(&["stop", &name, "--timeout", "2"]);
}

#[test]
fn pause_freezes_every_process_and_resume_thaws() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = started(&env, "pause", &[]);
    let spin = "exec </dev/null >/dev/null 2>&1; (while :; do :; done) &";
    assert_eq!(env.exec(&name, &["sh", "-c", spin]).0, 0);
    let cpu = |env: &Env| usage(env, &name)["cpu_ns"].as_u64().unwrap();
    let err = env.fails(&["resume", &name]);
    assert!(err.contains("not paused"), "{err}");
    env.ok(&["pause", &name]);
    assert_eq!(env.status(&name), "FROZEN");
    assert!(env.ok(&["list"]).contains("FROZEN"));
    let c0 = cpu(&env);
    std::thread::sleep(Duration::from_secs(1));
    let frozen_ns = cpu(&env) - c0;
    assert!(frozen_ns < 5_000_000, "a frozen busy loop used {frozen_ns} ns in 1 s");
    let err = env.fails(&["exec", &name, "--", "true"]);
    assert!(err.contains("is paused"), "{err}");
    let err = env.fails(&["pause", &name]);
    assert!(err.contains("already paused"), "{err}");
    env.ok(&["resume", &name]);
    assert_eq!(env.status(&name), "RUNNING");
    let c1 = cpu(&env);
    std::thread::sleep(Duration::from_secs(1));
    let thawed_ns = cpu(&env) - c1;
    assert!(thawed_ns > 100_000_000 / u64::from(slowdown()), "the thawed busy loop used only {thawed_ns} ns in 1 s");
    // A paused container still stops: it is thawed first.
    env.ok(&["pause", &name]);
    env.ok(&["stop", &name, "--timeout", "5"]);
    assert_eq!(env.status(&name), "STOPPED");
    assert_eq!(env.info(&name)["last_exit"]["reason"], "halt", "a clean halt, not a kill");
    common::assert_no_cgroup(&name);
    let err = env.fails(&["pause", &name]);
    assert!(err.contains("not running"), "{err}");
}
