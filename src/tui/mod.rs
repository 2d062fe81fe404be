//! `sysctr tui`: the live fleet dashboard. A pure core, [`app::App`] (`update(Msg) ->
//! Vec<Effect>`) and [`ui::render`] (reads only), under a thin shell that owns the terminal
//! and the threads: the daemon's event stream, a stats refresh every few seconds, and one
//! thread per action so the screen never waits on the daemon. It knows the daemon only
//! through `client` and `api`.

pub mod app;
#[doc(hidden)]
pub mod fixture;
mod fleet;
mod shell;
pub mod ui;
mod units;

pub use shell::run;
