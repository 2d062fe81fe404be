//! Acceptance "Bad input": invalid names, unknown config keys, a missing container, a
//! double start, delete of a running container without `--force`, and friends. Each is
//! refused with a one-line `Error: ...` saying what to do, a non-zero exit status, and
//! nothing changed on disk (the whole instance directory — state, run, locks — is
//! compared before and after).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Every entry below `dir`, symlinks not followed (see `common::tree_snapshot`).
fn snapshot(dir: &Path) -> Vec<String> {
    tree_snapshot(dir)
}

/// A snapshot once it stops changing (a running guest may still be writing its console
/// log right after boot).
fn settled_snapshot(dir: &Path) -> Vec<String> {
    let t0 = Instant::now();
    let mut last = snapshot(dir);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = snapshot(dir);
        if now == last || t0.elapsed() > Duration::from_secs(10) {
            return now;
        }
        last = now;
    }
}

fn diff(before: &[String], after: &[String]) -> String {
    let gone = before.iter().filter(|l| !after.contains(l)).map(|l| format!("- {l}"));
    let new = after.iter().filter(|l| !before.contains(l)).map(|l| format!("+ {l}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

/// Check a refusal against a snapshot taken before it: non-zero exit, one line
/// `Error: ...` containing `phrase`, and the instance directory as it was. Returns the
/// line, or what is wrong with it.
fn try_refused(env: &Env, before: &[String], args: &[&str], phrase: &str) -> Result<String, String> {
    let out = env.sysctr(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let msg = stderr.trim();
    if out.status.success() {
        return Err(format!("sysctr {args:?} unexpectedly succeeded: {}", String::from_utf8_lossy(&out.stdout)));
    }
    if msg.lines().count() != 1 {
        return Err(format!("sysctr {args:?}: the error is not one line:\n{msg}"));
    }
    if !msg.starts_with("Error: ") {
        return Err(format!("sysctr {args:?}: the error does not start with `Error: `:\n{msg}"));
    }
    if !msg.contains(phrase) {
        return Err(format!("sysctr {args:?}: the error does not say {phrase:?}:\n{msg}"));
    }
    let after = snapshot(&env.dir);
    if before != after {
        return Err(format!("sysctr {args:?} ({msg}) changed the disk:\n{}", diff(before, &after)));
    }
    Ok(msg.to_owned())
}

fn check_refused(env: &Env, before: &[String], args: &[&str], phrase: &str) -> String {
    try_refused(env, before, args, phrase).unwrap_or_else(|e| panic!("{e}"))
}

/// `check_refused` with a fresh snapshot.
fn refused(env: &Env, args: &[&str], phrase: &str) -> String {
    let before = snapshot(&env.dir);
    check_refused(env, &before, args, phrase)
}

/// Many refusals, all checked (each against a fresh snapshot), failures reported together.
#[derive(Default)]
struct Refusals(Vec<String>);

impl Refusals {
    fn check(&mut self, env: &Env, args: &[&str], phrase: &str) {
        let before = snapshot(&env.dir);
        if let Err(e) = try_refused(env, &before, args, phrase) {
            self.0.push(e);
        }
    }

    fn assert_all_ok(self) {
        assert!(self.0.is_empty(), "{} refusal(s) wrong:\n\n{}", self.0.len(), self.0.join("\n\n"));
    }
}

/// `check_refused` for an instance with a running container.
fn refused_while_running(env: &Env, args: &[&str], phrase: &str) -> String {
    let before = settled_snapshot(&env.dir);
    check_refused(env, &before, args, phrase)
}

/// A directory to create containers from. Refusals never get as far as booting it.
fn empty_rootfs(env: &Env) -> String {
    let d = env.dir.join("src/rootfs");
    std::fs::create_dir_all(&d).unwrap();
    d.to_str().unwrap().to_owned()
}

fn created(env: &Env, base: &str) -> String {
    let root = busybox_rootfs(&env.dir.join("src"));
    let name = env.name(base);
    env.ok(&["create", &name, "--rootfs", root.to_str().unwrap()]);
    name
}

fn running(env: &Env, base: &str) -> String {
    let name = created(env, base);
    env.ok(&["start", &name]);
    assert_eq!(env.status(&name), "RUNNING");
    name
}

const NAME_HINT: &str = "use 1-63 characters";

fn bad_names() -> Vec<String> {
    ["", "..", ".", "a/b", "-x", "x-", "UPPER", "a_b", "123", "a b"]
        .into_iter()
        .map(str::to_owned)
        .chain([
            "a".repeat(64),
            // Would reach outside the run dir if a verb built a path from it.
            "../../escape".to_owned(),
        ])
        .collect()
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

#[test]
fn create_refuses_invalid_names() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let mut r = Refusals::default();
    for name in bad_names() {
        // After `--`, so `-x` reaches the name check rather than the flag parser.
        r.check(&env, &["create", "--rootfs", &rootfs, "--", &name], NAME_HINT);
    }
    r.assert_all_ok();
    assert!(!env.state.join("containers").exists() || std::fs::read_dir(env.state.join("containers")).unwrap().next().is_none());
}

/// A 63-character name is the longest allowed: the limit in the message is the real one.
#[test]
fn create_accepts_63_character_name() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let name = "a".repeat(63);
    env.ok(&["create", &name, "--rootfs", &rootfs]);
    env.ok(&["delete", &name]);
}

/// `sysctr create -x ...` without `--`: the flag parser refuses it (its own multi-line
/// usage message, which tells how to pass `-x` as a value); nothing is created.
#[test]
fn create_refuses_dash_name_given_as_a_flag() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let before = snapshot(&env.dir);
    let stderr = env.fails(&["create", "-x", "--rootfs", &rootfs]);
    assert!(stderr.contains("'-x'") && stderr.contains("-- -x"), "{stderr}");
    assert_eq!(before, snapshot(&env.dir));
}

/// Every verb that takes a name checks it before touching anything — in particular
/// before taking the per-container lock, whose file is named after the container.
#[test]
fn lifecycle_verbs_refuse_invalid_names_without_touching_disk() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    // An instance that has been used: the state, run and locks directories exist.
    let ok = env.name("ok");
    env.ok(&["create", &ok, "--rootfs", &rootfs]);
    let mut r = Refusals::default();
    for name in bad_names() {
        for verb in ["start", "stop", "restart", "delete", "info"] {
            r.check(&env, &[verb, "--", &name], NAME_HINT);
        }
        if !name.starts_with('-') {
            r.check(&env, &["exec", &name, "--", "true"], NAME_HINT);
        }
    }
    r.assert_all_ok();
}

/// Regression: `sysctr start ../../escape` used to create `<run>/locks/../../escape.lock`,
/// i.e. a root-owned file anywhere on the host, before the name was checked.
#[test]
fn invalid_name_creates_no_lock_file_outside_run_dir() {
    let env = Env::new();
    let escape = env.dir.join("escape.lock");
    let n = env.run.components().count() + 2;
    let deep = format!("{}{}", "../".repeat(n), env.dir.join("deep-escape").display().to_string().trim_start_matches('/'));
    let made = env.dir.join("deep-escape.lock");
    let mut wrong = Vec::new();
    for verb in ["start", "stop", "restart", "delete"] {
        for (name, file) in [("../../escape", &escape), (deep.as_str(), &made)] {
            env.fails(&[verb, "--", name]);
            if file.exists() {
                wrong.push(format!("`sysctr {verb} {name}` created {file:?}"));
                std::fs::remove_file(file).unwrap();
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[test]
fn create_refuses_unknown_config_keys() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let name = env.name("cfg");
    for kv in ["limits.cpus=2", "bogus=1", "environment.=x", "environment.A-B=x", "Runtime=builtin"] {
        let msg = refused(&env, &["create", &name, "--rootfs", &rootfs, "-c", kv], "known keys");
        let key = kv.split_once('=').unwrap().0;
        assert!(msg.contains(&format!("{key:?}")), "the error does not name the key {key:?}: {msg}");
    }
}

#[test]
fn create_refuses_relative_runtime_path() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let name = env.name("rt");
    for v in ["runc", "./runc", "bin/crun", ""] {
        let msg = refused(&env, &["create", &name, "--rootfs", &rootfs, "-c", &format!("runtime={v}")], "invalid value");
        assert!(msg.contains("absolute path"), "the error does not say what a valid value is: {msg}");
    }
}

/// A key added to `config.toml` by hand is checked at start: the error names the key and
/// nothing is started.
#[test]
fn unknown_key_in_edited_config_refuses_start() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = created(&env, "edit");
    let cfg = env.state.join("containers").join(&name).join("config.toml");
    let orig = std::fs::read_to_string(&cfg).unwrap();
    assert!(orig.contains("[config]"), "unexpected config.toml layout:\n{orig}");
    std::fs::write(&cfg, format!("{orig}\"limits.bogus\" = \"1\"\n")).unwrap();

    let msg = refused(&env, &["start", &name], "known keys");
    assert!(msg.contains("limits.bogus"), "the error does not name the key: {msg}");
    let run = env.run.join("containers").join(&name);
    assert!(!run.join("monitor.json").exists(), "a monitor was started");
    assert_no_cgroup(&name);

    std::fs::write(&cfg, orig).unwrap();
    assert_eq!(env.status(&name), "STOPPED");
}

/// A broken hand edit must not hide the other containers from `list`, nor make the broken
/// one impossible to delete.
#[test]
fn broken_config_is_listed_with_its_error_and_can_be_deleted() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let (good, bad) = (env.name("good"), env.name("bad"));
    env.ok(&["create", &good, "--rootfs", &rootfs]);
    env.ok(&["create", &bad, "--rootfs", &rootfs]);
    let cfg = env.state.join("containers").join(&bad).join("config.toml");
    std::fs::write(&cfg, "created = 1\nbogus = 2\n").unwrap();
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let broken = list.as_array().unwrap().iter().find(|c| c["name"] == bad.as_str()).unwrap();
    assert!(broken["error"].as_str().unwrap().contains("bogus"), "{broken}");
    env.ok(&["delete", &bad]);
    assert!(!env.state.join("containers").join(&bad).exists());
}

/// A misspelt top-level field in a hand-edited `config.toml` is refused in one line too
/// (not the TOML parser's multi-line excerpt), naming the field.
#[test]
fn unknown_field_in_edited_config_is_a_one_line_error() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let name = env.name("field");
    env.ok(&["create", &name, "--rootfs", &rootfs]);
    let cfg = env.state.join("containers").join(&name).join("config.toml");
    let orig = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("bogus = 2\n{orig}")).unwrap();
    let msg = refused(&env, &["start", &name], "bogus");
    assert!(msg.contains("config.toml"), "the error does not name the file to fix: {msg}");
    std::fs::write(&cfg, orig).unwrap();
}

