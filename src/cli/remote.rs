use crate::client::Client;

use super::list::{table, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add an image server; its protocol is found out when not given.
    Add {
        name: String,
        url: String,
        /// simplestreams or lxc
        #[arg(long)]
        protocol: Option<String>,
    },
    #[command(alias = "ls")]
    /// List the image servers.
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    #[command(alias = "rm")]
    /// Remove an image server.
    Remove { name: String },
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    match a.command {
        Command::Add { name, url, protocol } => {
            let r = client.remote_add(&name, &url, protocol.as_deref())?;
            println!("Added remote {} ({}, {})", r.name, r.url, r.protocol);
        }
        Command::List { format } => {
            let all = client.remote_list()?;
            if matches!(format, Format::Json) {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(0);
            }
            let rows: Vec<[String; 3]> = all.into_iter().map(|r| [r.name, r.url, r.protocol]).collect();
            print!("{}", table(["NAME", "URL", "PROTOCOL"], &rows));
        }
        Command::Remove { name } => client.remote_remove(&name)?,
    }
    Ok(0)
}
