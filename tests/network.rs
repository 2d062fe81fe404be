//! Bridge networking (issue 4): reserved addresses over DHCP, names through dnsmasq, NAT
//! to a fake upstream, stable addresses across restarts, isolation between networks,
//! clean deletes, a dnsmasq that comes back, and bad input refused. Every bridge, subnet
//! and namespace is the test's own; no packet leaves the machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{require_root, wait_for, Env};

/// A busybox rootfs whose init runs udhcpc on eth0 (with a script that sets the address,
/// the default route and resolv.conf).
fn dhcp_rootfs(env: &Env, tag: &str) -> PathBuf {
    let root = common::busybox_rootfs(&env.dir.join(format!("src-{tag}")));
    std::fs::write(
        root.join("etc/udhcpc.sh"),
        "#!/bin/sh\n\
         case \"$1\" in\n\
         deconfig) ip addr flush dev \"$interface\"; ip link set \"$interface\" up ;;\n\
         bound|renew)\n\
         \tip addr flush dev \"$interface\"\n\
         \tip addr add \"$ip/$mask\" dev \"$interface\"\n\
         \t[ -n \"$router\" ] && ip route add default via \"${router%% *}\" dev \"$interface\"\n\
         \t: > /etc/resolv.conf\n\
         \t[ -n \"$domain\" ] && echo \"search $domain\" >> /etc/resolv.conf\n\
         \tfor d in $dns; do echo \"nameserver $d\" >> /etc/resolv.conf; done ;;\n\
         esac\n",
    )
    .unwrap();
    std::fs::set_permissions(root.join("etc/udhcpc.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let inittab = std::fs::read_to_string(root.join("etc/inittab")).unwrap();
    std::fs::write(root.join("etc/inittab"), format!("::respawn:/sbin/udhcpc -f -i eth0 -s /etc/udhcpc.sh\n{inittab}")).unwrap();
    root
}

fn create(env: &Env, name: &str, root: &Path, config: &[&str]) {
    let mut args = vec!["create", name, "--rootfs", root.to_str().unwrap()];
    for kv in config {
        args.extend(["-c", kv]);
    }
    env.ok(&args);
}

/// The container's eth0 address once the guest took its lease (per `info`).
fn leased(env: &Env, name: &str, timeout: Duration) -> Option<String> {
    let mut ip = None;
    wait_for(timeout, || {
        let i = env.info(name);
        ip = i["addresses"].as_array().and_then(|a| a.iter().find(|a| a["nic"] == "eth0" && a["leased"] == true)).map(|a| a["ipv4"].as_str().unwrap().to_owned());
        ip.is_some()
    });
    ip
}

fn address(env: &Env, name: &str) -> (String, String) {
    let i = env.info(name);
    let a = &i["addresses"][0];
    (a["ipv4"].as_str().unwrap().to_owned(), a["hwaddr"].as_str().unwrap().to_owned())
}

/// `busybox ping` from the host (the host has no ping of its own), for up to 5 s: the
/// lease is recorded at the DHCP ack, a moment before the guest puts the address on.
fn host_ping(ip: &str) -> bool {
    wait_for(Duration::from_secs(5), || Command::new("busybox").args(["ping", "-c", "1", "-W", "1", ip]).output().unwrap().status.success())
}

fn network(env: &Env, name: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["network", "show", name, "--format", "json"])).unwrap()
}

/// Links enslaved to bridge `br`.
fn ports(br: &str) -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show", "master", br]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split(':').nth(1).map(|s| s.trim().split('@').next().unwrap().to_owned())).collect()
}

