//! The I/O around the pure core: the terminal (raw mode and the alternate screen, restored
//! on every way out, a panic included) and the threads that turn the daemon into messages:
//! the event stream, the stats refresh, the console tail, and one thread per action. The
//! main thread only reads keys, applies messages and draws.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::app::{Action, App, Effect, Msg};
use crate::api;
use crate::client::{self, Client, Ended};

/// How long a key may wait for the screen: the input poll's timeout.
const INPUT_POLL: Duration = Duration::from_millis(50);
/// Events arrive in bursts (operation created, container stopped, operation done): one
/// refresh for the burst.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// How often to try a daemon that does not answer.
const RETRY: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Run the dashboard on this terminal until the user quits. `client` may start the
/// embedded default daemon once, at the first refresh; later the dashboard waits for a
/// daemon that went away rather than start another.
pub fn run(client: &Client, interval: Duration) -> io::Result<()> {
    let color = std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    let quiet = client.without_autostart();
    let (tx, rx) = mpsc::channel::<Msg>();
    let (wake_tx, wake_rx) = mpsc::channel::<()>();
    let (log_tx, log_rx) = mpsc::channel::<String>();
    {
        let (first, c, tx) = (client.clone(), quiet.clone(), tx.clone());
        std::thread::Builder::new().name("tui-stats".into()).spawn(move || stats(first, c, interval, tx, wake_rx))?;
    }
    {
        let (c, tx, wake) = (quiet.clone(), tx.clone(), wake_tx.clone());
        std::thread::Builder::new().name("tui-events".into()).spawn(move || events(c, tx, wake))?;
    }
    {
        let (c, tx) = (quiet.clone(), tx.clone());
        std::thread::Builder::new().name("tui-log".into()).spawn(move || console_tail(c, tx, log_rx))?;
    }

    // SIGTERM and SIGINT end the dashboard through the same door as `q`: the terminal is put
    // back. (An attached console relays them to its guest meanwhile.) SIGHUP keeps its
    // default: the terminal is gone, and crossterm would read its end-of-file forever.
    let ended = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, ended.clone())?;
    }
    let _guard = Screen::enter()?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    term.clear()?;
    let mut app = App::new(now_ms(), color);
    let mut dirty = true;
    let mut last_tick = Instant::now();
    loop {
        if ended.load(Ordering::Relaxed) {
            return Ok(());
        }
        if dirty {
            term.draw(|f| super::ui::render(&app, f))?;
            dirty = false;
        }
        let mut msgs = Vec::new();
        if event::poll(INPUT_POLL)? {
            match event::read()? {
                TermEvent::Key(k) if k.kind == KeyEventKind::Press => msgs.push(Msg::Key(k)),
                TermEvent::Resize(..) => dirty = true,
                _ => {}
            }
        }
        msgs.extend(rx.try_iter());
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            msgs.push(Msg::Tick { now_ms: now_ms() });
        }
        for m in msgs {
            dirty = true;
            for fx in app.update(m) {
                match fx {
                    Effect::Quit => return Ok(()),
                    Effect::Refresh => {
                        let _ = wake_tx.send(());
                    }
                    Effect::FetchLog(name) => {
                        let _ = log_tx.send(name);
                    }
                    Effect::Run(job) => {
                        let (c, tx) = (quiet.clone(), tx.clone());
                        std::thread::Builder::new().name("tui-job".into()).spawn(move || {
                            let result = perform(&c, &job.name, &job.action).map_err(|e| e.to_string());
                            let _ = tx.send(Msg::Done { job, result });
                        })?;
                    }
                    Effect::Console(name) => {
                        let r = suspended(&mut term, || console(&quiet, &name))?;
                        // The clock first: the note about it must not look minutes old.
                        let _ = tx.send(Msg::Tick { now_ms: now_ms() });
                        let _ = tx.send(Msg::Returned(r));
                    }
                    Effect::Shell(name) => {
                        let r = suspended(&mut term, || shell(&quiet, &name))?;
                        let _ = tx.send(Msg::Tick { now_ms: now_ms() });
                        let _ = tx.send(Msg::Returned(r));
                    }
                }
            }
        }
    }
}

/// The terminal in the dashboard's modes while it lives; put back when it drops, and by
/// the panic hook it installs.
struct Screen;

