//! Acceptance "host service": the REST API on the unix socket (curl against the documented
//! routes), a daemon killed with -9 and restarted without touching a running container,
//! autostart after a host boot and ordered shutdown, one operation per container (409),
//! the socket's permissions and a second daemon refused, bad input at the edge, and the
//! event stream.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn socket(env: &Env) -> std::path::PathBuf {
    env.run.join("sysctr.sock")
}

/// One request on the socket: status and JSON body (Null when not JSON).
fn api(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let s = UnixStream::connect(socket(env)).unwrap();
    let mut w = s.try_clone().unwrap();
    let b = body.map(|b| serde_json::to_vec(&b).unwrap());
    sysctr::wire::write_request(&mut w, method, path, b.as_deref(), None).unwrap();
    let (status, out) = sysctr::wire::read_response(&mut BufReader::new(s)).unwrap();
    (status, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

/// Wait for an operation; its final state.
fn wait_op(env: &Env, op: &Value) -> Value {
    let id = op["id"].as_str().unwrap_or_else(|| panic!("not an operation: {op}"));
    let (s, v) = api(env, "GET", &format!("/1.0/operations/{id}/wait?timeout=120"), None);
    assert_eq!(s, 200, "{v}");
    v
}

fn curl(env: &Env, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(socket(env))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

fn busybox_container(env: &Env, base: &str) -> String {
    let name = env.name(base);
    let root = busybox_rootfs(&env.dir.join(format!("src-{base}")));
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    name
}

fn alive(pid: i64) -> bool {
    sysctr::sys::proc_stat(pid as i32).is_some_and(|(s, _)| s != "Z")
}

/// Subscribe to the event stream; events arrive on the channel.
fn events(env: &Env) -> mpsc::Receiver<Value> {
    let s = UnixStream::connect(socket(env)).unwrap();
    let mut w = s.try_clone().unwrap();
    sysctr::wire::write_request(&mut w, "GET", "/1.0/events", None, None).unwrap();
    let mut r = BufReader::new(s);
    let (status, _) = sysctr::wire::read_response_head(&mut r).unwrap();
    assert_eq!(status, 200);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in r.lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Events received until `until` holds for one of them (or the timeout).
fn collect(rx: &mpsc::Receiver<Value>, timeout: Duration, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while let Ok(v) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let stop = until(&v);
        out.push(v);
        if stop {
            break;
        }
    }
    out
}

fn kinds_for(events: &[Value], name: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["container"] == name || e["operation"]["containers"].as_array().is_some_and(|c| c.iter().any(|c| c == name)))
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------

#[test]
fn curl_speaks_the_documented_routes() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let c = busybox_container(&env, "curl");
    let (s, body) = curl(&env, &["http://sysctr/1.0"]);
    assert_eq!(s, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["api"], "1.0");
    let (s, body) = curl(&env, &["http://sysctr/1.0/containers"]);
    assert_eq!(s, 200);
    assert!(body.contains(&c));
    let (s, body) = curl(&env, &["-X", "PUT", "-d", r#"{"action":"start"}"#, &format!("http://sysctr/1.0/containers/{c}/state")]);
    assert_eq!(s, 202, "{body}");
    let op: Value = serde_json::from_str(&body).unwrap();
    let (s, body) = curl(&env, &[&format!("http://sysctr/1.0/operations/{}/wait", op["id"].as_str().unwrap())]);
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], "success", "{body}");
    let (_, body) = curl(&env, &[&format!("http://sysctr/1.0/containers/{c}/state")]);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], "RUNNING");
    let (s, body) = curl(&env, &["-X", "PATCH", "-d", r#"{"set":{"limits.processes":"100"}}"#, &format!("http://sysctr/1.0/containers/{c}")]);
    assert_eq!(s, 200, "{body}");
    assert_eq!(cgroup_file(&c, "pids", "pids.max").trim(), "100", "applied live through the API");
    for path in ["/1.0/images", "/1.0/remotes", "/1.0/networks", "/1.0/operations", "/1.0/images/aliases"] {
        let (s, body) = curl(&env, &[&format!("http://sysctr{path}")]);
        assert_eq!(s, 200, "{path}: {body}");
        assert!(serde_json::from_str::<Value>(&body).is_ok(), "{path}: JSON");
    }
    let (s, body) = curl(&env, &[&format!("http://sysctr/1.0/containers/{c}/log")]);
    assert_eq!(s, 200, "{body}");
    assert_eq!(curl(&env, &["http://sysctr/1.0/nothing"]).0, 404);
    assert_eq!(curl(&env, &["-X", "DELETE", "http://sysctr/1.0/containers"]).0, 405);
    let (s, body) = curl(&env, &["-X", "PUT", "-d", r#"{"action":"stop","timeout":10}"#, &format!("http://sysctr/1.0/containers/{c}/state")]);
    assert_eq!(s, 202);
    wait_op(&env, &serde_json::from_str(&body).unwrap());
    assert_eq!(env.status(&c), "STOPPED");
    let (s, body) = curl(&env, &["-X", "DELETE", &format!("http://sysctr/1.0/containers/{c}")]);
    assert_eq!(s, 202);
    assert_eq!(wait_op(&env, &serde_json::from_str(&body).unwrap())["status"], "success");
    assert!(!env.state.join("containers").join(&c).exists());
}

#[test]
fn killed_daemon_leaves_containers_running_and_a_new_one_adopts_them() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let names: Vec<String> = (0..3).map(|i| busybox_container(&env, &format!("k{i}"))).collect();
    for n in &names {
        env.ok(&["start", n]);
    }
    let pids: Vec<i64> = names.iter().map(|n| env.info(n)["pid"].as_i64().unwrap()).collect();
    let daemon = env.daemon_pid().expect("the CLI started a daemon");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_for(Duration::from_secs(5), || !alive(daemon as i64)));
    for (n, p) in names.iter().zip(&pids) {
        assert!(alive(*p), "{n}'s init {p} died with the daemon");
    }
    // The next command starts a new daemon (the stale socket is replaced) that finds them.
    let list: Vec<Value> = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    let again = env.daemon_pid().unwrap();
    assert_ne!(again, daemon);
    for (n, p) in names.iter().zip(&pids) {
        let c = list.iter().find(|c| c["name"] == n.as_str()).unwrap();
        assert_eq!(c["status"], "RUNNING", "{n}");
        assert_eq!(c["pid"].as_i64(), Some(*p), "{n}: the same init");
        assert_eq!(env.exec(n, &["cat", "/proc/1/comm"]).1.trim(), "init");
    }
    // The console too: attach, detach with Ctrl-a q.
    let mut con = env.cmd(&["console", &names[0]]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    con.stdin.as_mut().unwrap().write_all(b"\x01q").unwrap();
    let out = con.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Detached"), "{}", String::from_utf8_lossy(&out.stderr));
    for n in &names {
        env.ok(&["stop", n]);
    }
}

#[test]
fn autostart_follows_priorities_and_delays_and_shutdown_reverses_it() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (a, b, c) = (busybox_container(&env, "first"), busybox_container(&env, "second"), busybox_container(&env, "third"));
    for (n, prio) in [(&a, "3"), (&b, "2"), (&c, "1")] {
        env.ok(&["config", "set", n, "boot.autostart=true", &format!("boot.autostart.priority={prio}"), "boot.autostart.delay=1"]);
    }
    let other = busybox_container(&env, "manual");
    // A host boot: the daemon last ran under another boot id.
    env.stop_daemon();
    std::fs::write(env.state.join(sysctr::daemon::BOOT_ID_FILE), "a-previous-boot\n").unwrap();
    let t0 = Instant::now();
    env.ok(&["list"]);
    assert!(wait_for(Duration::from_secs(30), || [&a, &b, &c].iter().all(|n| env.status(n) == "RUNNING")), "autostart did not start all three");
    assert!(t0.elapsed() >= Duration::from_secs(2), "the delays were not waited: {:?}", t0.elapsed());
    let started: Vec<u64> = [&a, &b, &c].iter().map(|n| env.info(n)["started"].as_u64().unwrap()).collect();
    assert!(started[0] < started[1] && started[1] < started[2], "start order by priority with 1 s delays: {started:?}");
    assert_eq!(env.status(&other), "STOPPED", "no autostart without boot.autostart");
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let recorded = || std::fs::read_to_string(env.state.join(sysctr::daemon::BOOT_ID_FILE)).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(5), || recorded().trim() == boot_id.trim()), "boot id not recorded: {}", recorded());

    // Shutdown: the reverse order, one after the other (distinct ranks).
    let rx = events(&env);
    let out = env.ok(&["daemon", "--shutdown"]);
    assert!(out.contains("Stopped"), "{out}");
    let evs = collect(&rx, Duration::from_secs(30), |_| false);
    let stopped: Vec<String> = evs.iter().filter(|e| e["type"] == "container-stopped").map(|e| e["container"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stopped, [c.clone(), b.clone(), a.clone()], "shutdown order");
    for n in [&a, &b, &c] {
        assert_eq!(env.status(n), "STOPPED");
        assert_eq!(env.info(n)["last_exit"]["reason"], "halt", "{n} halted cleanly");
    }
    // The same boot: a restarted daemon does not autostart again.
    env.stop_daemon();
    env.ok(&["list"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(env.status(&a), "STOPPED");
}

#[test]
fn one_operation_per_container_and_parallel_launches() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let x = busybox_container(&env, "race");
    let paths: Vec<(&str, String, Option<Value>)> = (0..50)
        .map(|i| match i % 3 {
            0 => ("PUT", format!("/1.0/containers/{x}/state"), Some(json!({"action": "start"}))),
            1 => ("PUT", format!("/1.0/containers/{x}/state"), Some(json!({"action": "stop", "timeout": 5}))),
            _ => ("DELETE", format!("/1.0/containers/{x}?force=true"), None),
        })
        .collect();
    let results: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = paths
            .iter()
            .map(|(m, p, b)| {
                let env = &env;
                s.spawn(move || {
                    let (st, v) = api(env, m, p, b.clone());
                    if st == 202 {
                        (st, wait_op(env, &v))
                    } else {
                        (st, v)
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut deleted = false;
    for (st, v) in &results {
        match st {
            202 => {
                if v["description"].as_str().unwrap().starts_with("delete") && v["status"] == "success" {
                    deleted = true;
                }
            }
            409 => assert!(v["error"].as_str().unwrap().contains("busy") && v["operation"].is_string(), "{v}"),
            404 => {}
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(results.iter().any(|(s, _)| *s == 409), "50 requests at once and never busy?");
    let busy = results.iter().filter(|(s, _)| *s == 409).count();
    eprintln!("50 requests: {} ran, {busy} got 409, {} got 404", results.iter().filter(|(s, _)| *s == 202).count(), results.iter().filter(|(s, _)| *s == 404).count());
    // 404 only once it is gone.
    assert!(deleted || results.iter().all(|(s, _)| *s != 404));
    if deleted {
        assert!(!env.state.join("containers").join(&x).exists());
        assert_no_cgroup(&x);
    } else {
        let info = env.info(&x);
        let pid = info["pid"].as_i64();
        match info["status"].as_str().unwrap() {
            "RUNNING" => assert!(pid.is_some_and(alive)),
            "STOPPED" => assert_no_cgroup(&x),
            s => panic!("settled in {s}"),
        }
        env.ok(&["delete", "--force", &x]);
    }

    // 20 launches at once (CLI processes), from one imported image.
    let root = busybox_rootfs(&env.dir.join("img"));
    let tarball = env.dir.join("bb.tar");
    assert!(Command::new("tar").arg("-C").arg(&root).args(["-cf"]).arg(&tarball).arg(".").status().unwrap().success());
    env.ok(&["image", "import", tarball.to_str().unwrap(), "--alias", "bb"]);
    let names: Vec<String> = (0..20).map(|i| env.name(&format!("p{i}"))).collect();
    let children: Vec<_> = names.iter().map(|n| env.cmd(&["launch", "bb", n]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    for (n, ch) in names.iter().zip(children) {
        let out = ch.wait_with_output().unwrap();
        assert!(out.status.success(), "launch {n}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let list: Vec<Value> = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list.iter().filter(|c| c["status"] == "RUNNING").count(), 20);
    let deleters: Vec<_> = names.iter().map(|n| env.cmd(&["delete", "--force", n]).stdout(Stdio::null()).spawn().unwrap()).collect();
    for mut d in deleters {
        assert!(d.wait().unwrap().success());
    }
    for n in &names {
        assert_no_cgroup(n);
    }
}

#[test]
fn socket_is_root_only_and_a_second_daemon_is_refused() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    env.ok(&["list"]);
    let meta = std::fs::metadata(socket(&env)).unwrap();
    let admin = Command::new("getent").args(["group", sysctr::daemon::ADMIN_GROUP]).output().unwrap();
    if admin.status.success() {
        let gid: u32 = String::from_utf8_lossy(&admin.stdout).split(':').nth(2).unwrap().parse().unwrap();
        assert_eq!((meta.permissions().mode() & 0o777, meta.uid(), meta.gid()), (0o660, 0, gid));
    } else {
        assert_eq!((meta.permissions().mode() & 0o777, meta.uid()), (0o600, 0), "root only without a sysctr-admin group");
    }
    // A uid that is not root (nor in the group): refused by the kernel.
    let out = env.cmd(&["list"]).env_remove("SUDO_USER").output().unwrap();
    assert!(out.status.success());
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", SYSCTR, "list"])
        .env("SYSCTR_STATE_DIR", &env.state)
        .env("SYSCTR_RUN_DIR", &env.run)
        .env("SYSCTR_CONFIG", env.dir.join("sysctr.toml"))
        .output()
        .unwrap();
    assert!(!nobody.status.success());
    let err = String::from_utf8_lossy(&nobody.stderr);
    assert!(err.contains("permission denied") && err.contains("sysctr-admin"), "uid 65534: {err}");
    // A second daemon on the same run dir refuses to start, and the first keeps serving.
    let first = env.daemon_pid().unwrap();
    let t = Instant::now();
    let out = env.sysctr(&["daemon"]);
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another sysctr daemon is running") && err.contains(&first.to_string()), "{err}");
    assert_eq!(env.daemon_pid(), Some(first));
    assert_eq!(api(&env, "GET", "/1.0", None).0, 200);
}

#[test]
fn bad_api_input_is_refused_and_others_are_served_meanwhile() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let c = busybox_container(&env, "edge");
    let before = tree_snapshot(&env.state.join("containers"));
    let daemon = env.daemon_pid().unwrap();

    // A client sending its headers a byte at a time: others are answered meanwhile, and it
    // is cut off after the header deadline.
    let slow = std::thread::spawn({
        let sock = socket(&env);
        move || {
            let mut s = UnixStream::connect(sock).unwrap();
            let t = Instant::now();
            for b in b"GET /1.0/containers HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
                if s.write_all(&[*b]).is_err() || t.elapsed() > Duration::from_secs(20) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            let mut rest = String::new();
            let _ = s.read_to_string(&mut rest);
            (t.elapsed(), rest)
        }
    });
    let t = Instant::now();
    for _ in 0..5 {
        assert_eq!(api(&env, "GET", "/1.0/containers", None).0, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(3), "the API stalled behind a slow client: {:?}", t.elapsed());

    let raw = |bytes: &[u8]| -> String {
        let mut s = UnixStream::connect(socket(&env)).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let status = |resp: &str| resp.split(' ').nth(1).unwrap_or("dropped").to_owned();
    let post = |body: &str| format!("POST /1.0/containers HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert_eq!(status(&raw(post("{not json").as_bytes())), "400");
    let unknown = raw(post(r#"{"name":"x1","rootfs":"/","bogus":1}"#).as_bytes());
    assert_eq!(status(&unknown), "400");
    assert!(unknown.contains("bogus"), "{unknown}");
    assert_eq!(status(&raw(post(r#"{"name":"Bad_Name","rootfs":"/"}"#).as_bytes())), "400");
    assert_eq!(status(&raw(b"POST /1.0/containers HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n")), "413");
    let big = format!("GET /1.0 HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(200));
    assert_eq!(status(&raw(big.as_bytes())), "431");
    assert_eq!(status(&raw(b"POST /1.0/containers HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")), "400");
    assert_eq!(status(&raw(b"\x00\x01\x02garbage\r\n\r\n")), "400");
    assert!(["400", "404"].contains(&status(&raw(b"GET /1.0/containers/..%2F..%2Fetc HTTP/1.1\r\n\r\n")).as_str()));
    assert_eq!(status(&raw(format!("PUT /1.0/containers/{c}/state HTTP/1.1\r\nContent-Length: 17\r\n\r\n{{\"action\":\"nap\"}}").as_bytes())), "400");
    assert_eq!(status(&raw(b"GET /1.0/operations/nope HTTP/1.1\r\n\r\n")), "404");
    // Numbers that would overflow a deadline, and a shutdown with a broken body.
    let huge = r#"{"action":"stop","timeout":18446744073709551615}"#;
    assert_eq!(status(&raw(format!("PUT /1.0/containers/{c}/state HTTP/1.1\r\nContent-Length: {}\r\n\r\n{huge}", huge.len()).as_bytes())), "400");
    assert_eq!(status(&raw(b"GET /1.0/operations/x/wait?timeout=18446744073709551615 HTTP/1.1\r\n\r\n")), "404");
    assert_eq!(status(&raw(b"POST /1.0/shutdown HTTP/1.1\r\nContent-Length: 1\r\n\r\n{")), "400");
    assert!(env.fails(&["config", "set", &c, "boot.host_shutdown_timeout=9223372036854775807"]).contains("0 to 86400"));

    let (took, rest) = slow.join().unwrap();
    assert!(took < Duration::from_secs(15), "the slow client was not cut off: {took:?}");
    assert!(rest.is_empty() || rest.contains(" 408 "), "{rest}");
    assert!(alive(daemon as i64), "the daemon survived");
    assert_eq!(env.daemon_pid(), Some(daemon));
    assert_eq!(tree_snapshot(&env.state.join("containers")), before, "bad input changed state");
}

#[test]
fn events_show_lifecycle_and_operations_in_order() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    env.ok(&["list"]);
    let rx = events(&env);
    let c = busybox_container(&env, "ev");
    env.ok(&["start", &c]);
    env.ok(&["pause", &c]);
    env.ok(&["resume", &c]);
    env.ok(&["stop", &c]);
    env.ok(&["delete", &c]);
    let evs = collect(&rx, Duration::from_secs(20), |e| e["type"] == "container-deleted");
    let kinds = kinds_for(&evs, &c);
    let expected = [
        "operation-created",
        "container-created",
        "operation-success",
        "operation-created",
        "container-started",
        "operation-success",
        "operation-created",
        "container-frozen",
        "operation-success",
        "operation-created",
        "container-thawed",
        "operation-success",
        "operation-created",
        "container-stopped",
        "operation-success",
        "operation-created",
        "container-deleted",
    ];
    assert_eq!(kinds, expected, "events for {c}");
    // A guest that halts itself is reported too.
    let rx = events(&env);
    let g = busybox_container(&env, "self");
    env.ok(&["start", &g]);
    let _ = env.exec(&g, &["sh", "-c", "kill -USR2 1"]);
    let evs = collect(&rx, Duration::from_secs(15), |e| e["type"] == "container-stopped" && e["container"] == g.as_str());
    assert!(evs.iter().any(|e| e["type"] == "container-stopped" && e["container"] == g.as_str()), "{evs:?}");
    assert!(Path::new(&socket(&env)).exists());
}

#[test]
fn a_client_that_goes_away_takes_its_exec_with_it() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let c = busybox_container(&env, "gone");
    env.ok(&["start", &c]);
    let mut cli = env.cmd(&["exec", &c, "--", "sleep", "1000"]).stdout(Stdio::null()).spawn().unwrap();
    let sleeping = || env.exec(&c, &["pidof", "sleep"]).1.split_whitespace().count() > 1;
    assert!(wait_for(Duration::from_secs(5), sleeping), "exec did not start");
    cli.kill().unwrap();
    let _ = cli.wait();
    assert!(wait_for(Duration::from_secs(10), || !sleeping()), "the command outlived its client");
    env.ok(&["stop", &c]);
}

#[test]
fn a_long_stop_can_be_cancelled_and_sigpwr_stops_everything() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let deaf = env.name("deaf");
    let root = deaf_busybox_rootfs(&env.dir.join("src-deaf"));
    env.ok(&["create", &deaf, "--rootfs", root.to_str().unwrap()]);
    env.ok(&["start", &deaf]);
    let pid = env.info(&deaf)["pid"].as_i64().unwrap();
    let (s, op) = api(&env, "PUT", &format!("/1.0/containers/{deaf}/state"), Some(json!({"action": "stop", "timeout": 600})));
    assert_eq!(s, 202, "{op}");
    std::thread::sleep(Duration::from_millis(500));
    let id = op["id"].as_str().unwrap();
    let (s, v) = api(&env, "GET", &format!("/1.0/operations/{id}"), None);
    assert_eq!((s, v["status"].as_str()), (200, Some("running")));
    let t = Instant::now();
    let (s, v) = api(&env, "DELETE", &format!("/1.0/operations/{id}"), None);
    assert_eq!(s, 200, "{v}");
    let done = wait_op(&env, &op);
    assert!(t.elapsed() < Duration::from_secs(5), "cancel took {:?}", t.elapsed());
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(alive(pid), "a cancelled stop leaves the guest running");
    assert_eq!(api(&env, "DELETE", &format!("/1.0/operations/{id}"), None).0, 409, "finished: nothing to cancel");

    // SIGPWR to the daemon: every container stops (the deaf one killed at its timeout), and
    // the daemon exits.
    env.ok(&["config", "set", &deaf, "boot.host_shutdown_timeout=1"]);
    let other = busybox_container(&env, "pwr");
    env.ok(&["start", &other]);
    let daemon = env.daemon_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGPWR).unwrap();
    assert!(wait_for(Duration::from_secs(30), || !alive(daemon as i64)), "the daemon did not exit after SIGPWR");
    assert!(!alive(pid));
    assert_eq!(env.status(&deaf), "STOPPED");
    assert_eq!(env.status(&other), "STOPPED");
    assert_eq!(env.info(&other)["last_exit"]["reason"], "halt");
}
