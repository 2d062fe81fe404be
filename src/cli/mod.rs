//! The `sysctr` command line: parse, make one client call, print the answer.

mod config;
mod console;
mod create;
mod delete;
mod exec;
mod image;
mod info;
mod launch;
mod list;
mod network;
mod remote;
mod restart;
mod shell;
mod start;
mod stop;
mod tui;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::client::{Client, Paths};

#[derive(Debug, Parser)]
#[command(
    name = "sysctr",
    about = "System containers: boot whole Linux distributions with their own init",
    version,
    after_help = "Every command talks to the host service over /run/sysctr/sysctr.sock, starting it when none answers.\n`sysctr daemon [--shutdown]` runs it in the foreground (for service managers), or stops every container in order."
)]
pub struct Cli {
    /// Persistent state directory [env: SYSCTR_STATE_DIR] [default: /var/lib/sysctr]
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    /// Runtime state directory [env: SYSCTR_RUN_DIR] [default: /run/sysctr]
    #[arg(long, global = true)]
    pub run_dir: Option<PathBuf>,
    /// Host configuration file [env: SYSCTR_CONFIG] [default: /etc/sysctr/sysctr.toml]
    #[arg(long, global = true)]
    pub host_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from an image and boot it: `sysctr launch debian web1`.
    Launch(launch::Args),
    /// Create a container from an image (--image) or a prepared root filesystem (--rootfs).
    Create(create::Args),
    /// Boot a container; returns when its init runs.
    Start(start::Args),
    /// Halt a container cleanly (its init's own halt signal), killing it after the timeout.
    Stop(stop::Args),
    /// Stop, then start.
    Restart(restart::Args),
    /// Remove a container and everything of it.
    Delete(delete::Args),
    /// Freeze every process of a running container (its cgroup freezer).
    #[command(alias = "freeze")]
    Pause(delete::NameArg),
    /// Thaw a paused container.
    #[command(alias = "unfreeze")]
    Resume(delete::NameArg),
    /// List containers.
    #[command(alias = "ls")]
    List(list::Args),
    /// Show one container's details and resource use.
    Info(info::Args),
    /// Get, set, unset and show a container's configuration keys (limits apply live).
    Config(config::Args),
    /// Managed bridge networks: DHCP, DNS (NAME.sysctr) and NAT.
    Network(network::Args),
    /// The local image store: list, info, delete, aliases, import, export, build.
    Image(image::Args),
    /// Image servers (simplestreams or LXC's index).
    Remote(remote::Args),
    /// Attach to a running container's console (Ctrl-a q detaches).
    Console(console::Args),
    /// Run a command inside a running container.
    Exec(exec::Args),
    /// A login shell inside a running container.
    Shell(shell::Args),
    /// Check the host for what containers need, and explain what to fix.
    Doctor,
    /// The live fleet dashboard: watch every container and act on it (`?` lists the keys).
    Tui(tui::Args),
}

impl Cli {
    pub fn paths(&self) -> Paths {
        let mut p = Paths::from_env();
        if let Some(d) = &self.state_dir {
            p.state = d.clone();
        }
        if let Some(d) = &self.run_dir {
            p.run = d.clone();
        }
        if let Some(c) = &self.host_config {
            p.config = c.clone();
        }
        p
    }
}

/// Run the parsed command; the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let client = Client::connect(cli.paths())?;
    match cli.command {
        Command::Launch(a) => launch::run(&client, a),
        Command::Create(a) => create::run(&client, a),
        Command::Start(a) => start::run(&client, a),
        Command::Stop(a) => stop::run(&client, a),
        Command::Restart(a) => restart::run(&client, a),
        Command::Delete(a) => delete::run(&client, a),
        Command::Pause(a) => client.freeze(&a.name, true).map(|()| 0).map_err(Into::into),
        Command::Resume(a) => client.freeze(&a.name, false).map(|()| 0).map_err(Into::into),
        Command::List(a) => list::run(&client, a),
        Command::Info(a) => info::run(&client, a),
        Command::Config(a) => config::run(&client, a),
        Command::Network(a) => network::run(&client, a),
        Command::Image(a) => image::run(&client, a),
        Command::Remote(a) => remote::run(&client, a),
        Command::Console(a) => console::run(&client, a),
        Command::Exec(a) => exec::run(&client, a),
        Command::Shell(a) => shell::run(&client, a),
        Command::Doctor => {
            let checks = client.doctor()?;
            for c in &checks {
                println!("{:<4}  {}: {}", c.level, c.name, c.detail);
                if let Some(f) = &c.fix {
                    println!("      fix: {f}");
                }
            }
            Ok(if checks.iter().any(|c| c.level == "fail") { 1 } else { 0 })
        }
        Command::Tui(a) => tui::run(&client, a),
    }
}

/// Print warnings the way every verb does.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Print what was done on the way (downloads, builds), on stderr: stdout is for answers.
fn note(notes: &[String]) {
    for n in notes {
        eprintln!("{n}");
    }
}

/// `KEY=VALUE` for `-c`.
fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Bytes as `12.3MiB`.
fn size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

/// CPU time as `0.42s`, `1m05s`, `3h12m`.
fn cpu_time(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    match s {
        0..=59 => format!("{:.2}s", ns as f64 / 1e9),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// Seconds since the epoch as a compact age: `5s`, `3m`, `2h`, `4d`.
fn age(since: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let s = now.saturating_sub(since);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
