//! `sysctr console` and `start --console`, driven from real terminals (tmux): a Debian
//! guest's boot output and login prompt, typed input, detach and re-attach, several viewers
//! at once, the escape key, a console flood (log rotation caps, a stalled viewer, the
//! monitor's memory), and one-line errors.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::*;


const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const MIB: u64 = 1024 * 1024;


const DETACH_HINT: &str = "To detach from the console, press: <ctrl>+a q";

/// Debian 12 on the console: boot output from its first line with `start --console`, the
/// getty's login prompt takes input, Ctrl-a q detaches leaving the guest running, and two
/// viewers attached later both see the console and either may type.
#[test]
fn debian_console_boot_login_prompt_detach_and_two_viewers() {
    if !require_root() {
        return;
    }
    let rootfs = debian_rootfs("bookworm");
    let env = Env::new();
    let name = env.name("con12");
    env.ok(&["create", &name, "--rootfs", rootfs.to_str().unwrap()]);
    let tmux = Tmux::new();

    tmux.spawn("boot", &env, &["start", &name, "--console"]);
    let prompt = format!("{name} login:");
    tmux.expect_text("boot", BOOT_TIMEOUT, &prompt);
    let pane = tmux.pane("boot");
    // From the first line: the hint, then systemd's banner, the welcome, ... the prompt.
    let lines: Vec<&str> = pane.lines().filter(|l| !l.trim().is_empty()).collect();
    let hint = lines.iter().position(|l| l.contains(DETACH_HINT)).unwrap_or_else(|| panic!("no detach hint:\n{pane}"));
    assert!(lines[hint + 1].starts_with("systemd ") && lines[hint + 1].contains("running in system mode"), "the console must start at systemd's first line:\n{pane}");
    let at = |s: &str| pane.find(s).unwrap_or_else(|| panic!("{s:?} not on the console:\n{pane}"));
    assert!(at("running in system mode") < at("Welcome to Debian GNU/Linux 12") && at("Welcome to") < at(&prompt), "{pane}");

    // Typed input reaches the getty.
    tmux.text("boot", "root");
    tmux.keys("boot", &["Enter"]);
    tmux.expect_text("boot", Duration::from_secs(20), "Password:");

    // Ctrl-a q detaches; the guest keeps running.
    tmux.keys("boot", &["C-a", "q"]);
    tmux.expect_text("boot", Duration::from_secs(5), "EXIT=0");
    assert!(tmux.pane("boot").contains(&format!("Detached from {name}.")), "{}", tmux.pane("boot"));
    assert_eq!(env.status(&name), "RUNNING");

    // Re-attach twice at once. Enter from the second viewer answers the password prompt;
    // the refusal and a new prompt show in both.
    tmux.spawn("v1", &env, &["console", &name]);
    tmux.spawn("v2", &env, &["console", &name]);
    tmux.expect_text("v1", Duration::from_secs(10), DETACH_HINT);
    tmux.expect_text("v2", Duration::from_secs(10), DETACH_HINT);
    tmux.keys("v2", &["Enter"]);
    for v in ["v1", "v2"] {
        tmux.expect_text(v, Duration::from_secs(30), &prompt);
    }
    // What the second viewer types is echoed by the guest's tty to both.
    let token = format!("tok{}", std::process::id());
    tmux.text("v2", &token);
    for v in ["v1", "v2"] {
        tmux.expect(v, Duration::from_secs(10), "the typed token", |p| p.contains(&format!("{prompt} {token}")));
    }
    tmux.keys("v1", &["Enter"]);
    for v in ["v1", "v2"] {
        tmux.expect(v, Duration::from_secs(20), "a password prompt", |p| p.split(&token).nth(1).is_some_and(|after| after.contains("Password:")));
    }
    for v in ["v1", "v2"] {
        tmux.keys(v, &["C-a", "q"]);
        tmux.expect_text(v, Duration::from_secs(5), "EXIT=0");
    }
    assert_eq!(env.status(&name), "RUNNING");

    let log = env.ok(&["console", &name, "--show-log"]);
    assert!(log.contains("Welcome to Debian GNU/Linux 12") && log.contains(&token), "console --show-log:\n{log}");
}

