//! The packages `packaging/build.sh` makes (target/packages): the .deb installs into a fresh
//! Debian 12 root that then boots as a sysctr container with the packaged units enabled
//! and running, and purges without a trace; upgrading it inside that container restarts the
//! daemon while what the daemon runs keeps running; the .rpm installs into an rpm database
//! root with its files, scripts and requires as intended. And the daemon takes its socket
//! from a service manager (socket activation).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const UNITS: [&str; 3] = ["sysctr.socket", "sysctr.service", "sysctr-startup.service"];

/// A prerequisite: present, or skipped with a note off CI and a failure in CI.
fn have(what: &str, present: bool) -> bool {
    if !present {
        assert!(std::env::var_os("CI").is_none(), "{what} missing in CI");
        eprintln!("skipped: {what} missing");
    }
    present
}

fn tool(name: &str) -> bool {
    have(name, Command::new("sh").args(["-c", &format!("command -v {name}")]).stdout(Stdio::null()).status().unwrap().success())
}

/// A package of this version built by packaging/build.sh.
fn package(file: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/packages").join(file);
    have(&format!("{} (run packaging/build.sh)", p.display()), p.exists()).then_some(p)
}

fn deb() -> Option<PathBuf> {
    package(&format!("sysctr_{VERSION}-1_amd64.deb"))
}

fn rpm() -> Option<PathBuf> {
    package(&format!("sysctr-{VERSION}-1.x86_64.rpm"))
}

