//! The `limits.*` keys (Incus's names and value syntax, `shared/reference/limits.md`):
//! parsed into typed values here, so a bad value is refused before anything is written.
//! What a value means on this host (CPU count, memory size, cgroup layout) is the manager's.

use std::collections::BTreeMap;

/// `limits.cpu`: a number of CPUs (the manager picks which), or an explicit set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cpus {
    Count(u32),
    Set(Vec<u32>),
}

/// `limits.cpu.allowance`: a share under load (`50%`), or a hard quota (`25ms/100ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    Percent(u32),
    /// Microseconds of CPU time per period.
    Quota { quota_us: u64, period_us: u64 },
}

/// `limits.memory`: bytes, or a percentage of the host's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    Bytes(u64),
    Percent(u32),
}

/// `limits.memory.swap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    Allowed,
    Denied,
    Bytes(u64),
}

/// Every `limits.*` key of one container, typed. `None`: not set (no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub cpu: Option<Cpus>,
    pub cpu_allowance: Option<Allowance>,
    /// 0..=10, default 10 (Incus).
    pub cpu_priority: Option<u32>,
    pub memory: Option<Memory>,
    /// `limits.memory.enforce=soft`: the memory limit reclaims under pressure instead of
    /// capping.
    pub memory_soft: bool,
    pub memory_swap: Option<Swap>,
    pub processes: Option<u64>,
    /// 0..=10, default 5 (Incus).
    pub disk_priority: Option<u32>,
    pub kernel_nofile: Option<u64>,
}

impl Limits {
    /// The typed view of a (validated) key map; other keys are ignored.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut l = Limits::default();
        for (k, v) in config {
            let v = v.as_str();
            match k.as_str() {
                "limits.cpu" => l.cpu = Some(cpus(v)?),
                "limits.cpu.allowance" => l.cpu_allowance = Some(allowance(v)?),
                "limits.cpu.priority" => l.cpu_priority = Some(priority(v)?),
                "limits.memory" => l.memory = Some(memory(v)?),
                "limits.memory.enforce" => l.memory_soft = enforce(v)?,
                "limits.memory.swap" => l.memory_swap = Some(swap(v)?),
                "limits.processes" => l.processes = Some(count(v, 1)?),
                "limits.disk.priority" => l.disk_priority = Some(priority(v)?),
                "limits.kernel.nofile" => l.kernel_nofile = Some(count(v, 8)?),
                _ => {}
            }
        }
        Ok(l)
    }
}

/// A non-negative decimal integer, no sign, no spaces.
fn number(v: &str) -> Result<u64, String> {
    if v.starts_with('-') {
        return Err("it must not be negative".into());
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("use a whole number".into());
    }
    v.parse().map_err(|_| "the number is too large".into())
}

pub fn count(v: &str, min: u64) -> Result<u64, String> {
    let n = number(v)?;
    if n < min {
        return Err(format!("use at least {min}"));
    }
    Ok(n)
}

pub fn priority(v: &str) -> Result<u32, String> {
    match number(v) {
        Ok(n) if n <= 10 => Ok(n as u32),
        _ => Err("use a priority from 0 (lowest) to 10 (highest)".into()),
    }
}

/// Bytes with an optional unit: `512MiB`, `1GB`, `1073741824`. Decimal (`kB`, `MB`, `GB`,
/// `TB`) and binary (`KiB`, `MiB`, `GiB`, `TiB`) units, as Incus takes them.
pub fn bytes(v: &str) -> Result<u64, String> {
    if v.starts_with('-') {
        return Err("it must not be negative".into());
    }
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("B", 1),
        ("kB", 1000),
        ("MB", 1000 * 1000),
        ("GB", 1000 * 1000 * 1000),
        ("TB", 1000 * 1000 * 1000 * 1000),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
    ];
    let scale = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s);
    let (Some(scale), false) = (scale, num.is_empty()) else {
        return Err("use a size such as 512MiB, 2GiB or 1GB (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)".into());
    };
    let n: u64 = num.parse().map_err(|_| "the number is too large".to_owned())?;
    n.checked_mul(scale).ok_or_else(|| "the size is too large".into())
}

fn percent(v: &str) -> Option<Result<u32, String>> {
    let num = v.strip_suffix('%')?;
    Some(match number(num) {
        Ok(n) if (1..=100).contains(&n) => Ok(n as u32),
        Ok(_) => Err("use a percentage from 1% to 100%".into()),
        Err(e) => Err(e),
    })
}

pub fn memory(v: &str) -> Result<Memory, String> {
    let m = match percent(v) {
        Some(p) => Memory::Percent(p?),
        None => Memory::Bytes(bytes(v)?),
    };
    if m == Memory::Bytes(0) || matches!(m, Memory::Bytes(b) if b < 4 << 20) {
        return Err("a container needs at least 4MiB".into());
    }
    Ok(m)
}

