//! What the CLI and TUI call. Today it drives the manager in-process (the CLI is the only
//! front end); the daemon issue puts the REST API behind these same methods.

use std::time::Duration;

use crate::api;
use crate::manager::Manager;


pub use crate::manager::Error;
pub use crate::manager::{Ended, Escape};
pub use crate::storage::Paths;
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub struct Client {
    manager: Manager,
}

impl Client {
    pub fn local(paths: Paths) -> Result<Self> {
        Ok(Client { manager: Manager::new(paths)? })
    }

    /// The container, and notes worth showing (downloads, builds, template warnings).
    pub fn create(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        self.manager.create(req)
    }
    /// Create from an image and boot; returns once init runs.
    pub fn launch(&self, req: &api::ContainersPost) -> Result<(api::Container, Vec<String>)> {
        self.manager.launch(req)
    }
    pub fn image_list(&self) -> Result<Vec<api::Image>> {
        self.manager.image_list()
    }
    pub fn image_info(&self, name: &str) -> Result<api::Image> {
        self.manager.image_info(name)
    }
    /// The fingerprint of the image deleted.
    pub fn image_delete(&self, name: &str) -> Result<String> {
        self.manager.image_delete(name)
    }
    pub fn image_import(&self, req: &api::ImagesPost) -> Result<api::Image> {
        self.manager.image_import(req)
    }
    pub fn image_export(&self, name: &str, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
        self.manager.image_export(name, dir)
    }
    pub fn image_build(&self, name: &str) -> Result<(api::Image, Vec<String>)> {
        self.manager.image_build(name)
    }
    pub fn image_alias_add(&self, alias: &str, target: &str) -> Result<()> {
        self.manager.image_alias_add(alias, target)
    }
    pub fn image_alias_remove(&self, alias: &str) -> Result<()> {
        self.manager.image_alias_remove(alias)
    }
    pub fn image_aliases(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.manager.image_aliases()
    }
    pub fn remote_list(&self) -> Result<Vec<api::Remote>> {
        self.manager.remote_list()
    }
    pub fn remote_add(&self, name: &str, url: &str, protocol: Option<&str>) -> Result<api::Remote> {
        self.manager.remote_add(name, url, protocol)
    }
    pub fn remote_remove(&self, name: &str) -> Result<()> {
        self.manager.remote_remove(name)
    }
    /// Warnings worth showing come back on success.
    pub fn start(&self, name: &str) -> Result<Vec<String>> {
        self.manager.start(name)
    }
    pub fn stop(&self, name: &str, timeout: Duration, force: bool) -> Result<()> {
        self.manager.stop(name, timeout, force)
    }
    pub fn restart(&self, name: &str, timeout: Duration, force: bool) -> Result<Vec<String>> {
        self.manager.restart(name, timeout, force)
    }
    /// Freeze (`true`) or thaw a running container.
    pub fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        self.manager.freeze(name, frozen)
    }
    pub fn delete(&self, name: &str, force: bool) -> Result<()> {
        self.manager.delete(name, force)
    }
    pub fn list(&self) -> Result<Vec<api::Container>> {
        self.manager.list()
    }
    pub fn info(&self, name: &str) -> Result<api::Container> {
        self.manager.info(name)
    }
    /// `info` with CPU use measured over `interval` (this call takes that long).
    pub fn info_sampled(&self, name: &str, interval: Duration) -> Result<api::Container> {
        self.manager.info_sampled(name, interval)
    }
    pub fn network_list(&self) -> Result<Vec<api::Network>> {
        self.manager.network_list()
    }
    pub fn network_show(&self, name: &str) -> Result<api::Network> {
        self.manager.network_show(name)
    }
    /// The new network, and warnings about the host's firewall.
    pub fn network_create(&self, req: &api::NetworksPost) -> Result<(api::Network, Vec<String>)> {
        self.manager.network_create(req)
    }
    pub fn network_delete(&self, name: &str) -> Result<()> {
        self.manager.network_delete(name)
    }
    pub fn network_set(&self, name: &str, key: &str, value: &str) -> Result<(api::Network, Vec<String>)> {
        self.manager.network_set(name, key, value)
    }
    /// An error naming the known keys when `key` is none of them.
    pub fn check_key(&self, key: &str) -> Result<()> {
        crate::storage::known_key(key).map(drop).map_err(Into::into)
    }
    /// Set and unset configuration keys; live keys apply to a running container at once.
    pub fn update_config(&self, name: &str, patch: &api::ConfigPatch) -> Result<api::Container> {
        self.manager.update_config(name, patch)
    }
    /// Attach this terminal to the container's console; how it ended.
    pub fn console(&self, name: &str, escape: u8, replay: bool) -> Result<Ended> {
        self.manager.console(name, escape, replay)
    }
    pub fn console_log(&self, name: &str) -> Result<Vec<u8>> {
        self.manager.console_log(name)
    }
    /// Runs a command in the container with this process's stdio; this process becomes the
    /// exec helper and ends with the command's exit status.
    pub fn exec(&self, name: &str, req: &api::ExecPost) -> Result<i32> {
        self.manager.exec(name, req)
    }
}
