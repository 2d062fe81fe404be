use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    super::warn(&client.start(&a.name)?);
    Ok(0)
}
