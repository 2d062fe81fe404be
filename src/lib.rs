//! sysctr: a system-container manager. See `ARCHITECTURE.md` at the repository root for the
//! layers; each module below names what it may use.

//TMP pub mod api;
pub mod cgroup;
//TMP pub mod cli;
//TMP pub mod client;
//TMP pub mod manager;
//TMP pub mod monitor;
pub mod oci;
pub mod runtime;
pub mod storage;
#[allow(unsafe_code)]
pub mod sys;
