//! Managed bridge networks: a bridge with an address (rtnetlink), dnsmasq for DHCP and
//! DNS (one per bridge, under a small supervisor process), an nftables table for NAT and
//! isolation, stable per-container reservations (IPv4 + MAC), and the veth pair that
//! joins a container's network namespace to the bridge.

mod dnsmasq;
pub mod ipam;
mod netlink;
mod nft;

pub use nft::host_firewall_problems;
pub mod supervisor;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ipam::Subnet;
use netlink::Netlink;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid network name {name:?}: {reason}; use 1-15 characters of a-z, 0-9 and '-', starting with a letter")]
    InvalidName { name: String, reason: &'static str },
    #[error("network {0} does not exist; `sysctr network list` shows the networks there are")]
    NotFound(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("a host interface named {0} exists and is not a sysctr network; pick another name")]
    LinkTaken(String),
    #[error("network {name} is in use by {users}; delete those containers or move them to another network first")]
    InUse { name: String, users: String },
    #[error("{0}")]
    Invalid(String),
    #[error("dnsmasq is not installed (it serves DHCP and DNS on the bridge); install it (apt-get install dnsmasq-base), or give containers that need no network network=none")]
    NoDnsmasq,
    #[error("nft is not installed (NAT and isolation use nftables); install it: apt-get install nftables")]
    NoNft,
    #[error("{what}: {source}")]
    Netlink { what: String, #[source] source: std::io::Error },
    #[error("network {name}: {message}")]
    Firewall { name: String, message: String },
    #[error("network {name}: dnsmasq did not start: {message}")]
    Dnsmasq { name: String, message: String },
    #[error("cannot {what}")]
    Io { what: String, #[source] source: std::io::Error },
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One container NIC's stable addresses on a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub ipv4: String,
    pub hwaddr: String,
}

/// `networks/NAME.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The bridge's address and the subnet: `10.12.34.1/24`.
    pub ipv4: String,
    #[serde(default = "default_domain")]
    pub domain: String,
    #[serde(default = "yes")]
    pub nat: bool,
    /// `CONTAINER/NIC` -> its reservation.
    #[serde(default)]
    pub reservations: BTreeMap<String, Reservation>,
}

fn default_domain() -> String {
    "sysctr".into()
}
fn yes() -> bool {
    true
}

impl NetworkConfig {
    pub fn subnet(&self) -> Result<Subnet> {
        Subnet::parse(&self.ipv4).map_err(|e| Error::Invalid(format!("ipv4.address {}: {e}", self.ipv4)))
    }
}

/// One NIC of a container, as its monitor wires it at every boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Inside the container (`eth0`).
    pub name: String,
    pub network: String,
    pub hwaddr: String,
    pub ipv4: String,
}

/// The network names sysctr accepts: they are bridge (interface) names too.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = match crate::storage::network_name_problem(name) {
        None if name == "none" => Some("\"none\" means no network"),
        r => r,
    };
    match reason {
        Some(reason) => Err(Error::InvalidName { name: name.to_owned(), reason }),
        None => Ok(()),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    use std::io::Read;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|source| Error::Io { what: "read /dev/urandom".into(), source })?;
    Ok(b)
}

/// A bridge's MAC, stable per name: `0e:73:63` and three bytes of the name's FNV hash
/// (outside the `0a:73:63` range of container NICs).
fn bridge_mac(name: &str) -> [u8; 6] {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let b = h.to_be_bytes();
    [0x0e, 0x73, 0x63, b[5], b[6], b[7]]
}

fn nl(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Netlink { what: what.to_owned(), source }
}

/// The networks of one sysctr instance.
pub struct Networks {
    /// `STATE/networks`: `NAME.toml`, `NAME.leases`.
    pub dir: PathBuf,
    /// `RUN/networks`: per network its dnsmasq files and supervisor state.
    pub run: PathBuf,
    /// The sysctr binary (for `sysctr __network NAME`) and the environment it needs.
    pub exe: PathBuf,
    pub env: Vec<(String, PathBuf)>,
}

/// The supervisor's record of itself (`RUN/networks/NAME/supervisor.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupervisorState {
    pub pid: i32,
    pub start_time: u64,
    /// dnsmasq's pid while it runs.
    pub dnsmasq: i32,
}

