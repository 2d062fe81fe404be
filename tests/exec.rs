//! `sysctr exec` and `sysctr shell` against a busybox container: exit status, stdio over
//! pipes and over a pty of the container's devpts, user/group/cwd/env, Ctrl-C and SIGTERM
//! reaching the command, a 100 MB stream, hostile working directories, the descriptors an
//! exec'd process sees, and one-line errors.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::*;

/// A running busybox container with accounts to exec as: root, nobody (home missing) and
/// tester (uid 1000, home /home/tester, also in group wheel=10).
fn running_busybox(env: &Env, base: &str) -> String {
    let name = env.name(base);
    let root = busybox_rootfs(&env.dir.join("src"));
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         tester:x:1000:1000:tester:/home/tester:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nwheel:x:10:tester\ntester:x:1000:\nnogroup:x:65534:\n").unwrap();
    std::fs::create_dir_all(root.join("home/tester")).unwrap();
    std::os::unix::fs::chown(root.join("home/tester"), Some(1000), Some(1000)).unwrap();
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    env.ok(&["start", &name]);
    name
}

/// `sysctr ARGS`: (exit code, stdout trimmed, stderr trimmed).
fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env.sysctr(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// stderr of a refused command: exactly one line, `Error: ...`, containing `phrase`.
fn assert_one_line_error(args: &[&str], code: i32, stderr: &str, phrase: &str) {
    assert_ne!(code, 0, "{args:?} succeeded");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line of error wanted, got:\n{stderr}");
    assert!(stderr.starts_with("Error: "), "{args:?}: {stderr}");
    assert!(stderr.contains(phrase), "{args:?}: {stderr:?} should mention {phrase:?}");
}

/// The container's process list, one `PID ARGS` line each.
fn ps(env: &Env, name: &str) -> String {
    env.exec(name, &["ps", "-o", "pid,args"]).1
}


#[test]
fn exec_status_stdio_user_cwd_and_env() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "exb");

    assert_eq!(env.exec(&name, &["sh", "-c", "exit 7"]).0, 7);
    assert_eq!(env.exec(&name, &["sh", "-c", "kill -TERM $$"]).0, 128 + 15, "death by signal N is 128+N");
    let (code, _, err) = run(&env, &["exec", &name, "--", "no-such-command"]);
    assert_eq!(code, 127);
    assert!(err.contains("command not found"), "{err}");

    // A pty on request, from the container's devpts; pipes otherwise.
    let (code, out, _) = run(&env, &["exec", "-t", &name, "--", "tty"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("/dev/pts/") && out["/dev/pts/".len()..].parse::<u32>().is_ok(), "{out:?}");
    let (code, out, _) = run(&env, &["exec", "-T", &name, "--", "tty"]);
    assert_eq!((code, out.as_str()), (1, "not a tty"));

    // stdin reaches the command, and its EOF too (cat ends).
    let mut child = env.cmd(&["exec", &name, "--", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hi\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(0), "hi\n"));
    // stdout and stderr stay apart.
    let (code, out, err) = run(&env, &["exec", &name, "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out", "err"));

    // Users, groups and their defaults.
    assert_eq!(run(&env, &["exec", "--user", "nobody", &name, "--", "id", "-u"]).1, "65534");
    assert_eq!(run(&env, &["exec", "--user", "nobody", &name, "--", "pwd"]).1, "/", "a missing home gives /");
    assert_eq!(run(&env, &["exec", &name, "--", "pwd"]).1, "/root", "root's home");
    let (_, out, _) = run(&env, &["exec", "--user", "tester", &name, "--", "sh", "-c", "id -u; id -g; id -G; pwd; echo $HOME $USER"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["1000", "1000"], "{out}");
    assert_eq!(lines[2].split_whitespace().collect::<BTreeSet<_>>(), BTreeSet::from(["1000", "10"]), "{out}");
    assert_eq!(lines[3..], ["/home/tester", "/home/tester tester"], "{out}");
    assert_eq!(run(&env, &["exec", "--user", "1000", &name, "--", "id", "-u"]).1, "1000");
    assert_eq!(run(&env, &["exec", "--user", "4242", &name, "--", "id", "-u"]).1, "4242", "a bare uid need not exist");
    assert_eq!(run(&env, &["exec", "--user", "tester", "--group", "wheel", &name, "--", "id", "-g"]).1, "10");
    assert_eq!(run(&env, &["exec", "--user", "nobody", &name, "--", "sh", "-c", "touch /root/x"]).0, 1, "nobody cannot write /root");

    // Working directory and environment.
    assert_eq!(run(&env, &["exec", "--cwd", "/tmp", &name, "--", "pwd"]).1, "/tmp");
    let (_, out, _) = run(&env, &["exec", "--env", "A=B", "--env", "C=d=e", "--env", "HOME=/elsewhere", &name, "--", "sh", "-c", "echo $A $C $HOME"]);
    assert_eq!(out, "B d=e /elsewhere");
    let (_, out, _) = run(&env, &["exec", &name, "--", "env"]);
    let keys: BTreeSet<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(!keys.contains("SYSCTR_STATE_DIR") && !keys.contains("SYSCTR_RUN_DIR"), "the host's environment stays out: {out}");
    assert!(keys.contains("PATH") && keys.contains("HOME"), "{out}");
}

/// Interactive use from a real terminal (tmux): a pty by default, pipes with -T,
/// Ctrl-C ends the command and the CLI promptly, `shell` gives a login shell.
#[test]
fn exec_from_a_terminal_ctrl_c_and_shell() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "exi");
    let tmux = Tmux::new();

    tmux.spawn("auto", &env, &["exec", &name, "--", "sh", "-c", "tty; echo TERM=$TERM"]);
    assert!(tmux.wait("auto", Duration::from_secs(10), |p| p.contains("EXIT=")), "{}", tmux.pane("auto"));
    let pane = tmux.pane("auto");
    assert!(pane.contains("\n/dev/pts/") || pane.starts_with("/dev/pts/"), "a pty when on a terminal:\n{pane}");
    assert!(pane.contains("TERM=tmux") || pane.contains("TERM=screen"), "the caller's TERM is passed:\n{pane}");
    assert!(pane.contains("EXIT=0"), "{pane}");

    tmux.spawn("pipes", &env, &["exec", "-T", &name, "--", "tty"]);
    assert!(tmux.wait("pipes", Duration::from_secs(10), |p| p.contains("EXIT=")));
    assert!(tmux.pane("pipes").contains("not a tty"), "{}", tmux.pane("pipes"));

    tmux.spawn("intr", &env, &["exec", "-t", &name, "--", "sleep", "4321"]);
    assert!(wait_for(Duration::from_secs(10), || ps(&env, &name).contains("sleep 4321")), "sleep never started");
    let t0 = Instant::now();
    tmux.keys("intr", &["C-c"]);
    assert!(tmux.wait("intr", Duration::from_secs(3), |p| p.contains("EXIT=")), "Ctrl-C did not end exec:\n{}", tmux.pane("intr"));
    eprintln!("Ctrl-C ended exec -t in {:?}", t0.elapsed());
    assert!(tmux.pane("intr").contains("EXIT=130"), "killed by SIGINT: {}", tmux.pane("intr"));
    assert!(!ps(&env, &name).contains("sleep 4321"), "the sleep must be gone: {}", ps(&env, &name));

    tmux.spawn("shell", &env, &["shell", &name]);
    assert!(tmux.wait("shell", Duration::from_secs(10), |p| p.contains('#')), "no prompt:\n{}", tmux.pane("shell"));
    tmux.text("shell", "tty; echo SH$((6*7)) $HOME; exit 3");
    tmux.keys("shell", &["Enter"]);
    assert!(tmux.wait("shell", Duration::from_secs(10), |p| p.contains("EXIT=")), "{}", tmux.pane("shell"));
    let pane = tmux.pane("shell");
    assert!(pane.contains("SH42 /root") && pane.contains("/dev/pts/") && pane.contains("EXIT=3"), "{pane}");
}

