//! The event stream: lifecycle (`container-started`, `container-stopped`, ...) and
//! operation (`operation-created`, `operation-success`, ...) events, one JSON object per
//! line, to every subscriber of `GET /1.0/events`.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::api;

#[derive(Default)]
pub struct Events {
    subscribers: Mutex<Vec<SyncSender<String>>>,
}

impl Events {
    pub fn subscribe(&self) -> Receiver<String> {
        // A subscriber that falls this far behind is dropped, not buffered without end.
        let (tx, rx) = sync_channel(4096);
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    fn send(&self, ev: &api::Event) {
        let line = serde_json::to_string(ev).expect("events serialise");
        // A subscriber that went away, or stopped reading, is dropped here.
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.try_send(line.clone()).is_ok());
    }

    pub fn lifecycle(&self, kind: &str, container: &str) {
        self.send(&api::Event { kind: kind.into(), time: now_ms(), container: Some(container.into()), operation: None });
    }

    pub fn operation(&self, kind: &str, op: &api::Operation) {
        self.send(&api::Event { kind: kind.into(), time: now_ms(), container: None, operation: Some(op.clone()) });
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
