use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Kill and delete a running container.
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    client.delete(&a.name, a.force)?;
    Ok(0)
}

/// Just a container's name (`pause`, `resume`).
#[derive(Debug, clap::Args)]
pub struct NameArg {
    pub name: String,
}
