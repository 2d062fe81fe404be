//! The dashboard's frame budget: one update (a refresh of 1,000 containers, or a key that
//! re-sorts them) plus one render, at 200x50 and 80x24, into ratatui's TestBackend (the
//! same buffers and diff a terminal gets, without the terminal's own write). Prints the
//! median, 95th percentile and worst of many rounds; the budget is 16 ms (60 frames/s).
//! Wall-clock time: on a shared machine it includes waiting for a CPU (say the load).
//!
//!     cargo bench --bench tui            # ROUNDS=500 for more

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sysctr::tui::app::Msg;
use sysctr::tui::{fixture, ui};

const FLEET: usize = 1000;

fn timed(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

fn stats(mut t: Vec<Duration>) -> (Duration, Duration, Duration) {
    t.sort();
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), t[t.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let rounds: u64 = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(200);
    println!("sysctr tui frame benchmark: {FLEET} containers, {rounds} rounds each, budget 16 ms");
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let mut app = fixture::app(FLEET, 2, true);
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test backend");
        // Mid-table, so the page shown is not simply the first.
        for _ in 0..FLEET / 2 {
            app.update(Msg::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
        }
        let (mut refresh, mut update, mut render, mut key) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            // The fleet as the client hands it over is made outside the clock.
            let tick = 2 + r;
            let containers = fixture::fleet(FLEET, tick);
            let u = timed(|| {
                app.update(Msg::Fleet { at_ms: fixture::NOW_MS + tick * 2000, containers });
            });
            let d = timed(|| {
                term.draw(|f| ui::render(&app, f)).expect("draws");
            });
            refresh.push(u + d);
            update.push(u);
            render.push(d);

            // A key that re-sorts all of them (o: the next column).
            key.push(timed(|| {
                app.update(Msg::Key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::NONE)));
                term.draw(|f| ui::render(&app, f)).expect("draws");
            }));
        }
        for (what, t) in [("refresh + render", refresh), ("  refresh alone", update), ("  render alone", render), ("sort key + render", key)] {
            let (median, p95, max) = stats(t);
            println!("{w}x{h}  {what:<18} median {}  p95 {}  max {}", ms(median), ms(p95), ms(max));
        }
    }
}
