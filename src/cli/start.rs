use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Attach to the console at once, from the first line of boot output.
    #[arg(long)]
    pub console: bool,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    super::warn(&client.start(&a.name)?);
    if a.console {
        return super::console::attach(client, &a.name, "^a", true);
    }
    Ok(0)
}