#[test]
fn guests_get_reserved_addresses_and_names_and_keep_them() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let net = env.with_default_network();
    let root = dhcp_rootfs(&env, "a");
    let (w1, w2) = (env.name("web1"), env.name("web2"));
    create(&env, &w1, &root, &[]);
    create(&env, &w2, &root, &[]);
    env.ok(&["start", &w1]);
    env.ok(&["start", &w2]);
    // The default network was made on first use, with a subnet of its own.
    let n = network(&env, &net);
    let bridge_ip = n["ipv4"].as_str().unwrap().split('/').next().unwrap().to_owned();
    assert_eq!(n["up"], true);
    assert!(n["dnsmasq_pid"].as_i64().is_some());
    let t0 = Instant::now();
    let ip1 = leased(&env, &w1, Duration::from_secs(5)).expect("web1 got its reserved address within 5 s");
    let ip2 = leased(&env, &w2, Duration::from_secs(5)).expect("web2 got its reserved address within 5 s");
    eprintln!("addresses after {:?}: {ip1} {ip2}", t0.elapsed());
    assert_eq!(address(&env, &w1).0, ip1, "the lease is the reservation");
    assert!(env.ok(&["list"]).contains(&ip1), "list shows the address");
    let (_, inside) = env.exec(&w1, &["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(inside.contains(&format!("{ip1}/24")), "{inside}");
    // Host -> guest, guest -> bridge, guest -> guest by name.
    assert!(host_ping(&ip1), "the host pings {ip1}");
    assert_eq!(env.exec(&w1, &["ping", "-c", "3", "-W", "3", &bridge_ip]).0, 0, "the guest pings the bridge");
    let (code, out) = env.exec(&w1, &["ping", "-c", "3", "-W", "3", &format!("{w2}.sysctr")]);
    assert_eq!(code, 0, "{w1} reaches {w2}.sysctr: {out}");
    assert!(out.contains(&ip2), "{out}");

    // Restart and stop/start keep address and MAC.
    let before = address(&env, &w1);
    env.ok(&["restart", &w1, "--timeout", "2"]);
    assert_eq!(leased(&env, &w1, Duration::from_secs(5)).as_deref(), Some(ip1.as_str()));
    env.ok(&["stop", &w1, "--timeout", "2"]);
    env.ok(&["start", &w1]);
    assert_eq!(leased(&env, &w1, Duration::from_secs(5)).as_deref(), Some(ip1.as_str()));
    assert_eq!(address(&env, &w1), before);
    let (_, mac) = env.exec(&w1, &["cat", "/sys/class/net/eth0/address"]);
    assert_eq!(mac, before.1);
    // A guest reboot gets a new network namespace: the monitor wires it again.
    env.exec(&w1, &["reboot", "-f"]);
    assert!(wait_for(Duration::from_secs(10), || {
        let i = env.info(&w1);
        i["status"] == "RUNNING" && i["restarts"] == 1
    }));
    assert!(host_ping(&ip1), "{ip1} answers after the guest rebooted");
    assert_eq!(env.exec(&w1, &["cat", "/sys/class/net/eth0/address"]).1, before.1);

    // A new DNS domain, live: dnsmasq restarts, the bridge (with its fixed MAC) and the
    // guests' links stay.
    let bridge_mac = std::fs::read_to_string(format!("/sys/class/net/{net}/address")).unwrap();
    assert!(bridge_mac.starts_with("0e:73:63:"), "{bridge_mac}");
    env.ok(&["network", "set", &net, "dns.domain=lab"]);
    assert_eq!(ports(&net).len(), 2);
    assert_eq!(std::fs::read_to_string(format!("/sys/class/net/{net}/address")).unwrap(), bridge_mac);
    assert!(host_ping(&ip2));
    assert!(wait_for(Duration::from_secs(5), || env.exec(&w1, &["nslookup", &format!("{w2}.lab"), &bridge_ip]).1.contains(&ip2)));

    // Delete leaves no veth, reservation or lease of it.
    assert_eq!(ports(&net).len(), 2, "{:?}", ports(&net));
    env.ok(&["delete", "--force", &w1]);
    assert_eq!(ports(&net).len(), 1, "web1's veth is gone: {:?}", ports(&net));
    let cfg = std::fs::read_to_string(env.state.join("networks").join(format!("{net}.toml"))).unwrap();
    assert!(!cfg.contains(&w1), "{cfg}");
    assert!(wait_for(Duration::from_secs(5), || {
        !std::fs::read_to_string(env.state.join("networks").join(format!("{net}.leases"))).unwrap_or_default().contains(&before.1)
    }), "web1's lease is gone");
    // A network in use cannot be deleted; once free it goes with all of it.
    let err = env.fails(&["network", "delete", &net]);
    assert!(err.contains("in use by") && err.contains(&w2), "{err}");
    env.ok(&["delete", "--force", &w2]);
    let dnsmasq = network(&env, &net)["dnsmasq_pid"].as_i64().unwrap();
    env.ok(&["network", "delete", &net]);
    assert!(!sysctr::network::bridge_exists(&net));
    assert!(!sysctr::network::table_exists(&net));
    assert!(!Path::new(&format!("/proc/{dnsmasq}")).exists(), "dnsmasq is gone");
}

#[test]
fn debian_guest_gets_its_address_within_5s() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let net = env.net_name("nd");
    env.ok(&["network", "create", &net]);
    let name = env.name("deb");
    create(&env, &name, &common::debian_rootfs("bookworm"), &[&format!("network={net}")]);
    let t0 = Instant::now();
    env.ok(&["start", &name]);
    let ip = leased(&env, &name, Duration::from_secs(5)).expect("the Debian guest got its reserved address within 5 s of start");
    eprintln!("Debian 12 guest: {ip} after {:?}", t0.elapsed());
    assert_eq!(address(&env, &name).0, ip);
    assert!(host_ping(&ip));
    let bridge_ip = network(&env, &net)["ipv4"].as_str().unwrap().split('/').next().unwrap().to_owned();
    let (code, out) = env.exec(&name, &["ping", "-c", "3", "-W", "3", &bridge_ip]);
    assert_eq!(code, 0, "{out}");
    env.ok(&["stop", &name]);
}

