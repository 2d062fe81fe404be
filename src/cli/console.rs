use std::io::{IsTerminal, Write};

use crate::client::{Client, Ended, Escape};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Print the console output kept so far and exit.
    #[arg(long)]
    pub show_log: bool,
    /// Escape key: Ctrl + this letter, then `q` detaches (`^a`, `b`, ...).
    #[arg(long, default_value = "^a")]
    pub escape: String,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    if a.show_log {
        std::io::stdout().write_all(&client.console_log(&a.name)?)?;
        return Ok(0);
    }
    attach(client, &a.name, &a.escape, false)
}

/// Attach (also for `start --console`), telling the viewer how to leave.
pub fn attach(client: &Client, name: &str, escape: &str, replay: bool) -> anyhow::Result<i32> {
    let key = Escape::parse(escape).ok_or_else(|| anyhow::anyhow!("--escape {escape:?}: use a letter, e.g. ^a or b"))?;
    let letter = (key + b'a' - 1) as char;
    if std::io::stdin().is_terminal() {
        eprintln!("To detach from the console, press: <ctrl>+{letter} q");
    }
    match client.console(name, key, replay)? {
        Ended::Detached => eprintln!("\r\nDetached from {name}."),
        Ended::Closed => eprintln!("\r\nThe console of {name} closed (the container stopped)."),
    }
    Ok(0)
}