impl Networks {
    fn config_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }
    pub fn leases_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.leases"))
    }
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.run.join(name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.config_path(name).exists()
    }

    pub fn names(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".toml").map(str::to_owned))
                .filter(|n| validate_name(n).is_ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(source) => return Err(Error::Io { what: format!("list {}", self.dir.display()), source }),
        };
        out.sort();
        Ok(out)
    }

    pub fn load(&self, name: &str) -> Result<NetworkConfig> {
        validate_name(name)?;
        let path = self.config_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(name.into())),
            Err(source) => return Err(Error::Io { what: format!("read {}", path.display()), source }),
        };
        let cfg: NetworkConfig = toml::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {}", path.display(), e.message().replace('\n', " "))))?;
        cfg.subnet()?;
        Ok(cfg)
    }

    fn save(&self, name: &str, cfg: &NetworkConfig) -> Result<()> {
        let body = toml::to_string(cfg).expect("a network config serialises");
        Ok(crate::storage::write_atomic(&self.config_path(name), format!("# sysctr network {name}\n{body}").as_bytes())?)
    }

    /// Serialise changes to network files (one lock for all of them: they are small).
    fn lock(&self) -> Result<crate::storage::Lock> {
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io { what: format!("create {}", self.dir.display()), source })?;
        Ok(crate::storage::Lock::acquire(&self.dir)?)
    }

    fn check_tools() -> Result<()> {
        let found = |bin: &str| {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
                .unwrap_or(false)
        };
        if !found("dnsmasq") {
            return Err(Error::NoDnsmasq);
        }
        if !found("nft") {
            return Err(Error::NoNft);
        }
        Ok(())
    }

    /// Subnets our other networks use (their bridges may be down).
    fn our_subnets(&self, except: &str) -> Vec<Subnet> {
        self.names()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n != except)
            .filter_map(|n| self.load(&n).ok()?.subnet().ok())
            .collect()
    }

    /// Create network `name` (with `ipv4`, or a free `10.x.y.1/24`) and bring it up.
    /// Nothing is left of it when a step fails. Returns warnings about the host firewall.
    pub fn create(&self, name: &str, ipv4: Option<&str>, domain: Option<&str>, nat: bool) -> Result<Vec<String>> {
        validate_name(name)?;
        Self::check_tools()?;
        if let Some(d) = domain {
            check_domain(d)?;
        }
        let _lock = self.lock()?;
        if self.exists(name) {
            return Err(Error::Exists(name.into()));
        }
        let mut nl_sock = Netlink::open().map_err(nl("open a netlink socket"))?;
        if nl_sock.link_index(name).map_err(nl("look up links"))?.is_some() {
            return Err(Error::LinkTaken(name.into()));
        }
        let routes = nl_sock.routes_v4().map_err(nl("read the host's routes"))?;
        let addrs: Vec<(Ipv4Addr, u8)> = nl_sock.addresses_v4().map_err(nl("read the host's addresses"))?.into_iter().map(|(a, p, _)| (a, p)).collect();
        let ours = self.our_subnets(name);
        let subnet = match ipv4 {
            Some(s) => {
                let s = Subnet::parse(s).map_err(|e| Error::Invalid(format!("ipv4.address {s}: {e}")))?;
                if let Some(why) = ipam::conflict(&s, &routes, &addrs) {
                    return Err(Error::Invalid(format!("ipv4.address {s}: {why}; pick a free subnet (or leave it out and sysctr picks one)")));
                }
                if let Some(o) = ours.iter().find(|o| s.overlaps(o.addr, o.prefix)) {
                    return Err(Error::Invalid(format!("ipv4.address {s} overlaps another sysctr network ({o})")));
                }
                s
            }
            None => ipam::pick(&routes, &addrs, &ours, || u32::from_ne_bytes(random_bytes().unwrap_or([7, 1, 3, 9])))
                .ok_or_else(|| Error::Invalid("no free 10.x.y.0/24 subnet on this host; give one with ipv4.address".into()))?,
        };
        let cfg = NetworkConfig {
            ipv4: subnet.to_string(),
            domain: domain.unwrap_or("sysctr").to_owned(),
            nat,
            reservations: BTreeMap::new(),
        };
        self.save(name, &cfg)?;
        match self.bring_up(name, &cfg) {
            Ok(w) => Ok(w),
            Err(e) => {
                let _ = self.tear_down(name);
                let _ = std::fs::remove_file(self.config_path(name));
                Err(e)
            }
        }
    }

    /// Make sure network `name` is up: bridge with its address, forwarding, dnsmasq files
    /// and its supervisor (cheap when all is in place), and, with `firewall`, its nftables
    /// table (a process of nft: a start does that after its guest is on its way, see
    /// [`Networks::firewall`]).
    pub fn ensure(&self, name: &str, firewall: bool) -> Result<Vec<String>> {
        Self::check_tools()?;
        let _lock = self.lock()?;
        let cfg = self.load(name)?;
        let made = self.link_up(name, &cfg)?;
        // A bridge made again (after a host reboot) gets its table before any guest runs.
        if firewall || made {
            self.apply_firewall(name, &cfg)
        } else {
            Ok(vec![])
        }
    }

    /// (Re)apply network `name`'s nftables table, and say what of the host's firewall
    /// would get in the way.
    pub fn firewall(&self, name: &str) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let cfg = self.load(name)?;
        self.apply_firewall(name, &cfg)
    }

    fn apply_firewall(&self, name: &str, cfg: &NetworkConfig) -> Result<Vec<String>> {
        nft::apply(name, name, &cfg.subnet()?, cfg.nat).map_err(|message| Error::Firewall { name: name.into(), message })?;
        Ok(nft::host_firewall_problems(name))
    }

    fn bring_up(&self, name: &str, cfg: &NetworkConfig) -> Result<Vec<String>> {
        self.link_up(name, cfg)?;
        self.apply_firewall(name, cfg)
    }

    /// Bridge, address, forwarding, dnsmasq; whether the bridge had to be made.
    fn link_up(&self, name: &str, cfg: &NetworkConfig) -> Result<bool> {
        let subnet = cfg.subnet()?;
        let mut s = Netlink::open().map_err(nl("open a netlink socket"))?;
        let mut made = false;
        let index = match s.link_index(name).map_err(nl("look up links"))? {
            Some(i) => i,
            None => {
                made = true;
                s.create_bridge(name, bridge_mac(name)).map_err(nl(&format!("create bridge {name}")))?;
                s.link_index(name).map_err(nl("look up links"))?.ok_or_else(|| Error::Invalid(format!("bridge {name} vanished")))?
            }
        };
        let has = s.addresses_v4().map_err(nl("read addresses"))?.into_iter().any(|(a, p, i)| i == index && a == subnet.addr && p == subnet.prefix);
        if !has {
            s.add_address(index, subnet.addr, subnet.prefix).map_err(nl(&format!("add {subnet} to {name}")))?;
        }
        s.set_up(index).map_err(nl(&format!("bring {name} up")))?;
        enable_forwarding()?;
        self.write_dnsmasq_files(name, cfg)?;
        if self.supervisor(name).is_none() {
            self.spawn_supervisor(name)?;
        }
        Ok(made)
    }

    /// The running supervisor of network `name`, if any.
    pub fn supervisor(&self, name: &str) -> Option<SupervisorState> {
        let bytes = std::fs::read(self.run_dir(name).join("supervisor.json")).ok()?;
        let st: SupervisorState = serde_json::from_slice(&bytes).ok()?;
        crate::sys::process_alive(st.pid, st.start_time).then_some(st)
    }

    fn spawn_supervisor(&self, name: &str) -> Result<()> {
        use std::io::BufRead;
        let run = self.run_dir(name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join("supervisor.log"))
            .map_err(|source| Error::Io { what: "open the network supervisor's log".into(), source })?;
        let mut cmd = std::process::Command::new(&self.exe);
        cmd.arg("__network").arg(name).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| Error::Io { what: "spawn the network supervisor".into(), source })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        if line.trim() == "ok" {
            // Reaped when it ends (the daemon lives on; a CLI exits first anyway).
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        let _ = child.wait();
        let message = line.trim().strip_prefix("error: ").map(str::to_owned).unwrap_or_else(|| format!("see {}", run.join("supervisor.log").display()));
        Err(Error::Dnsmasq { name: name.into(), message })
    }

    fn write_dnsmasq_files(&self, name: &str, cfg: &NetworkConfig) -> Result<()> {
        let run = self.run_dir(name);
        std::fs::create_dir_all(&run).map_err(|source| Error::Io { what: format!("create {}", run.display()), source })?;
        let subnet = cfg.subnet()?;
        let res: Vec<(String, String, Reservation)> = cfg
            .reservations
            .iter()
            .filter_map(|(k, r)| k.split_once('/').map(|(c, n)| (c.to_owned(), n.to_owned(), r.clone())))
            .collect();
        let write = |file: &str, text: String| {
            let path = run.join(file);
            crate::storage::write_volatile(&path, text.as_bytes())?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(|source| Error::Io { what: format!("make {} readable", path.display()), source })
        };
        // dnsmasq drops to `nobody` and re-reads the hosts files as that user: they must be
        // reachable by others, or it keeps root (a run dir under a private directory).
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|source| Error::Io { what: format!("open up {}", run.display()), source })?;
        let as_root = !others_can_reach(&run);
        write("dnsmasq.conf", dnsmasq::config(name, &subnet, &cfg.domain, &run, &self.leases_path(name), as_root))?;
        write("dhcp-hosts", dnsmasq::dhcp_hosts(&res))?;
        write("hosts", dnsmasq::hosts(&res, &cfg.domain))?;
        Ok(())
    }

    /// Tell dnsmasq to re-read its hosts files (new reservations), or to restart with the
    /// leases of released reservations dropped.
    fn notify(&self, name: &str, prune: bool) {
        if let Some(st) = self.supervisor(name) {
            let sig = if prune { libc::SIGUSR1 } else { libc::SIGHUP };
            let _ = crate::sys::kill_raw(nix::unistd::Pid::from_raw(st.pid), sig);
        }
    }

    fn tear_down(&self, name: &str) -> Result<()> {
        if let Some(st) = self.supervisor(name) {
            let pid = nix::unistd::Pid::from_raw(st.pid);
            let fd = crate::sys::pidfd_open(pid).ok();
            let _ = crate::sys::kill_raw(pid, libc::SIGTERM);
            match fd {
                Some(fd) => wait_gone(&fd, Duration::from_secs(5)),
                // No pidfd (old kernel, no descriptors left): watch /proc instead.
                None => {
                    let t0 = std::time::Instant::now();
                    while self.supervisor(name).is_some() && t0.elapsed() < Duration::from_secs(5) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        }
        nft::delete(name).map_err(|message| Error::Firewall { name: name.into(), message })?;
        let mut s = Netlink::open().map_err(nl("open a netlink socket"))?;
        if let Some(i) = s.link_index(name).map_err(nl("look up links"))? {
            s.delete_link(i).map_err(nl(&format!("delete bridge {name}")))?;
        }
        let _ = crate::storage::remove_tree(&self.run_dir(name));
        Ok(())
    }

    /// Delete network `name`: refused while containers hold reservations on it.
    pub fn delete(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let cfg = self.load(name)?;
        let mut users: Vec<&str> = cfg.reservations.keys().filter_map(|k| k.split_once('/').map(|(c, _)| c)).collect();
        users.dedup();
        if !users.is_empty() {
            return Err(Error::InUse { name: name.into(), users: users.join(", ") });
        }
        self.tear_down(name)?;
        let _ = std::fs::remove_file(self.leases_path(name));
        std::fs::remove_file(self.config_path(name)).map_err(|source| Error::Io { what: format!("remove network {name}"), source })?;
        Ok(())
    }

    /// Change a network's settings: `ipv4.address` (only while no container uses it),
    /// `ipv4.nat`, `dns.domain`. A failed change leaves the network as it was.
    pub fn set(&self, name: &str, key: &str, value: &str) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let old = self.load(name)?;
        let mut cfg = old.clone();
        match key {
            "ipv4.address" => {
                if !cfg.reservations.is_empty() {
                    return Err(Error::Invalid(format!("network {name} has containers; change ipv4.address while none uses it")));
                }
                let s = Subnet::parse(value).map_err(|e| Error::Invalid(format!("ipv4.address {value}: {e}")))?;
                if let Some(o) = self.our_subnets(name).iter().find(|o| s.overlaps(o.addr, o.prefix)) {
                    return Err(Error::Invalid(format!("ipv4.address {s} overlaps another sysctr network ({o})")));
                }
                // The bridge goes (and its routes with it) before the new subnet is checked
                // against what the host has; on any failure it comes back as it was.
                self.tear_down(name)?;
                let checked = (|| {
                    let mut nl_sock = Netlink::open().map_err(nl("open a netlink socket"))?;
                    let routes = nl_sock.routes_v4().map_err(nl("read routes"))?;
                    let addrs: Vec<(Ipv4Addr, u8)> = nl_sock.addresses_v4().map_err(nl("read addresses"))?.into_iter().map(|(a, p, _)| (a, p)).collect();
                    match ipam::conflict(&s, &routes, &addrs) {
                        Some(why) => Err(Error::Invalid(format!("ipv4.address {s}: {why}"))),
                        None => Ok(()),
                    }
                })();
                cfg.ipv4 = s.to_string();
                let done = checked.and_then(|()| self.save(name, &cfg)).and_then(|()| self.bring_up(name, &cfg));
                match done {
                    Ok(w) => Ok(w),
                    Err(e) => {
                        let _ = self.tear_down(name);
                        let _ = self.save(name, &old);
                        let _ = self.bring_up(name, &old);
                        Err(e)
                    }
                }
            }
            "ipv4.nat" => {
                cfg.nat = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Error::Invalid(format!("ipv4.nat {value:?}: use true or false"))),
                };
                self.save(name, &cfg)?;
                self.bring_up(name, &cfg)
            }
            "dns.domain" => {
                check_domain(value)?;
                cfg.domain = value.to_owned();
                // New names, same bridge: dnsmasq restarts with them; guests stay connected.
                self.save(name, &cfg)?;
                self.write_dnsmasq_files(name, &cfg)?;
                self.notify(name, true);
                self.bring_up(name, &cfg)
            }
            _ => Err(Error::Invalid(format!("unknown network key {key:?}; known keys: ipv4.address, ipv4.nat, dns.domain"))),
        }
    }

    /// The reservation of `container`'s NIC `nic` on `name`: the existing one (kept across
    /// restarts), else a new one. `ipv4`/`hwaddr` pin them (refused when taken).
    pub fn reserve(&self, name: &str, container: &str, nic: &str, ipv4: Option<Ipv4Addr>, hwaddr: Option<&str>) -> Result<Reservation> {
        let _lock = self.lock()?;
        let mut cfg = self.load(name)?;
        let subnet = cfg.subnet()?;
        let key = format!("{container}/{nic}");
        let others: Vec<(&String, &Reservation)> = cfg.reservations.iter().filter(|(k, _)| **k != key).collect();
        let used: Vec<Ipv4Addr> = others.iter().filter_map(|(_, r)| r.ipv4.parse().ok()).collect();
        let current = cfg.reservations.get(&key).cloned();
        let ip = match ipv4 {
            Some(ip) => {
                static_ok(name, &cfg, &key, ip)?;
                ip
            }
            None => match current.as_ref().and_then(|r| r.ipv4.parse::<Ipv4Addr>().ok()).filter(|ip| subnet.is_host(*ip) && !used.contains(ip)) {
                Some(ip) => ip,
                None => ipam::allocate(&subnet, &used).ok_or_else(|| Error::Invalid(format!("network {name} ({subnet}) has no free address left")))?,
            },
        };
        let mac = match hwaddr {
            Some(m) => {
                ipam::parse_mac(m).map_err(|e| Error::Invalid(format!("hwaddr {m}: {e}")))?;
                if let Some((k, _)) = others.iter().find(|(_, r)| r.hwaddr.eq_ignore_ascii_case(m)) {
                    return Err(Error::Invalid(format!("hwaddr {m} on network {name} is taken by {k}")));
                }
                m.to_ascii_lowercase()
            }
            None => match current.as_ref() {
                Some(r) => r.hwaddr.clone(),
                // 24 random bits: draw again on the rare clash with a reservation.
                None => loop {
                    let m = ipam::mac(random_bytes()?);
                    if !others.iter().any(|(_, r)| r.hwaddr == m) {
                        break m;
                    }
                },
            },
        };
        let r = Reservation { ipv4: ip.to_string(), hwaddr: mac };
        if current.as_ref() != Some(&r) {
            cfg.reservations.insert(key, r.clone());
            self.save(name, &cfg)?;
            self.write_dnsmasq_files(name, &cfg)?;
            // A changed address: the old lease must go, dnsmasq restarts without it.
            self.notify(name, current.is_some());
        }
        Ok(r)
    }

    /// Check, without reserving, that `ipv4` could be `container`'s on `name`.
    pub fn check_static(&self, name: &str, container: &str, nic: &str, ipv4: Ipv4Addr) -> Result<()> {
        static_ok(name, &self.load(name)?, &format!("{container}/{nic}"), ipv4)
    }

    /// Drop every reservation of `container` except those in `keep` (`NETWORK/NIC`), and
    /// their leases.
    pub fn release(&self, container: &str, keep: &[String]) -> Result<()> {
        let _lock = self.lock()?;
        for name in self.names()? {
            let Ok(mut cfg) = self.load(&name) else { continue };
            let before = cfg.reservations.len();
            cfg.reservations.retain(|k, _| {
                k.split_once('/').map_or(true, |(c, nic)| c != container || keep.contains(&format!("{name}/{nic}")))
            });
            if cfg.reservations.len() != before {
                self.save(&name, &cfg)?;
                if self.supervisor(&name).is_some() {
                    self.write_dnsmasq_files(&name, &cfg)?;
                    self.notify(&name, true);
                } else {
                    // No dnsmasq running: drop the leases here.
                    let keep: Vec<&str> = cfg.reservations.values().map(|r| r.hwaddr.as_str()).collect();
                    let path = self.leases_path(&name);
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        let _ = crate::storage::write_atomic(&path, dnsmasq::prune(&text, &keep).as_bytes());
                    }
                }
            }
        }
        Ok(())
    }

    /// MAC -> IPv4 of the leases dnsmasq handed out on `name`.
    pub fn leases(&self, name: &str) -> Vec<(String, String)> {
        std::fs::read_to_string(self.leases_path(name)).map(|t| dnsmasq::leases(&t)).unwrap_or_default()
    }
}