#[test]
fn sigterm_to_the_cli_ends_the_command_inside() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "exs");
    let mut child = env.cmd(&["exec", &name, "--", "sleep", "4322"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = wait_for(Duration::from_secs(10), || ps(&env, &name).contains("sleep 4322"));
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the sleep never showed up: {}", ps(&env, &name));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut status = None;
    wait_for(Duration::from_secs(5), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("exec did not end on SIGTERM");
    };
    assert_eq!(status.code(), Some(128 + 15), "the command died of the forwarded SIGTERM");
    assert!(wait_for(Duration::from_secs(5), || !ps(&env, &name).contains("sleep 4322")), "sleep left running: {}", ps(&env, &name));
}

#[test]
fn hundred_megabytes_through_exec_arrive_intact() {
    if !require_root() {
        return;
    }
    const SIZE: u64 = 100_000_000;
    let env = Env::new();
    let name = running_busybox(&env, "exbig");
    let file = env.dir.join("stream.bin");
    {
        let mut src = std::io::Read::take(std::fs::File::open("/dev/urandom").unwrap(), SIZE);
        let mut dst = std::fs::File::create(&file).unwrap();
        assert_eq!(std::io::copy(&mut src, &mut dst).unwrap(), SIZE);
    }
    let sha = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned();
    let want = sha(Command::new("sha256sum").arg(&file).output().unwrap());

    let t0 = Instant::now();
    let mut exec = env.cmd(&["exec", &name, "--", "cat"]).stdin(std::fs::File::open(&file).unwrap()).stdout(Stdio::piped()).spawn().unwrap();
    let hasher = Command::new("sha256sum").stdin(exec.stdout.take().unwrap()).stdout(Stdio::piped()).spawn().unwrap();
    let got = sha(hasher.wait_with_output().unwrap());
    let status = exec.wait().unwrap();
    let took = t0.elapsed();
    std::fs::remove_file(&file).unwrap();
    assert!(status.success(), "exec cat: {status}");
    assert_eq!(got, want, "the stream arrived altered");
    eprintln!("exec stream: {} MB in {took:.2?} = {:.1} MB/s", SIZE / 1_000_000, SIZE as f64 / 1e6 / took.as_secs_f64());
}

/// (st_dev, st_ino) of a host path, as `stat -c %d:%i` prints it.
fn dev_ino(p: &Path) -> Option<String> {
    std::fs::metadata(p).ok().map(|m| format!("{}:{}", m.dev(), m.ino()))
}

/// exec with `--cwd cwd` either fails with a one-line error, or lands in a directory the
/// container itself reaches by the path `pwd` shows; never in a host directory.
fn assert_cwd_stays_inside(env: &Env, name: &str, cwd: &str, tty: bool, host_dirs: &BTreeSet<String>) {
    let mode = if tty { "-t" } else { "-T" };
    let args = ["exec", mode, "--cwd", cwd, name, "--", "sh", "-c", "pwd; stat -c %d:%i .; ls -a | tr '\\n' ' '"];
    let (code, out, err) = run(env, &args);
    if code != 0 {
        let err = if tty { out.clone() } else { err }; // with a pty, stderr is the pty too
        let err = err.trim();
        assert_eq!(err.lines().count(), 1, "--cwd {cwd}: {err}");
        assert!(err.contains("chdir"), "--cwd {cwd} failed for another reason: {err}");
        return;
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 3, "--cwd {cwd}: {out}");
    let (pwd, id, listing) = (lines[0], lines[1], lines[2]);
    assert!(!host_dirs.contains(id), "--cwd {cwd} ({mode}) landed in a HOST directory: pwd={pwd} ls={listing}");
    assert!(pwd.starts_with('/') && !pwd.contains(env.dir.to_str().unwrap()), "--cwd {cwd}: pwd {pwd}");
    if let Some(rest) = pwd.strip_prefix("/proc/") {
        // A directory of a process that has exited by now (/proc/self/fd of the exec'd
        // process): it must be of the container's procfs.
        assert!(rest.starts_with(|c: char| c.is_ascii_digit()), "--cwd {cwd}: pwd {pwd}");
        let (_, proc_dev, _) = run(env, &["exec", name, "--", "stat", "-c", "%d", "/proc"]);
        assert_eq!(id.split(':').next(), Some(proc_dev.as_str()), "--cwd {cwd} ({mode}) is not on the container's /proc: {pwd}");
        return;
    }
    // The same directory, reached by its path from inside.
    let (c, again, _) = run(env, &["exec", name, "--", "sh", "-c", "cd \"$1\" && stat -c %d:%i .", "sh", pwd]);
    assert_eq!((c, again.as_str()), (0, id), "--cwd {cwd} ({mode}) is not the container's {pwd}: ls={listing}");
}

#[test]
fn hostile_working_directories_never_reach_the_host() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "excwd");
    // Host directories an escape would most likely land in (host /proc: its dev differs
    // from the container's procfs).
    let mut host_dirs: BTreeSet<String> = ["/", "/tmp", "/proc", "/dev", "/root", "/work", "/var/tmp"]
        .iter()
        .filter_map(|p| dev_ino(Path::new(p)))
        .collect();
    for p in [env.dir.clone(), env.state.clone(), env.run.clone(), env.state.join("containers"), std::env::current_dir().unwrap()] {
        host_dirs.extend(dev_ino(&p));
    }
    if let Ok(rd) = std::fs::read_dir(&env.run) {
        for e in rd.flatten() {
            host_dirs.extend(dev_ino(&e.path()));
        }
    }
    assert!(!host_dirs.contains(&dev_ino(&env.state.join("containers").join(&name).join("rootfs")).unwrap()));

    for link in ["/proc/self/fd/3", "/proc/self/fd/0", "/proc/self/cwd", "/proc/self/root", "/proc/1/cwd"] {
        let at = format!("/tmp/l{}", link.replace('/', "_"));
        assert_eq!(env.exec(&name, &["ln", "-s", link, &at]).0, 0);
    }
    let mut cwds: Vec<String> = (0..10).map(|n| format!("/proc/self/fd/{n}")).collect();
    cwds.extend(["/proc/self/fd/3", "/proc/self/fd/0", "/proc/self/cwd", "/proc/self/root", "/proc/1/cwd"].map(|l| format!("/tmp/l{}", l.replace('/', "_"))));
    cwds.extend(["/proc/self/cwd", "/proc/self/root", "/proc/1/root", "/proc/1/cwd", "/../../..", "/proc/self/fd"].map(String::from));
    for cwd in &cwds {
        for tty in [false, true] {
            assert_cwd_stays_inside(&env, &name, cwd, tty, &host_dirs);
        }
    }
}

