use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    Ok(client.exec(&a.name, &a.command)?)
}
