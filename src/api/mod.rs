//! Wire types between the CLI/TUI and whatever serves them. Serde only, no logic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Running,
    /// Every process of it frozen (`sysctr pause`); `resume` thaws it.
    Frozen,
    /// Init is gone and the monitor is cleaning up or booting it again.
    Stopping,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Running => "RUNNING",
            Status::Frozen => "FROZEN",
            Status::Stopping => "STOPPING",
            Status::Stopped => "STOPPED",
        })
    }
}

/// Why the container's init last ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// halt, reboot, killed, exited, crashed
    pub reason: String,
    /// Seconds since the epoch.
    pub at: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub status: Status,
    /// Host pid of the container's init while it runs.
    pub pid: Option<i32>,
    /// Host pid of the monitor, and whether it is alive (a container whose monitor was
    /// killed keeps running, without console, until it is stopped).
    pub monitor_pid: Option<i32>,
    pub monitor_alive: bool,
    pub runtime: String,
    /// No user namespace: root inside is root on the host (`security.privileged`).
    #[serde(default)]
    pub privileged: bool,
    /// The host ids its user namespace maps, while it runs unprivileged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<IdMap>,
    /// Seconds since the epoch.
    pub created: u64,
    pub started: Option<u64>,
    /// Guest reboots since the last start.
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub config: BTreeMap<String, String>,
    /// The image it was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// Keys changed while it runs that take effect only at its next start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// Its NICs: reserved addresses, and whether the guest holds the lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// What it uses now (while it runs), read from its cgroups on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why the container's configuration cannot be used (a hand edit gone wrong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One finding of `sysctr doctor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// ok, warn or fail
    pub level: String,
    pub detail: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Container ids 0..size are host uids uid.. and gids gid.. .
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
    /// The rootfs's owners are shifted on disk (no idmapped mount: another runtime, or a
    /// filesystem the kernel cannot idmap).
    #[serde(default)]
    pub shifted: bool,
}

/// Resource use of a running container. `None`: the host does not account it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time since start, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// CPU use over the sampling interval asked for, percent of one CPU.
    pub cpu_percent: Option<f64>,
    /// Bytes.
    pub memory: Option<u64>,
    pub memory_peak: Option<u64>,
    /// None: no limit.
    pub memory_limit: Option<u64>,
    pub swap: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    /// Processes the kernel's OOM killer ended inside the container.
    pub oom_kills: Option<u64>,
    /// Pressure stall information (avg10, percent) where the host has it.
    pub pressure: Option<Pressure>,
    /// Bytes its NICs received and sent since they were made (the counters of its network
    /// namespace, loopback left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_rx: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_tx: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub cpu_some: f64,
    pub memory_some: f64,
    pub memory_full: f64,
    pub io_some: f64,
    pub io_full: f64,
}

/// One NIC of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Inside the container: `eth0`.
    pub nic: String,
    pub network: String,
    pub ipv4: String,
    pub hwaddr: String,
    /// The guest took this address over DHCP (it holds the lease).
    pub leased: bool,
}

/// A managed network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// The bridge's address and prefix (`10.12.34.1/24`).
    pub ipv4: String,
    pub domain: String,
    pub nat: bool,
    /// The bridge exists on the host.
    pub up: bool,
    /// dnsmasq's pid while it runs.
    pub dnsmasq_pid: Option<i32>,
    /// Containers holding reservations on it.
    pub used_by: Vec<String>,
}

/// `network create` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksPost {
    pub name: String,
    /// Bridge address and prefix; absent: a free `10.x.y.1/24`.
    pub ipv4: Option<String>,
    pub domain: Option<String>,
    pub nat: Option<bool>,
}

/// `PATCH /1.0/networks/NAME`: one setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPatch {
    pub key: String,
    pub value: String,
}

/// A change of a container's configuration keys (`config set` / `config unset`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub unset: Vec<String>,
}

/// `create` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersPost {
    pub name: String,
    /// A prepared root filesystem directory to copy (or `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<String>,
    /// An image: `debian`, `debian/12`, `remote:alias`, a local alias or fingerprint prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Boot it once made (`launch`).
    #[serde(default)]
    pub start: bool,
}

/// `exec` request (after Incus's `InstanceExecPost`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecPost {
    pub command: Vec<String>,
    /// `NAME=value` on top of the login-like defaults (PATH, HOME, USER, LANG, TERM).
    #[serde(default)]
    pub environment: Vec<String>,
    /// User name or uid, resolved inside the container; default root.
    pub user: Option<String>,
    pub group: Option<String>,
    pub cwd: Option<String>,
    /// A pty from the container's devpts (else pipes).
    #[serde(default)]
    pub interactive: bool,
    /// The client's terminal type, for a pty.
    #[serde(default)]
    pub term: Option<String>,
}

/// The image a container was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    pub fingerprint: String,
    /// `debian/13`.
    pub name: String,
}

/// An image in the local store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub fingerprint: String,
    pub aliases: Vec<String>,
    /// `debian/13`.
    pub name: String,
    pub description: String,
    pub architecture: String,
    /// Bytes of its files (as downloaded), and of its unpacked rootfs.
    pub size: u64,
    pub unpacked_size: u64,
    /// Seconds since the epoch: the image's own date, and when it was stored here.
    pub created: i64,
    pub added: u64,
    /// `remote images`, `template debian`, `import`.
    pub source: String,
    /// Names it was asked for by (`debian`, `debian/13`).
    pub names: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub requirements: BTreeMap<String, String>,
    /// Paths in the container rendered from templates, with their triggers.
    pub templates: BTreeMap<String, Vec<String>>,
    pub files: Vec<ImageFile>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    pub name: String,
    pub role: String,
    pub sha256: String,
    pub size: u64,
}

/// `image import`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesPost {
    /// One file (a rootfs or Incus unified tarball) or two (metadata and rootfs, any order).
    pub files: Vec<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// An image server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    pub name: String,
    pub url: String,
    /// `simplestreams` or `lxc`.
    pub protocol: String,
}

/// The state of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    Running,
    Success,
    Failure,
    Cancelled,
}

/// Long work the daemon does in the background (`202 Accepted`): wait on it with
/// `GET /1.0/operations/ID/wait`, cancel it with `DELETE /1.0/operations/ID`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub id: String,
    /// `start web1`, `launch debian web1`, ...
    pub description: String,
    pub status: OperationStatus,
    /// The containers it holds (a second operation on them gets 409).
    pub containers: Vec<String>,
    pub created: u64,
    pub finished: Option<u64>,
    pub error: Option<String>,
    /// What it returns when done (a container, warnings, ...).
    pub result: Option<serde_json::Value>,
}

/// One line of `GET /1.0/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// `container-created`, `container-started`, `container-stopped`, `container-deleted`,
    /// `container-frozen`, `container-thawed`, `operation-created`, `operation-success`,
    /// `operation-failure`, `operation-cancelled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Milliseconds since the epoch.
    pub time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

/// An error answer: `{"error": "...", "status": 409}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
    /// The operation in the way, for 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `PUT /1.0/containers/NAME/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatePut {
    /// start, stop, restart, freeze, unfreeze
    pub action: String,
    /// Seconds to wait for a clean halt before killing (stop, restart); default 30.
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub force: bool,
}
