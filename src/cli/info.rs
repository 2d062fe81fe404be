use std::time::Duration;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    #[arg(short, long, value_enum, default_value_t = super::list::Format::Table)]
    pub format: super::list::Format,
    /// Measure CPU use over this many seconds (0: report CPU time only).
    #[arg(short, long, default_value_t = 0.0, value_parser = interval)]
    pub interval: f64,
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=60.0).contains(&v) => Ok(v),
        _ => Err("use seconds from 0 to 60, such as 1 or 0.5".into()),
    }
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let c = client.info_sampled(&a.name, Duration::from_secs_f64(a.interval))?;
    if matches!(a.format, super::list::Format::Json) {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(0);
    }
    println!("Name: {}", c.name);
    println!("Status: {}", c.status);
    println!("Runtime: {}", c.runtime);
    match (c.privileged, &c.idmap) {
        (true, _) => println!("Security: privileged (root inside is root on the host)"),
        (false, Some(m)) => println!(
            "Security: unprivileged, ids 0-{} are host uids {}-{} and gids {}-{} ({})",
            m.size - 1,
            m.uid,
            m.uid + (m.size - 1),
            m.gid,
            m.gid + (m.size - 1),
            if m.shifted { "rootfs owners shifted on disk" } else { "idmapped rootfs" }
        ),
        (false, None) => println!("Security: unprivileged (its id map is chosen at start)"),
    }
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
        let mark = if c.pending.contains(k) { " (pending: next start)" } else { "" };
        println!("Config: {k}={v}{mark}");
    }
    for k in c.pending.iter().filter(|k| !c.config.contains_key(*k)) {
        println!("Config: {k} unset (pending: next start)");
    }
    for a in &c.addresses {
        let state = match (c.pid.is_some(), a.leased) {
            (true, true) => "",
            (true, false) => " (not taken by the guest yet)",
            (false, _) => " (reserved)",
        };
        println!("Network: {} {} on {} ({}){state}", a.nic, a.ipv4, a.network, a.hwaddr);
    }
    if let Some(u) = &c.usage {
        println!("Resources:");
        if let Some(ns) = u.cpu_ns {
            let pct = u.cpu_percent.map(|p| format!(" ({p:.1}% over {}s)", a.interval)).unwrap_or_default();
            println!("  CPU time: {}{pct}", super::cpu_time(ns));
        }
        if let Some(m) = u.memory {
            let limit = u.memory_limit.map(super::size).unwrap_or_else(|| "no limit".into());
            let peak = u.memory_peak.map(|p| format!(", peak {}", super::size(p))).unwrap_or_default();
            println!("  Memory: {} of {limit}{peak}", super::size(m));
        }
        if let Some(s) = u.swap {
            println!("  Swap: {}", super::size(s));
        }
        if let Some(p) = u.pids {
            let limit = u.pids_limit.map(|l| l.to_string()).unwrap_or_else(|| "no limit".into());
            println!("  Processes: {p} of {limit}");
        }
        if let Some(o) = u.oom_kills {
            println!("  OOM kills: {o}");
        }
        if let Some(p) = &u.pressure {
            println!(
                "  Pressure (avg10): cpu {:.2}%, memory {:.2}% some / {:.2}% full, io {:.2}% some / {:.2}% full",
                p.cpu_some, p.memory_some, p.memory_full, p.io_some, p.io_full
            );
        }
    }
    Ok(0)
}
