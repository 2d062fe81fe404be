//! What the monitor records and answers (JSON, one line per message on `monitor.sock`).

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// `monitor.json`: who supervises which init.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    pub monitor_pid: i32,
    pub init_pid: i32,
    /// /proc/PID/stat start time of init, to tell it from a reused pid.
    pub init_start_time: u64,
    /// When the current init was started (seconds since the epoch).
    pub started: u64,
    /// Guest reboots handled so far.
    pub restarts: u32,
    /// The runtime that runs this container (its command line up to the verb, and its
    /// `--root`): stop and cleanup use exactly this, whatever the config says meanwhile.
    pub runtime: Vec<String>,
    pub runtime_root: std::path::PathBuf,
}

/// Why init ended. In a pid namespace the kernel turns the guest's reboot(2) into a signal
/// to init: SIGHUP for restart, SIGINT for halt and power-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitReason {
    Halt,
    Reboot,
    Killed,
    Exited,
    Crashed,
}

impl ExitReason {
    pub fn from_status(st: WaitStatus) -> Self {
        match st {
            WaitStatus::Signaled(_, Signal::SIGHUP, _) => ExitReason::Reboot,
            WaitStatus::Signaled(_, Signal::SIGINT, _) => ExitReason::Halt,
            WaitStatus::Signaled(_, Signal::SIGKILL, _) => ExitReason::Killed,
            WaitStatus::Exited(..) => ExitReason::Exited,
            _ => ExitReason::Crashed,
        }
    }
}

/// `exit.json`: the last time init ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub reason: ExitReason,
    pub at: u64,
    /// The raw wait status, for the curious.
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Status,
    ConsoleLog,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "kebab-case")]
pub enum Response {
    Status(MonitorState),
    ConsoleLog(String),
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn reboot_and_halt_come_from_the_signal_that_ended_init() {
        let p = Pid::from_raw(7);
        assert_eq!(ExitReason::from_status(WaitStatus::Signaled(p, Signal::SIGHUP, false)), ExitReason::Reboot);
        assert_eq!(ExitReason::from_status(WaitStatus::Signaled(p, Signal::SIGINT, false)), ExitReason::Halt);
        assert_eq!(ExitReason::from_status(WaitStatus::Signaled(p, Signal::SIGKILL, false)), ExitReason::Killed);
        assert_eq!(ExitReason::from_status(WaitStatus::Signaled(p, Signal::SIGSEGV, true)), ExitReason::Crashed);
        assert_eq!(ExitReason::from_status(WaitStatus::Exited(p, 0)), ExitReason::Exited);
    }
}
