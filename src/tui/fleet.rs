//! What the dashboard knows of each container: the last answer and the rates derived from
//! the samples before it; how the table's columns sort and filter; console text made safe
//! to print.

use std::collections::{BTreeMap, VecDeque};

use super::app::Busy;
use crate::api;

/// Samples kept per container for the sparklines.
pub const HISTORY: usize = 120;
/// Console lines kept for the detail pane.
const LOG_LINES: usize = 200;

/// The fleet table's columns, in the order shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Name,
    State,
    Ipv4,
    Image,
    Cpu,
    Memory,
    Pids,
    Net,
    Uptime,
    Autostart,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::Name,
        Column::State,
        Column::Ipv4,
        Column::Image,
        Column::Cpu,
        Column::Memory,
        Column::Pids,
        Column::Net,
        Column::Uptime,
        Column::Autostart,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Ipv4 => "IPV4",
            Column::Image => "IMAGE",
            Column::Cpu => "CPU%",
            Column::Memory => "MEM/LIMIT",
            Column::Pids => "PIDS",
            Column::Net => "NET RX/TX/s",
            Column::Uptime => "UPTIME",
            Column::Autostart => "AUTO",
        }
    }

    /// Numbers sort biggest first when their column is chosen.
    pub(super) fn numeric(self) -> bool {
        matches!(self, Column::Cpu | Column::Memory | Column::Pids | Column::Net | Column::Uptime)
    }

    pub(super) fn next(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}

/// One container as the dashboard knows it: the last answer, and what the samples before
/// it say about rates.
#[derive(Clone, Debug)]
pub struct Entry {
    pub c: api::Container,
    /// Percent of one CPU over the last sampling interval.
    pub cpu_percent: Option<f64>,
    /// Bytes per second over the last sampling interval.
    pub rx_rate: Option<f64>,
    pub tx_rate: Option<f64>,
    /// CPU percent x10, memory bytes, network bytes/s (rx + tx): oldest first.
    pub cpu_hist: VecDeque<u64>,
    pub mem_hist: VecDeque<u64>,
    pub net_hist: VecDeque<u64>,
    sample: Option<Sample>,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at_ms: u64,
    started: Option<u64>,
    cpu_ns: Option<u64>,
    rx: Option<u64>,
    tx: Option<u64>,
}

impl Entry {
    pub(super) fn new(c: api::Container) -> Entry {
        Entry { c, cpu_percent: None, rx_rate: None, tx_rate: None, cpu_hist: VecDeque::new(), mem_hist: VecDeque::new(), net_hist: VecDeque::new(), sample: None }
    }

    /// Take a new answer sampled at `at_ms`, deriving rates from the previous one.
    pub(super) fn observe(&mut self, c: api::Container, at_ms: u64) {
        let u = c.usage.as_ref();
        let now = Sample { at_ms, started: c.started, cpu_ns: u.and_then(|u| u.cpu_ns), rx: u.and_then(|u| u.net_rx), tx: u.and_then(|u| u.net_tx) };
        let prev = self.sample.filter(|p| p.started == now.started && p.started.is_some() && at_ms > p.at_ms);
        let secs = prev.map(|p| (at_ms - p.at_ms) as f64 / 1000.0);
        let per_sec = |a: Option<u64>, b: Option<u64>| match (a, b, secs) {
            (Some(a), Some(b), Some(s)) if a >= b => Some((a - b) as f64 / s),
            _ => None,
        };
        self.cpu_percent = per_sec(now.cpu_ns, prev.and_then(|p| p.cpu_ns)).map(|ns| ns / 1e7);
        self.rx_rate = per_sec(now.rx, prev.and_then(|p| p.rx));
        self.tx_rate = per_sec(now.tx, prev.and_then(|p| p.tx));
        if c.pid.is_some() {
            push(&mut self.cpu_hist, self.cpu_percent.map(|p| (p * 10.0).round() as u64).unwrap_or(0));
            push(&mut self.mem_hist, u.and_then(|u| u.memory).unwrap_or(0));
            push(&mut self.net_hist, (self.rx_rate.unwrap_or(0.0) + self.tx_rate.unwrap_or(0.0)).round() as u64);
        }
        self.sample = Some(now);
        self.c = c;
    }

