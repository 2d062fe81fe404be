//! rtnetlink, as much as sysctr needs: bridges, veth pairs into a container's network
//! namespace, addresses, and the host's routes and addresses (to pick a free subnet).
//! Messages are built and parsed here; the socket is nix's (no unsafe).

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const IFF_UP: u32 = 1;
const AF_INET: u8 = 2;

/// A message under construction: header, family struct, attributes.
struct Msg {
    buf: Vec<u8>,
    /// Offsets of nested attributes still open.
    open: Vec<usize>,
}

impl Msg {
    fn new(typ: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&typ.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Msg { buf, open: vec![] }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        self.buf.extend_from_slice(&ifinfo_bytes(index, flags, change));
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Msg {
        self.buf.extend_from_slice(bytes);
        self
    }

    fn attr(mut self, typ: u16, data: &[u8]) -> Msg {
        push_attr(&mut self.buf, typ, data);
        self
    }

    fn str_attr(self, typ: u16, s: &str) -> Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(typ, &d)
    }

    fn begin(mut self, typ: u16) -> Msg {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(typ | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(mut self) -> Msg {
        let at = self.open.pop().expect("begin before end");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn ifinfo_bytes(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0; // AF_UNSPEC
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn push_attr(buf: &mut Vec<u8>, typ: u16, data: &[u8]) {
    let len = (4 + data.len()) as u16;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(data);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// The attributes in `data`: (type without flags, payload).
fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let typ = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((typ, &data[4..len]));
        data = data.get((len + 3) & !3..).unwrap_or(&[]);
    }
    out
}

/// A route-netlink socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub fn open() -> std::io::Result<Netlink> {
        let fd = socket::socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 1 })
    }