/// An "outside" network namespace joined to the host by a veth with its own /30: the
/// guest's packets arrive there from the host's address (masqueraded).
struct Outside {
    ns: String,
    host_if: String,
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn nat_reaches_a_fake_upstream_with_the_hosts_address() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let net = env.with_default_network();
    let tag = net.trim_start_matches("nt").to_owned();
    let out = Outside { ns: format!("sysctr-up-{tag}"), host_if: format!("vu{tag}") };
    // A /30 of our own in 172.31.x.y (private, test-unique by the pid-derived tag).
    let x = u32::from_str_radix(&tag[..tag.len().min(4)], 16).unwrap_or(7) % 250;
    let (host_ip, up_ip) = (format!("172.31.{x}.1"), format!("172.31.{x}.2"));
    let sh = |cmd: &str| {
        let st = Command::new("sh").args(["-c", cmd]).status().unwrap();
        assert!(st.success(), "{cmd}");
    };
    sh(&format!("ip netns add {}", out.ns));
    sh(&format!("ip link add {} type veth peer name up0 netns {}", out.host_if, out.ns));
    sh(&format!("ip addr add {host_ip}/30 dev {} && ip link set {} up", out.host_if, out.host_if));
    sh(&format!("ip -n {} addr add {up_ip}/30 dev up0 && ip -n {} link set up0 up && ip -n {} link set lo up", out.ns, out.ns, out.ns));
    // The upstream accepts one TCP connection and prints who made it and what it said.
    let script = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',9999))\ns.listen(1)\ns.settimeout(20)\nc,a=s.accept()\nc.settimeout(5)\nprint(a[0],c.recv(100).decode().strip())\n";
    let listener = Command::new("ip").args(["netns", "exec", &out.ns, "python3", "-c", script]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let root = dhcp_rootfs(&env, "n");
    let name = env.name("nat");
    create(&env, &name, &root, &[]);
    env.ok(&["start", &name]);
    let ip = leased(&env, &name, Duration::from_secs(5)).expect("an address");
    std::thread::sleep(Duration::from_millis(300));
    let (code, said) = env.exec(&name, &["sh", "-c", &format!("echo from-{name} | nc -w 5 {up_ip} 9999")]);
    assert_eq!(code, 0, "{said}");
    let got = listener.wait_with_output().unwrap();
    let line = String::from_utf8_lossy(&got.stdout).trim().to_owned();
    assert_eq!(line, format!("{host_ip} from-{name}"), "the upstream saw the guest ({ip}) as the host's address");
    env.ok(&["stop", &name, "--timeout", "2"]);
}

#[test]
fn two_networks_are_isolated() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (na, nb) = (env.net_name("na"), env.net_name("nb"));
    env.ok(&["network", "create", &na]);
    env.ok(&["network", "create", &nb]);
    let root = dhcp_rootfs(&env, "i");
    let (a, b) = (env.name("iso-a"), env.name("iso-b"));
    create(&env, &a, &root, &[&format!("network={na}")]);
    create(&env, &b, &root, &[&format!("network={nb}")]);
    env.ok(&["start", &a]);
    env.ok(&["start", &b]);
    let ip_a = leased(&env, &a, Duration::from_secs(5)).unwrap();
    let ip_b = leased(&env, &b, Duration::from_secs(5)).unwrap();
    let gw_a = network(&env, &na)["ipv4"].as_str().unwrap().split('/').next().unwrap().to_owned();
    assert_eq!(env.exec(&a, &["ping", "-c", "3", "-W", "3", &gw_a]).0, 0, "a reaches its own bridge");
    assert_ne!(env.exec(&a, &["ping", "-c", "1", "-W", "2", &ip_b]).0, 0, "{a} must not reach {ip_b} on another network");
    assert_ne!(env.exec(&b, &["ping", "-c", "1", "-W", "2", &ip_a]).0, 0, "{b} must not reach {ip_a} on another network");
    // Names are per network too.
    let (code, _) = env.exec(&a, &["nslookup", &format!("{b}.sysctr")]);
    assert_ne!(code, 0);
    env.ok(&["stop", &a, "--timeout", "2"]);
    // A second NIC on the other network: eth1 with its own reservation and MAC.
    env.ok(&["config", "set", &a, &format!("network.eth1={nb}"), "hwaddr.eth1=0a:73:63:00:ee:01"]);
    env.ok(&["start", &a]);
    let i = env.info(&a);
    let nics: Vec<(String, String)> = i["addresses"].as_array().unwrap().iter().map(|x| (x["nic"].as_str().unwrap().to_owned(), x["network"].as_str().unwrap().to_owned())).collect();
    assert_eq!(nics, [("eth0".to_owned(), na.clone()), ("eth1".to_owned(), nb.clone())]);
    assert_eq!(env.exec(&a, &["cat", "/sys/class/net/eth1/address"]).1, "0a:73:63:00:ee:01");
    assert_eq!(ports(&nb).len(), 2, "eth1's veth is on {nb}");
    env.ok(&["stop", &a, "--timeout", "2"]);
    env.ok(&["stop", &b, "--timeout", "2"]);
}

