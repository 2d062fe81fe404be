use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::api::ContainersPost;
use crate::client::Client;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["rootfs", "image"])))]
pub struct Args {
    /// Container name: 1-63 of a-z, 0-9 and '-'.
    pub name: String,
    /// A prepared root filesystem directory, copied into the container.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// An image: debian, debian/12, REMOTE:ALIAS, a local alias or fingerprint prefix.
    #[arg(long)]
    pub image: Option<String>,
    /// Configuration key=value (repeatable), e.g. -c runtime=/usr/sbin/runc
    #[arg(short = 'c', long = "config", value_parser = super::parse_kv)]
    pub config: Vec<(String, String)>,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let req = ContainersPost {
        name: a.name,
        rootfs: a.rootfs.map(|r| r.to_string_lossy().into_owned()),
        image: a.image,
        config: a.config.into_iter().collect::<BTreeMap<_, _>>(),
        start: false,
    };
    let (c, notes) = client.create(&req)?;
    super::note(&notes);
    println!("Created {}", c.name);
    Ok(0)
}
