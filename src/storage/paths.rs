use std::path::{Path, PathBuf};

/// Every root sysctr reads or writes. Defaults are the packaged locations; each is
/// overridable (flags or `SYSCTR_*` variables) so tests run isolated instances side by side.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Persistent state: containers, images, networks (`/var/lib/sysctr`).
    pub state: PathBuf,
    /// Runtime state: bundles, monitor sockets (`/run/sysctr`); gone at reboot.
    pub run: PathBuf,
    /// Host configuration file (`/etc/sysctr/sysctr.toml`); may be absent.
    pub config: PathBuf,
    /// The cgroup filesystem root (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            state: "/var/lib/sysctr".into(),
            run: "/run/sysctr".into(),
            config: "/etc/sysctr/sysctr.toml".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
        }
    }
}

impl Paths {
    /// Defaults overridden by `SYSCTR_STATE_DIR`, `SYSCTR_RUN_DIR`, `SYSCTR_CONFIG`.
    pub fn from_env() -> Self {
        let mut p = Paths::default();
        if let Some(v) = std::env::var_os("SYSCTR_STATE_DIR") {
            p.state = v.into();
        }
        if let Some(v) = std::env::var_os("SYSCTR_RUN_DIR") {
            p.run = v.into();
        }
        if let Some(v) = std::env::var_os("SYSCTR_CONFIG") {
            p.config = v.into();
        }
        p
    }

    pub fn containers(&self) -> PathBuf {
        self.state.join("containers")
    }
    pub fn container(&self, name: &str) -> PathBuf {
        self.containers().join(name)
    }
    pub fn container_config(&self, name: &str) -> PathBuf {
        self.container(name).join("config.toml")
    }
    pub fn rootfs(&self, name: &str) -> PathBuf {
        self.container(name).join("rootfs")
    }
    pub fn console_log(&self, name: &str) -> PathBuf {
        self.container(name).join("console.log")
    }
    /// Root-only directory with the bundle, the monitor's socket and its state file.
    pub fn run_container(&self, name: &str) -> PathBuf {
        self.run.join("containers").join(name)
    }
    pub fn bundle(&self, name: &str) -> PathBuf {
        self.run_container(name).join("bundle")
    }
    pub fn monitor_socket(&self, name: &str) -> PathBuf {
        self.run_container(name).join("monitor.sock")
    }
    pub fn monitor_state(&self, name: &str) -> PathBuf {
        self.run_container(name).join("monitor.json")
    }
    /// `--root` of the OCI runtime named `runtime` (a state dir per runtime, as runc keeps).
    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        let tag = Path::new(runtime).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.run.join("runtime").join(tag)
    }
}