/// Descriptors: an exec'd process holds its stdio and nothing else of ours. With -t the
/// stdio is one pty of the container's own devpts (TIOCSTI from it can only reach that
/// pty); without, three pipes, never the caller's terminal.
#[test]
fn exec_sees_only_its_stdio_from_the_containers_devpts_or_pipes() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "exfd");
    for mode in ["-T", "-t"] {
        let (code, out, _) = run(&env, &["exec", mode, &name, "--", "ls", "/proc/self/fd"]);
        assert_eq!(code, 0);
        let fds: BTreeSet<&str> = out.split_whitespace().collect();
        // 3 is the directory ls itself opened to list.
        assert!(fds.is_subset(&BTreeSet::from(["0", "1", "2", "3"])) && fds.len() >= 3, "{mode}: fds {fds:?}");
        assert!(["0", "1", "2"].iter().all(|f| fds.contains(f)), "{mode}: {fds:?}");
    }

    let script = "for i in 0 1 2; do readlink /proc/$$/fd/$i; done; stat -L -c %d /proc/$$/fd/0; stat -c %d /dev/pts";
    let (_, out, _) = run(&env, &["exec", "-T", &name, "--", "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines[..3].iter().all(|l| l.starts_with("pipe:[")), "without a pty, stdio are pipes: {out}");

    let (_, out, _) = run(&env, &["exec", "-t", &name, "--", "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("/dev/pts/") && lines[..3].iter().all(|l| *l == lines[0]), "stdio is one pty: {out}");
    let host_pts = std::fs::metadata("/dev/pts").unwrap().dev().to_string();
    assert_eq!(lines[3], lines[4], "the pty belongs to the container's /dev/pts: {out}");
    assert_ne!(lines[3], host_pts, "the pty must not come from the host's devpts");
}

#[test]
fn exec_errors_are_one_clear_line() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let missing = env.name("exmissing");
    let (code, _, err) = run(&env, &["exec", &missing, "--", "true"]);
    assert_one_line_error(&["exec", &missing], code, &err, "does not exist");
    let (code, _, err) = run(&env, &["exec", "-t", &missing, "--", "true"]);
    assert_one_line_error(&["exec", "-t", &missing], code, &err, "does not exist");

    let name = running_busybox(&env, "exerr");
    for args in [
        vec!["exec", "--user", "nosuchuser", &name, "--", "true"],
        vec!["exec", "-t", "--user", "nosuchuser", &name, "--", "true"],
    ] {
        let (code, out, err) = run(&env, &args);
        // With a pty the command's stderr is the pty, relayed to our stdout.
        let msg = if args.contains(&"-t") { out } else { err };
        assert_one_line_error(&args, code, &msg, "nosuchuser");
    }
    let args = ["exec", "--user", "tester", "--group", "nosuchgroup", &name, "--", "true"];
    let (code, _, err) = run(&env, &args);
    assert_one_line_error(&args, code, &err, "nosuchgroup");
    let args = ["exec", "--cwd", "/no/such/dir", &name, "--", "true"];
    let (code, _, err) = run(&env, &args);
    assert_one_line_error(&args, code, &err, "/no/such/dir");
    let args = ["exec", "--env", "=x", &name, "--", "true"];
    let (code, _, err) = run(&env, &args);
    assert_one_line_error(&args, code, &err, "=x");

    env.ok(&["stop", &name]);
    for args in [vec!["exec", &name, "--", "true"], vec!["exec", "-t", &name, "--", "true"], vec!["shell", &name]] {
        let (code, _, err) = run(&env, &args);
        assert_one_line_error(&args, code, &err, "not running");
    }
}

/// A missing command is 127 whether named bare or by path (as in a shell); a file that is
/// not executable is 126.
#[test]
fn exec_of_a_missing_program_exits_127_and_of_a_non_executable_126() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox(&env, "ex127");
    for prog in ["no-such-command", "/no/such/program", "./nothing-here"] {
        let (code, _, err) = run(&env, &["exec", &name, "--", prog]);
        assert_eq!(code, 127, "exec {prog}: {err}");
        assert_one_line_error(&["exec", prog], code, &err, prog);
    }
    let (code, _, err) = run(&env, &["exec", &name, "--", "/etc/passwd"]);
    assert_eq!(code, 126, "{err}");
    assert_one_line_error(&["exec", "/etc/passwd"], code, &err, "/etc/passwd");
}

/// TIOCSTI from inside an exec'd process pushes keystrokes only into the container's own
/// pty (with -t) or fails (pipes): never into the caller's terminal. The caller's pane runs
/// a shell that executes whatever line reaches its terminal after the exec, so a keystroke
/// that escaped would create the host marker file.
#[test]
fn tiocsti_from_an_exec_never_reaches_the_callers_terminal() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running_busybox_with_probe(&env, "sti");
    let tmux = Tmux::new();
    for (mode, flag) in [("pty", "-t"), ("pipes", "-T")] {
        let marker = env.dir.join(format!("host-marker-{mode}"));
        let payload = format!("touch {}\r", marker.display());
        let session = format!("sti-{mode}");
        tmux.spawn_then(&session, &env, &["exec", flag, &name, "--", "/probe", "--tiocsti", &payload], "read -r line; eval \"$line\"; exec sleep 1000");
        tmux.expect_text(&session, Duration::from_secs(20), "EXIT=");
        let pane = tmux.pane(&session);
        if mode == "pty" {
            assert!(pane.contains("\"tiocsti\":\"injected\""), "the probe could inject into its own pty: {pane}");
        } else {
            assert!(pane.contains("\"tiocsti\":\"refused"), "a pipe takes no TIOCSTI: {pane}");
        }
        // Give an escaped keystroke every chance to be read and run by the host shell.
        std::thread::sleep(Duration::from_millis(500));
        assert!(!marker.exists(), "{mode}: keystrokes injected in the container ran on the host");
    }
}
