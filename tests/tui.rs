//! `sysctr tui` end to end: the real binary in a tmux pane of fixed size, against a real
//! daemon with real busybox containers, driven with keys and read back as a person sees
//! the screen (`capture-pane` of the visible screen only). Everything is undone on drop,
//! failures included: the tmux server (its own socket) with the TUI in it, then the
//! containers and the daemon (`Env`).

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

const SESSION: &str = "tui";

/// What the pane shows now (no scroll-back: the dashboard lives on the alternate screen).
fn screen(tmux: &Tmux) -> String {
    String::from_utf8_lossy(&tmux.tmux(&["capture-pane", "-p", "-t", SESSION]).stdout).into_owned()
}

/// Wait until the screen satisfies `f`; panic with the screen otherwise.
fn expect(tmux: &Tmux, timeout: Duration, what: &str, f: impl Fn(&str) -> bool) {
    if !wait_for(timeout, || f(&screen(tmux))) {
        panic!("{what} not seen within {timeout:?}; the screen shows:\n{}", screen(tmux));
    }
}

/// The table row of container `name`, as shown.
fn row(screen: &str, name: &str) -> Option<String> {
    screen.lines().find(|l| l.starts_with(&format!("{name} "))).map(str::to_owned)
}

/// A busybox container whose console runs a shell, created (not started).
fn console_container(env: &Env, base: &str) -> String {
    let name = env.name(base);
    let root = busybox_rootfs(&env.dir.join(format!("src-{base}")));
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(
        root.join("etc/inittab"),
        "::sysinit:/bin/mount -o remount,rw /\n\
         ::respawn:-/bin/sh\n\
         ::shutdown:/sbin/halt -n -f\n",
    )
    .expect("inittab");
    env.ok(&["create", &name, "--rootfs", root.to_str().expect("utf-8 path")]);
    name
}

/// Select `name` by filtering the table down to it.
fn filter_to(tmux: &Tmux, name: &str) {
    tmux.keys(SESSION, &["/"]);
    tmux.text(SESSION, name);
    tmux.keys(SESSION, &["Enter"]);
    expect(tmux, Duration::from_secs(5), "the filter", |s| s.contains(&format!("filter \"{name}\": 1 shown")));
}

/// The pid of `sysctr tui` in the pane: the pane's shell's child.
fn tui_pid(tmux: &Tmux) -> i32 {
    let shell: i32 = String::from_utf8_lossy(&tmux.tmux(&["display", "-p", "-t", SESSION, "#{pane_pid}"]).stdout).trim().parse().expect("the pane's pid");
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).expect("the pane's children");
    children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("sysctr tui runs in the pane")
}

/// Start from the dashboard, use the console and come back with Ctrl-a q, stop and delete
/// with their confirmations: each step as the screen shows it, and as the daemon has it.
#[test]
fn tui_starts_stops_consoles_and_deletes() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = console_container(&env, "tuia");
    let other = console_container(&env, "tuib");
    let tmux = Tmux::new();
    tmux.spawn(SESSION, &env, &["tui"]);
    expect(&tmux, Duration::from_secs(20), "both containers, stopped", |s| {
        row(s, &name).is_some_and(|r| r.contains("STOPPED")) && row(s, &other).is_some_and(|r| r.contains("STOPPED"))
    });
    assert!(screen(&tmux).contains("2 containers · 0 running"), "{}", screen(&tmux));

    // s starts the selected container (no question asked).
    filter_to(&tmux, &name);
    tmux.keys(SESSION, &["s"]);
    expect(&tmux, Duration::from_secs(30), "the container running", |s| row(s, &name).is_some_and(|r| r.contains("RUNNING")));
    assert_eq!(env.status(&name), "RUNNING");
    assert_eq!(env.status(&other), "STOPPED", "only the selected container starts");
    expect(&tmux, Duration::from_secs(10), "the note and the count", |s| s.contains(&format!("{name} started")) && s.contains("1 running"));

    // c: the console takes the terminal; what we type reaches the guest's shell; Ctrl-a q
    // gives the dashboard back.
    tmux.keys(SESSION, &["c"]);
    expect(&tmux, Duration::from_secs(10), "the console's detach hint", |s| s.contains("To detach from the console, press: <ctrl>+a q"));
    tmux.keys(SESSION, &["Enter"]);
    tmux.text(SESSION, "echo TUI$((6*7))");
    tmux.keys(SESSION, &["Enter"]);
    expect(&tmux, Duration::from_secs(10), "the guest's answer", |s| s.lines().any(|l| l.trim() == "TUI42"));
    tmux.keys(SESSION, &["C-a", "q"]);
    expect(&tmux, Duration::from_secs(10), "the dashboard again", |s| {
        s.contains(&format!("detached from the console of {name}")) && row(s, &name).is_some_and(|r| r.contains("RUNNING"))
    });
    // The console tail in the detail pane has what we typed.
    expect(&tmux, Duration::from_secs(10), "the console tail", |s| s.contains("echo TUI$((6*7))"));

    // e: a login shell the same way; its exit status comes back on the status line. A few
    // seconds in it, so a stale clock would have the note expire at once.
    tmux.keys(SESSION, &["e"]);
    expect(&tmux, Duration::from_secs(10), "the login shell's prompt", |s| s.lines().any(|l| l.trim_end().ends_with("~ #")));
    tmux.text(SESSION, "echo SH$((6*7)); sleep 6; exit 3");
    tmux.keys(SESSION, &["Enter"]);
    expect(&tmux, Duration::from_secs(10), "the shell's answer", |s| s.lines().any(|l| l.trim() == "SH42"));
    expect(&tmux, Duration::from_secs(20), "the dashboard after the shell", |s| {
        s.contains(&format!("shell on {name} ended (exit 3)")) && row(s, &name).is_some_and(|r| r.contains("RUNNING"))
    });

    // x asks, y stops.
    tmux.keys(SESSION, &["x"]);
    expect(&tmux, Duration::from_secs(5), "the question", |s| s.contains(&format!("Stop {name}?")) && s.contains("y: yes"));
    tmux.keys(SESSION, &["y"]);
    expect(&tmux, Duration::from_secs(40), "the container stopped", |s| row(s, &name).is_some_and(|r| r.contains("STOPPED")));
    assert_eq!(env.status(&name), "STOPPED");

    // D asks; n keeps it; D then y deletes it.
    tmux.keys(SESSION, &["D"]);
    expect(&tmux, Duration::from_secs(5), "the question", |s| s.contains(&format!("Delete {name} and its root filesystem?")));
    tmux.keys(SESSION, &["n"]);
    expect(&tmux, Duration::from_secs(5), "the cancellation", |s| s.contains(&format!("delete {name}: cancelled")));
    assert!(env.container_dirs(&name)[0].exists(), "n must not delete");
    tmux.keys(SESSION, &["D"]);
    expect(&tmux, Duration::from_secs(5), "the question", |s| s.contains(&format!("Delete {name} and its root filesystem?")));
    tmux.keys(SESSION, &["y"]);
    expect(&tmux, Duration::from_secs(30), "the deletion", |s| s.contains(&format!("{name} deleted")) && row(s, &name).is_none());
    assert!(!env.container_dirs(&name)[0].exists(), "the container's directory is gone");

    // The other container is still there once the filter is cleared; q quits cleanly.
    tmux.keys(SESSION, &["/", "Escape"]);
    expect(&tmux, Duration::from_secs(5), "the other container", |s| row(s, &other).is_some_and(|r| r.contains("STOPPED")));
    tmux.keys(SESSION, &["q"]);
    expect(&tmux, Duration::from_secs(5), "the exit", |s| s.contains("EXIT=0"));
}

