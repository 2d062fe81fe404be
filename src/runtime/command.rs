//! `sysctr oci ...` / `sysctr-oci ...`: the built-in runtime as a runc-compatible command, so
//! OCI tooling (and our own monitor) drive it exactly as they drive runc or crun.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::{chain, CreateOptions, Runtime};

#[derive(Debug, Parser)]
#[command(name = "sysctr-oci", about = "sysctr's built-in OCI runtime (runc-compatible verbs)", version)]
pub struct Args {
    /// Directory for the runtime's container state.
    #[arg(long, global = true, default_value = "/run/sysctr/runtime/builtin")]
    pub root: PathBuf,
    /// Write errors to this file as well (runc's --log).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json (runc's --log-format).
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Accepted for runc compatibility; sysctr manages cgroupfs directly.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Create a container: everything is set up, its process waits for `start`.
    Create(CreateArgs),
    /// Let a created container's process run.
    Start { id: String },
    /// Print the container's OCI state as JSON.
    State { id: String },
    /// Send a signal (default TERM) to the container's process.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Accepted for runc compatibility; the pid namespace dies with its init.
        #[arg(short, long)]
        all: bool,
    },
    /// Remove a stopped container's state and cgroups.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// create + start, then wait for the process and delete; exits with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    pub id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions<'_> {
        CreateOptions { bundle: &self.bundle, console_socket: self.console_socket.as_deref(), pid_file: self.pid_file.as_deref() }
    }
}

/// Run one verb; the process exit code.
pub fn main(args: Args) -> i32 {
    if args.systemd_cgroup {
        return fail(&args, "--systemd-cgroup is not supported: sysctr's runtime manages cgroupfs directly".into());
    }
    let rt = Runtime { root: args.root.clone(), cgroup_root: "/sys/fs/cgroup".into() };
    let result: super::Result<i32> = match &args.verb {
        Verb::Create(c) => rt.create(&c.id, &c.options()).map(|_| 0),
        Verb::Start { id } => rt.start(id).map(|()| 0),
        Verb::State { id } => rt.state(id).map(|s| {
            println!("{}", serde_json::to_string_pretty(&s).expect("state serialises"));
            0
        }),
        Verb::Kill { id, signal, .. } => rt.kill(id, signal).map(|()| 0),
        Verb::Delete { force, id } => rt.delete(id, *force).map(|()| 0),
        Verb::Run { create: c, detach: true } => rt.create(&c.id, &c.options()).and_then(|_| rt.start(&c.id)).map(|()| 0),
        Verb::Run { create: c, detach: false } => rt.run(&c.id, &c.options()),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&args, chain(&e)),
    }
}

fn fail(args: &Args, msg: String) -> i32 {
    eprintln!("sysctr-oci: {msg}");
    if let Some(log) = &args.log {
        let line = if args.log_format == "json" {
            serde_json::json!({ "level": "error", "msg": msg }).to_string()
        } else {
            msg
        };
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
    }
    1
}