    pub fn autostart(&self) -> bool {
        matches!(self.c.config.get("boot.autostart").map(String::as_str), Some("true" | "1" | "yes"))
    }

    /// Addresses the guest holds (leases), else none.
    pub fn ipv4(&self) -> Vec<&str> {
        self.c.addresses.iter().filter(|a| a.leased && self.c.pid.is_some()).map(|a| a.ipv4.as_str()).collect()
    }
}

fn push(h: &mut VecDeque<u64>, v: u64) {
    if h.len() == HISTORY {
        h.pop_front();
    }
    h.push_back(v);
}

pub(super) fn matches(e: &Entry, needle: &str) -> bool {
    let c = &e.c;
    c.name.to_lowercase().contains(needle)
        || c.status.to_string().to_lowercase().contains(needle)
        || c.image.as_ref().is_some_and(|i| i.name.to_lowercase().contains(needle))
        || c.addresses.iter().any(|a| a.ipv4.contains(needle))
}

pub(super) fn compare(a: &Entry, b: &Entry, col: Column, busy: &BTreeMap<String, Busy>) -> std::cmp::Ordering {
    let mem = |e: &Entry| e.c.usage.as_ref().and_then(|u| u.memory);
    let rank = |e: &Entry| {
        let busy = busy.contains_key(&e.c.name);
        let s = match e.c.status {
            api::Status::Running => 0,
            api::Status::Frozen => 1,
            api::Status::Stopping => 2,
            api::Status::Stopped => 3,
        };
        (s, busy)
    };
    let float = |x: Option<f64>, y: Option<f64>| x.unwrap_or(-1.0).total_cmp(&y.unwrap_or(-1.0));
    match col {
        Column::Name => a.c.name.cmp(&b.c.name),
        Column::State => rank(a).cmp(&rank(b)),
        Column::Ipv4 => ipv4_key(a).cmp(&ipv4_key(b)),
        Column::Image => a.c.image.as_ref().map(|i| &i.name).cmp(&b.c.image.as_ref().map(|i| &i.name)),
        Column::Cpu => float(a.cpu_percent, b.cpu_percent),
        Column::Memory => mem(a).cmp(&mem(b)),
        Column::Pids => a.c.usage.as_ref().and_then(|u| u.pids).cmp(&b.c.usage.as_ref().and_then(|u| u.pids)),
        Column::Net => float(a.rx_rate.map(|r| r + a.tx_rate.unwrap_or(0.0)), b.rx_rate.map(|r| r + b.tx_rate.unwrap_or(0.0))),
        // Longest running first when descending: an earlier start is a longer uptime.
        Column::Uptime => a.c.started.map(|s| u64::MAX - s).cmp(&b.c.started.map(|s| u64::MAX - s)),
        Column::Autostart => a.autostart().cmp(&b.autostart()),
    }
}

/// Addresses sort numerically (10.0.0.9 before 10.0.0.10).
fn ipv4_key(e: &Entry) -> Option<Vec<u32>> {
    e.ipv4().first().map(|a| a.split(['.', '/']).map(|p| p.parse().unwrap_or(0)).collect())
}

/// Console bytes as printable lines: escape sequences and control characters dropped
/// (they would drive our terminal), carriage returns ending a line's rewrite.
pub(super) fn console_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\n' => lines.push(std::mem::take(&mut cur)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => cur.clear(),
            '\x1b' => {
                // CSI `ESC [ ... final` or OSC `ESC ] ... BEL|ST`; anything else: the next char.
                match chars.next() {
                    Some('[') => {
                        for c in chars.by_ref() {
                            if ('@'..='~').contains(&c) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(c) = chars.next() {
                            if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\t' => cur.push_str("    "),
            c if c.is_control() => {}
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    let skip = lines.len().saturating_sub(LOG_LINES);
    lines.drain(..skip);
    lines
}
