//! sysctr: a system-container manager. See `ARCHITECTURE.md` at the repository root for the
//! layers; each module below names what it may use.

pub mod api;
pub mod cgroup;
pub mod cli;
pub mod client;
pub mod daemon;
pub mod image;
pub mod manager;
pub mod monitor;
pub mod network;
pub mod oci;
pub mod runtime;
pub mod storage;
pub mod tui;
pub mod wire;
#[allow(unsafe_code)]
pub mod sys;
