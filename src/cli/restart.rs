use std::time::Duration;

use crate::client::Client;

/// The same arguments as `stop`: how the running container is halted first.
pub type Args = super::stop::Args;

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    super::warn(&client.restart(&a.name, Duration::from_secs(a.timeout), a.force)?);
    Ok(0)
}
