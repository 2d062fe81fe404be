//! Host boot and shutdown: after a host boot (the kernel's boot id changed since the daemon
//! last ran) the `boot.autostart` containers start, highest `boot.autostart.priority` first,
//! each followed by its `boot.autostart.delay`; at `sysctr daemon --shutdown` (or SIGPWR)
//! every running container stops, highest `boot.stop.priority` first (then the reverse of
//! the start order), in parallel within a rank, each with its `boot.host_shutdown_timeout`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::{Daemon, Error};
use crate::api;
use crate::storage::Paths;
use crate::wire;

/// Where the boot id of the last autostart is kept (state dir).
pub const BOOT_ID_FILE: &str = "daemon-boot-id";

fn key_i64(c: &api::Container, k: &str, default: i64) -> i64 {
    c.config.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Start order: autostart containers, highest priority first, then by name.
pub fn start_order(list: &[api::Container]) -> Vec<&api::Container> {
    let mut v: Vec<&api::Container> = list.iter().filter(|c| c.config.get("boot.autostart").map(String::as_str) == Some("true")).collect();
    v.sort_by(|a, b| key_i64(b, "boot.autostart.priority", 0).cmp(&key_i64(a, "boot.autostart.priority", 0)).then(a.name.cmp(&b.name)));
    v
}

/// Stop ranks: groups stopped one after the other, each group in parallel.
pub fn stop_ranks(list: &[api::Container]) -> Vec<Vec<&api::Container>> {
    let mut ranks: BTreeMap<(i64, i64), Vec<&api::Container>> = BTreeMap::new();
    for c in list.iter().filter(|c| matches!(c.status, api::Status::Running | api::Status::Frozen)) {
        // BTreeMap ascends: negate the stop priority so the highest comes first; then the
        // lowest autostart priority (the last started) first.
        ranks.entry((-key_i64(c, "boot.stop.priority", 0), key_i64(c, "boot.autostart.priority", 0))).or_default().push(c);
    }
    ranks.into_values().collect()
}

pub fn autostart_if_new_boot(d: &Arc<Daemon>) {
    let boot_id = boot_id();
    let file = d.manager.paths.state.join(BOOT_ID_FILE);
    if std::fs::read_to_string(&file).map(|s| s.trim() == boot_id).unwrap_or(false) {
        return;
    }
    let list = match d.manager.list() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("autostart: cannot list containers: {}", crate::manager::chain(&e));
            return;
        }
    };
    let order = start_order(&list);
    for (i, c) in order.iter().enumerate() {
        if c.status != api::Status::Stopped {
            continue;
        }
        let name = c.name.clone();
        let d2 = d.clone();
        let n2 = name.clone();
        let op = d.ops.spawn(&format!("autostart {name}"), std::slice::from_ref(&name), move || {
            let w = d2.manager.start(&n2).map_err(|e| crate::manager::chain(&e))?;
            d2.lifecycle("container-started", &n2);
            Ok(serde_json::json!({"warnings": w}))
        });
        match op {
            Ok(op) => {
                if let Some(done) = d.ops.wait(&op.id, Duration::from_secs(600)) {
                    match done.status {
                        api::OperationStatus::Success => eprintln!("autostart: started {name}"),
                        _ => eprintln!("autostart: {name}: {}", done.error.unwrap_or_default()),
                    }
                }
            }
            Err(super::ops::Busy(other)) => eprintln!("autostart: {name} is busy ({})", other.description),
        }
        // The delay gives the next one time; after the last there is none.
        if i + 1 < order.len() {
            let delay = key_i64(c, "boot.autostart.delay", 0).max(0) as u64;
            std::thread::sleep(Duration::from_secs(delay));
        }
    }
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::storage::write_atomic(&file, format!("{boot_id}\n").as_bytes());
}

