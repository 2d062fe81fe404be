//! sysctr's nftables tables: one per network (`inet sysctr_NAME`), replaced as a whole,
//! never touching rules of anyone else; and what of the host's firewall would get in
//! the way.

use std::io::Write;
use std::process::{Command, Stdio};

use super::ipam::Subnet;

pub fn table(network: &str) -> String {
    format!("sysctr_{}", network.replace('-', "_"))
}

/// The whole table of one network: DHCP and DNS from the bridge accepted, its traffic
/// forwarded out (and replies back in), NAT to the host's address, and no new
/// connections into it from elsewhere (networks stay isolated from each other).
pub fn ruleset(network: &str, bridge: &str, subnet: &Subnet, nat: bool) -> String {
    let t = table(network);
    let net = format!("{}/{}", subnet.network(), subnet.prefix);
    let mut r = format!(
        "table inet {t} {{}}\n\
         delete table inet {t}\n\
         table inet {t} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{bridge}\" udp dport {{ 53, 67 }} accept\n\
         \t\tiifname \"{bridge}\" tcp dport 53 accept\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\toifname \"{bridge}\" iifname != \"{bridge}\" ct state new drop\n\
         \t\tiifname \"{bridge}\" accept\n\
         \t\toifname \"{bridge}\" ct state established,related accept\n\
         \t}}\n"
    );
    if nat {
        r += &format!(
            "\tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {net} ip daddr != {net} masquerade\n\
             \t}}\n"
        );
    }
    r += "}\n";
    r
}

fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft ({e}); install nftables"))?;
    child.stdin.take().expect("piped").write_all(script.as_bytes()).map_err(|e| format!("nft: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("nft refused the rules: {}", String::from_utf8_lossy(&out.stderr).trim().replace('\n', " ")))
    }
}

pub fn apply(network: &str, bridge: &str, subnet: &Subnet, nat: bool) -> Result<(), String> {
    nft(&ruleset(network, bridge, subnet, nat))
}

/// Remove a network's table (absent is fine).
pub fn delete(network: &str) -> Result<(), String> {
    let t = table(network);
    nft(&format!("table inet {t} {{}}\ndelete table inet {t}\n"))
}

pub fn exists(network: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", &table(network)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What in the host's firewall would drop the bridge's DHCP, DNS or forwarded traffic,
/// each with the change that fixes it.
pub fn host_firewall_problems(bridge: &str) -> Vec<String> {
    let mut out = match Command::new("nft").args(["-j", "list", "chains"]).stderr(Stdio::null()).output() {
        Ok(o) => chain_problems(&o.stdout, bridge),
        Err(_) => vec![],
    };
    // iptables-legacy rules are invisible to nft.
    if let Ok(o) = Command::new("iptables-legacy").args(["-S", "FORWARD"]).stderr(Stdio::null()).output() {
        if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "-P FORWARD DROP") {
            out.push(format!("iptables (legacy) FORWARD policy is DROP: iptables-legacy -I FORWARD -i {bridge} -j ACCEPT; iptables-legacy -I FORWARD -o {bridge} -m state --state RELATED,ESTABLISHED -j ACCEPT"));
        }
    }
    out
}

/// What `nft -j list chains` output shows in the way of `bridge`'s traffic.
fn chain_problems(json: &[u8], bridge: &str) -> Vec<String> {
    let mut out = Vec::new();
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let c = &item["chain"];
        let (Some(family), Some(table), Some(name)) = (c["family"].as_str(), c["table"].as_str(), c["name"].as_str()) else {
            continue;
        };
        if table.starts_with("sysctr_") {
            continue;
        }
        // Firewall managers, known by their chains, whatever the policies.
        if name.starts_with("DOCKER") && !out.iter().any(|w: &String| w.contains("Docker")) {
            out.push(format!("Docker's chains are present; Docker sets the FORWARD policy to DROP: iptables -I DOCKER-USER -i {bridge} -j ACCEPT; iptables -I DOCKER-USER -o {bridge} -j ACCEPT"));
        }
        if name.starts_with("ufw-") && !out.iter().any(|w| w.contains("ufw")) {
            out.push(format!("ufw is active: ufw allow in on {bridge}; ufw route allow in on {bridge}; ufw route allow out on {bridge}"));
        }
        if table == "firewalld" && !out.iter().any(|w| w.contains("firewalld")) {
            out.push(format!("firewalld is active: firewall-cmd --zone=trusted --change-interface={bridge} --permanent; firewall-cmd --reload"));
        }
        if c["policy"].as_str() != Some("drop") {
            continue;
        }
        match c["hook"].as_str() {
            Some("forward") => out.push(format!(
                "the host's nftables chain {family} {table} {name} drops forwarded packets by default, so containers on {bridge} cannot reach out; allow them: nft insert rule {family} {table} {name} iifname \"{bridge}\" accept; nft insert rule {family} {table} {name} oifname \"{bridge}\" ct state established,related accept"
            )),
            Some("input") => out.push(format!(
                "the host's nftables chain {family} {table} {name} drops incoming packets by default, so DHCP and DNS from {bridge} are lost; allow them: nft insert rule {family} {table} {name} iifname \"{bridge}\" udp dport {{ 53, 67 }} accept"
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_is_one_table_replaced_whole() {
        let s = Subnet::parse("10.7.7.1/24").unwrap();
        let r = ruleset("my-net", "my-net", &s, true);
        assert!(r.starts_with("table inet sysctr_my_net {}\ndelete table inet sysctr_my_net\n"));
        assert!(r.contains("ip saddr 10.7.7.0/24 ip daddr != 10.7.7.0/24 masquerade"));
        assert!(r.contains("oifname \"my-net\" iifname != \"my-net\" ct state new drop"));
        assert!(!ruleset("n", "n", &s, false).contains("masquerade"));
    }

    #[test]
    fn host_firewalls_in_the_way_are_named_with_the_fix() {
        let json = br#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 2}},
            {"chain": {"family": "inet", "table": "host", "name": "in", "handle": 3, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "sysctr_br0", "name": "forward", "handle": 4, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "other", "name": "fwd", "handle": 5, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}]}"#;
        let p = chain_problems(json, "br0");
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("ip filter FORWARD drops forwarded packets") && p[0].contains("nft insert rule ip filter FORWARD iifname \"br0\" accept"));
        assert!(p[1].contains("Docker") && p[1].contains("DOCKER-USER -i br0"));
        assert!(p[2].contains("inet host in drops incoming") && p[2].contains("udp dport { 53, 67 }"));
        assert!(chain_problems(b"not json", "br0").is_empty());
    }
}
