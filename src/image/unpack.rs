//! Safe unpack of an image tarball. The archive is hostile: every entry is placed through
//! descriptors below the destination with openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`,
//! so no name, symlink or hardlink can reach outside it; names with `..` or a leading `/`,
//! hardlinks out of the tree, PAX records that disagree with their header and PAX sparse
//! files refuse the whole image; device nodes are skipped (`/dev` is a tmpfs at boot); the
//! total size, the entry count and (in `decompress`) the decoder memory are capped.
//! Owners, modes, times, xattrs and file capabilities are kept.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use crate::sys::files::{open_below, Resolve};

/// What an image may hold at most.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of file data once unpacked (sparse files count their full size).
    pub max_bytes: u64,
    /// Entries (files, directories, links).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // The biggest images.linuxcontainers.org rootfs unpack to ~2 GiB.
        Limits { max_bytes: 8 << 30, max_entries: 2_000_000 }
    }
}

/// Metadata files (metadata.yaml, templates/*, LXC's config and templates) are small.
const META_MAX: u64 = 16 << 20;
/// What the tar reader may take in for one entry's headers (PAX records, GNU long names),
/// which it holds in memory whole.
const HEADER_BUDGET: u64 = 1 << 20;
/// Longest name (PATH_MAX) and xattr value (the kernel's XATTR_SIZE_MAX) accepted.
const NAME_MAX: usize = 4096;
const XATTR_MAX: usize = 64 << 10;
/// What each entry costs against `max_bytes` besides its data: its inode and header.
const ENTRY_COST: u64 = 512;

/// The decompressed stream, with a budget the unpacker re-arms before each entry: the tar
/// reader holds PAX and long-name bodies in memory whole, so without it an 8 GiB PAX
/// header of zeros (1 MB of xz) would be read into memory before any cap is seen.
struct Budget<R> {
    inner: R,
    left: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left.get();
        if left == 0 {
            return Err(std::io::Error::other("an entry's headers (PAX records or long names) exceed 1 MiB"));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left.set(left - n as u64);
        Ok(n)
    }
}

/// Where the entries of an archive go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A rootfs tarball: everything is the root filesystem.
    Rootfs,
    /// A metadata tarball: everything is read into memory.
    Meta,
    /// Incus's unified tarball: `rootfs/...` is the root filesystem, the rest metadata.
    Unified,
}

#[derive(Debug, Default)]
pub struct Report {
    pub bytes: u64,
    pub entries: u64,
    /// Device nodes left out.
    pub skipped_devices: Vec<String>,
    /// Metadata files by their name in the archive (`metadata.yaml`, `templates/hosts.tpl`).
    pub meta: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("entry {0:?} climbs out of the image with '..'; refusing the image")]
    Traversal(String),
    #[error("entry {0:?} has an absolute name; refusing the image")]
    Absolute(String),
    #[error("entry {0:?} would be written through a symlink in the image; refusing the image")]
    ThroughSymlink(String),
    #[error("hardlink {name:?} points at {target:?}, outside the image or through a symlink; refusing the image")]
    HardlinkOut { name: String, target: String },
    #[error("entry {name:?}: {reason}; refusing the image")]
    Malformed { name: String, reason: String },
    #[error("the image unpacks to more than {limit} bytes (entry {name:?} reaches {total}); refusing it")]
    TooBig { name: String, total: u64, limit: u64 },
    #[error("the image has more than {0} entries; refusing it")]
    TooManyEntries(u64),
    #[error("metadata file {0:?} is larger than 16 MiB; refusing the image")]
    MetaTooBig(String),
    #[error("cannot read the archive: {0}")]
    Read(String),
    #[error("cannot write {name:?} while unpacking")]
    Write { name: String, #[source] source: nix::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A path inside the image, checked: relative, no `..`, no empty or `.` parts.
fn clean(raw: &[u8]) -> Result<Vec<&[u8]>> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    if raw.first() == Some(&b'/') {
        return Err(Error::Absolute(shown()));
    }
    if raw.contains(&0) {
        return Err(Error::Malformed { name: shown(), reason: "a NUL byte in the name".into() });
    }
    let mut parts = Vec::new();
    for p in raw.split(|b| *b == b'/') {
        match p {
            b"" | b"." => {}
            b".." => return Err(Error::Traversal(shown())),
            _ => parts.push(p),
        }
    }
    Ok(parts)
}

