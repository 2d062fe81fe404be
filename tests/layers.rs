//! The layers of ARCHITECTURE.md, enforced: each module may name only the modules below it.
//! (Incus keeps `shared/api` a leaf and `client/` on `shared/` alone; firecracker checks its
//! repo rules in a test the same way.)

use std::collections::BTreeSet;
use std::path::Path;

/// module -> the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("sys", &[]),
    ("storage", &["sys"]),
    ("cgroup", &["sys"]),
    ("oci", &["sys"]),
    ("runtime", &["cgroup", "sys"]),
    ("network", &["storage", "sys"]),
    ("image", &["storage", "sys"]),
    // The monitor re-runs create and start at each guest reboot, so it wires the network.
    ("monitor", &["runtime", "cgroup", "network", "storage", "sys"]),
    ("manager", &["api", "monitor", "runtime", "cgroup", "network", "image", "oci", "storage", "sys"]),
    ("wire", &[]),
    // The host service: the REST API over the manager.
    ("daemon", &["api", "manager", "wire", "storage", "sys"]),
    // HTTP to the daemon; `storage` for the paths and the checks made at the edge, `sys`
    // for handing stdio over the socket.
    ("client", &["api", "wire", "storage", "sys"]),
    // The dashboard: the daemon through the client alone.
    ("tui", &["client", "api"]),
    ("cli", &["client", "api", "tui"]),
];

fn uses(path: &Path, out: &mut BTreeSet<String>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            uses(&e.path(), out);
        }
        return;
    }
    if path.extension().map_or(true, |e| e != "rs") {
        return;
    }
    let text = std::fs::read_to_string(path).unwrap();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
        // `use crate::{a, b}` groups
        if rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(1)];
            for part in group.split(',') {
                let n: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !n.is_empty() {
                    out.insert(n);
                }
            }
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut seen = BTreeSet::new();
    for (module, allowed) in ALLOWED {
        let mut used = BTreeSet::new();
        let dir = src.join(module);
        if dir.is_dir() {
            uses(&dir, &mut used);
        } else {
            uses(&src.join(format!("{module}.rs")), &mut used);
        }
        used.remove(*module);
        let bad: Vec<_> = used.iter().filter(|u| !allowed.contains(&u.as_str())).collect();
        assert!(bad.is_empty(), "{module} uses {bad:?}; it may use only {allowed:?}");
        seen.insert(*module);
    }
    // Every module is covered by the table.
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().trim_end_matches(".rs").to_owned();
        if e.path().is_dir() && n != "bin" {
            assert!(seen.contains(n.as_str()), "module {n} is missing from the layer table");
        }
    }
}
