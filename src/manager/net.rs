//! Networks as users see them (`sysctr network ...`), and the NICs a container's keys ask
//! for: checked at create and config set, reserved and handed to the monitor at start,
//! released at delete.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{Error, Manager, Result};
use crate::api;
use crate::network::{self, Networks, Nic};
use crate::storage::{ContainerConfig, HostConfig};

/// The default network when the host config names none.
pub const DEFAULT_NETWORK: &str = "sysctrbr0";

/// A network as `list`/`info` read it: name, config, and its leases (MAC, IPv4).
pub(super) type NetView = (String, network::NetworkConfig, Vec<(String, String)>);

/// One NIC a container's keys ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Wanted {
    pub nic: String,
    pub network: String,
    pub ipv4: Option<Ipv4Addr>,
    pub hwaddr: Option<String>,
}

impl Manager {
    pub(super) fn networks(&self) -> Networks {
        network::networks(
            &self.paths.state,
            &self.paths.run,
            &self.exe,
            vec![
                ("SYSCTR_STATE_DIR".into(), self.paths.state.clone()),
                ("SYSCTR_RUN_DIR".into(), self.paths.run.clone()),
                ("SYSCTR_CONFIG".into(), self.paths.config.clone()),
            ],
        )
    }

    fn default_network(&self) -> Result<String> {
        Ok(HostConfig::load(&self.paths.config)?.default_network.unwrap_or_else(|| DEFAULT_NETWORK.into()))
    }

    /// The NICs `config` asks for: eth0 on `network` (or the host's default), plus one per
    /// `network.NIC` key.
    pub(super) fn wanted_nics(&self, config: &BTreeMap<String, String>) -> Result<Vec<Wanted>> {
        let mut out = Vec::new();
        let eth0 = match config.get("network") {
            Some(n) => n.clone(),
            None => self.default_network()?,
        };
        let mut add = |nic: &str, net: &str, ip_key: &str, mac_key: &str| -> Result<()> {
            if net == "none" {
                return Ok(());
            }
            let ipv4 = config.get(ip_key).map(|v| v.parse().expect("validated key"));
            out.push(Wanted { nic: nic.into(), network: net.into(), ipv4, hwaddr: config.get(mac_key).cloned() });
            Ok(())
        };
        add("eth0", &eth0, "ipv4", "hwaddr")?;
        for (k, v) in config {
            if let Some(nic) = k.strip_prefix("network.") {
                let ifname_ok = nic.len() <= 15
                    && nic.as_bytes()[0].is_ascii_lowercase()
                    && nic.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && nic != "lo";
                if !ifname_ok {
                    return Err(Error::Invalid(format!("{k}: {nic:?} is not a usable interface name; use up to 15 of a-z and 0-9, starting with a letter (eth1, lan0)")));
                }
                if nic == "eth0" {
                    return Err(Error::Invalid("network.eth0 is the `network` key; use network=NAME".into()));
                }
                add(nic, v, &format!("ipv4.{nic}"), &format!("hwaddr.{nic}"))?;
            }
        }
        for k in config.keys() {
            for prefix in ["ipv4.", "hwaddr."] {
                if let Some(nic) = k.strip_prefix(prefix) {
                    if !out.iter().any(|w| w.nic == nic) {
                        return Err(Error::Invalid(format!("{k} is set but NIC {nic} has no network (set network.{nic})")));
                    }
                }
            }
        }
        if (config.contains_key("ipv4") || config.contains_key("hwaddr")) && !out.iter().any(|w| w.nic == "eth0") {
            return Err(Error::Invalid("ipv4/hwaddr are set but eth0 has no network (network=none)".into()));
        }
        Ok(out)
    }

    /// Refuse NIC keys that cannot work: unknown networks (the default one is made on
    /// first use), static addresses outside their subnet or taken.
    pub(super) fn check_nics(&self, container: &str, config: &BTreeMap<String, String>) -> Result<()> {
        let nets = self.networks();
        let default = self.default_network()?;
        for w in self.wanted_nics(config)? {
            if !nets.exists(&w.network) {
                if w.network == default {
                    continue;
                }
                return Err(network::Error::NotFound(w.network).into());
            }
            if let Some(ip) = w.ipv4 {
                nets.check_static(&w.network, container, &w.nic, ip)?;
            }
        }
        Ok(())
    }