/// Unpack `src` (already decompressed) into the directory `root`, as `layout` says.
pub fn unpack(src: impl Read, layout: Layout, root: BorrowedFd<'_>, limits: Limits) -> Result<Report> {
    let mut report = Report::default();
    let mut dirs: Vec<(PathBuf, Meta)> = Vec::new();
    let left = std::rc::Rc::new(std::cell::Cell::new(HEADER_BUDGET));
    let mut archive = tar::Archive::new(Budget { inner: src, left: left.clone() });
    let entries = archive.entries().map_err(|e| Error::Read(super::decompress::explain(&e)))?;
    let mut charged = 0u64;
    let mut meta_total = 0u64;
    // Each `next` reads this entry's headers and skips the rest of the previous entry's
    // data, within the budget set when that entry came.
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::Read(super::decompress::explain(&e)))?;
        left.set(entry.size().saturating_add(HEADER_BUDGET + 512));
        report.entries += 1;
        if report.entries > limits.max_entries {
            return Err(Error::TooManyEntries(limits.max_entries));
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        if raw.len() > NAME_MAX || entry.link_name_bytes().is_some_and(|l| l.len() > NAME_MAX) {
            return Err(Error::Malformed { name: name.chars().take(80).collect(), reason: "a name longer than 4096 bytes".into() });
        }
        // Every entry costs its header and inode, whatever its type: 2 million symlinks
        // fill a disk as surely as one big file.
        charged = charged.saturating_add(entry.size()).saturating_add(ENTRY_COST + raw.len() as u64);
        if charged > limits.max_bytes {
            return Err(Error::TooBig { name, total: charged, limit: limits.max_bytes });
        }
        let parts = clean(&raw)?;
        let (is_rootfs, parts) = match layout {
            Layout::Rootfs => (true, parts),
            Layout::Meta => (false, parts),
            Layout::Unified if parts.first() == Some(&&b"rootfs"[..]) => (true, parts[1..].to_vec()),
            Layout::Unified => (false, parts),
        };
        let meta = Meta::of(&mut entry, &name)?;
        if !is_rootfs {
            if entry.header().entry_type().is_file() && !parts.is_empty() {
                if entry.size() > META_MAX {
                    return Err(Error::MetaTooBig(name));
                }
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| Error::Read(super::decompress::explain(&e)))?;
                let key = parts.iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>().join("/");
                meta_total += (data.len() + key.len()) as u64;
                if meta_total > META_MAX {
                    return Err(Error::MetaTooBig(name));
                }
                report.meta.insert(key, data);
            }
            continue;
        }
        let rel: PathBuf = parts.iter().map(|p| OsStr::from_bytes(p)).collect();
        let kind = entry.header().entry_type();
        if kind.is_file() || kind.is_gnu_sparse() || kind == tar::EntryType::Continuous {
            report.bytes = report.bytes.saturating_add(entry.size());
        }
        if parts.is_empty() {
            // The archive's `./`: the root directory's own owner and mode.
            if kind.is_dir() {
                dirs.push((PathBuf::new(), meta));
            }
            continue;
        }
        let (parent, leaf) = parent_of(root, &rel, &name)?;
        let leaf = leaf.as_os_str();
        match kind {
            k if k.is_dir() => {
                match nix::sys::stat::mkdirat(Some(parent.as_raw()), leaf, Mode::from_bits_truncate(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) if is_dir_at(parent.as_fd(), leaf) => {}
                    Err(Errno::EEXIST) => {
                        remove_leaf(parent.as_fd(), leaf, &name)?;
                        nix::sys::stat::mkdirat(Some(parent.as_raw()), leaf, Mode::from_bits_truncate(0o700))
                            .map_err(|source| Error::Write { name: name.clone(), source })?;
                    }
                    Err(source) => return Err(Error::Write { name, source }),
                }
                dirs.push((rel, meta));
            }
            k if k.is_file() || k.is_gnu_sparse() || k == tar::EntryType::Continuous => {
                remove_leaf(parent.as_fd(), leaf, &name)?;
                let fd = open_below(
                    parent.as_fd(),
                    Path::new(leaf),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
                    Mode::from_bits_truncate(0o600),
                    Resolve::Strict,
                )
                .map_err(|source| Error::Write { name: name.clone(), source })?;
                let mut file = std::fs::File::from(fd);
                std::io::copy(&mut entry, &mut file).map_err(|e| match e.raw_os_error() {
                    Some(code) => Error::Write { name: name.clone(), source: Errno::from_raw(code) },
                    None => Error::Read(super::decompress::explain(&e)),
                })?;
                meta.apply_fd(file.as_fd(), &name)?;
            }
            k if k.is_symlink() => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                if target.is_empty() || target.contains(&0) {
                    return Err(Error::Malformed { name, reason: "a symlink without a target".into() });
                }
                remove_leaf(parent.as_fd(), leaf, &name)?;
                nix::unistd::symlinkat(OsStr::from_bytes(&target), Some(parent.as_raw()), leaf)
                    .map_err(|source| Error::Write { name: name.clone(), source })?;
                meta.apply_at(parent.as_fd(), leaf, false, &name)?;
            }
            k if k.is_hard_link() => {
                let raw_target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let shown = String::from_utf8_lossy(&raw_target).into_owned();
                let out = || Error::HardlinkOut { name: name.clone(), target: shown.clone() };
                let tparts = match layout {
                    Layout::Unified => {
                        let p = clean(&raw_target).map_err(|_| out())?;
                        if p.first() != Some(&&b"rootfs"[..]) {
                            return Err(out());
                        }
                        p[1..].to_vec()
                    }
                    _ => clean(&raw_target).map_err(|_| out())?,
                };
                let tpath: PathBuf = tparts.iter().map(|p| OsStr::from_bytes(p)).collect();
                if tparts.is_empty() || tpath == rel {
                    return Err(out());
                }
                // Opening the target by descriptor pins it: inside the tree, reached with no symlink.
                let target = open_below(root, &tpath, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict)
                    .map_err(|_| out())?;
                if is_dir_fd(target.as_fd()) {
                    return Err(out());
                }
                remove_leaf(parent.as_fd(), leaf, &name)?;
                nix::unistd::linkat(Some(target.as_raw()), Path::new(""), Some(parent.as_raw()), Path::new(leaf), AtFlags::AT_EMPTY_PATH)
                    .map_err(|source| Error::Write { name: name.clone(), source })?;
            }
            tar::EntryType::Fifo => {
                remove_leaf(parent.as_fd(), leaf, &name)?;
                nix::sys::stat::mknodat(Some(parent.as_raw()), leaf, SFlag::S_IFIFO, Mode::from_bits_truncate(0o600), 0)
                    .map_err(|source| Error::Write { name: name.clone(), source })?;
                meta.apply_at(parent.as_fd(), leaf, true, &name)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => report.skipped_devices.push(name),
            // Global PAX headers, volume labels and the like carry no file.
            _ => {}
        }
    }
    // The rest of the stream: a compressed archive's trailer (and its checksum) is only
    // checked when read, and a cut-off stream shows up here.
    left.set(META_MAX);
    let mut rest = archive.into_inner().take(META_MAX);
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::Read(super::decompress::explain(&e)))?;
    // Directories last, deepest first: their modes may forbid the writes above, and
    // writing into them changed their times.
    for (rel, meta) in dirs.iter().rev() {
        let shown = rel.to_string_lossy();
        let fd = if rel.as_os_str().is_empty() {
            root.try_clone_to_owned().map_err(|e| Error::Write { name: "./".into(), source: io_errno(&e) })?
        } else {
            open_below(root, rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict)
                .map_err(|source| Error::Write { name: shown.to_string(), source })?
        };
        meta.apply_fd(fd.as_fd(), &shown)?;
    }
    Ok(report)
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The directory holding `rel` (made when the archive did not list it), and the leaf name.
fn parent_of(root: BorrowedFd<'_>, rel: &Path, name: &str) -> Result<(OwnedFd, PathBuf)> {
    let leaf = rel.file_name().map(PathBuf::from).unwrap_or_default();
    let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok((root.try_clone_to_owned().map_err(|e| Error::Write { name: name.into(), source: io_errno(&e) })?, leaf));
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
    match open_below(root, parent, flags, Mode::empty(), Resolve::Strict) {
        Ok(fd) => Ok((fd, leaf)),
        Err(Errno::ENOENT) => {
            // Make the missing directories one by one, each reached by descriptor.
            let mut cur = root.try_clone_to_owned().map_err(|e| Error::Write { name: name.into(), source: io_errno(&e) })?;
            for comp in parent.components() {
                let c = comp.as_os_str();
                match nix::sys::stat::mkdirat(Some(cur.as_raw()), c, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(source) => return Err(Error::Write { name: name.into(), source }),
                }
                cur = open_below(cur.as_fd(), Path::new(c), flags, Mode::empty(), Resolve::Strict).map_err(|e| match e {
                    Errno::ELOOP | Errno::EXDEV | Errno::ENOTDIR => Error::ThroughSymlink(name.into()),
                    source => Error::Write { name: name.into(), source },
                })?;
            }
            Ok((cur, leaf))
        }
        Err(Errno::ELOOP | Errno::EXDEV) => Err(Error::ThroughSymlink(name.into())),
        Err(Errno::ENOTDIR) => Err(Error::Malformed { name: name.into(), reason: "a parent of it is not a directory in the image".into() }),
        Err(source) => Err(Error::Write { name: name.into(), source }),
    }
}

