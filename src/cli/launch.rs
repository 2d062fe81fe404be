use std::collections::BTreeMap;

use crate::api::ContainersPost;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: debian (current stable), ubuntu (newest LTS), debian/12, REMOTE:ALIAS,
    /// a local alias or a fingerprint prefix. Fetched or built once, then cached.
    pub image: String,
    /// Container name: 1-63 of a-z, 0-9 and '-'.
    pub name: String,
    /// Configuration key=value (repeatable), e.g. -c limits.memory=512MiB
    #[arg(short = 'c', long = "config", value_parser = super::parse_kv)]
    pub config: Vec<(String, String)>,
    /// Attach to the console at once, from the first line of boot output.
    #[arg(long)]
    pub console: bool,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let req = ContainersPost {
        name: a.name.clone(),
        rootfs: None,
        image: Some(a.image),
        config: a.config.into_iter().collect::<BTreeMap<_, _>>(),
        start: false,
    };
    let (c, notes) = client.launch(&req)?;
    super::note(&notes);
    let image = c.image.as_ref().map(|i| format!(" from {} ({})", i.name, &i.fingerprint[..12])).unwrap_or_default();
    eprintln!("Launched {}{image}", c.name);
    if a.console {
        return super::console::attach(client, &a.name, "^a", true);
    }
    Ok(0)
}
