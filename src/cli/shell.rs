use std::io::IsTerminal;

use crate::api::ExecPost;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Log in as this user (default root).
    #[arg(long)]
    pub user: Option<String>,
}

/// A login shell: `su -l USER` in a pty, as `incus shell` does.
pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let user = a.user.unwrap_or_else(|| "root".into());
    let interactive = std::io::stdin().is_terminal();
    let term = std::env::var("TERM").ok().filter(|_| interactive);
    let req = ExecPost { command: vec!["su".into(), "-l".into(), user], interactive, term, ..Default::default() };
    Ok(client.exec(&a.name, &req)?)
}
