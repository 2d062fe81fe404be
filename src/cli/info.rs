use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    #[arg(short, long, value_enum, default_value_t = super::list::Format::Table)]
    pub format: super::list::Format,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let c = client.info(&a.name)?;
    if matches!(a.format, super::list::Format::Json) {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(0);
    }
    println!("Name: {}", c.name);
    println!("Status: {}", c.status);
    println!("Runtime: {}", c.runtime);
    println!("Created: {} ago", super::age(c.created));
    if let Some(p) = c.pid {
        println!("Init PID: {p}");
    }
    if let Some(s) = c.started {
        println!("Uptime: {}", super::age(s));
    }
    if let Some(m) = c.monitor_pid {
        println!("Monitor PID: {m}{}", if c.monitor_alive { "" } else { " (lost: no console until the next start)" });
    }
    if c.restarts > 0 {
        println!("Guest reboots: {}", c.restarts);
    }
    if let Some(e) = &c.last_exit {
        println!("Last exit: {} ({} ago)", e.reason, super::age(e.at));
    }
    if let Some(e) = &c.error {
        println!("Config error: {e}");
    }
    for (k, v) in &c.config {
        println!("Config: {k}={v}");
    }
    Ok(0)
}
