//! What the monitor records and answers (JSON, one line per message on `monitor.sock`).

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// `monitor.json`: who supervises which init.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    pub monitor_pid: i32,
    /// /proc/PID/stat start time of the monitor (0: unknown, ask its socket instead).
    #[serde(default)]
    pub monitor_start_time: u64,
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
    /// Become a console viewer: after the `Attached` answer the connection carries raw
    /// console output to the viewer, and [`Frame`]s from it. `replay` sends the ring first.
    Attach { replay: bool },
}

/// What a console viewer sends: `[kind: u8][len: u16 big-endian][payload]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Keystrokes for the console.
    Input(Vec<u8>),
    /// The viewer's terminal size.
    Resize { rows: u16, cols: u16 },
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload) = match self {
            Frame::Input(d) => (0u8, d.clone()),
            Frame::Resize { rows, cols } => (1u8, [rows.to_be_bytes(), cols.to_be_bytes()].concat()),
        };
        let mut out = Vec::with_capacity(3 + payload.len());
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Take one complete frame off the front of `buf`, if there is one. Unknown kinds are
    /// skipped.
    pub fn decode(buf: &mut Vec<u8>) -> Option<Frame> {
        loop {
            if buf.len() < 3 {
                return None;
            }
            let len = u16::from_be_bytes([buf[1], buf[2]]) as usize;
            if buf.len() < 3 + len {
                return None;
            }
            let kind = buf[0];
            let payload: Vec<u8> = buf[3..3 + len].to_vec();
            buf.drain(..3 + len);
            match kind {
                0 => return Some(Frame::Input(payload)),
                1 if len == 4 => {
                    return Some(Frame::Resize {
                        rows: u16::from_be_bytes([payload[0], payload[1]]),
                        cols: u16::from_be_bytes([payload[2], payload[3]]),
                    })
                }
                _ => continue,
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "kebab-case")]
pub enum Response {
    Status(MonitorState),
    ConsoleLog(String),
    Attached,
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn frames_round_trip_and_wait_for_completeness() {
        let mut buf = Frame::Input(b"ls\r".to_vec()).encode();
        buf.extend(Frame::Resize { rows: 40, cols: 120 }.encode());
        buf.extend(&[9, 0, 1, 0xff]); // unknown kind: skipped
        buf.extend(&Frame::Input(b"x".to_vec()).encode()[..2]); // incomplete
        assert_eq!(Frame::decode(&mut buf), Some(Frame::Input(b"ls\r".to_vec())));
        assert_eq!(Frame::decode(&mut buf), Some(Frame::Resize { rows: 40, cols: 120 }));
        assert_eq!(Frame::decode(&mut buf), None);
        assert_eq!(buf.len(), 2, "the partial frame stays");
    }

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
