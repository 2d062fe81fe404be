use crate::client::Client;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    let all = client.list()?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        Format::Table => {
            let rows: Vec<[String; 11]> = all
                .iter()
                .map(|c| {
                    let u = c.usage.as_ref();
                    let dash = || "-".to_owned();
                    [
                        c.name.clone(),
                        c.status.to_string(),
                        c.pid.map(|p| p.to_string()).unwrap_or_else(dash),
                        {
                            let ips: Vec<&str> = c.addresses.iter().filter(|a| a.leased && c.pid.is_some()).map(|a| a.ipv4.as_str()).collect();
                            if ips.is_empty() { dash() } else { ips.join(",") }
                        },
                        c.image.as_ref().map(|i| i.name.clone()).unwrap_or_else(dash),
                        u.and_then(|u| u.cpu_ns).map(super::cpu_time).unwrap_or_else(dash),
                        u.and_then(|u| u.memory).map(super::size).unwrap_or_else(dash),
                        u.and_then(|u| u.pids).map(|p| p.to_string()).unwrap_or_else(dash),
                        c.runtime.clone(),
                        if c.privileged { "privileged".into() } else { "unpriv".into() },
                        c.started.map(super::age).unwrap_or_else(dash),
                    ]
                })
                .collect();
            print!("{}", table(["NAME", "STATE", "PID", "IPV4", "IMAGE", "CPU", "MEM", "PIDS", "RUNTIME", "SECURITY", "UPTIME"], &rows));
        }
    }
    Ok(0)
}

pub(super) fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut w: [usize; N] = head.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells.iter().enumerate().map(|(i, c)| format!("{c:<0$}", w[i])).collect::<Vec<_>>().join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns_columns() {
        let t = super::table(["NAME", "STATE"], &[["web1".into(), "RUNNING".into()], ["a-long-name".into(), "STOPPED".into()]]);
        assert_eq!(t, "NAME         STATE\nweb1         RUNNING\na-long-name  STOPPED\n");
    }
}
