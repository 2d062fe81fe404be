use std::io::IsTerminal;

use crate::api::ExecPost;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Force a pty (default: a pty when stdin and stdout are terminals).
    #[arg(short = 't', long = "force-interactive", conflicts_with = "no_tty")]
    pub tty: bool,
    /// Force pipes, no pty.
    #[arg(short = 'T', long = "force-noninteractive")]
    pub no_tty: bool,
    /// Environment variable NAME=value (repeatable).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// User name or uid inside the container (default root).
    #[arg(long)]
    pub user: Option<String>,
    /// Group name or gid inside the container (default: the user's).
    #[arg(long)]
    pub group: Option<String>,
    /// Working directory inside the container (default: the user's home).
    #[arg(long)]
    pub cwd: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let interactive = a.tty || (!a.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let term = std::env::var("TERM").ok().filter(|_| interactive);
    let req = ExecPost { command: a.command, environment: a.env, user: a.user, group: a.group, cwd: a.cwd, interactive, term };
    Ok(client.exec(&a.name, &req)?)
}