// ---------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------

#[test]
fn create_refuses_missing_rootfs() {
    let env = Env::new();
    let name = env.name("nofs");
    let missing = env.dir.join("no-such-dir");
    refused(&env, &["create", &name, "--rootfs", missing.to_str().unwrap()], "not a directory");
    let file = env.dir.join("a-file");
    std::fs::write(&file, "not a rootfs").unwrap();
    refused(&env, &["create", &name, "--rootfs", file.to_str().unwrap()], "not a directory");
}

#[test]
fn create_refuses_existing_name() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    let name = env.name("dup");
    env.ok(&["create", &name, "--rootfs", &rootfs]);
    let msg = refused(&env, &["create", &name, "--rootfs", &rootfs], "already exists");
    assert!(msg.contains("delete"), "the error does not say what to do: {msg}");
    // Also with different settings: the existing container's config stays as it was.
    refused(&env, &["create", &name, "--rootfs", &rootfs, "-c", "environment.X=1"], "already exists");
}

// ---------------------------------------------------------------------------------------
// Missing and stopped containers
// ---------------------------------------------------------------------------------------

#[test]
fn missing_container_is_refused_without_touching_disk() {
    let env = Env::new();
    let rootfs = empty_rootfs(&env);
    // Another container exists, so the instance's directories do too.
    env.ok(&["create", &env.name("other"), "--rootfs", &rootfs]);
    // A name of its own per verb: one verb leaving a trace must not hide another's.
    let mut r = Refusals::default();
    for verb in ["start", "stop", "restart", "delete", "info"] {
        r.check(&env, &[verb, &env.name(&format!("no-{verb}"))], "does not exist");
    }
    r.check(&env, &["delete", "--force", &env.name("no-delete-force")], "does not exist");
    r.check(&env, &["exec", &env.name("no-exec"), "--", "true"], "does not exist");
    r.assert_all_ok();
}