/// `ip` can be reservation `key`'s on network `name`: a host address of its subnet that no
/// other reservation holds.
fn static_ok(name: &str, cfg: &NetworkConfig, key: &str, ip: Ipv4Addr) -> Result<()> {
    let subnet = cfg.subnet()?;
    if !subnet.is_host(ip) {
        return Err(Error::Invalid(format!("ipv4 {ip} is not a host address of network {name} ({subnet})")));
    }
    if let Some((k, _)) = cfg.reservations.iter().find(|(k, r)| k.as_str() != key && r.ipv4 == ip.to_string()) {
        let who = k.split_once('/').map(|(c, _)| c).unwrap_or(k);
        return Err(Error::Invalid(format!("ipv4 {ip} on network {name} is taken by {who}")));
    }
    Ok(())
}

fn check_domain(d: &str) -> Result<()> {
    let ok = !d.is_empty()
        && d.len() <= 63
        && d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("dns.domain {d:?}: use labels of a-z, 0-9 and '-', such as sysctr or lab.example")))
    }
}

/// Every directory on the way to `dir` (and `dir`) lets others through.
fn others_can_reach(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    dir.ancestors().all(|d| d.as_os_str().is_empty() || std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn enable_forwarding() -> Result<()> {
    const KNOB: &str = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(KNOB).map(|s| s.trim() == "1").unwrap_or(false) {
        return Ok(());
    }
    std::fs::write(KNOB, "1").map_err(|source| Error::Io { what: "turn on IPv4 forwarding (net.ipv4.ip_forward)".into(), source })
}

fn wait_gone(pidfd: &std::os::fd::OwnedFd, timeout: Duration) {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
}

/// Join a container to its network: a veth pair, the host end (a random `sc…` name) on
/// the bridge, the other end `nic.name` with its MAC in the network namespace of `pid`.
/// Called by the container's monitor between the runtime's `create` and `start`.
pub fn attach(nic: &Nic, pid: i32) -> Result<()> {
    let mac = ipam::parse_mac(&nic.hwaddr).map_err(|e| Error::Invalid(format!("hwaddr {}: {e}", nic.hwaddr)))?;
    let mut s = Netlink::open().map_err(nl("open a netlink socket"))?;
    let bridge = s
        .link_index(&nic.network)
        .map_err(nl("look up links"))?
        .ok_or_else(|| Error::Invalid(format!("the bridge of network {} is gone; `sysctr network show {}` brings it back", nic.network, nic.network)))?;
    let mtu = s.mtu(bridge).map_err(nl("read the bridge's MTU"))?;
    let r: [u8; 4] = random_bytes()?;
    let host = format!("sc{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]);
    s.create_veth(&host, bridge, mtu, &nic.name, mac, pid).map_err(nl(&format!("create the veth pair {host} / {} of network {}", nic.name, nic.network)))
}

/// Where the bridge of `network` is, for tests and `show`: its index and whether it is up.
pub fn bridge_exists(network: &str) -> bool {
    Netlink::open().ok().and_then(|mut s| s.link_index(network).ok().flatten()).is_some()
}

pub fn table_exists(network: &str) -> bool {
    nft::exists(network)
}

/// The paths of one instance's networks under its state and run dirs.
pub fn networks(state: &Path, run: &Path, exe: &Path, env: Vec<(String, PathBuf)>) -> Networks {
    Networks { dir: state.join("networks"), run: run.join("networks"), exe: exe.to_owned(), env }
}