/// Kill the daemon under the dashboard: it says so and keeps retrying without starting a
/// daemon of its own; a daemon started by someone else brings it back.
#[test]
fn tui_survives_the_daemon_going_away() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = console_container(&env, "tuic");
    env.ok(&["start", &name]);
    let tmux = Tmux::new();
    tmux.spawn(SESSION, &env, &["tui"]);
    expect(&tmux, Duration::from_secs(20), "the running container", |s| row(s, &name).is_some_and(|r| r.contains("RUNNING")));

    let daemon = env.daemon_pid().expect("the daemon runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL).expect("kill the daemon");
    expect(&tmux, Duration::from_secs(15), "the unreachable line", |s| s.contains("daemon unreachable, retrying"));
    // What was known stays on screen, and the dashboard does not start a daemon itself.
    assert!(row(&screen(&tmux), &name).is_some(), "{}", screen(&tmux));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(env.daemon_pid(), None, "the dashboard must not start a daemon");
    assert!(screen(&tmux).contains("daemon unreachable, retrying"), "{}", screen(&tmux));

    // Any command starts the embedded default again; the dashboard finds it.
    env.ok(&["list"]);
    expect(&tmux, Duration::from_secs(15), "the recovery", |s| {
        !s.contains("daemon unreachable") && s.contains("daemon reachable again") && row(s, &name).is_some_and(|r| r.contains("RUNNING"))
    });
    // And it is live again: an action goes through.
    filter_to(&tmux, &name);
    tmux.keys(SESSION, &["f"]);
    expect(&tmux, Duration::from_secs(20), "the container frozen", |s| row(s, &name).is_some_and(|r| r.contains("FROZEN")));
    assert_eq!(env.status(&name), "FROZEN");
    tmux.keys(SESSION, &["f"]);
    expect(&tmux, Duration::from_secs(20), "the container thawed", |s| row(s, &name).is_some_and(|r| r.contains("RUNNING")));

    // SIGTERM ends it as q does: the terminal is back to normal (no alternate screen, the
    // cursor shown) for the shell after it.
    let alt = || String::from_utf8_lossy(&tmux.tmux(&["display", "-p", "-t", SESSION, "#{alternate_on} #{cursor_flag}"]).stdout).trim().to_owned();
    assert_eq!(alt(), "1 0", "the dashboard is on the alternate screen, cursor hidden");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tui_pid(&tmux)), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    expect(&tmux, Duration::from_secs(5), "the exit", |s| s.contains("EXIT=0"));
    assert_eq!(alt(), "0 1", "the terminal is restored");
}

/// A dashboard whose terminal goes away ends with it (it once stayed behind, reading the
/// closed terminal's end-of-file in a loop). On an empty instance it starts the daemon
/// itself, as any first command does.
#[test]
fn tui_does_not_outlive_its_terminal() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let tmux = Tmux::new();
    tmux.spawn(SESSION, &env, &["tui"]);
    expect(&tmux, Duration::from_secs(20), "the empty fleet", |s| s.contains("0 containers") && s.contains("no containers yet"));
    assert!(env.daemon_pid().is_some(), "the first refresh starts the embedded default daemon");
    let tui = tui_pid(&tmux);
    tmux.tmux(&["kill-server"]);
    let alive = || std::fs::read_to_string(format!("/proc/{tui}/stat")).is_ok_and(|s| !s.contains(") Z "));
    let ended = wait_for(Duration::from_secs(5), || !alive());
    if !ended {
        // Not left behind by a failure either.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(tui), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(ended, "sysctr tui (pid {tui}) outlived its terminal");
}
