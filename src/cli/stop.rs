use std::time::Duration;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Seconds to wait for a clean halt before killing.
    #[arg(short, long, default_value_t = 30)]
    pub timeout: u64,
    /// Kill at once, without asking the guest to halt.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    client.stop(&a.name, Duration::from_secs(a.timeout), a.force)?;
    Ok(0)
}