/// Run, require success, return stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian 12 with systemd and the package's dependencies (dnsmasq-base, nftables), built
/// once per machine by the fixture script.
fn debian12_with_deps() -> PathBuf {
    let dest = PathBuf::from(format!("{CACHE}/debian-12-pkg"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-rootfs.sh");
    run(Command::new("sh").arg(script).arg("bookworm").arg(&dest).arg("dnsmasq-base,nftables"));
    dest
}

/// A container `base-TAG` made from the fixture (a copy: the cache stays as it is) with
/// `deb` installed by dpkg in a chroot (no network, nothing mounted), not started.
fn container_with(env: &Env, base: &str, deb: &Path) -> (String, PathBuf) {
    let fixture = debian12_with_deps();
    let name = env.name(base);
    env.ok(&["create", &name, "--rootfs", fixture.to_str().unwrap()]);
    let root = env.state.join("containers").join(&name).join("rootfs");
    std::fs::copy(deb, root.join("root/sysctr.deb")).unwrap();
    run(Command::new("chroot").arg(&root).args(["dpkg", "-i", "/root/sysctr.deb"]));
    (name, root)
}

/// `sh -c script` inside: (exit code, stdout).
fn sh(env: &Env, name: &str, script: &str) -> (i32, String) {
    env.exec(name, &["sh", "-c", script])
}

fn boot(env: &Env, name: &str) {
    env.ok(&["start", name]);
    let (state, took) = env.wait_system_running(name, BOOT_TIMEOUT);
    let failed = sh(env, name, "systemctl list-units --failed --plain --no-legend --no-pager; journalctl -u 'sysctr*' --no-pager | tail -20").1;
    assert_eq!(state, "running", "after {took:?}; failed units and the service's log:\n{failed}");
}

fn unit_prop(env: &Env, name: &str, unit: &str, prop: &str) -> String {
    sh(env, name, &format!("systemctl show -p {prop} --value {unit}")).1
}

#[test]
fn deb_installs_into_debian12_which_boots_with_the_service_enabled_and_purges_clean() {
    if !require_root() || !tool("dpkg-deb") || !tool("debootstrap") {
        return;
    }
    let Some(deb) = deb() else { return };
    let env = Env::new();
    let (name, root) = container_with(&env, "pkgdeb", &deb);
    let files = run(Command::new("chroot").arg(&root).args(["dpkg", "-L", "sysctr"]));
    assert!(files.lines().any(|l| l == "/usr/bin/sysctr"), "{files}");
    boot(&env, &name);

    for unit in UNITS {
        assert_eq!(sh(&env, &name, &format!("systemctl is-enabled {unit}")).1, "enabled", "{unit}");
        assert_eq!(sh(&env, &name, &format!("systemctl is-active {unit}")).1, "active", "{unit}");
    }
    assert_eq!(unit_prop(&env, &name, "sysctr.service", "KillMode"), "process");
    assert_eq!(unit_prop(&env, &name, "sysctr.service", "Delegate"), "yes");
    // The socket is systemd's, with the packaged owner and mode, and the daemon took it.
    assert_eq!(sh(&env, &name, "stat -c %a:%U:%G /run/sysctr/sysctr.sock").1, "660:root:sysctr-admin");
    let (_, log) = sh(&env, &name, "journalctl -u sysctr.service -o cat --no-pager");
    assert!(log.contains("(socket activation)"), "daemon log: {log}");

    let (code, version) = sh(&env, &name, "sysctr --version");
    assert_eq!((code, version.as_str()), (0, format!("sysctr {VERSION}").as_str()));
    let (code, doctor) = sh(&env, &name, "sysctr doctor");
    assert!(code == 0 || code == 1, "doctor exit {code}: {doctor}");
    for check in ["user namespaces:", "kernel:", "cgroup controllers:", "free disk:", "network tools: dnsmasq and nft found"] {
        assert!(doctor.contains(check), "doctor prints {check:?}:\n{doctor}");
    }
    assert_eq!(code == 1, doctor.lines().any(|l| l.starts_with("fail")), "exit 1 exactly when a check fails:\n{doctor}");
    // The packaged config points at the packaged templates.
    assert!(sh(&env, &name, "cat /etc/sysctr/sysctr.toml").1.contains("templates = \"/usr/share/sysctr/templates\""));
    assert_eq!(sh(&env, &name, "ls /usr/share/sysctr/templates").1, "debian.toml\nubuntu.toml");
    assert_eq!(sh(&env, &name, "man -w sysctr-daemon 2>/dev/null || ls /usr/share/man/man1/sysctr-daemon.1.gz").0, 0);

    // Purge: the daemon stopped, every file of the package and everything it made gone.
    let (code, out) = sh(&env, &name, "dpkg --purge sysctr 2>&1");
    assert_eq!(code, 0, "purge: {out}");
    // What dpkg leaves of a package is only directories that others own or fill.
    let check = format!(
        "for f in {} /etc/sysctr /var/lib/sysctr /run/sysctr; do \
           if [ -e \"$f\" ] || [ -L \"$f\" ]; then \
             if [ -d \"$f\" ] && {{ dpkg -S \"$f\" >/dev/null 2>&1 || [ -n \"$(ls -A \"$f\")\" ]; }}; then :; else echo \"$f\"; fi; \
           fi; done",
        files.lines().filter(|f| *f != "/.").collect::<Vec<_>>().join(" ")
    );
    assert_eq!(sh(&env, &name, &check).1, "", "left after purge");
    // Nor any enablement or state of deb-systemd-helper.
    let (_, left) = sh(&env, &name, "find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name 'sysctr*' 2>/dev/null");
    assert_eq!(left, "", "unit links left after purge");
    assert_ne!(sh(&env, &name, "dpkg -s sysctr >/dev/null 2>&1").0, 0, "still known to dpkg");
    assert_ne!(sh(&env, &name, "pgrep -x sysctr").0, 0, "a daemon still runs");
    env.ok(&["stop", &name]);
}

/// The same .deb with a lower version (dpkg-deb repack of its control file): the package
/// to upgrade from.
fn older(deb: &Path, dir: &Path, version: &str) -> PathBuf {
    let tree = dir.join("older");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let changed: String = text.lines().map(|l| if l.starts_with("Version:") { format!("Version: {version}\n") } else { format!("{l}\n") }).collect();
    assert_ne!(text, changed);
    std::fs::write(&control, changed).unwrap();
    let out = dir.join(format!("sysctr_{version}_amd64.deb"));
    run(Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&tree).arg(&out));
    out
}

#[test]
fn deb_upgrade_restarts_the_daemon_and_leaves_what_it_runs_running() {
    if !require_root() || !tool("dpkg-deb") || !tool("debootstrap") {
        return;
    }
    let Some(deb) = deb() else { return };
    let env = Env::new();
    let old = older(&deb, &env.dir, "0.0.1-1");
    let (name, root) = container_with(&env, "pkgupg", &old);
    std::fs::copy(&deb, root.join("root/new.deb")).unwrap();
    boot(&env, &name);
    assert_eq!(sh(&env, &name, "dpkg-query -W -f '${Version}' sysctr").1, "0.0.1-1");

    // What the daemon runs lives in its service's cgroup, as a container's monitor does:
    // a network's supervisor and its dnsmasq, started by the packaged daemon. (A container
    // inside this unprivileged one cannot boot: it may not mount a fresh proc.) The guest
    // cannot write /proc/sys (read-only), so IPv4 forwarding, which a network turns on, is
    // turned on in its network namespace from here, as an admin would on a host.
    let init = env.info(&name)["pid"].as_i64().unwrap().to_string();
    run(Command::new("nsenter").args(["-t", &init, "-n", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]));
    let (code, out) = sh(&env, &name, "sysctr network create pkgnet --ipv4 10.250.3.1/24 2>&1");
    assert_eq!(code, 0, "network create inside: {out}");
    let helpers = || {
        let (_, pids) = sh(&env, &name, "for p in $(cat /sys/fs/cgroup/system.slice/sysctr.service/cgroup.procs); do echo \"$p $(tr '\\0' ' ' < /proc/$p/cmdline)\"; done");
        let mut v: Vec<String> = pids.lines().filter(|l| !l.contains("/sysctr daemon")).map(|l| l.trim().to_owned()).collect();
        v.sort();
        v
    };
    let daemon = unit_prop(&env, &name, "sysctr.service", "MainPID");
    let before = helpers();
    assert!(before.iter().any(|l| l.contains("__network pkgnet")), "the supervisor runs in the service's cgroup: {before:?}");
    assert!(before.iter().any(|l| l.contains("dnsmasq")), "dnsmasq runs in the service's cgroup: {before:?}");
    let startup = unit_prop(&env, &name, "sysctr-startup.service", "ActiveEnterTimestampMonotonic");

    let (code, out) = sh(&env, &name, "dpkg -i /root/new.deb 2>&1");
    assert_eq!(code, 0, "upgrade: {out}");
    assert_eq!(sh(&env, &name, "dpkg-query -W -f '${Version}' sysctr").1, format!("{VERSION}-1"));
    assert!(wait_for(Duration::from_secs(20), || sh(&env, &name, "systemctl is-active sysctr.service").1 == "active"));
    let new_daemon = unit_prop(&env, &name, "sysctr.service", "MainPID");
    assert_ne!(new_daemon, daemon, "the daemon was restarted");
    assert_ne!(new_daemon, "0");
    assert_eq!(helpers(), before, "supervisor and dnsmasq kept their pids");
    assert_eq!(unit_prop(&env, &name, "sysctr-startup.service", "ActiveEnterTimestampMonotonic"), startup, "the start/stop unit was not restarted");
    // The new daemon knows the network its predecessor made.
    assert!(sh(&env, &name, "sysctr network list").1.contains("pkgnet"));
    assert_eq!(sh(&env, &name, "sysctr network delete pkgnet 2>&1").0, 0);
    env.ok(&["stop", &name]);
}

#[test]
fn rpm_installs_into_a_database_root_verifies_clean_and_has_the_intended_files_scripts_and_requires() {
    if !require_root() || !tool("rpm") {
        return;
    }
    let Some(pkg) = rpm() else { return };
    let q = |args: &[&str]| run(Command::new("rpm").args(["-qp"]).args(args).arg(&pkg));

    let mut files: Vec<String> = q(&["-l"]).lines().map(str::to_owned).collect();
    files.sort();
    let mut man: Vec<String> = files.iter().filter(|f| f.starts_with("/usr/share/man/man1/")).cloned().collect();
    files.retain(|f| !f.starts_with("/usr/share/man/man1/"));
    assert_eq!(
        files,
        [
            "/etc/sysctr",
            "/etc/sysctr/sysctr.toml",
            "/usr/bin/sysctr",
            "/usr/bin/sysctr-oci",
            "/usr/lib/systemd/system-preset/90-sysctr.preset",
            "/usr/lib/systemd/system/sysctr-startup.service",
            "/usr/lib/systemd/system/sysctr.service",
            "/usr/lib/systemd/system/sysctr.socket",
            "/usr/lib/sysusers.d/sysctr.conf",
            "/usr/lib/tmpfiles.d/sysctr.conf",
            "/usr/share/bash-completion/completions/sysctr",
            "/usr/share/doc/sysctr",
            "/usr/share/doc/sysctr/README.md",
            "/usr/share/doc/sysctr/README.packaging.md",
            "/usr/share/fish/vendor_completions.d/sysctr.fish",
            "/usr/share/sysctr",
            "/usr/share/sysctr/templates",
            "/usr/share/sysctr/templates/debian.toml",
            "/usr/share/sysctr/templates/ubuntu.toml",
            "/usr/share/zsh/site-functions/_sysctr",
        ]
    );
    man.sort();
    for page in ["sysctr.1.gz", "sysctr-daemon.1.gz", "sysctr-launch.1.gz", "sysctr-doctor.1.gz"] {
        assert!(man.iter().any(|m| m.ends_with(&format!("/{page}"))), "{page} in {man:?}");
    }
    assert_eq!(q(&["-c"]).trim(), "/etc/sysctr/sysctr.toml", "the only config file");

    let requires = q(&["--requires"]);
    for dep in ["dnsmasq", "nftables", "iproute"] {
        assert!(requires.lines().any(|l| l.trim() == dep), "requires {dep}: {requires}");
    }
    assert!(q(&["--recommends"]).lines().any(|l| l.trim() == "debootstrap"));

    let scripts = q(&["--scripts"]);
    let section = |head: &str| -> String {
        let start = scripts.find(head).unwrap_or_else(|| panic!("{head} in {scripts}"));
        let rest = &scripts[start + head.len()..];
        rest[..rest.find("scriptlet (using").unwrap_or(rest.len())].to_owned()
    };
    let (post, preun, postun) = (section("postinstall scriptlet"), section("preuninstall scriptlet"), section("postuninstall scriptlet"));
    assert!(post.contains("systemd-sysusers sysctr.conf") && post.contains("preset sysctr.socket sysctr.service sysctr-startup.service"), "{post}");
    assert!(post.contains("\"$1\" -eq 1"), "units enabled and started on first install only: {post}");
    assert!(preun.contains("\"$1\" -eq 0") && preun.contains("disable --now sysctr-startup.service sysctr.service sysctr.socket"), "{preun}");
    assert!(postun.contains("try-restart sysctr.service"), "{postun}");
    // Nothing but the daemon is restarted on upgrade: never the unit whose stop stops containers.
    for s in [&post, &postun] {
        assert!(!s.lines().any(|l| l.contains("restart") && l.contains("sysctr-startup")), "{s}");
    }

    // Into an empty database root. --nodeps: the root has no package that provides dnsmasq,
    // nftables, iproute or /bin/sh. Its scriptlets run chrooted there, with a static busybox
    // as /bin/sh (no systemd there: they do nothing else).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(Command::new("rpm").arg("--root").arg(root).arg("--initdb"));
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists()).expect("busybox-static installed");
    std::fs::copy(busybox, root.join("usr/bin/busybox")).unwrap();
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("usr/bin/sh")).unwrap();
    let out = run(Command::new("rpm").arg("--root").arg(root).args(["-ivh", "--nodeps"]).arg(&pkg));
    assert!(!out.contains("scriptlet failed"), "{out}");
    // --nodeps again: the files (digest, size, mode, owner, mtime...) are what is verified.
    let verify = Command::new("rpm").arg("--root").arg(root).args(["-V", "--nodeps", "sysctr"]).output().unwrap();
    assert!(verify.status.success() && verify.stdout.is_empty(), "rpm -V: {}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert_eq!(run(Command::new(root.join("usr/bin/sysctr")).arg("--version")).trim(), format!("sysctr {VERSION}"));
    let config = std::fs::read_to_string(root.join("etc/sysctr/sysctr.toml")).unwrap();
    assert!(config.contains("templates = \"/usr/share/sysctr/templates\""));
    run(Command::new("rpm").arg("--root").arg(root).args(["-e", "sysctr"]));
    for f in ["usr/bin/sysctr", "etc/sysctr/sysctr.toml", "usr/lib/systemd/system/sysctr.service", "usr/share/sysctr"] {
        assert!(std::fs::symlink_metadata(root.join(f)).is_err(), "{f} left after rpm -e");
    }
}

