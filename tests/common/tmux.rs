//! A tmux server of a test's own, to drive sysctr from a real terminal (console, exec -t).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{wait_for, Env, SYSCTR};

/// A tmux server of our own (its own socket), killed with everything in it on drop.
pub struct Tmux {
    socket: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Tmux {
    pub fn new() -> Tmux {
        let socket = format!("/tmp/sysctr-it-tmux-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        Tmux { socket }
    }

    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-S", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .expect("tmux installed")
    }

    /// Run `sysctr ARGS` (with `env`'s variables) in a new 120x40 session; when it ends the
    /// pane shows `EXIT=<code>` and stays.
    pub fn spawn(&self, session: &str, env: &Env, args: &[&str]) {
        self.spawn_then(session, env, args, "exec sleep 1000");
    }

    /// [`Tmux::spawn`], running shell code `then` in the pane after `sysctr` ended.
    pub fn spawn_then(&self, session: &str, env: &Env, args: &[&str], then: &str) {
        let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = format!(
            "env SYSCTR_STATE_DIR={} SYSCTR_RUN_DIR={} SYSCTR_CONFIG={} {}",
            q(env.state.to_str().unwrap()),
            q(env.run.to_str().unwrap()),
            q(env.dir.join("sysctr.toml").to_str().unwrap()),
            q(SYSCTR)
        );
        for a in args {
            line.push(' ');
            line.push_str(&q(a));
        }
        line.push_str("; echo EXIT=$?; ");
        line.push_str(then);
        let out = self.tmux(&["new-session", "-d", "-s", session, "-x", "120", "-y", "40", &line]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Key names (`Enter`, `C-a`, `q`).
    pub fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Literal text.
    pub fn text(&self, session: &str, text: &str) {
        assert!(self.tmux(&["send-keys", "-t", session, "-l", text]).status.success());
    }

    /// Everything the pane showed, scroll-back included, wrapped lines joined.
    pub fn pane(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", session]).stdout).into_owned()
    }

    /// Wait until the pane satisfies `f`.
    pub fn wait(&self, session: &str, timeout: Duration, f: impl Fn(&str) -> bool) -> bool {
        wait_for(timeout, || f(&self.pane(session)))
    }

    /// Wait until the pane satisfies `f`; panics with the pane's contents otherwise.
    pub fn expect(&self, session: &str, timeout: Duration, what: &str, f: impl Fn(&str) -> bool) {
        if !wait_for(timeout, || f(&self.pane(session))) {
            panic!("{session}: {what} not seen within {timeout:?}; the pane shows:\n{}", self.pane(session));
        }
    }

    pub fn expect_text(&self, session: &str, timeout: Duration, text: &str) {
        self.expect(session, timeout, &format!("{text:?}"), |p| p.contains(text));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}
