//! Render snapshots: the TestBackend buffer as text, compared with the reviewed files in
//! `src/tui/snapshots/` (`UPDATE_SNAPSHOTS=1` rewrites them; review the diff before a
//! commit). Fixed times and a fixed fleet make them deterministic.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::*;
use crate::tui::app::Msg;
use crate::tui::fixture;

fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test backend");
    term.draw(|f| render(app, f)).expect("draws");
    term.backend().buffer().clone()
}

/// The buffer's text, one line per row, trailing blanks trimmed.
fn text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..b.area.width {
            // A wide character's trailing cell is already covered by its symbol.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let s = b[(x, y)].symbol();
            skip = unicode_width(s).saturating_sub(1);
            line.push_str(s);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}

fn snapshot(name: &str, b: &Buffer) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui/snapshots").join(format!("{name}.txt"));
    let got = text(b);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("snapshot dir");
        std::fs::write(&path, &got).expect("snapshot written");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; UPDATE_SNAPSHOTS=1 writes it", path.display()));
    assert!(got == want, "{name} differs from {}:\n--- got ---\n{got}--- want ---\n{want}", path.display());
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// A small fleet with history, one container selected, a busy one, events and a console tail.
fn fleet_app(color: bool) -> App {
    let mut app = fixture::app(12, 6, color);
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    let name = app.current().expect("a selection").c.name.clone();
    app.update(Msg::Event(api::Event { kind: "container-started".into(), time: fixture::NOW_MS - 60_000, container: Some(name), operation: None }));
    // web2 is being stopped by this dashboard, 12 s ago.
    let web2 = app.view.iter().position(|i| app.entries[*i].c.name == "web2").expect("web2");
    app.update(key(KeyCode::Home));
    for _ in 0..web2 {
        app.update(key(KeyCode::Down));
    }
    app.update(key(KeyCode::Char('x')));
    app.update(key(KeyCode::Char('y')));
    app.update(Msg::Tick { now_ms: app.now_ms + 12_000 });
    app.update(key(KeyCode::Home));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    // The console tail arrives for the selected container; escapes and carriage returns go.
    let text = b"Starting syslogd: OK\r\n\x1b[32mStarting sshd\x1b[0m: OK\nWelcome to Debian\n\ncache1 login: ".to_vec();
    app.update(Msg::Log { name: "cache1".into(), text });
    app
}

#[test]
fn fleet_and_detail_80x24() {
    snapshot("fleet-80x24", &draw(&fleet_app(true), 80, 24));
}

#[test]
fn fleet_and_detail_200x50() {
    snapshot("fleet-200x50", &draw(&fleet_app(true), 200, 50));
}

#[test]
fn zoomed_detail_80x24() {
    let mut app = fleet_app(true);
    app.update(key(KeyCode::Enter));
    snapshot("detail-80x24", &draw(&app, 80, 24));
}

#[test]
fn help_80x24_and_200x50() {
    let mut app = fleet_app(true);
    app.update(key(KeyCode::Char('?')));
    snapshot("help-80x24", &draw(&app, 80, 24));
    snapshot("help-200x50", &draw(&app, 200, 50));
}

#[test]
fn error_line_80x24_and_200x50() {
    let mut app = fleet_app(true);
    app.update(Msg::Failed("stop web2: container web2 is busy: operation 17 (stop web2) is in progress".into()));
    snapshot("error-80x24", &draw(&app, 80, 24));
    snapshot("error-200x50", &draw(&app, 200, 50));
}

#[test]
fn daemon_unreachable_80x24() {
    let mut app = fleet_app(true);
    let at = app.now_ms;
    app.update(Msg::Unreachable { at_ms: at, error: "cannot reach the sysctr daemon on /run/sysctr/sysctr.sock: Connection refused".into() });
    app.update(Msg::Tick { now_ms: at + 3_000 });
    snapshot("unreachable-80x24", &draw(&app, 80, 24));
}

#[test]
fn confirm_delete_and_launch_form_80x24() {
    let mut app = fleet_app(true);
    app.update(key(KeyCode::Char('D')));
    snapshot("confirm-delete-80x24", &draw(&app, 80, 24));
    app.update(key(KeyCode::Char('n')));
    app.update(key(KeyCode::Char('n')));
    app.update(key(KeyCode::Tab));
    for c in "web9".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    snapshot("launch-80x24", &draw(&app, 80, 24));
    // Enter launches; until the container exists, the title bar shows the progress.
    app.update(key(KeyCode::Enter));
    app.update(Msg::Tick { now_ms: app.now_ms + 7_000 });
    let top = text(&draw(&app, 80, 24)).lines().next().unwrap_or_default().to_owned();
    assert!(top.contains("· launching 7 s web9"), "{top}");
}

#[test]
fn a_thousand_rows_show_the_selected_page() {
    let mut app = fixture::app(1000, 2, true);
    app.update(key(KeyCode::End));
    let b = draw(&app, 200, 50);
    let last = app.current().expect("a selection").c.name.clone();
    assert!(text(&b).contains(&last), "the last container is on screen:\n{}", text(&b));
    assert!(!text(&b).contains(" build1 "), "the first page is not:\n{}", text(&b));
}

#[test]
fn no_color_uses_no_colour_at_all() {
    let b = draw(&fleet_app(false), 200, 50);
    for cell in b.content() {
        assert!(cell.fg == Color::Reset && cell.bg == Color::Reset, "a coloured cell under NO_COLOR: {cell:?}");
    }
    // The selection still shows (reversed), and states still differ (bold, dim, italic).
    assert!(b.content().iter().any(|c| c.modifier.contains(Modifier::REVERSED)));
    assert!(b.content().iter().any(|c| c.modifier.contains(Modifier::DIM)));
}

#[test]
fn colours_are_the_sixteen_basic_ones() {
    let b = draw(&fleet_app(true), 200, 50);
    for cell in b.content() {
        for c in [cell.fg, cell.bg] {
            assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?} needs more than 16 colours");
        }
    }
    assert!(b.content().iter().any(|c| c.fg == Color::Green), "running containers are green");
}

#[test]
fn every_size_renders_without_panicking() {
    let app = fleet_app(true);
    for (w, h) in [(1, 1), (19, 2), (20, 3), (40, 10), (80, 24), (120, 30), (159, 40), (160, 40), (250, 60)] {
        draw(&app, w, h);
    }
}
