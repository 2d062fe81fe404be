//! `exec` and `console` over the API: the client asks for an upgraded connection, then
//! hands its own stdin, stdout and stderr over the socket (SCM_RIGHTS). The daemon runs a
//! helper process (`sysctr __exec` / `__console`) on exactly those descriptors, so the
//! command reads the client's terminal or pipes directly, with no copying and no framing;
//! the socket then only carries signals from the client (`{"signal":N}` lines) and, at the
//! end, the exit status (`{"exit":N}`).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use crate::api;
use crate::wire::{self, Request};

/// Environment variable carrying the exec request to the helper.
pub const EXEC_REQUEST_ENV: &str = "SYSCTR_EXEC_REQUEST";
pub const EXEC_PROTOCOL: &str = "sysctr-exec";
pub const CONSOLE_PROTOCOL: &str = "sysctr-console";

fn refuse(out: &mut UnixStream, status: u16, message: &str) {
    let body = serde_json::to_vec(&api::ErrorBody { error: message.into(), status, operation: None }).expect("errors serialise");
    let _ = wire::write_response(out, status, "application/json", &body);
}

/// After 101: the client's three descriptors.
fn take_stdio(out: &mut UnixStream) -> Option<[OwnedFd; 3]> {
    let _ = out.set_read_timeout(Some(Duration::from_secs(10)));
    let fds = crate::sys::fdpass::recv_fds(out.as_fd(), 3).ok()?;
    let _ = out.set_read_timeout(None);
    let [a, b, c]: [OwnedFd; 3] = fds.try_into().ok()?;
    Some([a, b, c])
}

fn helper(d: &Daemon, verb: &str) -> Command {
    // Our own binary even after a package upgrade replaced the file.
    let mut c = Command::new("/proc/self/exe");
    let p = &d.manager.paths;
    c.arg(verb).env("SYSCTR_STATE_DIR", &p.state).env("SYSCTR_RUN_DIR", &p.run).env("SYSCTR_CONFIG", &p.config);
    c
}

/// Run `cmd` on the client's descriptors, relay its signals, answer its exit status.
fn run_on_client(mut cmd: Command, out: &mut UnixStream, upgrade: &str) {
    if wire::write_upgrade(out, upgrade).is_err() {
        return;
    }
    let Some([i, o, e]) = take_stdio(out) else { return };
    cmd.stdin(Stdio::from(i)).stdout(Stdio::from(o)).stderr(Stdio::from(e));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            let _ = writeln!(out, "{}", serde_json::json!({"exit": 1, "error": format!("cannot run the helper: {err}")}));
            return;
        }
    };
    // Signals by pidfd: never a recycled pid once the helper is reaped.
    let pidfd = crate::sys::pidfd_open(nix::unistd::Pid::from_raw(child.id() as i32)).ok().map(Arc::new);
    // Signals from the client, until it closes its side or the helper ends. A client that
    // goes away (killed CLI, dropped ssh) takes its command with it: SIGHUP, then SIGKILL.
    if let (Ok(r), Some(pidfd)) = (out.try_clone(), pidfd) {
        std::thread::spawn(move || {
            let send = |sig: i32| crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&*pidfd), sig).is_ok();
            for line in BufReader::new(std::io::Read::take(r, 1 << 20)).lines() {
                let Ok(line) = line else { break };
                let sig = serde_json::from_str::<serde_json::Value>(&line).ok().and_then(|v| v["signal"].as_i64());
                if let Some(s) = sig.filter(|s| (1..=64).contains(s)) {
                    if !send(s as i32) {
                        return;
                    }
                }
            }
            if send(libc::SIGHUP) {
                std::thread::sleep(Duration::from_secs(5));
                send(libc::SIGKILL);
            }
        });
    }
    let code = match child.wait() {
        Ok(st) => st.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)),
        Err(_) => 1,
    };
    let _ = writeln!(out, "{}", serde_json::json!({"exit": code}));
    let _ = out.shutdown(std::net::Shutdown::Both);
}

pub fn exec(d: &Arc<Daemon>, name: &str, req: &api::ExecPost, http: &Request, out: &mut UnixStream) {
    if http.header("upgrade") != Some(EXEC_PROTOCOL) {
        return refuse(out, 400, "exec needs an upgraded connection (Upgrade: sysctr-exec) to hand over the client's stdio");
    }
    if let Err(e) = d.manager.info(name) {
        return refuse(out, super::routes::status_of(&e), &crate::manager::chain(&e));
    }
    let mut cmd = helper(d, "__exec");
    cmd.arg(name).env(EXEC_REQUEST_ENV, serde_json::to_string(req).expect("exec requests serialise"));
    run_on_client(cmd, out, EXEC_PROTOCOL);
}

pub fn console(d: &Arc<Daemon>, name: &str, escape: u8, replay: bool, http: &Request, out: &mut UnixStream) {
    if http.header("upgrade") != Some(CONSOLE_PROTOCOL) {
        return refuse(out, 400, "console needs an upgraded connection (Upgrade: sysctr-console)");
    }
    if let Err(e) = d.manager.info(name) {
        return refuse(out, super::routes::status_of(&e), &crate::manager::chain(&e));
    }
    let mut cmd = helper(d, "__console");
    cmd.arg(name).arg(escape.to_string()).arg(if replay { "replay" } else { "live" });
    run_on_client(cmd, out, CONSOLE_PROTOCOL);
}