/// A busybox guest with a shell on its console: replay from the first line, two viewers,
/// input from either, Ctrl-a a sends a literal Ctrl-a, `--escape`, and a viewer told when the
/// container stops.
#[test]
fn busybox_console_viewers_escape_and_close() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = env.name("conbb");
    let root = busybox_rootfs(&env.dir.join("src"));
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(
        root.join("etc/inittab"),
        "::sysinit:/bin/echo BB-FIRST-LINE\n\
         ::sysinit:/bin/mount -o remount,rw /\n\
         ::respawn:-/bin/sh\n\
         ::shutdown:/sbin/halt -n -f\n",
    )
    .unwrap();
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    let tmux = Tmux::new();

    tmux.spawn("a", &env, &["start", &name, "--console"]);
    tmux.expect_text("a", Duration::from_secs(10), "BB-FIRST-LINE");
    tmux.spawn("b", &env, &["console", "--escape", "^b", &name]);
    tmux.expect_text("b", Duration::from_secs(10), "To detach from the console, press: <ctrl>+b q");

    // Typed in b, seen in both.
    tmux.text("b", "echo V$((6*7))");
    tmux.keys("b", &["Enter"]);
    tmux.expect_text("a", Duration::from_secs(10), "\nV42");
    tmux.expect_text("b", Duration::from_secs(10), "\nV42");

    // Ctrl-a a in a is one literal Ctrl-a (octal 001) for the guest.
    tmux.text("a", "od -An -b");
    tmux.keys("a", &["Enter"]);
    // Type ahead only once od reads: the shell's line editor would take the keys otherwise.
    assert!(wait_for(Duration::from_secs(10), || env.exec(&name, &["ps", "-o", "args"]).1.contains("od -An -b")));
    tmux.keys("a", &["C-a", "a", "Enter", "C-d"]);
    tmux.expect(
        "a",
        Duration::from_secs(10),
        "od showing 001 012",
        |p| p.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["001", "012"]),
    );
    // b's escape is Ctrl-b: Ctrl-a passes through there, Ctrl-b q detaches.
    tmux.keys("b", &["C-b", "q"]);
    tmux.expect_text("b", Duration::from_secs(5), "EXIT=0");
    assert!(tmux.pane("b").contains(&format!("Detached from {name}.")), "{}", tmux.pane("b"));
    // a still works after b left.
    tmux.text("a", "echo W$((7*7))");
    tmux.keys("a", &["Enter"]);
    tmux.expect_text("a", Duration::from_secs(10), "\nW49");
    tmux.keys("a", &["C-a", "q"]);
    tmux.expect_text("a", Duration::from_secs(5), "EXIT=0");
    assert_eq!(env.status(&name), "RUNNING");

    let log = env.ok(&["console", "--show-log", &name]);
    assert!(log.starts_with("BB-FIRST-LINE") && log.contains("V42") && log.contains("W49"), "{log}");

    // A viewer learns that the container stopped, and ends.
    tmux.spawn("c", &env, &["console", &name]);
    tmux.expect_text("c", Duration::from_secs(10), DETACH_HINT);
    env.ok(&["stop", &name]);
    tmux.expect_text("c", Duration::from_secs(10), "EXIT=0");
    assert!(tmux.pane("c").contains("closed"), "{}", tmux.pane("c"));
    assert!(env.ok(&["console", "--show-log", &name]).contains("W49"), "the log outlives the container");
}

/// `VmRSS`, `VmHWM` and `RssAnon` of a process, in bytes.
fn memory(pid: i64) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(k)).unwrap_or_else(|| panic!("no {k} in {status}"));
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