impl Screen {
    fn enter() -> io::Result<Screen> {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        terminal::enable_raw_mode()?;
        let screen = Screen;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
        let _ = std::panic::take_hook();
    }
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Give the terminal to `f` (a console, a shell) as a normal terminal, then take it back.
fn suspended<T>(term: &mut Terminal<CrosstermBackend<io::Stdout>>, f: impl FnOnce() -> T) -> io::Result<T> {
    restore();
    let r = f();
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    term.clear()?;
    Ok(r)
}

fn console(c: &Client, name: &str) -> Result<String, String> {
    // Ctrl-a (1) then q detaches, as with `sysctr console`; replay shows what came before.
    match c.console(name, 1, true) {
        Ok(Ended::Detached) => Ok(format!("detached from the console of {name}")),
        Ok(Ended::Closed) => Ok(format!("the console of {name} closed (the container stopped)")),
        Ok(Ended::Failed(code)) => Err(format!("console {name}: could not attach (exit {code})")),
        Err(e) => Err(format!("console {name}: {e}")),
    }
}

fn shell(c: &Client, name: &str) -> Result<String, String> {
    let req = api::ExecPost { command: vec!["su".into(), "-l".into(), "root".into()], interactive: true, term: std::env::var("TERM").ok(), ..Default::default() };
    match c.exec(name, &req) {
        Ok(code) => Ok(format!("shell on {name} ended (exit {code})")),
        Err(e) => Err(format!("shell {name}: {e}")),
    }
}

fn perform(c: &Client, name: &str, action: &Action) -> client::Result<Vec<String>> {
    let timeout = Duration::from_secs(super::app::STOP_TIMEOUT_S);
    match action {
        Action::Start => c.start(name),
        Action::Stop => c.stop(name, timeout, false).map(|()| vec![]),
        Action::Restart => c.restart(name, timeout, false),
        Action::ForceStop => c.stop(name, Duration::ZERO, true).map(|()| vec![]),
        Action::Delete { force } => c.delete(name, *force).map(|()| vec![]),
        Action::Freeze => c.freeze(name, true).map(|()| vec![]),
        Action::Unfreeze => c.freeze(name, false).map(|()| vec![]),
        Action::Launch { image } => {
            let req = api::ContainersPost { name: name.into(), image: Some(image.clone()), ..Default::default() };
            c.launch(&req).map(|(_, notes)| notes)
        }
    }
}

/// The whole fleet every `interval`, or sooner when woken (an event, a key); every second
/// while the daemon does not answer. `first` makes the first call (it may start the
/// embedded default daemon); `c` every later one.
fn stats(first: Client, c: Client, interval: Duration, tx: Sender<Msg>, wake: Receiver<()>) {
    let mut r = first.list();
    loop {
        let at_ms = now_ms();
        let msg = match r {
            Ok(containers) => Msg::Fleet { at_ms, containers },
            Err(client::Error::Daemon(error)) => Msg::Unreachable { at_ms, error },
            Err(e) => Msg::Failed(format!("refresh: {e}")),
        };
        let wait = if matches!(msg, Msg::Unreachable { .. }) { RETRY } else { interval };
        if tx.send(msg).is_err() {
            return;
        }
        match wake.recv_timeout(wait) {
            Ok(()) => {
                std::thread::sleep(DEBOUNCE);
                while wake.try_recv().is_ok() {}
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        r = c.list();
    }
}

/// The daemon's events as they come; reconnect when the stream ends (the daemon went
/// away: the stats refresh says so, woken at once).
fn events(c: Client, tx: Sender<Msg>, wake: Sender<()>) {
    loop {
        if let Ok(stream) = c.events() {
            // Connected (again): what happened meanwhile shows at the next refresh.
            let _ = wake.send(());
            for ev in stream {
                match ev {
                    Ok(ev) => {
                        if tx.send(Msg::Event(ev)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            if wake.send(()).is_err() {
                return;
            }
        }
        std::thread::sleep(RETRY);
    }
}

/// The console log of the container asked for last (a held arrow key asks for many).
fn console_tail(c: Client, tx: Sender<Msg>, ask: Receiver<String>) {
    while let Ok(mut name) = ask.recv() {
        while let Ok(newer) = ask.try_recv() {
            name = newer;
        }
        if let Ok(text) = c.console_log(&name) {
            if tx.send(Msg::Log { name, text }).is_err() {
                return;
            }
        }
    }
}