#[test]
fn daemon_serves_on_a_socket_passed_by_the_service_manager() {
    if !require_root() || !tool("systemd-socket-activate") {
        return;
    }
    let env = Env::new();
    std::fs::create_dir_all(&env.run).unwrap();
    let sock = env.run.join("sysctr.sock");
    let mut activator = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&sock)
        .arg(format!("--setenv=SYSCTR_STATE_DIR={}", env.state.display()))
        .arg(format!("--setenv=SYSCTR_RUN_DIR={}", env.run.display()))
        .arg(format!("--setenv=SYSCTR_CONFIG={}", env.dir.join("sysctr.toml").display()))
        .arg("--setenv=PATH=/usr/sbin:/usr/bin:/sbin:/bin")
        .args([SYSCTR, "daemon"])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(env.dir.join("activator.log")).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || sock.exists()), "the activator listens");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let listening = inode(&sock);

    // A request starts the daemon on the passed socket, which it answers as its own.
    assert_eq!(env.ok(&["list", "--format", "json"]).trim(), "[]");
    let pid = env.daemon_pid().expect("the activated daemon wrote its pid");
    assert_eq!(inode(&sock), listening, "the daemon did not bind a socket of its own");
    let fd3 = std::fs::read_link(format!("/proc/{pid}/fd/3")).unwrap();
    assert!(fd3.to_string_lossy().starts_with("socket:"), "fd 3 is the passed socket: {fd3:?}");
    let log = std::fs::read_to_string(env.dir.join("activator.log")).unwrap();
    assert!(log.contains("(socket activation)"), "{log}");

    // SIGTERM: the daemon goes, the socket it did not make stays for the next one.
    env.stop_daemon();
    assert!(sock.exists(), "an activated socket is the service manager's to remove");
    let _ = activator.kill();
    let _ = activator.wait();
}

