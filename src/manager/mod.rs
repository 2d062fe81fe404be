//! The policy layer: one method per user intent. Multi-step operations run under a
//! [`Revert`] guard so a failure leaves nothing half-made.

mod config;
mod image;
mod limits;
mod net;
mod revert;
mod doctor;
mod security;

pub use crate::monitor::attach::{Ended, Escape};
pub use revert::Revert;
/// An error and its causes on one line (for the API's answers).
pub use crate::runtime::chain;
pub use crate::image::Error as ImageError;
pub use crate::storage::Error as StorageError;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::unistd::Pid;

use crate::api;
use crate::monitor::{self, ExitRecord, MonitorState, Request, Response, RuntimeCommand};
use crate::storage::{self, validate_key, validate_name, ContainerConfig, HostConfig, Lock, Paths};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0} does not exist; `sysctr list` shows the containers there are")]
    NotFound(String),
    #[error("container {0} already exists; pick another name or delete it first (`sysctr delete {0}`)")]
    Exists(String),
    #[error("container {0} is running; stop it first (`sysctr stop {0}`) or use --force")]
    Running(String),
    #[error("container {0} is already running; `sysctr restart {0}` boots it again")]
    AlreadyRunning(String),
    #[error("container {0} is not running; start it with `sysctr start {0}`")]
    NotRunning(String),
    #[error("--rootfs {0}: not a directory; give the path of a prepared root filesystem")]
    NoRootfs(PathBuf),
    #[error("cannot copy the root filesystem from {from}: {message}")]
    Copy { from: PathBuf, message: String },
    #[error("container {0}'s monitor was killed, and its console with it; restart the container to get a console back")]
    NoConsole(String),
    #[error("--env {0:?}: use NAME=value")]
    BadEnv(String),
    #[error("container {name} did not start: {message}")]
    StartFailed { name: String, message: String },
    #[error("container {name}'s rootfs {path} is not a directory (a symlink?); refusing to boot it")]
    BadRootfs { name: String, path: PathBuf },
    #[error("{0}")]
    Invalid(String),
    #[error("{key} is not set on container {name}; `sysctr config show {name}` lists its keys")]
    NotSet { name: String, key: String },
    #[error("cannot {what}")]
    Io { what: &'static str, #[source] source: std::io::Error },
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
    #[error(transparent)]
    Monitor(#[from] monitor::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::Error),
    #[error(transparent)]
    Network(#[from] crate::network::Error),
    #[error(transparent)]
    Image(#[from] crate::image::Error),
    #[error(transparent)]
    Clone(#[from] storage::CloneError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Grace period for the monitor to clean up after init is gone.
const CLEANUP_WAIT: Duration = Duration::from_secs(15);

/// What can be observed of a container without changing anything.
struct Observed {
    monitor: Option<MonitorState>,
    init_alive: bool,
    monitor_alive: bool,
    /// Its cgroup is frozen (`pause`).
    frozen: bool,
    last_exit: Option<ExitRecord>,
}

impl Observed {
    fn status(&self) -> api::Status {
        match (&self.monitor, self.init_alive, self.monitor_alive) {
            (None, ..) => api::Status::Stopped,
            (Some(_), true, _) if self.frozen => api::Status::Frozen,
            (Some(_), true, _) => api::Status::Running,
            (Some(_), false, true) => api::Status::Stopping,
            (Some(_), false, false) => api::Status::Stopped,
        }
    }
}

pub struct Manager {
    pub paths: Paths,
    exe: PathBuf,
    /// The host's cgroup layout, read once when first needed.
    hier: std::sync::OnceLock<crate::cgroup::Hierarchies>,
}

impl Manager {
    pub fn new(paths: Paths) -> Result<Self> {
        let exe = std::env::current_exe().map_err(|source| Error::Io { what: "find our own executable", source })?;
        Ok(Manager { paths, exe, hier: std::sync::OnceLock::new() })
    }

    /// A container name's validity, for callers at the edge (the API).
    pub fn check_name(&self, name: &str) -> Result<()> {
        Ok(validate_name(name)?)
    }

    /// Lock an existing container (its directory). Checks the name first, so a bad name
    /// never reaches the filesystem.
    fn lock(&self, name: &str) -> Result<Lock> {
        validate_name(name)?;
        let dir = self.paths.container(name);
        if !std::fs::symlink_metadata(&dir).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(Error::NotFound(name.into()));
        }
        match Lock::acquire(&dir) {
            Ok(l) => Ok(l),
            Err(storage::Error::Gone { .. }) => Err(Error::NotFound(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The runtime that runs a container now: the one recorded at its start, else the one
    /// its config chooses.
    fn current_runtime(&self, name: &str, obs: &Observed) -> Result<RuntimeCommand> {
        match &obs.monitor {
            Some(m) if !m.runtime.is_empty() => {
                Ok(RuntimeCommand { argv: m.runtime.clone(), root: m.runtime_root.clone(), id: name.into() })
            }
            _ => self.runtime(name, &self.load(name).unwrap_or_default()),
        }
    }

    fn load(&self, name: &str) -> Result<ContainerConfig> {
        validate_name(name)?;
        let path = self.paths.container_config(name);
        if !path.exists() {
            return Err(Error::NotFound(name.into()));
        }
        Ok(ContainerConfig::load(&path)?)
    }

    /// The OCI runtime of a container: its own `runtime` key, else the host's, else builtin.
    fn runtime(&self, name: &str, cfg: &ContainerConfig) -> Result<RuntimeCommand> {
        let host = HostConfig::load(&self.paths.config)?;
        let choice = cfg.config.get("runtime").cloned().or(host.runtime).unwrap_or_else(|| "builtin".into());
        let argv = if choice == "builtin" {
            vec![self.exe.to_string_lossy().into_owned(), "oci".into()]
        } else {
            vec![choice.clone()]
        };
        Ok(RuntimeCommand { argv, root: self.paths.runtime_root(&choice), id: name.into() })
    }

    fn monitor_config(&self, name: &str, runtime: RuntimeCommand) -> monitor::Config {
        monitor::Config {
            name: name.into(),
            run_dir: self.paths.run_container(name),
            bundle: self.paths.bundle(name),
            console_log: self.paths.console_log(name),
            runtime,
        }
    }

    fn observe(&self, name: &str) -> Observed {
        let run = self.paths.run_container(name);
        let monitor: Option<MonitorState> =
            std::fs::read(run.join("monitor.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let last_exit = std::fs::read(run.join("exit.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let init_alive = monitor.as_ref().is_some_and(|m| alive(m.init_pid, m.init_start_time));
        // A monitor is alive when its process is (one /proc read); its socket is asked
        // only when monitor.json does not say which process that is.
        let monitor_alive = match &monitor {
            None => false,
            Some(m) if m.monitor_start_time != 0 => alive(m.monitor_pid, m.monitor_start_time),
            Some(_) => matches!(monitor::ask(&self.paths.monitor_socket(name), &Request::Status), Some(Response::Status(_))),
        };
        let frozen = init_alive
            && self.hierarchies().is_ok_and(|h| h.is_frozen(&config::cgroup_rel(name)).unwrap_or(false));
        Observed { monitor, init_alive, monitor_alive, frozen, last_exit }
    }

    /// The host's cgroup hierarchies (read from mountinfo once per manager).
    fn hierarchies(&self) -> Result<&crate::cgroup::Hierarchies> {
        if let Some(h) = self.hier.get() {
            return Ok(h);
        }
        let h = crate::cgroup::Hierarchies::discover(&self.paths.cgroup_root)?;
        Ok(self.hier.get_or_init(|| h))
    }

    /// Freeze every process of a running container (`pause`), or thaw it (`resume`).
    pub fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        let _lock = self.lock(name)?;
        let obs = self.observe(name);
        match (obs.status(), frozen) {
            (api::Status::Running, true) | (api::Status::Frozen, false) => {}
            (api::Status::Frozen, true) => return Err(Error::Invalid(format!("container {name} is already paused; `sysctr resume {name}` thaws it"))),
            (api::Status::Running, false) => return Err(Error::Invalid(format!("container {name} is not paused"))),
            _ => return Err(Error::NotRunning(name.into())),
        }
        let hier = self.hierarchies()?;
        Ok(hier.freeze(&config::cgroup_rel(name), frozen)?)
    }

    /// Create a container from an image or a prepared root filesystem; notes worth
    /// showing (what was downloaded or built, templates that could not be rendered).
    pub fn create(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        validate_name(&req.name)?;
        for (k, v) in &req.config {
            validate_key(k, v)?;
        }
        // Limits this host cannot give are refused now, not at the first start.
        let hier = self.hierarchies()?;
        let (res, _) = self.render_limits(&req.config, &self.limits_host(hier, &req.name)?)?;
        self.check_supported(hier, crate::oci::CGROUP_PARENT, &res)?;
        self.check_nics(&req.name, &req.config)?;
        let dir = self.paths.container(&req.name);
        if std::fs::symlink_metadata(&dir).is_ok() {
            return Err(Error::Exists(req.name.clone()));
        }
        let mut notes = Vec::new();
        // Resolve (and fetch or build) the image before anything is made for the container.
        let source = match (&req.rootfs, &req.image) {
            (Some(r), None) => {
                let src = PathBuf::from(r);
                if !std::fs::metadata(&src).map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(Error::NoRootfs(src));
                }
                Err(src)
            }
            (None, Some(i)) => Ok(self.resolve_image(i, &mut notes)?),
            _ => return Err(Error::Invalid("give an image (`sysctr launch debian NAME`) or --rootfs DIR, not both".into())),
        };
        let containers = self.paths.containers();
        std::fs::create_dir_all(&containers).map_err(|source| Error::Io { what: "create the containers directory", source })?;
        let _lock = Lock::acquire(&containers)?;
        if std::fs::symlink_metadata(&dir).is_ok() {
            return Err(Error::Exists(req.name.clone()));
        }
        let tmp = containers.join(format!(".{}.creating", req.name));
        storage::remove_tree(&tmp)?;
        let mut revert = Revert::new();
        std::fs::create_dir(&tmp).map_err(|source| Error::Io { what: "create the container directory", source })?;
        let t = tmp.clone();
        revert.add(move || {
            let _ = storage::remove_tree(&t);
        });
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| Error::Io { what: "restrict the container directory", source })?;
        let image = match &source {
            Err(src) => {
                copy_rootfs(src, &tmp.join("rootfs"))?;
                None
            }
            Ok(record) => {
                notes.extend(self.rootfs_from_image(&self.store()?, record, &req.name, &tmp, &req.config)?);
                Some(storage::ImageRef { fingerprint: record.fingerprint.clone(), name: record.short_name() })
            }
        };
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let cfg = ContainerConfig { created, config: req.config.clone(), image };
        cfg.save(&tmp.join("config.toml"))?;
        std::fs::rename(&tmp, &dir).map_err(|source| Error::Io { what: "move the new container into place", source })?;
        revert.commit();
        Ok((self.info(&req.name)?, notes))
    }

    /// `launch`: create from an image, then boot; returns once init runs.
    pub fn launch(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        let (_, mut notes) = self.create(req)?;
        notes.extend(self.start(&req.name)?.into_iter().map(|w| format!("warning: {w}")));
        Ok((self.info(&req.name)?, notes))
    }

    /// Boot a container; returns once its init runs, with warnings worth showing.
    pub fn start(&self, name: &str) -> Result<Vec<String>> {
        let _lock = self.lock(name)?;
        self.start_locked(name)
    }

    fn start_locked(&self, name: &str) -> Result<Vec<String>> {
        let started = self.start_inner(name);
        if started.is_err() {
            // A start that failed leaves no empty parent cgroup behind either.
            if let Ok(h) = self.hierarchies() {
                let _ = h.remove_if_empty(crate::oci::CGROUP_PARENT);
            }
        }
        started
    }

    fn start_inner(&self, name: &str) -> Result<Vec<String>> {
        let cfg = self.load(name)?;
        let obs = self.observe(name);
        if obs.status() != api::Status::Stopped {
            return Err(Error::AlreadyRunning(name.into()));
        }
        let runtime = self.current_runtime(name, &obs)?;
        self.cleanup(name, &runtime)?;
        // A bad runtime choice or host config fails here, not later in the monitor.
        let chosen = self.runtime(name, &cfg)?;
        let mut warnings = raise_inotify_limit();
        let rootfs = self.paths.rootfs(name);
        if !std::fs::symlink_metadata(&rootfs).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(Error::BadRootfs { name: name.into(), path: rootfs });
        }
        // Unprivileged: the rootfs through an idmapped mount, or, where that cannot be
        // (another OCI runtime, a filesystem the kernel cannot idmap), shifted once on disk.
        let prefer = self.shift_state(name).filter(|s| s.complete).map(|s| s.to.0);
        let (mut idmap, _idmap_lock) = self.choose_idmap(name, &cfg.config, prefer)?;
        let reason = match (&idmap, chosen.argv.get(1).map(String::as_str)) {
            (None, _) => String::new(),
            (Some(_), Some("oci")) => match security::idmappable(&rootfs) {
                Ok(_) => String::new(),
                Err(what) => format!("its {what} cannot be idmapped"),
            },
            (Some(_), _) => format!("{} does not idmap a rootfs", chosen.argv[0]),
        };
        if let Some(m) = idmap.as_mut() {
            m.shifted = !reason.is_empty();
        }
        warnings.extend(self.settle_rootfs(name, idmap, &reason)?);
        // runc and crun open the rootfs from inside the user namespace: its directory lets
        // the guest's root group through (0710); otherwise it is root's alone (0700).
        let through = idmap.filter(|m| m.shifted && chosen.argv.get(1).map(String::as_str) != Some("oci")).map(|m| m.gid);
        let dir = self.paths.container(name);
        std::os::unix::fs::lchown(&dir, None, Some(through.unwrap_or(0)))
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(if through.is_some() { 0o710 } else { 0o700 })))
            .map_err(|source| Error::Io { what: "set the container directory's access", source })?;
        warnings.extend(self.render_start_templates(name, &cfg.config));
        let run = self.paths.run_container(name);
        let bundle = self.paths.bundle(name);
        std::fs::create_dir_all(&bundle).map_err(|source| Error::Io { what: "create the bundle directory", source })?;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| Error::Io { what: "restrict the run directory", source })?;
        let hier = self.hierarchies()?;
        // The parent the container will live in, made now so its limits are checked
        // against it (the runtime would make it anyway). Nobody removes it (as empty) until
        // the runtime has made our cgroup in it: this start is done.
        let _parent = crate::cgroup::ParentLock::take(true);
        hier.create(crate::oci::CGROUP_PARENT)?;
        let rendered = self.render_limits(&cfg.config, &self.limits_host(hier, name)?)?;
        self.check_supported(hier, crate::oci::CGROUP_PARENT, &rendered.0)?;
        warnings.extend(self.write_bundle(name, &cfg.config, &rendered, hier.is_pure_v2(), idmap)?);
        match idmap {
            Some(m) => storage::write_volatile(&run.join(security::IDMAP_FILE), &serde_json::to_vec(&m).expect("an id map serialises"))?,
            None => {
                let _ = std::fs::remove_file(run.join(security::IDMAP_FILE));
            }
        }
        // Networks up and addresses reserved; the monitor wires the NICs at each boot.
        let (nics, w) = self.prepare_nics(name, &cfg)?;
        warnings.extend(w);
        storage::write_volatile(&run.join(monitor::NICS), &serde_json::to_vec(&nics).expect("NICs serialise"))?;
        self.record_applied(name, &cfg.config)?;
        let _ = std::fs::remove_file(run.join("stopping"));

        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join("monitor.log"))
            .map_err(|source| Error::Io { what: "open monitor.log", source })?;
        let mut child = Command::new(&self.exe)
            .arg("__monitor")
            .arg(name)
            .env("SYSCTR_STATE_DIR", &self.paths.state)
            .env("SYSCTR_RUN_DIR", &self.paths.run)
            .env("SYSCTR_CONFIG", &self.paths.config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Io { what: "spawn the monitor", source })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().split_once(' ') {
            Some(("ok", _pid)) => {
                // In a long-lived caller (the daemon) the monitor must not linger as a
                // zombie when it ends: reap it. It runs in a session of its own.
                std::thread::spawn(move || child.wait());
                warnings.extend(self.refresh_firewalls(&nics));
                Ok(warnings)
            }
            _ => {
                let _ = child.wait();
                let message = line.trim().strip_prefix("error: ").map(str::to_owned).unwrap_or_else(|| {
                    format!("the monitor exited without a word; see {}", run.join("monitor.log").display())
                });
                Err(Error::StartFailed { name: name.into(), message })
            }
        }
    }

    /// Halt a container: the guest's own halt signal, then SIGKILL after `timeout`
    /// (at once with `force`). Returns once everything of the run is cleaned up.
    pub fn stop(&self, name: &str, timeout: Duration, force: bool) -> Result<()> {
        let _lock = self.lock(name)?;
        self.stop_locked(name, timeout, force)
    }

    fn stop_locked(&self, name: &str, timeout: Duration, force: bool) -> Result<()> {
        let obs = self.observe(name);
        let runtime = self.current_runtime(name, &obs)?;
        let Some(mon) = obs.monitor.as_ref().filter(|_| obs.status() != api::Status::Stopped) else {
            self.cleanup(name, &runtime)?;
            return Err(Error::NotRunning(name.into()));
        };
        let run = self.paths.run_container(name);
        std::fs::write(run.join("stopping"), b"").map_err(|source| Error::Io { what: "mark the container stopping", source })?;
        // A frozen guest can neither halt nor (on v1) die: thaw it first.
        if obs.frozen {
            self.hierarchies()?.freeze(&config::cgroup_rel(name), false)?;
        }
        let pid = Pid::from_raw(mon.init_pid);
        let log = run.join("runtime.log");
        if let Some(pidfd) = crate::sys::pidfd_open(pid).ok().filter(|_| alive(mon.init_pid, mon.init_start_time)) {
            // The halt signal is sent again each second: an init that has not installed its
            // handlers yet (just booted) ignores it, and which signal is right (systemd
            // blocks SIGRTMIN+3 once it runs) may only show later.
            let now = std::time::Instant::now();
            let deadline = now.checked_add(if force { Duration::ZERO } else { timeout }).unwrap_or(now + Duration::from_secs(86400));
            let mut exited = false;
            while !force && !exited {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                if crate::sys::cancel::requested() {
                    return Err(Error::Invalid(format!("stop of {name} cancelled; its init got the halt signal and may still be shutting down")));
                }
                let _ = runtime.run("kill", &[name, &halt_signal(pid).to_string()], &log);
                exited = crate::runtime::wait_exit(&pidfd, left.min(Duration::from_secs(1)));
            }
            if !exited {
                let _ = runtime.run("kill", &[name, "KILL"], &log);
                crate::runtime::wait_exit(&pidfd, Duration::from_secs(10));
            }
        }
        // The monitor cleans up and exits; wait for that, or do it ourselves if it is gone.
        if let Some(mfd) = crate::sys::pidfd_open(Pid::from_raw(mon.monitor_pid)).ok().filter(|_| obs.monitor_alive) {
            crate::runtime::wait_exit(&mfd, CLEANUP_WAIT);
        }
        self.cleanup(name, &runtime)
    }

    /// Remove what a finished run left when no monitor did it (killed monitor, crash):
    /// runtime state, cgroups, sockets. Keeps `exit.json` and the console log.
    fn cleanup(&self, name: &str, runtime: &RuntimeCommand) -> Result<()> {
        let obs = self.observe(name);
        if obs.init_alive || obs.monitor_alive {
            return Ok(());
        }
        let run = self.paths.run_container(name);
        if runtime.root.join(name).exists() {
            let _ = std::fs::create_dir_all(&run);
            let _ = runtime.run("delete", &["--force", name], &run.join("runtime.log"));
        }
        // Our init is gone and its pid namespace with it: a cgroup of this name that still
        // holds processes belongs to someone else (another instance), and stays.
        let hier = self.hierarchies()?;
        let cg = config::cgroup_rel(name);
        if hier.pids(&cg)?.is_empty() {
            hier.remove(&cg)?;
        }
        // The last container gone: no empty `sysctr` parent stays behind.
        hier.remove_if_empty(crate::oci::CGROUP_PARENT)?;
        for f in ["monitor.json", "monitor.sock", "console.sock", "stopping", "init.pid", "applied.json", monitor::NICS, security::IDMAP_FILE] {
            let _ = std::fs::remove_file(run.join(f));
        }
        Ok(())
    }

    pub fn restart(&self, name: &str, timeout: Duration, force: bool) -> Result<Vec<String>> {
        let _lock = self.lock(name)?;
        self.stop_locked(name, timeout, force)?;
        self.start_locked(name)
    }

    /// Remove a container and everything of it. A running one needs `force`.
    pub fn delete(&self, name: &str, force: bool) -> Result<()> {
        let _lock = self.lock(name)?;
        if self.observe(name).status() != api::Status::Stopped {
            if !force {
                return Err(Error::Running(name.into()));
            }
            match self.stop_locked(name, Duration::ZERO, true) {
                Ok(()) | Err(Error::NotRunning(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let runtime = self.current_runtime(name, &self.observe(name))?;
        self.cleanup(name, &runtime)?;
        storage::remove_tree(&self.paths.run_container(name))?;
        storage::remove_tree(&self.paths.container(name))?;
        self.networks().release(name, &[])?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<api::Container>> {
        let ctx = self.describe_context();
        self.names()?.iter().map(|n| self.describe(n, &ctx)).collect()
    }

    /// Every container's status alone: no config, addresses or cgroup use read (the
    /// daemon's watcher asks twice a second).
    pub fn statuses(&self) -> Result<Vec<(String, api::Status)>> {
        Ok(self.names()?.into_iter().map(|n| {
            let s = self.observe(&n).status();
            (n, s)
        }).collect())
    }

    /// The containers' names, sorted.
    fn names(&self) -> Result<Vec<String>> {
        let dir = self.paths.containers();
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(source) => return Err(Error::Io { what: "list the containers directory", source }),
        };
        names.retain(|n| validate_name(n).is_ok());
        names.sort();
        Ok(names)
    }

    fn describe_context(&self) -> Describe {
        Describe {
            host_runtime: HostConfig::load(&self.paths.config).ok().and_then(|h| h.runtime).unwrap_or_else(|| "builtin".into()),
            networks: self.load_networks(),
        }
    }

    pub fn info(&self, name: &str) -> Result<api::Container> {
        validate_name(name)?;
        self.describe(name, &self.describe_context())
    }

    fn describe(&self, name: &str, ctx: &Describe) -> Result<api::Container> {
        let (cfg, error) = match self.load(name) {
            Ok(c) => (c, None),
            Err(e @ Error::Storage(_)) if self.paths.container(name).is_dir() => {
                (ContainerConfig::default(), Some(crate::runtime::chain(&e)))
            }
            Err(e) => return Err(e),
        };
        let runtime = cfg.config.get("runtime").cloned().unwrap_or_else(|| ctx.host_runtime.clone());
        let obs = self.observe(name);
        let status = obs.status();
        let running = matches!(status, api::Status::Running | api::Status::Frozen);
        let pending = match self.applied(name).filter(|_| running && error.is_none()) {
            Some(applied) => config::differing(&cfg.config, &applied),
            None => vec![],
        };
        let mut usage = self.hierarchies().ok().filter(|_| running).and_then(|h| config::usage(h, name));
        if let (Some(u), Some(m)) = (usage.as_mut(), obs.monitor.as_ref()) {
            (u.net_rx, u.net_tx) = config::net_bytes(m.init_pid).unzip();
        }
        Ok(api::Container {
            name: name.into(),
            status,
            pid: obs.monitor.as_ref().filter(|_| running).map(|m| m.init_pid),
            monitor_pid: obs.monitor.as_ref().filter(|_| status != api::Status::Stopped).map(|m| m.monitor_pid),
            monitor_alive: obs.monitor_alive,
            runtime,
            privileged: security::privileged(&cfg.config),
            idmap: self.running_idmap(name).filter(|_| running).map(|m| api::IdMap { uid: m.uid, gid: m.gid, size: m.size, shifted: m.shifted }),
            created: cfg.created,
            started: obs.monitor.as_ref().filter(|_| running).map(|m| m.started),
            restarts: obs.monitor.as_ref().map(|m| m.restarts).unwrap_or(0),
            last_exit: obs.last_exit.map(|e| api::LastExit {
                reason: serde_json::to_value(e.reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                at: e.at,
            }),
            config: cfg.config,
            image: cfg.image.map(|i| api::ImageRef { fingerprint: i.fingerprint, name: i.name }),
            pending,
            addresses: Self::addresses(name, &ctx.networks),
            usage,
            error,
        })
    }

    /// Run a command inside a running container with this process's stdio; its exit status.
    /// This process becomes the exec helper (joins the container's cgroups and namespaces,
    /// forks), so it must be a single-threaded front end such as the CLI; signals sent to
    /// it reach the command.
    pub fn exec(&self, name: &str, req: &api::ExecPost) -> Result<i32> {
        self.load(name)?;
        if req.command.is_empty() {
            return Err(Error::Io { what: "run an empty command", source: std::io::ErrorKind::InvalidInput.into() });
        }
        for kv in &req.environment {
            let key = kv.split_once('=').map(|(k, _)| k).unwrap_or("");
            if key.is_empty() || kv.contains('\0') {
                return Err(Error::BadEnv(kv.clone()));
            }
        }
        let obs = self.observe(name);
        if obs.frozen {
            return Err(Error::Invalid(format!("container {name} is paused; `sysctr resume {name}` first")));
        }
        let mon = obs.monitor.as_ref().filter(|_| obs.init_alive).ok_or_else(|| Error::NotRunning(name.into()))?;
        let nreq = crate::runtime::nsenter::Request {
            argv: req.command.clone(),
            env: req.environment.clone(),
            user: req.user.clone(),
            group: req.group.clone(),
            cwd: req.cwd.clone(),
            tty: req.interactive,
            term: req.term.clone().or_else(|| std::env::var("TERM").ok()).filter(|_| req.interactive),
            seccomp: self.running_seccomp(name)?,
        };
        Ok(crate::runtime::nsenter::enter(Pid::from_raw(mon.init_pid), mon.init_start_time, &nreq, &self.paths.cgroup_root)?)
    }

    /// The seccomp filter the running container was started with (its bundle's).
    fn running_seccomp(&self, name: &str) -> Result<Option<oci_spec::runtime::LinuxSeccomp>> {
        let path = self.paths.bundle(name).join("config.json");
        let spec = oci_spec::runtime::Spec::load(&path)
            .map_err(|e| Error::Io { what: "read the running container's bundle", source: std::io::Error::other(e.to_string()) })?;
        Ok(spec.linux().as_ref().and_then(|l| l.seccomp().clone()))
    }

    /// Attach this terminal to a running container's console until the viewer detaches or
    /// the console closes. `replay` first shows what the console printed so far.
    pub fn console(&self, name: &str, escape: u8, replay: bool) -> Result<monitor::attach::Ended> {
        self.load(name)?;
        let obs = self.observe(name);
        if !obs.init_alive {
            return Err(Error::NotRunning(name.into()));
        }
        if !obs.monitor_alive {
            return Err(Error::NoConsole(name.into()));
        }
        Ok(monitor::attach::attach(&self.paths.monitor_socket(name), escape, replay)?)
    }

    /// The console output kept for a container: the monitor's ring while it runs, else the
    /// end of `console.log`.
    pub fn console_log(&self, name: &str) -> Result<Vec<u8>> {
        self.load(name)?;
        if let Some(Response::ConsoleLog(text)) = monitor::ask(&self.paths.monitor_socket(name), &Request::ConsoleLog) {
            return Ok(text.into_bytes());
        }
        let log = std::fs::read(self.paths.console_log(name)).unwrap_or_default();
        Ok(log[log.len().saturating_sub(monitor::RING_CAP)..].to_vec())
    }

    /// Entry point of `sysctr __monitor NAME`: supervise until the container is down.
    pub fn monitor_main(&self, name: &str) -> Result<()> {
        // Leave the CLI's session: a terminal hang-up must not reach the monitor.
        let _ = nix::unistd::setsid();
        let cfg = self.load(name)?;
        let runtime = self.runtime(name, &cfg)?;
        let mut report = take_report_pipe()?;
        Ok(monitor::run(self.monitor_config(name, runtime), &mut report)?)
    }
}

/// A helper process's stdout is the pipe its spawner waits on for `ok` (or `error: ...`):
/// keep it apart, and point stdout at the log (stderr) from here on.
fn take_report_pipe() -> Result<std::fs::File> {
    let report = nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
        .map_err(|e| Error::Io { what: "keep the report pipe", source: e.into() })?;
    let _ = nix::unistd::dup2(2, 1);
    Ok(std::fs::File::from(crate::sys::own_fd(report)))
}

/// What describing any number of containers needs once.
struct Describe {
    host_runtime: String,
    networks: Vec<net::NetView>,
}

/// Is `pid` still the process that started at `start_time`, and not a zombie?
fn alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && crate::runtime::alive(Pid::from_raw(pid), start_time)
}

/// The guest's own halt signal: SIGRTMIN+3 when init blocks it (systemd handles it through
/// a signalfd, liblxc's test), else SIGPWR (SysV and busybox init).
fn halt_signal(pid: Pid) -> libc::c_int {
    let rtmin3 = crate::sys::sigrtmin() + 3;
    match crate::sys::proc_status_mask(&pid.to_string(), "SigBlk") {
        Ok(mask) if mask & (1u64 << (rtmin3 - 1)) != 0 => rtmin3,
        _ => libc::SIGPWR,
    }
}

/// Copy a prepared root filesystem, keeping owners, modes, links, xattrs and sparseness,
/// sharing blocks where the filesystem can, never crossing into other mounts.
fn copy_rootfs(src: &Path, dst: &Path) -> Result<()> {
    let out = Command::new("cp")
        .args(["-a", "-x", "--reflink=auto", "--sparse=always", "--no-target-directory"])
        .arg(src)
        .arg(dst)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Copy { from: src.to_owned(), message: format!("cannot run cp: {e}") })?;
    if !out.status.success() {
        return Err(Error::Copy { from: src.to_owned(), message: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(())
}

/// systemd in a container needs inotify instances; Debian's default of 128 per user lets
/// only ~18 systemd containers boot. Raise it to LXD's production value.
fn raise_inotify_limit() -> Vec<String> {
    const KNOB: &str = "/proc/sys/fs/inotify/max_user_instances";
    const WANT: u64 = 1024;
    let cur = std::fs::read_to_string(KNOB).ok().and_then(|s| s.trim().parse::<u64>().ok());
    match cur {
        Some(c) if c < WANT => match std::fs::write(KNOB, WANT.to_string()) {
            Ok(()) => vec![format!("raised fs.inotify.max_user_instances from {c} to {WANT}: systemd guests need it")],
            Err(e) => vec![format!("fs.inotify.max_user_instances is {c} and cannot be raised ({e}); systemd guests may fail to boot")],
        },
        _ => vec![],
    }
}
