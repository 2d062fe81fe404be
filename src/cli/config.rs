use std::collections::BTreeMap;

use crate::api;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Set keys (limits apply live to a running container; others at its next start).
    Set {
        name: String,
        #[arg(required = true, value_parser = super::parse_kv, value_name = "KEY=VALUE")]
        pairs: Vec<(String, String)>,
    },
    /// Print one key's value.
    Get { name: String, key: String },
    /// Remove keys (back to the default; live where the key allows).
    Unset {
        name: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Every key of a container; those waiting for a restart are marked.
    Show { name: String },
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    match a.command {
        Command::Set { name, pairs } => {
            let mut set = BTreeMap::new();
            for (k, v) in pairs {
                if set.insert(k.clone(), v).is_some() {
                    anyhow::bail!("{k} is given twice; say it once");
                }
            }
            let c = client.update_config(&name, &api::ConfigPatch { set, unset: vec![] })?;
            report_pending(&c);
        }
        Command::Unset { name, keys } => {
            let c = client.update_config(&name, &api::ConfigPatch { set: BTreeMap::new(), unset: keys })?;
            report_pending(&c);
        }
        Command::Get { name, key } => {
            let c = client.info(&name)?;
            match c.config.get(&key) {
                Some(v) => println!("{v}"),
                None => {
                    client.check_key(&key)?;
                    println!();
                }
            }
        }
        Command::Show { name } => {
            let c = client.info(&name)?;
            if let Some(e) = &c.error {
                anyhow::bail!("{e}");
            }
            for (k, v) in &c.config {
                let mark = if c.pending.contains(k) { "  # pending: applies at the next start" } else { "" };
                println!("{k}={v}{mark}");
            }
            for k in c.pending.iter().filter(|k| !c.config.contains_key(*k)) {
                println!("# {k} unset, pending: applies at the next start");
            }
        }
    }
    Ok(0)
}

fn report_pending(c: &api::Container) {
    if !c.pending.is_empty() {
        eprintln!("note: pending until the next start (`sysctr restart {}`): {}", c.name, c.pending.join(", "));
    }
}