#[test]
fn lintian_and_rpmlint_report_no_errors() {
    if !tool("lintian") || !tool("rpmlint") {
        return;
    }
    let (Some(deb), Some(rpm)) = (deb(), rpm()) else { return };
    // Warnings are allowed and listed (packaging/README.md says why each stays).
    let out = Command::new("lintian").args(["--fail-on", "error"]).arg(&deb).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !report.lines().any(|l| l.starts_with("E:")), "lintian:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/rpmlint.toml");
    let out = Command::new("rpmlint").arg("-c").arg(config).arg(&rpm).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && report.contains(" 0 errors"), "rpmlint:\n{report}{}", String::from_utf8_lossy(&out.stderr));
}

/// The two halves of sysctr-startup.service on a real daemon: `--boot` returns once the
/// boot's autostart containers run, `--shutdown` stops them.
#[test]
fn startup_unit_commands_wait_for_autostart_and_stop_every_container() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let fails = env.fails(&["daemon", "--boot"]);
    assert!(fails.contains("talk to the daemon"), "no daemon, nothing to wake: {fails}");
    let name = env.name("pkgauto");
    let root = busybox_rootfs(&env.dir.join("src"));
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap(), "-c", "boot.autostart=true"]);
    // A new host boot, as the next daemon sees it: another boot id on record.
    env.stop_daemon();
    std::fs::write(env.state.join("daemon-boot-id"), "an-earlier-boot\n").unwrap();
    // The CLI starts a daemon (as socket activation would), whose autostart is then under
    // way; --boot waits for it to finish.
    env.ok(&["list"]);
    let out = env.ok(&["daemon", "--boot"]);
    assert!(out.starts_with("autostart done"), "{out}");
    assert_eq!(env.status(&name), "RUNNING", "running when --boot returns");
    let out = env.ok(&["daemon", "--shutdown"]);
    assert_eq!(out.trim(), format!("Stopped {name}"));
    assert_eq!(env.status(&name), "STOPPED");
}