    /// Send `msg` (with an ack asked for) and collect the answers to it up to the ack or
    /// the end of a dump: the data messages, or the kernel's error.
    fn exchange(&mut self, mut msg: Msg) -> std::io::Result<Vec<(u16, Vec<u8>)>> {
        self.seq += 1;
        let seq = self.seq;
        let flags = u16::from_ne_bytes([msg.buf[6], msg.buf[7]]) | NLM_F_ACK;
        msg.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        let bytes = msg.finish(seq);
        socket::sendto(self.fd.as_raw_fd(), &bytes, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        loop {
            let n = socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            for (typ, mseq, body) in messages(&buf[..n]) {
                if mseq != seq {
                    continue;
                }
                match typ {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(body.get(..4).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]));
                        return if errno == 0 { Ok(out) } else { Err(std::io::Error::from_raw_os_error(-errno)) };
                    }
                    t => out.push((t, body.to_vec())),
                }
            }
        }
    }

    fn request(&mut self, msg: Msg) -> std::io::Result<()> {
        self.exchange(msg).map(drop)
    }

    /// The RTM_NEWLINK answer about one link (by index, or by name with index 0).
    fn get_link(&mut self, index: i32, name: Option<&str>) -> std::io::Result<Option<Vec<u8>>> {
        let mut msg = Msg::new(RTM_GETLINK, 0).ifinfo(index, 0, 0);
        if let Some(n) = name {
            msg = msg.str_attr(IFLA_IFNAME, n);
        }
        match self.exchange(msg) {
            Ok(answers) => Ok(answers.into_iter().find(|(t, b)| *t == RTM_NEWLINK && b.len() >= 16).map(|(_, b)| b)),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of link `name`, if it exists.
    pub fn link_index(&mut self, name: &str) -> std::io::Result<Option<i32>> {
        Ok(self.get_link(0, Some(name))?.map(|b| i32::from_ne_bytes(b[4..8].try_into().expect("4 bytes"))))
    }

    /// Create bridge `name` with MAC `mac` (an error if it exists). A fixed MAC: else the
    /// kernel gives the bridge its lowest port's, which changes as containers come and go
    /// and leaves guests with a stale gateway in their ARP caches.
    pub fn create_bridge(&mut self, name: &str, mac: [u8; 6]) -> std::io::Result<()> {
        let msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, name)
            .attr(IFLA_ADDRESS, &mac)
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(msg)
    }

    pub fn set_up(&mut self, index: i32) -> std::io::Result<()> {
        self.request(Msg::new(RTM_NEWLINK, 0).ifinfo(index, IFF_UP, IFF_UP))
    }

    pub fn delete_link(&mut self, index: i32) -> std::io::Result<()> {
        self.request(Msg::new(RTM_DELLINK, 0).ifinfo(index, 0, 0))
    }

    /// Add `addr/prefix` to link `index` (with the subnet's broadcast address).
    pub fn add_address(&mut self, index: i32, addr: Ipv4Addr, prefix: u8) -> std::io::Result<()> {
        let mut ifa = [0u8; 8];
        ifa[0] = AF_INET;
        ifa[1] = prefix;
        ifa[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let bcast = Ipv4Addr::from(u32::from(addr) | !mask);
        let msg = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
            .raw(&ifa)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets())
            .attr(IFA_BROADCAST, &bcast.octets());
        self.request(msg)
    }

    /// A veth pair: `host` on the host, enslaved to bridge `master` and up; its peer
    /// `peer` (with MAC `mac`, up) in the network namespace of process `pid`.
    pub fn create_veth(&mut self, host: &str, master: i32, mtu: u32, peer: &str, mac: [u8; 6], pid: i32) -> std::io::Result<()> {
        let mut peer_msg = ifinfo_bytes(0, 0, 0).to_vec();
        let mut name = peer.as_bytes().to_vec();
        name.push(0);
        push_attr(&mut peer_msg, IFLA_IFNAME, &name);
        push_attr(&mut peer_msg, IFLA_ADDRESS, &mac);
        push_attr(&mut peer_msg, IFLA_MTU, &mtu.to_ne_bytes());
        push_attr(&mut peer_msg, IFLA_NET_NS_PID, &(pid as u32).to_ne_bytes());
        let msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, host)
            .attr(IFLA_MTU, &mtu.to_ne_bytes())
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .attr(VETH_INFO_PEER, &peer_msg)
            .end()
            .end();
        self.request(msg)?;
        // Onto the bridge and up, as `ip link set HOST master BR up` (the kernel refuses
        // a master given at creation of a pair whose peer is in another namespace).
        let index = self.link_index(host)?.ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))?;
        let set = Msg::new(RTM_NEWLINK, 0).ifinfo(index, IFF_UP, IFF_UP).attr(IFLA_MASTER, &(master as u32).to_ne_bytes());
        if let Err(e) = self.request(set) {
            let _ = self.delete_link(index);
            return Err(e);
        }
        Ok(())
    }

    /// The MTU of link `index`.
    pub fn mtu(&mut self, index: i32) -> std::io::Result<u32> {
        let body = self.get_link(index, None)?.ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))?;
        let mtu = attrs(&body[16..]).into_iter().find(|(t, _)| *t == IFLA_MTU).and_then(|(_, d)| d.try_into().ok());
        Ok(mtu.map(u32::from_ne_bytes).unwrap_or(1500))
    }

    /// Every IPv4 route's destination (`0.0.0.0/0` for the default), all tables.
    pub fn routes_v4(&mut self) -> std::io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut rt = [0u8; 12];
        rt[0] = AF_INET;
        let mut out = Vec::new();
        for (typ, body) in self.exchange(Msg::new(RTM_GETROUTE, NLM_F_DUMP).raw(&rt))? {
            if typ != 24 || body.len() < 12 {
                continue; // RTM_NEWROUTE only
            }
            let dst_len = body[1];
            let dst = attrs(&body[12..])
                .into_iter()
                .find(|(t, _)| *t == RTA_DST)
                .and_then(|(_, d)| <[u8; 4]>::try_from(d).ok())
                .map(Ipv4Addr::from)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            out.push((dst, dst_len));
        }
        Ok(out)
    }

    /// Every IPv4 address on the host: (address, prefix length, link index).
    pub fn addresses_v4(&mut self) -> std::io::Result<Vec<(Ipv4Addr, u8, i32)>> {
        let mut ifa = [0u8; 8];
        ifa[0] = AF_INET;
        let mut out = Vec::new();
        for (typ, body) in self.exchange(Msg::new(RTM_GETADDR, NLM_F_DUMP).raw(&ifa))? {
            if typ != RTM_NEWADDR || body.len() < 8 {
                continue;
            }
            let prefix = body[1];
            let index = u32::from_ne_bytes(body[4..8].try_into().expect("4 bytes")) as i32;
            let a = attrs(&body[8..]);
            let addr = a
                .iter()
                .find(|(t, _)| *t == IFA_LOCAL)
                .or_else(|| a.iter().find(|(t, _)| *t == IFA_ADDRESS))
                .and_then(|(_, d)| <[u8; 4]>::try_from(*d).ok());
            if let Some(addr) = addr {
                out.push((Ipv4Addr::from(addr), prefix, index));
            }
        }
        Ok(out)
    }
}

/// Split a receive buffer into (type, seq, body) per message.
fn messages(mut buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
        if len < 16 || len > buf.len() {
            break;
        }
        let typ = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().expect("4 bytes"));
        out.push((typ, seq, &buf[16..len]));
        let next = (len + 3) & !3;
        buf = buf.get(next..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_attributes_round_trip() {
        let m = Msg::new(RTM_NEWLINK, 0)
            .ifinfo(7, IFF_UP, IFF_UP)
            .str_attr(IFLA_IFNAME, "br0")
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end()
            .finish(42);
        assert_eq!(m.len() % 4, 0);
        let msgs = messages(&m);
        assert_eq!(msgs.len(), 1);
        let (typ, seq, body) = msgs[0];
        assert_eq!((typ, seq), (RTM_NEWLINK, 42));
        assert_eq!(i32::from_ne_bytes(body[4..8].try_into().unwrap()), 7);
        let a = attrs(&body[16..]);
        assert_eq!(a[0], (IFLA_IFNAME, &b"br0\0"[..]));
        assert_eq!(a[1].0, IFLA_LINKINFO);
        assert_eq!(attrs(a[1].1), vec![(IFLA_INFO_KIND, &b"bridge\0"[..])]);
        // Truncated input never panics.
        for cut in 0..m.len() {
            let _ = messages(&m[..cut]);
            let _ = attrs(&m[..cut]);
        }
    }
}
