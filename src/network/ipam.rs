//! Address management: subnets that collide with nothing on the host, and stable
//! addresses and MACs for containers.

use std::net::Ipv4Addr;

/// An IPv4 subnet with the bridge's own address in it: `10.12.34.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, String> {
        const HELP: &str = "use an address and prefix such as 10.12.34.1/24";
        let (a, p) = s.split_once('/').ok_or(HELP)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| HELP)?;
        let prefix: u8 = p.parse().map_err(|_| HELP)?;
        if !(8..=30).contains(&prefix) {
            return Err("the prefix must be from /8 to /30".into());
        }
        let s = Subnet { addr, prefix };
        if addr == s.network() || addr == s.broadcast() {
            return Err(format!("{addr} is the subnet's network or broadcast address; give the bridge a host address such as {}", Ipv4Addr::from(u32::from(s.network()) + 1)));
        }
        if !addr.is_private() {
            return Err(format!("{addr} is not a private (RFC 1918) address; use 10.x.y.z, 172.16-31.x.y or 192.168.x.y"));
        }
        Ok(s)
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix as u32)
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }
    /// Usable host addresses (not network, broadcast or the bridge's own).
    pub fn is_host(&self, a: Ipv4Addr) -> bool {
        self.contains(a) && a != self.network() && a != self.broadcast() && a != self.addr
    }
    /// `other` (an address/prefix) shares any address with this subnet.
    pub fn overlaps(&self, other: Ipv4Addr, prefix: u8) -> bool {
        let p = self.prefix.min(prefix);
        let m = if p == 0 { 0 } else { u32::MAX << (32 - p as u32) };
        u32::from(self.addr) & m == u32::from(other) & m
    }
    /// The first and last address handed out dynamically.
    pub fn range(&self) -> (Ipv4Addr, Ipv4Addr) {
        (Ipv4Addr::from(u32::from(self.network()) + 1), Ipv4Addr::from(u32::from(self.broadcast()) - 1))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why `s` cannot be used on a host with these routes and addresses (the default route
/// aside), if it cannot.
pub fn conflict(s: &Subnet, routes: &[(Ipv4Addr, u8)], addrs: &[(Ipv4Addr, u8)]) -> Option<String> {
    for (dst, len) in routes.iter().filter(|(_, l)| *l > 0) {
        if s.overlaps(*dst, *len) {
            return Some(format!("{s} overlaps the host route {dst}/{len}"));
        }
    }
    for (a, len) in addrs {
        if s.overlaps(*a, *len) {
            return Some(format!("{s} overlaps the host address {a}/{len}"));
        }
    }
    None
}

/// A free `10.x.y.1/24`: random, checked against the host's routes and addresses and
/// `also` (other networks of ours that may be down).
pub fn pick(routes: &[(Ipv4Addr, u8)], addrs: &[(Ipv4Addr, u8)], also: &[Subnet], mut rand: impl FnMut() -> u32) -> Option<Subnet> {
    for _ in 0..2000 {
        let r = rand();
        let s = Subnet { addr: Ipv4Addr::new(10, (r >> 8) as u8, r as u8, 1), prefix: 24 };
        if conflict(&s, routes, addrs).is_none() && !also.iter().any(|o| s.overlaps(o.addr, o.prefix)) {
            return Some(s);
        }
    }
    None
}

/// The lowest host address in `s` not in `used`.
pub fn allocate(s: &Subnet, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let (first, last) = s.range();
    (u32::from(first)..=u32::from(last)).map(Ipv4Addr::from).find(|a| s.is_host(*a) && !used.contains(a))
}

/// A MAC from random bytes: locally administered, unicast, sysctr's `0a:73:63` prefix.
pub fn mac(r: [u8; 3]) -> String {
    format!("0a:73:63:{:02x}:{:02x}:{:02x}", r[0], r[1], r[2])
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    const HELP: &str = "use six hex bytes such as 0a:73:63:12:34:56";
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(HELP.into());
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(HELP.into());
        }
        out[i] = u8::from_str_radix(p, 16).map_err(|_| HELP)?;
    }
    if out[0] & 1 != 0 {
        return Err("that is a multicast address; the first byte must be even".into());
    }
    if out == [0; 6] {
        return Err(HELP.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.2.1/24").unwrap();
        assert_eq!((s.network(), s.broadcast(), s.netmask()), (ip("10.1.2.0"), ip("10.1.2.255"), ip("255.255.255.0")));
        assert!(s.is_host(ip("10.1.2.2")) && !s.is_host(ip("10.1.2.1")) && !s.is_host(ip("10.1.3.2")));
        assert!(s.overlaps(ip("10.0.0.0"), 8) && s.overlaps(ip("10.1.2.128"), 25) && !s.overlaps(ip("10.1.3.0"), 24));
        for bad in ["10.1.2.0/24", "10.1.2.255/24", "10.1.2.1", "10.1.2.1/31", "8.8.8.1/24", "x/24", "10.1.2.1/x"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(s.to_string(), "10.1.2.1/24");
    }

    #[test]
    fn picks_around_host_routes() {
        let routes = [(ip("0.0.0.0"), 0), (ip("10.0.0.0"), 9)]; // 10.0-127.x.x taken
        let addrs = [(ip("192.0.2.2"), 24)];
        let mut n = 0u32;
        let s = pick(&routes, &addrs, &[], || {
            n += 1;
            n * 0x3f00
        })
        .unwrap();
        assert!(s.addr.octets()[1] >= 128, "{s}");
        assert!(conflict(&Subnet::parse("10.5.0.1/24").unwrap(), &routes, &addrs).unwrap().contains("route 10.0.0.0/9"));
        assert!(pick(&[(ip("10.0.0.0"), 8)], &[], &[], || 7).is_none());
    }

    #[test]
    fn allocates_lowest_free() {
        let s = Subnet::parse("10.1.2.1/24").unwrap();
        assert_eq!(allocate(&s, &[]), Some(ip("10.1.2.2")));
        assert_eq!(allocate(&s, &[ip("10.1.2.2"), ip("10.1.2.3")]), Some(ip("10.1.2.4")));
        let tiny = Subnet::parse("10.1.2.1/30").unwrap();
        assert_eq!(allocate(&tiny, &[ip("10.1.2.2")]), None);
        assert_eq!(parse_mac(&mac([1, 2, 255])).unwrap(), [0x0a, 0x73, 0x63, 1, 2, 255]);
        assert!(parse_mac("01:00:00:00:00:01").is_err() && parse_mac("0a:73:63:1:2:3").is_err());
    }
}
