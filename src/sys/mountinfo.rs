//! `/proc/<pid>/mountinfo` parsing (proc(5)).

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (`rw,memory`).
    pub super_options: String,
}

pub fn read_self() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            // id parent maj:min root mountpoint options [optional...] - fstype source superopts
            let (pre, post) = line.split_once(" - ")?;
            let mut pre = pre.split(' ');
            let mount_point = PathBuf::from(unescape(pre.nth(4)?));
            let options = pre.next()?.to_owned();
            let mut post = post.split(' ');
            Some(MountEntry {
                mount_point,
                options,
                fstype: post.next()?.to_owned(),
                source: unescape(post.next().unwrap_or("")),
                super_options: post.next().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.len() >= i + 4 && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0').wrapping_mul(64).wrapping_add((b[i + 2] - b'0') * 8).wrapping_add(b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_escapes() {
        let e = parse("36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(e[0].options, "rw,noatime");
        assert_eq!((e[0].fstype.as_str(), e[0].source.as_str()), ("ext3", "/dev/root"));
        assert_eq!(e[0].super_options, "rw,errors=continue");
        assert_eq!(unescape(r"/a\134c\"), r"/a\c\");
    }
}
