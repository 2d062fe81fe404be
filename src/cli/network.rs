use crate::api;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the networks.
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value_t = super::list::Format::Table)]
        format: super::list::Format,
    },
    /// Create a network: a bridge of that name with DHCP, DNS and NAT.
    Create {
        name: String,
        /// The bridge's address and prefix (default: a free 10.x.y.1/24).
        #[arg(long = "ipv4", value_name = "ADDR/PREFIX")]
        ipv4: Option<String>,
        /// DNS domain of its containers (default: sysctr).
        #[arg(long)]
        domain: Option<String>,
        /// No NAT to the outside.
        #[arg(long)]
        no_nat: bool,
    },
    /// Show one network.
    Show {
        name: String,
        #[arg(short, long, value_enum, default_value_t = super::list::Format::Table)]
        format: super::list::Format,
    },
    /// Delete a network no container uses.
    Delete { name: String },
    /// Change a setting: ipv4.address, ipv4.nat, dns.domain.
    Set {
        name: String,
        #[arg(value_parser = super::parse_kv, value_name = "KEY=VALUE")]
        pair: (String, String),
    },
}

fn print(n: &api::Network) {
    println!("Name: {}", n.name);
    println!("IPv4: {}", n.ipv4);
    println!("Domain: {}", n.domain);
    println!("NAT: {}", n.nat);
    println!("Bridge: {}", if n.up { "up" } else { "missing (started again with its next container)" });
    match n.dnsmasq_pid {
        Some(p) => println!("dnsmasq: running (pid {p})"),
        None => println!("dnsmasq: not running"),
    }
    if !n.used_by.is_empty() {
        println!("Used by: {}", n.used_by.join(", "));
    }
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    match a.command {
        Command::List { format } => {
            let all = client.network_list()?;
            if matches!(format, super::list::Format::Json) {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(0);
            }
            let rows: Vec<[String; 5]> = all
                .iter()
                .map(|n| {
                    [
                        n.name.clone(),
                        n.ipv4.clone(),
                        n.domain.clone(),
                        if n.nat { "yes".into() } else { "no".into() },
                        n.used_by.len().to_string(),
                    ]
                })
                .collect();
            print!("{}", super::list::table(["NAME", "IPV4", "DOMAIN", "NAT", "USED BY"], &rows));
        }
        Command::Create { name, ipv4, domain, no_nat } => {
            let (n, warnings) = client.network_create(&api::NetworksPost { name, ipv4, domain, nat: Some(!no_nat) })?;
            super::warn(&warnings);
            println!("Created network {} ({})", n.name, n.ipv4);
        }
        Command::Show { name, format } => {
            let n = client.network_show(&name)?;
            if matches!(format, super::list::Format::Json) {
                println!("{}", serde_json::to_string_pretty(&n)?);
            } else {
                print(&n);
            }
        }
        Command::Delete { name } => {
            client.network_delete(&name)?;
            println!("Deleted network {name}");
        }
        Command::Set { name, pair } => {
            let (_, warnings) = client.network_set(&name, &pair.0, &pair.1)?;
            super::warn(&warnings);
        }
    }
    Ok(0)
}
