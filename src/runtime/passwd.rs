//! Users and groups as the container defines them, read by a process that has already
//! entered the container (so paths resolve in its root), never through NSS: NSS would load
//! libraries from the container into our process. Files are size-capped and must be regular.

use std::io::Read;
use std::path::Path;

/// Larger account databases are refused rather than read into memory.
const MAX_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Supplementary groups (from /etc/group membership).
    pub groups: Vec<u32>,
}

fn read_db(path: &str) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path} in the container: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot stat {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} in the container is not a regular file"));
    }
    let mut text = String::new();
    f.take(MAX_BYTES).read_to_string(&mut text).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text)
}

/// Resolve `user` (a name or a number) and optional `group` against the container's files.
pub fn resolve(user: &str, group: Option<&str>) -> Result<User, String> {
    let passwd = read_db("/etc/passwd").unwrap_or_default();
    let groups = read_db("/etc/group").unwrap_or_default();
    resolve_in(&passwd, &groups, user, group)
}

pub fn resolve_in(passwd: &str, groups: &str, user: &str, group: Option<&str>) -> Result<User, String> {
    let entry = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| {
        f.len() >= 7 && (f[0] == user || (user.bytes().all(|b| b.is_ascii_digit()) && f[2] == user))
    });
    let mut u = match entry {
        Some(f) => User {
            name: f[0].to_owned(),
            uid: f[2].parse().map_err(|_| format!("bad uid for {user} in /etc/passwd"))?,
            gid: f[3].parse().map_err(|_| format!("bad gid for {user} in /etc/passwd"))?,
            home: f[5].to_owned(),
            groups: vec![],
        },
        // root needs no /etc/passwd (a minimal rootfs may have none).
        None if user == "root" => User { name: "root".into(), uid: 0, gid: 0, home: "/root".into(), groups: vec![] },
        None => match user.parse::<u32>() {
            // A bare number need not exist in /etc/passwd (as with runc and docker).
            Ok(uid) => User { name: uid.to_string(), uid, gid: uid, home: "/".into(), groups: vec![] },
            Err(_) => return Err(format!("no user {user:?} in the container's /etc/passwd")),
        },
    };
    let group_rows: Vec<Vec<&str>> = groups.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4).collect();
    if let Some(g) = group {
        u.gid = match group_rows.iter().find(|f| f[0] == g) {
            Some(f) => f[2].parse().map_err(|_| format!("bad gid for {g} in /etc/group"))?,
            None => g.parse().map_err(|_| format!("no group {g:?} in the container's /etc/group"))?,
        };
    }
    u.groups = group_rows
        .iter()
        .filter(|f| f[3].split(',').any(|m| m == u.name))
        .filter_map(|f| f[2].parse().ok())
        .collect();
    Ok(u)
}

/// Does `path` exist as a directory in the current (container's) root?
pub fn is_dir(path: &str) -> bool {
    Path::new(path).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:alice\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:10:bob,alice\n";

    #[test]
    fn resolves_names_numbers_and_groups() {
        let n = resolve_in(PASSWD, GROUP, "nobody", None).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (65534, 65534, "/nonexistent"));
        let a = resolve_in(PASSWD, GROUP, "alice", None).unwrap();
        assert_eq!(a.groups, [4, 10]);
        assert_eq!(resolve_in(PASSWD, GROUP, "1000", None).unwrap().name, "alice");
        let anon = resolve_in(PASSWD, GROUP, "4242", Some("adm")).unwrap();
        assert_eq!((anon.uid, anon.gid), (4242, 4));
        assert!(resolve_in(PASSWD, GROUP, "mallory", None).unwrap_err().contains("no user"));
        assert!(resolve_in(PASSWD, GROUP, "root", Some("nope")).is_err());
    }

    #[test]
    fn root_needs_no_passwd_file() {
        let r = resolve_in("", "", "root", None).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        assert_eq!(resolve_in("", "", "0", None).unwrap().uid, 0);
        assert!(resolve_in("", "", "nobody", None).is_err());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let p = "garbage\nroot:x:0:0:root:/root:/bin/sh\n::::\n";
        assert_eq!(resolve_in(p, "", "root", None).unwrap().uid, 0);
    }
}