#[test]
fn killed_dnsmasq_comes_back_and_leases_still_answer() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let net = env.with_default_network();
    let root = dhcp_rootfs(&env, "k");
    let (c1, c2) = (env.name("k1"), env.name("k2"));
    create(&env, &c1, &root, &[]);
    env.ok(&["start", &c1]);
    let ip1 = leased(&env, &c1, Duration::from_secs(5)).unwrap();
    let old = network(&env, &net)["dnsmasq_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), nix::sys::signal::Signal::SIGKILL).unwrap();
    let mut new = 0;
    assert!(wait_for(Duration::from_secs(5), || {
        new = network(&env, &net)["dnsmasq_pid"].as_i64().unwrap_or(0) as i32;
        new != 0 && new != old && Path::new(&format!("/proc/{new}")).exists()
    }), "dnsmasq was started again");
    // The name still resolves (once the new dnsmasq listens), the guest renews the same
    // address, a newcomer gets one.
    let mut out = String::new();
    assert!(wait_for(Duration::from_secs(5), || {
        let (code, o) = env.exec(&c1, &["nslookup", &format!("{c1}.sysctr")]);
        out = o;
        code == 0 && out.contains(&ip1)
    }), "{out}");
    env.exec(&c1, &["sh", "-c", "kill -USR1 $(pidof udhcpc)"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(leased(&env, &c1, Duration::from_secs(5)).as_deref(), Some(ip1.as_str()));
    create(&env, &c2, &root, &[]);
    env.ok(&["start", &c2]);
    assert!(leased(&env, &c2, Duration::from_secs(5)).is_some());
    env.ok(&["stop", &c1, "--timeout", "2"]);
    env.ok(&["stop", &c2, "--timeout", "2"]);
}

#[test]
fn bad_network_input_is_refused_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (na, nb) = (env.net_name("ba"), env.net_name("bb"));
    env.ok(&["network", "create", &na]);
    let subnet = network(&env, &na)["ipv4"].as_str().unwrap().to_owned();
    // A subnet overlapping a host route (na's bridge route).
    let err = env.fails(&["network", "create", &nb, "--ipv4", &subnet]);
    assert!(err.contains("overlaps"), "{err}");
    assert!(!sysctr::network::bridge_exists(&nb));
    assert!(!env.state.join("networks").join(format!("{nb}.toml")).exists());
    for (args, says) in [
        (vec!["network", "create", "Bad_Name"], "invalid network name"),
        (vec!["network", "create", "averyveryverylongname"], "longer than 15"),
        (vec!["network", "create", &nb, "--ipv4", "8.8.8.1/24"], "not a private"),
        (vec!["network", "create", &nb, "--ipv4", "10.1.2.0/24"], "network or broadcast"),
        (vec!["network", "create", "lo"], "is not a sysctr network"),
        (vec!["network", "delete", "nosuchnet"], "does not exist"),
        (vec!["network", "set", &na, "bogus=1"], "unknown network key"),
    ] {
        let err = env.fails(&args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Static addresses: outside the subnet, or taken.
    let net_ip: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    let o = net_ip.octets();
    let taken = format!("{}.{}.{}.50", o[0], o[1], o[2]);
    let root = dhcp_rootfs(&env, "b");
    let (c1, c2) = (env.name("st1"), env.name("st2"));
    let err = env.fails(&["create", &c1, "--rootfs", root.to_str().unwrap(), "-c", &format!("network={na}"), "-c", "ipv4=10.254.254.9"]);
    assert!(err.contains("not a host address"), "{err}");
    assert!(!env.state.join("containers").join(&c1).exists());
    create(&env, &c1, &root, &[&format!("network={na}"), &format!("ipv4={taken}")]);
    env.ok(&["start", &c1]);
    assert_eq!(leased(&env, &c1, Duration::from_secs(5)).as_deref(), Some(taken.as_str()));
    let err = env.fails(&["create", &c2, "--rootfs", root.to_str().unwrap(), "-c", &format!("network={na}"), "-c", &format!("ipv4={taken}")]);
    assert!(err.contains("is taken by") && err.contains(&c1), "{err}");
    let err = env.fails(&["create", &c2, "--rootfs", root.to_str().unwrap(), "-c", "network=nosuchnet"]);
    assert!(err.contains("does not exist"), "{err}");
    for bad in ["network.lo", "network.Eth1", "network.eth_1", "network.averyveryverylongnic"] {
        let err = env.fails(&["create", &c2, "--rootfs", root.to_str().unwrap(), "-c", &format!("{bad}={na}")]);
        assert!(err.contains("interface name") || err.contains("unknown config key"), "{bad}: {err}");
    }
    assert!(!env.state.join("containers").join(&c2).exists());
    let err = env.fails(&["network", "delete", &na]);
    assert!(err.contains("in use"), "{err}");
    // Settings: the subnet stays while containers use it; NAT can go.
    let err = env.fails(&["network", "set", &na, "ipv4.address=10.254.1.1/24"]);
    assert!(err.contains("has containers"), "{err}");
    let err = env.fails(&["network", "set", &na, "ipv4.nat=maybe"]);
    assert!(err.contains("use true or false"), "{err}");
    env.ok(&["network", "set", &na, "ipv4.nat=false"]);
    assert_eq!(network(&env, &na)["nat"], false);
    let table = Command::new("nft").args(["list", "table", "inet", &format!("sysctr_{na}")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&table.stdout).contains("masquerade"));
    // Without dnsmasq (not on the daemon's PATH) nothing is made: a daemon started by a
    // command whose PATH lacks it.
    env.stop_daemon();
    let out = env.cmd(&["network", "create", &nb]).env("PATH", "/usr/bin:/bin").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dnsmasq is not installed"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!sysctr::network::bridge_exists(&nb));
    env.stop_daemon();
    env.ok(&["stop", &c1, "--timeout", "2"]);
}
