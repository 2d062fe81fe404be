//! `sysctr __network NAME`: keeps one network's dnsmasq running. It restarts dnsmasq when
//! it dies (backing off when it keeps dying), forwards SIGHUP (re-read the hosts files),
//! restarts it without released leases on SIGUSR1, and stops it on SIGTERM.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::{dnsmasq, Error, Networks, Result, SupervisorState};

fn spawn(nets: &Networks, name: &str) -> Result<Child> {
    let conf = nets.run_dir(name).join("dnsmasq.conf");
    let mut cmd = Command::new("dnsmasq");
    cmd.arg("--keep-in-foreground").arg(format!("--conf-file={}", conf.display())).stdin(Stdio::null()).stdout(Stdio::null());
    crate::sys::supervised_child(&mut cmd);
    cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NoDnsmasq,
        _ => Error::Io { what: "run dnsmasq".into(), source: e },
    })
}

fn record(nets: &Networks, name: &str, dnsmasq: i32) {
    let pid = std::process::id() as i32;
    let st = SupervisorState { pid, start_time: crate::sys::proc_stat(pid).map(|(_, t)| t).unwrap_or(0), dnsmasq };
    let _ = crate::storage::write_volatile(&nets.run_dir(name).join("supervisor.json"), &serde_json::to_vec(&st).expect("serialises"));
}

fn stop(child: &mut Child) {
    let _ = crate::sys::kill_raw(nix::unistd::Pid::from_raw(child.id() as i32), libc::SIGTERM);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Drop the leases of MACs no reservation holds any more (dnsmasq is stopped).
fn prune(nets: &Networks, name: &str) {
    let Ok(cfg) = nets.load(name) else { return };
    let keep: Vec<&str> = cfg.reservations.values().map(|r| r.hwaddr.as_str()).collect();
    let path = nets.leases_path(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let _ = crate::storage::write_atomic(&path, dnsmasq::prune(&text, &keep).as_bytes());
    }
}

/// dnsmasq cannot be started again: go, so that the next start of a container on this
/// network (or a `network` command) makes a fresh supervisor instead of trusting this one.
fn give_up(nets: &Networks, name: &str, e: Error) -> Result<()> {
    eprintln!("sysctr: cannot start dnsmasq of {name} again: {e}; leaving it to the next start");
    let _ = std::fs::remove_file(nets.run_dir(name).join("supervisor.json"));
    Err(e)
}

/// Supervise network `name`'s dnsmasq; `report` gets `ok` once it runs (or `error: ...`).
pub fn run(nets: &Networks, name: &str, report: &mut impl Write) -> Result<()> {
    let _ = nix::unistd::setsid();
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1] {
        mask.add(s);
    }
    mask.thread_block().map_err(|e| Error::Io { what: "block signals".into(), source: e.into() })?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(|e| Error::Io { what: "make a signalfd".into(), source: e.into() })?;
    let mut child = match spawn(nets, name) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(report, "error: {e}");
            return Err(e);
        }
    };
    // dnsmasq fails at once on a bad config or a taken port: say so to whoever waits.
    std::thread::sleep(Duration::from_millis(100));
    if let Ok(Some(st)) = child.try_wait() {
        let _ = writeln!(report, "error: dnsmasq exited at once ({st}); its messages are in {}", nets.run_dir(name).join("supervisor.log").display());
        return Err(Error::Dnsmasq { name: name.into(), message: format!("exited at once ({st})") });
    }
    record(nets, name, child.id() as i32);
    let _ = writeln!(report, "ok");
    let mut deaths: Vec<Instant> = Vec::new();
    loop {
        let Ok(Some(info)) = sfd.read_signal() else { continue };
        match Signal::try_from(info.ssi_signo as i32) {
            Ok(Signal::SIGCHLD) => {
                if let Ok(Some(st)) = child.try_wait() {
                    eprintln!("sysctr: dnsmasq of {name} ended ({st}); starting it again");
                    deaths.retain(|t| t.elapsed() < Duration::from_secs(10));
                    deaths.push(Instant::now());
                    if deaths.len() > 5 {
                        std::thread::sleep(Duration::from_secs(2));
                    }
                    match spawn(nets, name) {
                        Ok(c) => child = c,
                        Err(e) => return give_up(nets, name, e),
                    }
                    record(nets, name, child.id() as i32);
                }
            }
            Ok(Signal::SIGHUP) => {
                let _ = crate::sys::kill_raw(nix::unistd::Pid::from_raw(child.id() as i32), libc::SIGHUP);
            }
            Ok(Signal::SIGUSR1) => {
                stop(&mut child);
                prune(nets, name);
                match spawn(nets, name) {
                    Ok(c) => child = c,
                    Err(e) => return give_up(nets, name, e),
                }
                record(nets, name, child.id() as i32);
            }
            Ok(Signal::SIGTERM | Signal::SIGINT) => {
                stop(&mut child);
                let _ = std::fs::remove_file(nets.run_dir(name).join("supervisor.json"));
                return Ok(());
            }
            _ => {}
        }
    }
}