/// 30 s of `yes > /dev/console`, with a viewer that never reads: the log stays within two
/// 1 MiB files, the monitor's own memory within 4 MiB and its resident size not grown by
/// more than 2 MiB, the stalled viewer does not stall the guest.
#[test]
fn console_flood_is_capped_and_the_monitor_stays_small() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = env.name("flood");
    let root = busybox_rootfs(&env.dir.join("src"));
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    env.ok(&["start", &name]);
    let monitor = env.info(&name)["monitor_pid"].as_i64().unwrap();
    let before = memory(monitor);

    // A viewer whose terminal is never read: its stdout pipe fills, it stops reading.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stalled = KillOnDrop(env.cmd(&["console", &name]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(stalled.0.try_wait().unwrap().is_none(), "the stalled viewer should be attached");

    let t0 = Instant::now();
    let mut flood = env.cmd(&["exec", &name, "--", "timeout", "30", "sh", "-c", "yes > /dev/console"]).stdout(Stdio::null()).spawn().unwrap();
    let mut peak = before.0;
    let status = loop {
        if let Some(st) = flood.try_wait().unwrap() {
            break st;
        }
        peak = peak.max(memory(monitor).0);
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = flood.kill();
            panic!("the flood did not end after 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = t0.elapsed();
    let after = memory(monitor);

    let dir = env.state.join("containers").join(&name);
    let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).ok();
    let (log, log1) = (size("console.log"), size("console.log.1"));
    eprintln!(
        "console flood: {took:.1?} (exec {status}); console.log {log:?} B, console.log.1 {log1:?} B; monitor VmRSS {} KiB before, {} KiB after, {} KiB peak sampled, VmHWM {} KiB; RssAnon {} -> {} KiB",
        before.0 / 1024,
        after.0 / 1024,
        peak / 1024,
        after.1 / 1024,
        before.2 / 1024,
        after.2 / 1024
    );
    assert!(took >= Duration::from_secs(29), "the flood ended early ({took:?}, {status})");
    assert!(log.is_some_and(|s| s <= MIB), "console.log {log:?}");
    assert!(log1.is_some_and(|s| s <= MIB), "console.log.1 {log1:?}: the flood must have rotated the log once at least");
    assert!(size("console.log.2").is_none(), "one rotation only");
    let tail = std::fs::read(dir.join("console.log.1")).unwrap();
    assert!(tail.windows(6).any(|w| w == b"y\r\ny\r\n"), "the flood's output is logged");

    // The monitor's memory: its own (anonymous) memory small and not grown by the flood,
    // and its resident size not grown by it either. The rest of its resident size is the
    // sysctr binary's pages, shared by every monitor (and larger in a debug build, and
    // since the binary speaks HTTPS and unpacks images): not a per-container cost.
    assert!(after.1 <= before.1 + 2 * MIB && peak <= before.0 + 2 * MIB, "monitor VmHWM {} KiB / peak {} KiB grew more than 2 MiB over {} KiB", after.1 / 1024, peak / 1024, before.0 / 1024);
    assert!(after.2 <= 4 * MIB, "monitor RssAnon {} KiB", after.2 / 1024);
    assert!(after.2 <= before.2 + 2 * MIB, "monitor anonymous memory grew from {} to {} KiB", before.2 / 1024, after.2 / 1024);

    // The monitor dropped the stalled viewer (rather than blocking on it): once its pipe is
    // drained it meets the end of the console and exits, having missed most of the flood.
    let mut out = stalled.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()).unwrap_or(0));
    let mut ended = None;
    wait_for(Duration::from_secs(10), || {
        ended = stalled.0.try_wait().unwrap();
        ended.is_some()
    });
    assert!(ended.is_some(), "the stalled viewer is still attached after the flood");
    let got = reader.join().unwrap();
    eprintln!("the stalled viewer got {} KiB before the monitor dropped it", got / 1024);
    assert!(got < 8 * MIB, "the stalled viewer got {got} bytes");

    // All still well: the guest, its monitor, the console.
    let info = env.info(&name);
    assert_eq!((info["status"].as_str(), info["monitor_alive"].as_bool()), (Some("RUNNING"), Some(true)));
    assert_eq!(info["monitor_pid"].as_i64(), Some(monitor));
    assert_eq!(env.exec(&name, &["sh", "-c", "echo AFTER-FLOOD > /dev/console"]).0, 0);
    assert!(
        wait_for(Duration::from_secs(5), || env.ok(&["console", "--show-log", &name]).contains("AFTER-FLOOD")),
        "the console still works after the flood"
    );
}

#[test]
fn console_errors_are_one_clear_line() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let one_line = |args: &[&str], phrase: &str| {
        let out = env.sysctr(args);
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line of error wanted:\n{err}");
        assert!(err.starts_with("Error: ") && err.contains(phrase), "{args:?}: {err:?} should mention {phrase:?}");
    };
    let missing = env.name("nocon");
    one_line(&["console", &missing], "does not exist");
    one_line(&["console", "--show-log", &missing], "does not exist");

    let name = env.name("stopped");
    let root = busybox_rootfs(&env.dir.join("src"));
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    one_line(&["console", &name], "not running");
    one_line(&["console", "--escape", "^1", &name], "--escape");
    env.ok(&["start", &name]);
    env.ok(&["stop", &name]);
    one_line(&["console", &name], "not running");
    // The log of a stopped container is still there to read.
    assert!(env.sysctr(&["console", "--show-log", &name]).status.success());
}
