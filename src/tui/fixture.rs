//! A deterministic fleet for the render snapshots and the frame benchmark: fixed names,
//! times and counters, two samples apart so rates and sparklines have values.

use std::collections::BTreeMap;

use super::app::{App, Msg};
use crate::api;

/// 2026-01-01T12:00:00Z, in milliseconds.
pub const NOW_MS: u64 = 1_767_268_800_000;

/// Container `i` of a fleet, as the daemon would describe it after `tick` refreshes.
pub fn container(i: usize, tick: u64) -> api::Container {
    let names = ["web", "db", "cache", "build", "proxy", "mail", "ci-runner", "dns"];
    let name = format!("{}{}", names[i % names.len()], i / names.len() + 1);
    let status = match i % 7 {
        3 => api::Status::Stopped,
        5 => api::Status::Frozen,
        _ => api::Status::Running,
    };
    let running = status != api::Status::Stopped;
    let started = NOW_MS / 1000 - 3600 * (i as u64 % 30) - 97 * i as u64 - 40;
    let mut config = BTreeMap::new();
    config.insert("limits.memory".to_owned(), format!("{}MiB", 256 << (i % 3)));
    config.insert("limits.cpu".to_owned(), format!("{}", 1 + i % 4));
    if i % 3 == 0 {
        config.insert("boot.autostart".to_owned(), "true".to_owned());
    }
    let usage = running.then(|| api::Usage {
        // Each container burns a different share of a CPU; a frozen one none.
        cpu_ns: Some(1_000_000_000 * (i as u64 % 50) + tick * 2_000_000_000 * (i as u64 % 9) / 10 * u64::from(status == api::Status::Running)),
        cpu_percent: None,
        memory: Some((20 + (i as u64 * 37) % 200) << 20),
        memory_peak: Some((60 + (i as u64 * 37) % 200) << 20),
        memory_limit: Some((256u64 << (i % 3)) << 20),
        swap: Some(0),
        pids: Some(3 + i as u64 % 40),
        pids_limit: Some(500),
        oom_kills: Some(0),
        pressure: (i % 2 == 0).then_some(api::Pressure { cpu_some: 0.12 * (i % 5) as f64, memory_some: 0.0, memory_full: 0.0, io_some: 0.5, io_full: 0.25 }),
        net_rx: Some(1_000_000 + tick * 4096 * (i as u64 % 11)),
        net_tx: Some(500_000 + tick * 1024 * (i as u64 % 5)),
    });
    api::Container {
        name: name.clone(),
        status,
        pid: running.then_some(10_000 + i as i32),
        monitor_pid: running.then_some(9_000 + i as i32),
        monitor_alive: running,
        runtime: "builtin".into(),
        privileged: false,
        idmap: running.then_some(api::IdMap { uid: 1_000_000, gid: 1_000_000, size: 65536, shifted: false }),
        created: NOW_MS / 1000 - 86_400 * 3,
        started: running.then_some(started),
        restarts: 0,
        last_exit: None,
        config,
        image: Some(api::ImageRef { fingerprint: format!("{:064x}", i), name: if i % 4 == 1 { "ubuntu/24.04".into() } else { "debian/13".into() } }),
        pending: vec![],
        addresses: vec![api::Address {
            nic: "eth0".into(),
            network: "sysctrbr0".into(),
            ipv4: format!("10.42.{}.{}", i / 250, 2 + i % 250),
            hwaddr: format!("0e:73:63:00:{:02x}:{:02x}", i / 256, i % 256),
            leased: true,
        }],
        usage,
        error: None,
    }
}

pub fn fleet(n: usize, tick: u64) -> Vec<api::Container> {
    (0..n).map(|i| container(i, tick)).collect()
}

/// An app that has seen `samples` refreshes of an `n`-container fleet, two seconds apart.
pub fn app(n: usize, samples: u64, color: bool) -> App {
    let mut app = App::new(NOW_MS, color);
    for t in 0..samples {
        app.update(Msg::Fleet { at_ms: NOW_MS + t * 2000, containers: fleet(n, t) });
    }
    app.update(Msg::Tick { now_ms: NOW_MS + samples.saturating_sub(1) * 2000 + 500 });
    app
}