#[test]
fn stop_of_stopped_container_is_refused() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = created(&env, "stopped");
    let msg = refused(&env, &["stop", &name], "not running");
    assert!(msg.contains("sysctr start"), "the error does not say what to do: {msg}");
    // Also once it has run and stopped.
    env.ok(&["start", &name]);
    env.ok(&["stop", &name]);
    let before = settled_snapshot(&env.dir);
    check_refused(&env, &before, &["stop", &name], "not running");
    check_refused(&env, &before, &["stop", "--force", &name], "not running");
}

#[test]
fn exec_into_stopped_container_is_refused() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = created(&env, "noexec");
    let msg = refused(&env, &["exec", &name, "--", "true"], "not running");
    assert!(msg.contains("sysctr start"), "the error does not say what to do: {msg}");
}

// ---------------------------------------------------------------------------------------
// Running containers
// ---------------------------------------------------------------------------------------

#[test]
fn double_start_is_refused() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running(&env, "twice");
    let pid = env.info(&name)["pid"].as_i64();
    refused_while_running(&env, &["start", &name], "already running");
    assert_eq!(env.status(&name), "RUNNING");
    assert_eq!(env.info(&name)["pid"].as_i64(), pid, "the running container was disturbed");
}

#[test]
fn delete_of_running_container_needs_force() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let name = running(&env, "busy");
    let pid = env.info(&name)["pid"].as_i64();
    let msg = refused_while_running(&env, &["delete", &name], "--force");
    assert!(msg.contains("sysctr stop"), "the error does not say what to do: {msg}");
    assert_eq!(env.status(&name), "RUNNING");
    assert_eq!(env.info(&name)["pid"].as_i64(), pid, "the running container was disturbed");
    let (code, _) = env.exec(&name, &["true"]);
    assert_eq!(code, 0);
    env.ok(&["delete", "--force", &name]);
    for d in env.container_dirs(&name) {
        assert!(!d.exists(), "{d:?} left behind");
    }
}
