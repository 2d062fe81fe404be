//! The built-in runtime driven as OCI tooling drives runc: `sysctr-oci` verbs on a bundle.

mod common;

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

use common::*;

const OCI: &str = env!("CARGO_BIN_EXE_sysctr-oci");

fn bundle(dir: &Path, args: &[&str], terminal: bool, cgroup: &str) {
    let root = busybox_rootfs(dir);
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": { "path": root },
        "hostname": "ocitest",
        // Capabilities as `runc spec` writes them: ambient ones that are not inheritable.
        "process": { "terminal": terminal, "user": { "uid": 0, "gid": 0 }, "args": args, "env": ["PATH=/bin:/sbin"], "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN", "CAP_SETPCAP"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            } },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666", "mode=0620"] }
        ],
        "linux": {
            "namespaces": [{ "type": "pid" }, { "type": "mount" }, { "type": "uts" }, { "type": "ipc" }, { "type": "network" }, { "type": "cgroup" }],
            "cgroupsPath": cgroup,
            "devices": [{ "path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438 }]
        }
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// Run a verb. Its stdout and stderr go to files, never pipes: a created container's
/// process inherits them (as under runc) and would hold a pipe open.
fn oci(root: &Path, args: &[&str]) -> std::process::Output {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(OCI)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .status()
        .unwrap();
    std::process::Output { status, stdout: std::fs::read(out.path()).unwrap(), stderr: std::fs::read(err.path()).unwrap() }
}

/// Deletes the OCI container (killing it) when the test ends, failed tests included.
struct Cleanup<'a>(&'a Path, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = oci(self.0, &["delete", "--force", &self.1]);
    }
}

fn state(root: &Path, id: &str) -> serde_json::Value {
    let out = oci(root, &["state", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn run_propagates_the_exit_status_and_cleans_up() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let b = env.dir.join("b");
    let cg = format!("sysctr/{}", env.name("ocirun"));
    bundle(&b, &["/bin/sh", "-c", "[ $(hostname) = ocitest ] && [ $$ = 1 ] && exit 3"], false, &format!("/{cg}"));
    let out = oci(&env.run, &["run", "--bundle", b.to_str().unwrap(), "t"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!env.run.join("t").exists(), "state removed");
    assert_no_cgroup(cg.trim_start_matches("sysctr/"));
}

#[test]
fn create_start_state_kill_delete() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let b = env.dir.join("b");
    let name = env.name("ocilife");
    bundle(&b, &["/bin/sleep", "100000"], false, &format!("/sysctr/{name}"));
    let _cleanup = Cleanup(&env.run, name.clone());
    let pidfile = env.dir.join("pid");
    let out = oci(&env.run, &["create", "--bundle", b.to_str().unwrap(), "--pid-file", pidfile.to_str().unwrap(), &name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = state(&env.run, &name);
    assert_eq!(s["status"], "created");
    assert_eq!(s["pid"].to_string(), std::fs::read_to_string(&pidfile).unwrap());
    // A created container's process has not exec'd yet; a second create is refused.
    assert!(!oci(&env.run, &["create", "--bundle", b.to_str().unwrap(), &name]).status.success());

    assert!(oci(&env.run, &["start", &name]).status.success());
    assert_eq!(state(&env.run, &name)["status"], "running");
    let pid = s["pid"].as_i64().unwrap();
    assert!(wait_for(std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with("/bin/sleep"))
    }));
    let refused = oci(&env.run, &["delete", &name]);
    assert!(!refused.status.success(), "a running container is not deleted without --force");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));

    assert!(oci(&env.run, &["kill", &name, "KILL"]).status.success());
    assert!(wait_for(std::time::Duration::from_secs(5), || state(&env.run, &name)["status"] == "stopped"));
    assert!(oci(&env.run, &["delete", &name]).status.success());
    assert!(!oci(&env.run, &["state", &name]).status.success());
    assert_no_cgroup(&name);
}

#[test]
fn console_socket_receives_the_pty_master() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let b = env.dir.join("b");
    let name = env.name("ocicon");
    bundle(&b, &["/bin/sh", "-c", "tty; echo hello-console"], true, &format!("/sysctr/{name}"));
    let sock = env.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let _cleanup = Cleanup(&env.run, name.clone());
    let oci_root = env.run.clone();
    let bundle_dir = b.clone();
    let id = name.clone();
    let runner = std::thread::spawn(move || {
        Command::new(OCI)
            .arg("--root")
            .arg(&oci_root)
            .args(["run", "--bundle", bundle_dir.to_str().unwrap(), "--console-socket", sock.to_str().unwrap(), &id])
            .output()
            .unwrap()
    });
    let (conn, _) = listener.accept().unwrap();
    let master = sysctr::runtime::pty::recv_fd(conn.as_fd()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&master), &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    let status = runner.join().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let text = String::from_utf8_lossy(&out);
    // The process's stdio is the pty slave (`tty` names its /dev/pts path, as under runc);
    // the same pty is bound over /dev/console.
    assert!(text.contains("/dev/pts/") && text.contains("hello-console"), "{text}");
}
