//! Operations: long work (start, stop, launch, image downloads) runs on a thread of its own
//! and is answered at once with 202 and an operation to wait on or cancel. One operation at
//! a time per container: a second gets 409 naming the one in progress.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api;

use super::events::Events;

/// Finished operations are kept this long for `wait` and `GET`.
const KEEP: Duration = Duration::from_secs(300);

struct Entry {
    op: api::Operation,
    cancel: Arc<AtomicBool>,
    finished_at: Option<Instant>,
}

#[derive(Default)]
struct Table {
    ops: BTreeMap<String, Entry>,
    /// Container name -> the id of the operation holding it.
    busy: HashMap<String, String>,
}

pub struct Ops {
    table: Mutex<Table>,
    done: Condvar,
    seq: AtomicU64,
    events: Arc<Events>,
}

/// Why an operation could not be made.
pub struct Busy(pub Box<api::Operation>);

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Ops {
    pub fn new(events: Arc<Events>) -> Ops {
        Ops { table: Mutex::new(Table::default()), done: Condvar::new(), seq: AtomicU64::new(1), events }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start `work` on a thread for `containers` (which it holds until done); the new
    /// operation, or the one in the way. `work` sees the cancel flag through
    /// `crate::sys::cancel`.
    pub fn spawn<F>(self: &Arc<Self>, description: &str, containers: &[String], work: F) -> Result<api::Operation, Busy>
    where
        F: FnOnce() -> Result<serde_json::Value, String> + Send + 'static,
    {
        let id = format!("{:08x}-{:x}", now(), self.seq.fetch_add(1, Ordering::Relaxed));
        let op = api::Operation {
            id: id.clone(),
            description: description.into(),
            status: api::OperationStatus::Running,
            containers: containers.to_vec(),
            created: now(),
            finished: None,
            error: None,
            result: None,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut t = self.lock();
            t.ops.retain(|_, e| e.finished_at.map_or(true, |f| f.elapsed() < KEEP));
            if let Some(other) = containers.iter().find_map(|c| t.busy.get(c)).and_then(|oid| t.ops.get(oid)) {
                return Err(Busy(Box::new(other.op.clone())));
            }
            for c in containers {
                t.busy.insert(c.clone(), id.clone());
            }
            t.ops.insert(id.clone(), Entry { op: op.clone(), cancel: cancel.clone(), finished_at: None });
        }
        self.events.operation("operation-created", &op);
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("op-{id}"))
            .spawn(move || {
                crate::sys::cancel::set(Some(cancel));
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| Err("the operation panicked (a bug in sysctr)".into()));
                crate::sys::cancel::set(None);
                me.finish(&id, outcome);
            })
            .map_err(|e| {
                let mut t = self.lock();
                let mut failed = op.clone();
                failed.status = api::OperationStatus::Failure;
                failed.error = Some(format!("cannot start a thread: {e}"));
                t.busy.retain(|_, v| *v != op.id);
                t.ops.remove(&op.id);
                Busy(Box::new(failed))
            })?;
        Ok(op)
    }

    fn finish(&self, id: &str, outcome: Result<serde_json::Value, String>) {
        let op = {
            let mut t = self.lock();
            let Some(e) = t.ops.get_mut(id) else { return };
            e.finished_at = Some(Instant::now());
            e.op.finished = Some(now());
            let cancelled = e.cancel.load(Ordering::Relaxed);
            match outcome {
                Ok(v) => {
                    e.op.status = api::OperationStatus::Success;
                    e.op.result = Some(v);
                }
                Err(m) if cancelled => {
                    e.op.status = api::OperationStatus::Cancelled;
                    e.op.error = Some(m);
                }
                Err(m) => {
                    e.op.status = api::OperationStatus::Failure;
                    e.op.error = Some(m);
                }
            }
            e.op.clone()
        };
        let kind = match op.status {
            api::OperationStatus::Success => "operation-success",
            api::OperationStatus::Cancelled => "operation-cancelled",
            _ => "operation-failure",
        };
        // Its end is reported before its containers are free: the next operation's events
        // come after.
        self.events.operation(kind, &op);
        self.lock().busy.retain(|_, v| v != id);
        self.done.notify_all();
    }

    /// The operation holding container `name`, if one does.
    pub fn holder(&self, name: &str) -> Option<api::Operation> {
        let t = self.lock();
        t.busy.get(name).and_then(|id| t.ops.get(id)).map(|e| e.op.clone())
    }

    pub fn get(&self, id: &str) -> Option<api::Operation> {
        self.lock().ops.get(id).map(|e| e.op.clone())
    }

    pub fn list(&self) -> Vec<api::Operation> {
        self.lock().ops.values().map(|e| e.op.clone()).collect()
    }

    /// Block until `id` is done or `timeout` passes; its state then.
    pub fn wait(&self, id: &str, timeout: Duration) -> Option<api::Operation> {
        let deadline = Instant::now().checked_add(timeout).unwrap_or_else(|| Instant::now() + Duration::from_secs(86400));
        let mut t = self.lock();
        loop {
            let op = t.ops.get(id)?.op.clone();
            let left = deadline.saturating_duration_since(Instant::now());
            if op.status != api::OperationStatus::Running || left.is_zero() {
                return Some(op);
            }
            t = self.done.wait_timeout(t, left).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Ask a running operation to stop; false when it is no longer running.
    pub fn cancel(&self, id: &str) -> Option<bool> {
        let t = self.lock();
        let e = t.ops.get(id)?;
        if e.op.status != api::OperationStatus::Running {
            return Some(false);
        }
        e.cancel.store(true, Ordering::Relaxed);
        Some(true)
    }

    /// Operations still running (for a clean shutdown of the daemon).
    pub fn running(&self) -> usize {
        self.lock().ops.values().filter(|e| e.op.status == api::OperationStatus::Running).count()
    }
}