/// Stop every running container in rank order; the names stopped.
pub fn shutdown(d: &Arc<Daemon>) -> Result<Vec<String>, String> {
    let list = d.manager.list().map_err(|e| crate::manager::chain(&e))?;
    let mut stopped = Vec::new();
    let mut failed = Vec::new();
    for rank in stop_ranks(&list) {
        let handles: Vec<_> = rank
            .iter()
            .map(|c| {
                let (d, name) = (d.clone(), c.name.clone());
                let timeout = Duration::from_secs(key_i64(c, "boot.host_shutdown_timeout", 30).max(0) as u64);
                std::thread::spawn(move || {
                    // As an operation holding it: an operation in progress finishes first, and
                    // nothing starts it again meanwhile.
                    loop {
                        let (d2, n2) = (d.clone(), name.clone());
                        let op = d.ops.spawn(&format!("shutdown stop {name}"), std::slice::from_ref(&name), move || {
                            match d2.manager.stop(&n2, timeout, false) {
                                Ok(()) => {
                                    d2.lifecycle("container-stopped", &n2);
                                    Ok(serde_json::Value::Null)
                                }
                                // Stopped meanwhile: as good.
                                Err(crate::manager::Error::NotRunning(_)) => Ok(serde_json::Value::Null),
                                Err(e) => Err(crate::manager::chain(&e)),
                            }
                        });
                        match op {
                            Ok(op) => {
                                let done = d.ops.wait(&op.id, timeout + Duration::from_secs(60));
                                let r = match done {
                                    Some(o) if o.status == api::OperationStatus::Success => Ok(()),
                                    Some(o) => Err(o.error.unwrap_or_default()),
                                    None => Err("the operation vanished".into()),
                                };
                                return (name, r);
                            }
                            Err(super::ops::Busy(other)) => {
                                d.ops.wait(&other.id, Duration::from_secs(5));
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok((name, Ok(()))) => stopped.push(name),
                Ok((name, Err(e))) => failed.push(format!("{name}: {e}")),
                Err(_) => failed.push("a stop panicked".into()),
            }
        }
    }
    if failed.is_empty() {
        Ok(stopped)
    } else {
        Err(format!("stopped {}; failed: {}", stopped.join(", "), failed.join("; ")))
    }
}

/// `sysctr daemon --shutdown`: through the running daemon, else here.
pub fn shutdown_command(paths: &Paths) -> Result<(), Error> {
    let io = |source| Error::Io { what: "talk to the daemon on", path: super::socket_path(paths), source };
    match UnixStream::connect(super::socket_path(paths)) {
        Ok(s) => {
            let mut w = s.try_clone().map_err(io)?;
            wire::write_request(&mut w, "POST", "/1.0/shutdown", Some(b"{}"), None).map_err(io)?;
            let (status, body) = wire::read_response(&mut BufReader::new(s)).map_err(|e| io(std::io::Error::other(e.to_string())))?;
            let op: api::Operation = serde_json::from_slice(&body).map_err(|e| io(std::io::Error::other(format!("answer {status}: {e}"))))?;
            let s = UnixStream::connect(super::socket_path(paths)).map_err(io)?;
            let mut w = s.try_clone().map_err(io)?;
            wire::write_request(&mut w, "GET", &format!("/1.0/operations/{}/wait", op.id), None, None).map_err(io)?;
            let (_, body) = wire::read_response(&mut BufReader::new(s)).map_err(|e| io(std::io::Error::other(e.to_string())))?;
            let done: api::Operation = serde_json::from_slice(&body).map_err(|e| io(std::io::Error::other(e.to_string())))?;
            report(done.status == api::OperationStatus::Success, done.error, done.result)
        }
        Err(_) => {
            let d = Daemon::new(paths.clone())?;
            match shutdown(&d) {
                Ok(names) => report(true, None, Some(serde_json::json!({"stopped": names}))),
                Err(e) => report(false, Some(e), None),
            }
        }
    }
}

/// The kernel's id of this boot.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_owned()
}

/// Has the daemon on `paths` done this boot's autostart?
fn autostart_done(paths: &Paths) -> bool {
    std::fs::read_to_string(paths.state.join(BOOT_ID_FILE)).is_ok_and(|s| s.trim() == boot_id())
}

/// `sysctr daemon --boot`, the start half of the ordered start/stop unit
/// (sysctr-startup.service): ask the daemon for its operations, which starts it when
/// systemd holds its socket (socket activation), then wait until it has started this
/// boot's `boot.autostart` containers, so units ordered after ours find them running.
pub fn boot_command(paths: &Paths) -> Result<(), Error> {
    let sock = super::socket_path(paths);
    let io = |source| Error::Io { what: "talk to the daemon on", path: sock.clone(), source };
    let ask = || -> Result<(), Error> {
        let s = UnixStream::connect(&sock).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(60))).map_err(io)?;
        let mut w = s.try_clone().map_err(io)?;
        wire::write_request(&mut w, "GET", "/1.0/operations", None, None).map_err(io)?;
        let (status, _) = wire::read_response(&mut BufReader::new(s)).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        if status != 200 {
            return Err(io(std::io::Error::other(format!("answered {status}"))));
        }
        Ok(())
    };
    ask()?;
    let mut asked = std::time::Instant::now();
    while !autostart_done(paths) {
        std::thread::sleep(Duration::from_millis(200));
        // Still there? A daemon that died has done no autostart, and never will.
        if asked.elapsed() > Duration::from_secs(5) {
            ask()?;
            asked = std::time::Instant::now();
        }
    }
    println!("autostart done for boot {}", boot_id());
    Ok(())
}

fn report(ok: bool, error: Option<String>, result: Option<serde_json::Value>) -> Result<(), Error> {
    if ok {
        let names: Vec<String> = result.and_then(|r| serde_json::from_value(r["stopped"].clone()).ok()).unwrap_or_default();
        println!("Stopped {}", if names.is_empty() { "nothing (no container was running)".into() } else { names.join(", ") });
        Ok(())
    } else {
        Err(Error::Io { what: "shut down", path: "containers".into(), source: std::io::Error::other(error.unwrap_or_default()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, status: api::Status, kv: &[(&str, &str)]) -> api::Container {
        api::Container {
            name: name.into(),
            status,
            pid: None,
            monitor_pid: None,
            monitor_alive: false,
            runtime: "builtin".into(),
            privileged: false,
            idmap: None,
            created: 0,
            started: None,
            restarts: 0,
            last_exit: None,
            config: kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            image: None,
            pending: vec![],
            addresses: vec![],
            usage: None,
            error: None,
        }
    }

    #[test]
    fn start_and_stop_orders() {
        use api::Status::*;
        let list = vec![
            c("a", Stopped, &[("boot.autostart", "true"), ("boot.autostart.priority", "1")]),
            c("b", Stopped, &[("boot.autostart", "true"), ("boot.autostart.priority", "3")]),
            c("c", Stopped, &[("boot.autostart", "true"), ("boot.autostart.priority", "2")]),
            c("d", Stopped, &[("boot.autostart", "false")]),
        ];
        assert_eq!(start_order(&list).iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
        let running: Vec<api::Container> = list.into_iter().map(|mut c| {
            c.status = Running;
            c
        }).collect();
        // Reverse of the start order; d (priority 0) with a, in parallel? No: a is 1, d is 0.
        let ranks: Vec<Vec<&str>> = stop_ranks(&running).iter().map(|r| r.iter().map(|c| c.name.as_str()).collect()).collect();
        assert_eq!(ranks, vec![vec!["d"], vec!["a"], vec!["c"], vec!["b"]]);
        let mut prio = running.clone();
        prio[1].config.insert("boot.stop.priority".into(), "5".into());
        let ranks: Vec<Vec<&str>> = stop_ranks(&prio).iter().map(|r| r.iter().map(|c| c.name.as_str()).collect()).collect();
        assert_eq!(ranks[0], vec!["b"], "a stop priority comes first");
    }
}
