//! A per-thread cancellation flag: the daemon sets it on the thread running an operation,
//! and long loops deep below (downloads, waiting for a halt) look at it between steps.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

thread_local! {
    static FLAG: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Give this thread a flag (None: no longer cancellable).
pub fn set(flag: Option<Arc<AtomicBool>>) {
    FLAG.with(|f| *f.borrow_mut() = flag);
}

/// Has the work on this thread been cancelled?
pub fn requested() -> bool {
    FLAG.with(|f| f.borrow().as_ref().is_some_and(|a| a.load(Ordering::Relaxed)))
}