    /// At start: networks up (the default made on first use), each NIC's reservation;
    /// reservations of NICs the config no longer has are released. The networks' firewall
    /// tables are the caller's to refresh ([`Manager::refresh_firewalls`]) once the guest
    /// boots: that takes a process of nft per network.
    pub(super) fn prepare_nics(&self, container: &str, cfg: &ContainerConfig) -> Result<(Vec<Nic>, Vec<String>)> {
        let nets = self.networks();
        let default = self.default_network()?;
        let wanted = self.wanted_nics(&cfg.config)?;
        let mut warnings = Vec::new();
        let mut nics = Vec::new();
        let keep: Vec<String> = wanted.iter().map(|w| format!("{}/{}", w.network, w.nic)).collect();
        nets.release(container, &keep)?;
        for w in wanted {
            if !nets.exists(&w.network) && w.network == default {
                match nets.create(&w.network, None, None, true) {
                    Ok(wn) => warnings.extend(wn),
                    Err(network::Error::Exists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            } else {
                warnings.extend(nets.ensure(&w.network, false)?);
            }
            let r = nets.reserve(&w.network, container, &w.nic, w.ipv4, w.hwaddr.as_deref())?;
            nics.push(Nic { name: w.nic, network: w.network, hwaddr: r.hwaddr, ipv4: r.ipv4 });
        }
        Ok((nics, warnings))
    }

    /// Re-apply the nftables tables of the networks `nics` use (they may have been flushed
    /// by a firewall reload since); what fails is said, the running guest is kept.
    pub(super) fn refresh_firewalls(&self, nics: &[Nic]) -> Vec<String> {
        let nets = self.networks();
        let mut names: Vec<&str> = nics.iter().map(|n| n.network.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for n in names {
            match nets.firewall(n) {
                Ok(w) => out.extend(w),
                Err(e) => out.push(format!("network {n}: NAT and isolation rules not applied: {}", crate::runtime::chain(&e))),
            }
        }
        out
    }

    /// The addresses of `container` on every network (one load of each per call site).
    pub(super) fn addresses(container: &str, nets: &[NetView]) -> Vec<api::Address> {
        let mut out = Vec::new();
        for (name, cfg, leases) in nets {
            for (key, r) in &cfg.reservations {
                let Some((c, nic)) = key.split_once('/') else { continue };
                if c == container {
                    out.push(api::Address {
                        nic: nic.into(),
                        network: name.clone(),
                        ipv4: r.ipv4.clone(),
                        hwaddr: r.hwaddr.clone(),
                        leased: leases.iter().any(|(m, ip)| m.eq_ignore_ascii_case(&r.hwaddr) && *ip == r.ipv4),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.nic.cmp(&b.nic));
        out
    }

    pub(super) fn load_networks(&self) -> Vec<NetView> {
        let nets = self.networks();
        nets.names()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| {
                let cfg = nets.load(&n).ok()?;
                let leases = nets.leases(&n);
                Some((n, cfg, leases))
            })
            .collect()
    }

    fn describe_network(&self, nets: &Networks, name: &str) -> Result<api::Network> {
        let cfg = nets.load(name)?;
        let mut used_by: Vec<String> = cfg.reservations.keys().filter_map(|k| k.split_once('/').map(|(c, _)| c.to_owned())).collect();
        used_by.dedup();
        Ok(api::Network {
            name: name.into(),
            ipv4: cfg.ipv4.clone(),
            domain: cfg.domain.clone(),
            nat: cfg.nat,
            up: network::bridge_exists(name),
            dnsmasq_pid: nets.supervisor(name).map(|s| s.dnsmasq),
            used_by,
        })
    }

    pub fn network_list(&self) -> Result<Vec<api::Network>> {
        let nets = self.networks();
        nets.names()?.iter().map(|n| self.describe_network(&nets, n)).collect()
    }

    pub fn network_show(&self, name: &str) -> Result<api::Network> {
        network::validate_name(name)?;
        self.describe_network(&self.networks(), name)
    }

    /// Create and bring up a network; warnings about the host firewall come back.
    pub fn network_create(&self, req: &api::NetworksPost) -> Result<(api::Network, Vec<String>)> {
        let nets = self.networks();
        let warnings = nets.create(&req.name, req.ipv4.as_deref(), req.domain.as_deref(), req.nat.unwrap_or(true))?;
        Ok((self.describe_network(&nets, &req.name)?, warnings))
    }

    pub fn network_delete(&self, name: &str) -> Result<()> {
        network::validate_name(name)?;
        Ok(self.networks().delete(name)?)
    }

    pub fn network_set(&self, name: &str, key: &str, value: &str) -> Result<(api::Network, Vec<String>)> {
        network::validate_name(name)?;
        let nets = self.networks();
        let warnings = nets.set(name, key, value)?;
        Ok((self.describe_network(&nets, name)?, warnings))
    }

    /// Entry point of `sysctr __network NAME`.
    pub fn network_supervisor_main(&self, name: &str) -> Result<()> {
        network::validate_name(name)?;
        let mut report = super::take_report_pipe()?;
        Ok(network::supervisor::run(&self.networks(), name, &mut report)?)
    }
}
