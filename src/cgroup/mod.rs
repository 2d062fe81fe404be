//! Container cgroups on both host layouts: pure cgroup v2, and v1/hybrid (a hierarchy per
//! controller plus `name=systemd`, with an optional controller-less cgroup2 at `unified`).
//! sysctr only ever creates, writes and removes directories below its own parent
//! (`sysctr/` by default) in each hierarchy.

mod devices;
mod resources;
mod usage;

pub use devices::Rule as DeviceRule;
pub use resources::{Knob, Resources};
pub use usage::{Pressure, Usage};

/// A host-wide advisory lock on our parent cgroup. Starts hold it shared from making the
/// parent until the runtime has made the container's cgroup in it (runc, unlike the
/// built-in runtime, does not retry when the parent vanishes under it); removing the empty
/// parent holds it exclusive. Best effort: without a lock file (no writable /run/lock or
/// /tmp) it is a no-op.
pub struct ParentLock(#[allow(dead_code)] Option<nix::fcntl::Flock<std::fs::File>>);

impl ParentLock {
    pub fn take(shared: bool) -> ParentLock {
        let dir = if Path::new("/run/lock").is_dir() { PathBuf::from("/run/lock") } else { std::env::temp_dir() };
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("sysctr-cgroup-parent.lock"));
        let arg = if shared { nix::fcntl::FlockArg::LockShared } else { nix::fcntl::FlockArg::LockExclusive };
        ParentLock(file.ok().and_then(|f| nix::fcntl::Flock::lock(f, arg).ok()))
    }
}

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cgroup hierarchy is mounted under {root}; mount cgroup2 there (or the v1 controllers)")]
    NoHierarchy { root: PathBuf },
    #[error("cannot create cgroup {path}")]
    Create { path: PathBuf, #[source] source: std::io::Error },
    #[error("cannot write {value:?} to {path}")]
    WriteFile { path: PathBuf, value: String, #[source] source: std::io::Error },
    #[error("cannot read {path}")]
    ReadFile { path: PathBuf, #[source] source: std::io::Error },
    #[error("cannot remove cgroup {path}")]
    Remove { path: PathBuf, #[source] source: std::io::Error },
    #[error("cgroup path {0:?} must be relative and stay below the hierarchy root")]
    BadPath(String),
    #[error("device rules for cgroup {path}: {message}")]
    DeviceProgram { path: PathBuf, message: String },
    #[error("cannot apply {file}: {hint}")]
    Unsupported { file: String, hint: String },
    #[error("{0}")]
    Resources(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A file or directory on the way was not there (a cgroup removed under us).
    fn not_found(&self) -> bool {
        match self {
            Error::Create { source, .. } | Error::WriteFile { source, .. } | Error::ReadFile { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }
}

/// Controllers sysctr enables for its containers on a v2 host.
pub const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup`).
    pub mount: PathBuf,
    /// v1: its controllers (`memory`, `name=systemd`); v2: empty.
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The host's cgroup layout, discovered once.
#[derive(Clone, Debug)]
pub struct Hierarchies {
    pub all: Vec<Hierarchy>,
}

impl Hierarchies {
    /// Read `/proc/self/mountinfo` for cgroup mounts under `root`.
    pub fn discover(root: &Path) -> Result<Self> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|source| Error::ReadFile { path: "/proc/self/mountinfo".into(), source })?;
        Self::from_mountinfo(&info, root)
    }

    pub fn from_mountinfo(info: &str, root: &Path) -> Result<Self> {
        let mut all: Vec<Hierarchy> = Vec::new();
        for m in crate::sys::mountinfo::parse(info) {
            if !m.mount_point.starts_with(root) || all.iter().any(|x| x.mount == m.mount_point) {
                continue;
            }
            let h = match m.fstype.as_str() {
                "cgroup2" => Hierarchy { mount: m.mount_point, controllers: vec![], v2: true },
                "cgroup" => {
                    let controllers = m
                        .super_options
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro" | "clone_children" | "xattr" | "noprefix" | "cpuset_v2_mode")
                                && !o.starts_with("release_agent=")
                        })
                        .map(str::to_owned)
                        .collect();
                    Hierarchy { mount: m.mount_point, controllers, v2: false }
                }
                _ => continue,
            };
            all.push(h);
        }
        if all.is_empty() {
            return Err(Error::NoHierarchy { root: root.to_owned() });
        }
        Ok(Hierarchies { all })
    }

    /// True when the only hierarchy is cgroup2 (a pure v2 host).
    pub fn is_pure_v2(&self) -> bool {
        self.all.len() == 1 && self.all[0].v2
    }

    /// The cgroup2 hierarchy, if any (the whole tree on v2, `unified` on hybrid hosts).
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.all.iter().find(|h| h.v2)
    }

    /// The directory of cgroup `rel` in each hierarchy.
    pub fn dirs(&self, rel: &str) -> Result<Vec<PathBuf>> {
        let rel = check_rel(rel)?;
        Ok(self.all.iter().map(|h| h.mount.join(rel)).collect())
    }

    /// Create cgroup `rel` (and its parents) in every hierarchy. On v2, the controllers of
    /// [`V2_CONTROLLERS`] the host has are enabled down to `rel`'s parent, so `rel` gets them.
    /// Returns false when `rel` already existed in the first hierarchy.
    pub fn create(&self, rel: &str) -> Result<bool> {
        let rel = check_rel(rel)?;
        let mut fresh = true;
        for h in &self.all {
            let leaf = h.mount.join(rel);
            if h.mount == self.all[0].mount && leaf.is_dir() {
                fresh = false;
            }
            // Another sysctr may remove our (then empty) parent between our mkdirs
            // ([`Hierarchies::remove_if_empty`]): walk again from the top.
            let mut tries = 0;
            loop {
                match self.create_in(h, rel) {
                    Err(e) if tries < 5 && e.not_found() => tries += 1,
                    other => break other?,
                }
            }
        }
        Ok(fresh)
    }

    fn create_in(&self, h: &Hierarchy, rel: &str) -> Result<()> {
        let mut dir = h.mount.clone();
        for part in Path::new(rel).components() {
            if h.v2 && self.is_pure_v2() {
                enable_controllers(&dir)?;
            }
            dir.push(part);
            match std::fs::create_dir(&dir) {
                // Also a directory another process just made and has not filled yet (a
                // parent two starts make at once): an empty v1 cpuset takes no process.
                Ok(()) | Err(_) if dir.is_dir() => {
                    if h.controllers.iter().any(|c| c == "cpuset") {
                        inherit_cpuset(&dir)?;
                    }
                }
                Err(source) => return Err(Error::Create { path: dir, source }),
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// Hand cgroup `rel`'s cgroup2 directory (what the guest sees at `/sys/fs/cgroup`) to
    /// the host ids of a user namespace's root, as systemd's `Delegate=` does: the guest's
    /// init may make, fill and remove cgroups below it. Its own limit files stay the
    /// host's, so the guest cannot raise them.
    pub fn delegate(&self, rel: &str, uid: u32, gid: u32) -> Result<()> {
        let rel = check_rel(rel)?;
        let Some(h) = self.unified() else { return Ok(()) };
        let dir = h.mount.join(rel);
        let own = |p: &Path| {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))
                .map_err(|source| Error::WriteFile { path: p.to_owned(), value: format!("owner {uid}:{gid}"), source })
        };
        own(&dir)?;
        for f in ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] {
            let p = dir.join(f);
            if p.exists() {
                own(&p)?;
            }
        }
        Ok(())
    }

    /// Remove cgroup `rel` (our parent of all containers) in every hierarchy where it has
    /// no child cgroups and no processes left; in use or absent, it stays. Under the
    /// exclusive [`ParentLock`]: never while a start (any instance's) is between making the
    /// parent and its runtime making the container's cgroup in it.
    pub fn remove_if_empty(&self, rel: &str) -> Result<()> {
        let rel = check_rel(rel)?;
        let _lock = ParentLock::take(false);
        for h in &self.all {
            let dir = h.mount.join(rel);
            match nix::unistd::unlinkat(None, &dir, nix::unistd::UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(nix::Error::ENOENT | nix::Error::ENOTEMPTY | nix::Error::EBUSY) => {}
                Err(e) => return Err(Error::Remove { path: dir, source: e.into() }),
            }
        }
        Ok(())
    }

    /// Restrict the devices processes in cgroup `rel` may create and open: on a v1 `devices`
    /// hierarchy through `devices.deny`/`devices.allow`, else (pure v2) with an eBPF device
    /// program attached to the cgroup.
    pub fn set_device_rules(&self, rel: &str, rules: &[DeviceRule]) -> Result<()> {
        let rel = check_rel(rel)?;
        if let Some(h) = self.all.iter().find(|h| !h.v2 && h.controllers.iter().any(|c| c == "devices")) {
            let dir = h.mount.join(rel);
            for r in rules {
                write(&dir.join(if r.allow { "devices.allow" } else { "devices.deny" }), &r.v1_line())?;
            }
            return Ok(());
        }
        let Some(h) = self.unified() else { return Ok(()) };
        let dir = h.mount.join(rel);
        let fd = std::fs::File::open(&dir).map_err(|source| Error::ReadFile { path: dir.clone(), source })?;
        let code: Vec<u8> = devices::program(rules).iter().flat_map(|i| i.encode()).collect();
        crate::sys::attach_device_program(fd.as_fd(), &code).map_err(|message| Error::DeviceProgram { path: dir, message })
    }

    /// Move process `pid` into cgroup `rel` in every hierarchy.
    pub fn join(&self, rel: &str, pid: i32) -> Result<()> {
        for dir in self.dirs(rel)? {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Move `pid` into the cgroups process `like` is in, in every hierarchy (for exec: join
    /// the leaf the container's init sits in, which the guest's systemd may have moved).
    pub fn join_like(&self, like: i32, pid: i32) -> Result<()> {
        let path = PathBuf::from(format!("/proc/{like}/cgroup"));
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadFile { path, source })?;
        for line in text.lines() {
            let mut f = line.splitn(3, ':');
            let (_id, ctrls, cg) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
            let h = self.all.iter().find(|h| {
                if ctrls.is_empty() {
                    h.v2
                } else {
                    !h.v2 && ctrls.split(',').all(|c| h.controllers.iter().any(|x| x == c))
                }
            });
            if let Some(h) = h {
                let dir = h.mount.join(cg.trim_start_matches('/'));
                write(&dir.join("cgroup.procs"), &pid.to_string())?;
            }
        }
        Ok(())
    }

    /// Every process in cgroup `rel` and below it, in any hierarchy.
    pub fn pids(&self, rel: &str) -> Result<Vec<i32>> {
        let rel = check_rel(rel)?;
        let mut out = Vec::new();
        for h in &self.all {
            let dir = h.mount.join(rel);
            match open_dir(None, &dir) {
                Ok(fd) => collect_pids(fd, &dir, &mut out)?,
                Err(nix::Error::ENOENT) => {}
                Err(e) => return Err(Error::ReadFile { path: dir, source: e.into() }),
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Remove cgroup `rel` and every cgroup below it (the guest's own slices and scopes),
    /// deepest first, in every hierarchy. Absent is fine. Busy cgroups are retried briefly:
    /// processes of a dead pid namespace take a moment to leave. The walk goes by directory
    /// descriptors, so however deep the guest nested, no path gets too long.
    pub fn remove(&self, rel: &str) -> Result<()> {
        let rel = Path::new(check_rel(rel)?);
        let (parent, name) = (rel.parent().unwrap_or(Path::new("")), rel.file_name().expect("checked: not empty"));
        for h in &self.all {
            let pdir = h.mount.join(parent);
            match open_dir(None, &pdir) {
                Ok(fd) => remove_at(fd.as_fd(), name, &pdir.join(name))?,
                Err(nix::Error::ENOENT) => {}
                Err(e) => return Err(Error::Remove { path: pdir, source: e.into() }),
            }
        }
        Ok(())
    }

    /// Cap how deep cgroups may nest below our parent in the cgroup2 hierarchy (the guest's
    /// own tree included; it cannot change a limit set above its namespace root).
    pub fn limit_depth(&self, parent: &str, depth: u32) -> Result<()> {
        let parent = check_rel(parent)?;
        if let Some(h) = self.unified() {
            write(&h.mount.join(parent).join("cgroup.max.depth"), &depth.to_string())?;
        }
        Ok(())
    }
}

impl Hierarchies {
    /// The hierarchy that holds `controller`'s files: the cgroup2 tree on a pure v2 host,
    /// else the v1 hierarchy with that controller.
    fn controller_mount(&self, controller: &str) -> Option<&Path> {
        if self.is_pure_v2() {
            return Some(&self.all[0].mount);
        }
        self.all.iter().find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller)).map(|h| h.mount.as_path())
    }

    /// Apply `res` to cgroup `rel` (which exists), file by file in the plan's order.
    pub fn apply(&self, rel: &str, res: &Resources) -> Result<()> {
        let rel = check_rel(rel)?;
        let v2 = self.is_pure_v2();
        for step in res.plan(v2).map_err(Error::Resources)? {
            let Some(mount) = self.controller_mount(step.controller) else {
                if step.optional {
                    continue;
                }
                return Err(unsupported(&step));
            };
            let dir = mount.join(rel);
            let mut done = false;
            for (file, value) in &step.files {
                let path = dir.join(file);
                let mut value = value.clone();
                if value == resources::FROM_PARENT {
                    value = if v2 { "\n".into() } else { read(&dir.parent().unwrap_or(&dir).join(file))?.trim().to_owned() };
                }
                match write_existing(&path, &value) {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(Error::WriteFile { path, value: value.trim().to_owned(), source }),
                }
            }
            if !done && !step.optional {
                return Err(unsupported(&step));
            }
        }
        Ok(())
    }

    /// Why `res` could not apply to cgroup `rel` on this host (each limit whose file is
    /// missing there), without writing anything. Checked against the container's own
    /// cgroup or the parent all containers live under; a hierarchy where `rel` does not
    /// exist (yet) tells nothing and is passed over: the runtime's apply says it then.
    pub fn unsupported(&self, rel: &str, res: &Resources) -> Result<Vec<String>> {
        let rel = check_rel(rel)?;
        let mut out = Vec::new();
        for step in res.plan(self.is_pure_v2()).map_err(Error::Resources)? {
            if step.optional {
                continue;
            }
            let present = match self.controller_mount(step.controller).map(|m| m.join(rel)) {
                Some(dir) if !dir.is_dir() => continue,
                Some(dir) => step.files.iter().any(|(f, _)| dir.join(f).exists()),
                None => false,
            };
            if !present {
                out.push(unsupported(&step).to_string());
            }
        }
        Ok(out)
    }

    /// The CPUs cgroup `rel` may use (`cpuset.cpus.effective` on v2, `cpuset.cpus` on v1).
    pub fn cpus(&self, rel: &str) -> Result<Option<String>> {
        let rel = check_rel(rel)?;
        let Some(mount) = self.controller_mount("cpuset") else { return Ok(None) };
        let dir = mount.join(rel);
        let file = if self.is_pure_v2() { "cpuset.cpus.effective" } else { "cpuset.cpus" };
        match std::fs::read_to_string(dir.join(file)) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::ReadFile { path: dir.join(file), source }),
        }
    }

    /// `cpuset.cpus` of each child cgroup of `parent` (the CPUs other containers are pinned to).
    pub fn child_cpus(&self, parent: &str) -> Result<Vec<(String, String)>> {
        let parent = check_rel(parent)?;
        let Some(mount) = self.controller_mount("cpuset") else { return Ok(vec![]) };
        let dir = mount.join(parent);
        let fd = match open_dir(None, &dir) {
            Ok(fd) => fd,
            Err(nix::Error::ENOENT) => return Ok(vec![]),
            Err(e) => return Err(Error::ReadFile { path: dir, source: e.into() }),
        };
        let mut out = Vec::new();
        for name in child_names(fd.as_fd(), &dir)? {
            let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
            if let Ok(c) = std::fs::read_to_string(dir.join(&name).join("cpuset.cpus")) {
                out.push((name, c.trim().to_owned()));
            }
        }
        Ok(out)
    }

    /// Freeze (or thaw) every process in cgroup `rel` and below, and wait until the kernel
    /// says it is done: cgroup2's `cgroup.freeze` (also on a hybrid host's `unified`
    /// tree, which holds the same processes), else the v1 freezer.
    pub fn freeze(&self, rel: &str, frozen: bool) -> Result<()> {
        let rel = check_rel(rel)?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        if let Some(dir) = self.unified().map(|u| u.mount.join(rel)).filter(|d| d.join("cgroup.freeze").exists()) {
            write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
            while self.is_frozen(rel)? != frozen {
                if std::time::Instant::now() > deadline {
                    return Err(Error::Resources(format!("{} did not become {} within 10 s", dir.display(), if frozen { "frozen" } else { "thawed" })));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            return Ok(());
        }
        let Some(mount) = self.controller_mount("freezer") else {
            return Err(Error::Unsupported { file: "cgroup.freeze or freezer.state".into(), hint: "the host has neither cgroup2's freezer nor the v1 freezer controller".into() });
        };
        let dir = mount.join(rel);
        write(&dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" })?;
        while self.is_frozen(rel)? != frozen {
            if std::time::Instant::now() > deadline {
                return Err(Error::Resources(format!("{} did not become {} within 10 s", dir.display(), if frozen { "FROZEN" } else { "THAWED" })));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    }

    /// Is cgroup `rel` frozen (all of it)? False when it does not exist.
    pub fn is_frozen(&self, rel: &str) -> Result<bool> {
        let rel = check_rel(rel)?;
        if let Some(u) = self.unified() {
            match crate::sys::read_small(&u.mount.join(rel).join("cgroup.events")) {
                // Kernels before 5.2 have no `frozen` line (nor cgroup.freeze): then v1.
                Ok(t) => {
                    if let Some(v) = t.lines().find_map(|l| l.trim().strip_prefix("frozen ")) {
                        return Ok(v == "1");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::ReadFile { path: u.mount.join(rel).join("cgroup.events"), source }),
            }
        }
        match self.controller_mount("freezer").filter(|_| !self.is_pure_v2()) {
            Some(m) => Ok(crate::sys::read_small(&m.join(rel).join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")),
            None => Ok(false),
        }
    }

    /// What cgroup `rel` uses now, read from the host's cgroup files.
    pub fn usage(&self, rel: &str) -> Result<Usage> {
        let rel = check_rel(rel)?;
        Ok(usage::read(self, rel))
    }
}

/// The error for a plan step whose files this host does not have.
fn unsupported(step: &resources::Write) -> Error {
    let file = step.files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(" or ");
    Error::Unsupported { hint: resources::missing_hint(step.controller, &file), file }
}

/// Write `value` to an existing cgroup file (never creates one: on a real cgroupfs an
/// absent file means the host lacks the feature).
fn write_existing(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// How deep a guest may nest cgroups below its container's (systemd needs about 4).
pub const GUEST_DEPTH: u32 = 32;

fn open_dir(at: Option<BorrowedFd<'_>>, path: &Path) -> nix::Result<OwnedFd> {
    crate::sys::open_dir(at, path)
}

/// Names of the subdirectories (child cgroups) of `dir`.
fn child_names(dir: BorrowedFd<'_>, shown: &Path) -> Result<Vec<std::ffi::CString>> {
    let entries = crate::sys::dir_entries(dir).map_err(|e| Error::ReadFile { path: shown.to_owned(), source: e.into() })?;
    Ok(entries.into_iter().filter(|(_, t)| *t == Some(nix::dir::Type::Directory)).map(|(name, _)| name).collect())
}

fn collect_pids(dir: OwnedFd, shown: &Path, out: &mut Vec<i32>) -> Result<()> {
    use std::io::Read;
    let procs = open_dir_file(dir.as_fd(), "cgroup.procs").map_err(|e| Error::ReadFile { path: shown.join("cgroup.procs"), source: e.into() })?;
    let mut text = String::new();
    std::fs::File::from(procs).read_to_string(&mut text).map_err(|source| Error::ReadFile { path: shown.join("cgroup.procs"), source })?;
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for name in child_names(dir.as_fd(), shown)? {
        let os = std::ffi::OsStr::from_bytes(name.as_bytes());
        match open_dir(Some(dir.as_fd()), Path::new(os)) {
            Ok(sub) => collect_pids(sub, &shown.join(os), out)?,
            Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(Error::ReadFile { path: shown.join(os), source: e.into() }),
        }
    }
    Ok(())
}

fn open_dir_file(dir: BorrowedFd<'_>, name: &str) -> nix::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    crate::sys::openat(Some(dir), Path::new(name), OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, nix::sys::stat::Mode::empty())
}

/// Remove cgroup `name` below `parent` and everything under it, deepest first.
fn remove_at(parent: BorrowedFd<'_>, name: &std::ffi::OsStr, shown: &Path) -> Result<()> {
    let dir = match open_dir(Some(parent), Path::new(name)) {
        Ok(d) => d,
        Err(nix::Error::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::Remove { path: shown.to_owned(), source: e.into() }),
    };
    for child in child_names(dir.as_fd(), shown)? {
        let os = std::ffi::OsStr::from_bytes(child.as_bytes());
        remove_at(dir.as_fd(), os, &shown.join(os))?;
    }
    drop(dir);
    let mut tries = 0;
    loop {
        match nix::unistd::unlinkat(Some(parent.as_raw_fd()), name, nix::unistd::UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(nix::Error::ENOENT) => return Ok(()),
            Err(nix::Error::EBUSY) if tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(Error::Remove { path: shown.to_owned(), source: e.into() }),
        }
    }
}

fn check_rel(rel: &str) -> Result<&str> {
    let r = rel.trim_start_matches('/');
    if r.is_empty() || r.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(Error::BadPath(rel.to_owned()));
    }
    Ok(r)
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| Error::WriteFile { path: path.to_owned(), value: value.to_owned(), source })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadFile { path: path.to_owned(), source })
}

/// v2: enable in `dir/cgroup.subtree_control` those of our controllers `dir` offers and
/// has not enabled yet.
fn enable_controllers(dir: &Path) -> Result<()> {
    let offered = read(&dir.join("cgroup.controllers"))?;
    let enabled = read(&dir.join("cgroup.subtree_control"))?;
    let want: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| offered.split_whitespace().any(|o| o == **c) && !enabled.split_whitespace().any(|o| o == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    write(&dir.join("cgroup.subtree_control"), &want.join(" "))
}

/// v1 cpuset: a new cgroup starts with empty `cpus`/`mems` and refuses tasks; copy the parent's.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let parent = dir.parent().expect("a created cgroup has a parent");
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = read(&dir.join(file))?;
        if mine.trim().is_empty() {
            write(&dir.join(file), read(&parent.join(file))?.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 1 0:31 / /elsewhere rw - cgroup2 cgroup2 rw
";

    #[test]
    fn discovers_hybrid_layout() {
        let h = Hierarchies::from_mountinfo(HYBRID, Path::new("/sys/fs/cgroup")).unwrap();
        let mounts: Vec<_> = h.all.iter().map(|h| h.mount.to_str().unwrap()).collect();
        assert_eq!(mounts, ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]);
        assert_eq!(h.all[2].controllers, ["name=systemd"]);
        assert!(!h.is_pure_v2());
        assert_eq!(h.unified().unwrap().mount, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn discovers_pure_v2() {
        let info = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchies::from_mountinfo(info, Path::new("/sys/fs/cgroup")).unwrap();
        assert!(h.is_pure_v2());
        assert!(Hierarchies::from_mountinfo("", Path::new("/sys/fs/cgroup")).is_err());
    }

    #[test]
    fn refuses_paths_leaving_the_hierarchy() {
        let h = Hierarchies::from_mountinfo(HYBRID, Path::new("/sys/fs/cgroup")).unwrap();
        for bad in ["", "/", "../x", "sysctr/../../x", "a/./b"] {
            assert!(h.dirs(bad).is_err(), "{bad:?}");
        }
        assert_eq!(h.dirs("/sysctr/web1").unwrap()[0], Path::new("/sys/fs/cgroup/cpu/sysctr/web1"));
    }

    #[test]
    fn v1_freezer_without_cgroup2_freeze() {
        let t = tempfile::tempdir().unwrap();
        let fz = t.path().join("freezer");
        std::fs::create_dir_all(fz.join("sysctr/c1")).unwrap();
        std::fs::write(fz.join("sysctr/c1/freezer.state"), "THAWED\n").unwrap();
        // A hybrid host whose cgroup2 tree predates cgroup.freeze (no `frozen` line).
        let u = t.path().join("unified");
        std::fs::create_dir_all(u.join("sysctr/c1")).unwrap();
        std::fs::write(u.join("sysctr/c1/cgroup.events"), "populated 1\n").unwrap();
        let info = format!(
            "1 0 0:1 / {} rw - cgroup cgroup rw,freezer\n2 0 0:2 / {} rw - cgroup2 cgroup2 rw\n",
            fz.display(),
            u.display()
        );
        let h = Hierarchies::from_mountinfo(&info, t.path()).unwrap();
        assert!(!h.is_frozen("sysctr/c1").unwrap());
        h.freeze("sysctr/c1", true).unwrap();
        assert_eq!(std::fs::read_to_string(fz.join("sysctr/c1/freezer.state")).unwrap(), "FROZEN");
        assert!(h.is_frozen("sysctr/c1").unwrap());
        h.freeze("sysctr/c1", false).unwrap();
        assert!(!h.is_frozen("sysctr/c1").unwrap());
        // cgroup2 with a `frozen` line answers for itself.
        std::fs::write(u.join("sysctr/c1/cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert!(h.is_frozen("sysctr/c1").unwrap());
    }

    #[test]
    fn v2_create_enables_controllers_and_remove_is_recursive() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma\n").unwrap();
        std::fs::write(root.join("cgroup.subtree_control"), "memory\n").unwrap();
        let info = format!("30 25 0:26 / {} rw - cgroup2 cgroup2 rw\n", root.display());
        let h = Hierarchies::from_mountinfo(&info, root).unwrap();
        // A fake cgroupfs does not populate new directories; pre-make the parent's files.
        std::fs::create_dir(root.join("sysctr")).unwrap();
        std::fs::write(root.join("sysctr/cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(root.join("sysctr/cgroup.subtree_control"), "").unwrap();
        assert!(h.create("sysctr/web1").unwrap());
        assert_eq!(std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(), "+cpu +cpuset +io +pids");
        assert_eq!(std::fs::read_to_string(root.join("sysctr/cgroup.subtree_control")).unwrap(), "+cpu +memory +pids");
        std::fs::create_dir_all(root.join("sysctr/web1/system.slice/x.service")).unwrap();
        assert!(!h.create("sysctr/web1").unwrap());
        // remove_dir on a fake cgroupfs only succeeds on empty dirs: emulate by clearing files.
        std::fs::remove_file(root.join("sysctr/cgroup.controllers")).unwrap();
        h.remove("sysctr/web1").unwrap();
        assert!(!root.join("sysctr/web1").exists());
        assert!(root.join("sysctr").exists());
    }
}