trait AsRaw {
    fn as_raw(&self) -> std::os::fd::RawFd;
}
impl AsRaw for OwnedFd {
    fn as_raw(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

fn is_dir_at(dir: BorrowedFd<'_>, leaf: &OsStr) -> bool {
    use std::os::fd::AsRawFd;
    nix::sys::stat::fstatat(Some(dir.as_raw_fd()), leaf, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
        .unwrap_or(false)
}

fn is_dir_fd(fd: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    nix::sys::stat::fstat(fd.as_raw_fd()).map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR).unwrap_or(false)
}

/// A later entry replaces an earlier one of the same name (tar semantics), but never a
/// directory with content.
fn remove_leaf(dir: BorrowedFd<'_>, leaf: &OsStr, name: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let flag = if is_dir_at(dir, leaf) { nix::unistd::UnlinkatFlags::RemoveDir } else { nix::unistd::UnlinkatFlags::NoRemoveDir };
    match nix::unistd::unlinkat(Some(dir.as_raw_fd()), leaf, flag) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTEMPTY) => Err(Error::Malformed { name: name.into(), reason: "it replaces a directory that has content".into() }),
        Err(source) => Err(Error::Write { name: name.into(), source }),
    }
}

/// An entry's owner, mode, time and xattrs.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn of<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let bad = |reason: String| Error::Malformed { name: name.into(), reason };
        let h = entry.header();
        let header_size = h.entry_size().map_err(|e| bad(format!("bad size field: {e}")))?;
        let mut meta = Meta {
            uid: h.uid().map_err(|e| bad(format!("bad uid: {e}")))? as u32,
            gid: h.gid().map_err(|e| bad(format!("bad gid: {e}")))? as u32,
            mode: h.mode().map_err(|e| bad(format!("bad mode: {e}")))? & 0o7777,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        };
        let is_sparse = h.entry_type().is_gnu_sparse();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad(format!("bad PAX header: {e}")))? {
            for ext in pax {
                let ext = ext.map_err(|e| bad(format!("bad PAX record: {e}")))?;
                let key = ext.key().map_err(|_| bad("a PAX key that is not UTF-8".into()))?;
                let num = || ext.value().ok().and_then(|v| v.trim().parse::<u64>().ok());
                match key {
                    "size" if !is_sparse && num() != Some(header_size) => {
                        return Err(bad(format!(
                            "its PAX size record ({}) disagrees with its header ({header_size}); tar readers would unpack different files",
                            ext.value().unwrap_or("?")
                        )))
                    }
                    "uid" => meta.uid = num().ok_or_else(|| bad("bad PAX uid".into()))? as u32,
                    "gid" => meta.gid = num().ok_or_else(|| bad("bad PAX gid".into()))? as u32,
                    "mtime" => {
                        meta.mtime = ext.value().ok().and_then(|v| v.split('.').next()?.parse().ok()).unwrap_or(meta.mtime)
                    }
                    k if k.starts_with("GNU.sparse.") => {
                        return Err(bad("a PAX sparse file; sparse files must use the GNU sparse type".into()))
                    }
                    k => {
                        if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                            if ext.value_bytes().len() > XATTR_MAX || meta.xattrs.len() >= 64 {
                                return Err(bad("more or larger xattrs than a file can have".into()));
                            }
                            meta.xattrs.push((x.to_owned(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    /// Owner first (chown clears set-id bits), then mode, xattrs, times.
    fn apply_fd(&self, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
        let t = TimeSpec::new(self.mtime, 0);
        crate::storage::set_file_meta(fd, self.uid, self.gid, self.mode, &self.xattrs, &t, &t).map_err(|source| Error::Write { name: name.into(), source })
    }

    /// For symlinks and FIFOs, by name in their (freshly made, private) directory.
    fn apply_at(&self, dir: BorrowedFd<'_>, leaf: &OsStr, with_mode: bool, name: &str) -> Result<()> {
        use std::os::fd::AsRawFd;
        let w = |source| Error::Write { name: name.into(), source };
        nix::unistd::fchownat(
            Some(dir.as_raw_fd()),
            leaf,
            Some(Uid::from_raw(self.uid)),
            Some(Gid::from_raw(self.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(w)?;
        if with_mode {
            nix::sys::stat::fchmodat(Some(dir.as_raw_fd()), leaf, Mode::from_bits_truncate(self.mode), FchmodatFlags::FollowSymlink)
                .map_err(w)?;
        }
        let t = TimeSpec::new(self.mtime, 0);
        nix::sys::stat::utimensat(Some(dir.as_raw_fd()), leaf, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean(b"./etc//passwd").unwrap(), vec![&b"etc"[..], b"passwd"]);
        assert!(clean(b"./").unwrap().is_empty());
        assert!(matches!(clean(b"/etc/passwd"), Err(Error::Absolute(_))));
        assert!(matches!(clean(b"a/../../b"), Err(Error::Traversal(_))));
        assert!(matches!(clean(b".."), Err(Error::Traversal(_))));
    }

    /// A PAX header the tar reader would hold in memory whole: refused at the budget.
    #[test]
    fn a_huge_pax_header_is_refused_before_it_is_read_into_memory() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(64 << 20);
        h.set_path("././@PaxHeader").unwrap();
        h.set_cksum();
        let mut ar = h.as_bytes().to_vec();
        ar.extend(std::iter::repeat(b'9').take(64 << 20));
        let t = tempfile::tempdir().unwrap();
        let d = crate::sys::open_dir(None, t.path()).unwrap();
        let e = unpack(&ar[..], Layout::Rootfs, std::os::fd::AsFd::as_fd(&d), Limits::default()).unwrap_err();
        assert!(e.to_string().contains("1 MiB") || format!("{e:?}").contains("1 MiB"), "{e:?}");
    }

    #[test]
    fn every_entry_counts_against_the_size_cap() {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..100 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_link(&mut h, format!("l{i}"), "target").unwrap();
        }
        let ar = b.into_inner().unwrap();
        let t = tempfile::tempdir().unwrap();
        let d = crate::sys::open_dir(None, t.path()).unwrap();
        let limits = Limits { max_bytes: 10 * 1024, max_entries: 1000 };
        let r = unpack(&ar[..], Layout::Rootfs, std::os::fd::AsFd::as_fd(&d), limits);
        assert!(matches!(r, Err(Error::TooBig { .. })), "{r:?}");
    }
}
