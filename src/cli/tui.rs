use std::io::IsTerminal;
use std::time::Duration;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds between stats refreshes (events update the table at once).
    #[arg(long, default_value_t = 2.0, value_parser = interval)]
    pub interval: f64,
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.5..=60.0).contains(&v) => Ok(v),
        _ => Err("use seconds from 0.5 to 60, such as 2".into()),
    }
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("sysctr tui needs a terminal; for scripts use `sysctr list --format json`");
    }
    crate::tui::run(client, Duration::from_secs_f64(a.interval))?;
    Ok(0)
}