pub fn enforce(v: &str) -> Result<bool, String> {
    match v {
        "hard" => Ok(false),
        "soft" => Ok(true),
        _ => Err("use hard (a cap) or soft (reclaimed first under host pressure)".into()),
    }
}

pub fn swap(v: &str) -> Result<Swap, String> {
    match v {
        "true" => Ok(Swap::Allowed),
        "false" => Ok(Swap::Denied),
        _ => bytes(v).map(Swap::Bytes).map_err(|_| "use true, false, or a size such as 1GiB".into()),
    }
}

/// `2` (a count), or a set: `0-1`, `0,2`, `0-3,6`.
pub fn cpus(v: &str) -> Result<Cpus, String> {
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        let n = count(v, 1)?;
        return u32::try_from(n).map(Cpus::Count).map_err(|_| "too many CPUs".into());
    }
    cpu_list(v).map(Cpus::Set)
}

/// A kernel CPU list (`0-3,6`), sorted and without duplicates.
pub fn cpu_list(v: &str) -> Result<Vec<u32>, String> {
    const HELP: &str = "use a CPU count such as 2, or a set such as 0-1 or 0,2";
    if v.starts_with('-') {
        return Err("it must not be negative".into());
    }
    let mut out = Vec::new();
    for part in v.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else { return Err(HELP.into()) };
        if a > b || b >= 8192 || !part.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
            return Err(HELP.into());
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The kernel's list form of a CPU set: `[0,1,2,5]` -> `0-2,5`.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    parts.join(",")
}

pub fn allowance(v: &str) -> Result<Allowance, String> {
    const HELP: &str = "use a share such as 50%, or a quota such as 25ms/100ms";
    if let Some(p) = percent(v) {
        return Ok(Allowance::Percent(p?));
    }
    let Some((q, p)) = v.split_once('/') else { return Err(HELP.into()) };
    let ms = |s: &str| s.strip_suffix("ms").ok_or(HELP).and_then(|n| number(n).map_err(|_| HELP));
    let (quota, period) = (ms(q)?, ms(p)?);
    if !(1..=1000).contains(&period) {
        return Err("the period must be from 1ms to 1000ms".into());
    }
    if quota == 0 || quota > period * 1024 {
        return Err("the quota must be at least 1ms (and at most 1024 periods)".into());
    }
    Ok(Allowance::Quota { quota_us: quota * 1000, period_us: period * 1000 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes("512MiB"), Ok(512 << 20));
        assert_eq!(bytes("1GB"), Ok(1_000_000_000));
        assert_eq!(bytes("4096"), Ok(4096));
        assert_eq!(bytes("2GiB"), Ok(2 << 30));
        for bad in ["abc", "-5", "", "MiB", "1.5GiB", "1 GiB", "1gib", "99999999999999TiB"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
        assert!(bytes("-5").unwrap_err().contains("negative"));
        assert_eq!(memory("50%"), Ok(Memory::Percent(50)));
        assert!(memory("0").is_err() && memory("101%").is_err() && memory("0%").is_err() && memory("1MiB").is_err());
    }

    #[test]
    fn cpu_values() {
        assert_eq!(cpus("2"), Ok(Cpus::Count(2)));
        assert_eq!(cpus("0-1"), Ok(Cpus::Set(vec![0, 1])));
        assert_eq!(cpus("3,0-1,1"), Ok(Cpus::Set(vec![0, 1, 3])));
        for bad in ["0", "-1", "1-0", "a", "0,", "0--1", "", "1-"] {
            assert!(cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(allowance("50%"), Ok(Allowance::Percent(50)));
        assert_eq!(allowance("25ms/100ms"), Ok(Allowance::Quota { quota_us: 25_000, period_us: 100_000 }));
        for bad in ["0%", "150%", "25/100", "25ms", "0ms/100ms", "-25ms/100ms", "25ms/0ms", "x"] {
            assert!(allowance(bad).is_err(), "{bad}");
        }
        assert_eq!(priority("10"), Ok(10));
        assert!(priority("11").is_err() && priority("-1").is_err());
    }

    #[test]
    fn typed_view() {
        let m: BTreeMap<String, String> = [
            ("limits.memory", "256MiB"),
            ("limits.memory.enforce", "soft"),
            ("limits.memory.swap", "false"),
            ("limits.processes", "256"),
            ("environment.X", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let l = Limits::from_config(&m).unwrap();
        assert_eq!(l.memory, Some(Memory::Bytes(256 << 20)));
        assert!(l.memory_soft);
        assert_eq!(l.memory_swap, Some(Swap::Denied));
        assert_eq!(l.processes, Some(256));
        assert_eq!(l.cpu, None);
    }
}
