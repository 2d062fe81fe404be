//! The core without a terminal: messages in, state and effects out, at fixed times.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::tui::fixture::{self, NOW_MS};

fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

fn select(app: &mut App, name: &str) {
    key(app, KeyCode::Home);
    while app.current().is_some_and(|e| e.c.name != name) {
        let before = app.selected;
        key(app, KeyCode::Down);
        assert_ne!(before, app.selected, "{name} not in the view");
    }
}

#[test]
fn rates_come_from_successive_samples() {
    let app = fixture::app(12, 3, true);
    let e = app.entries.iter().find(|e| e.c.name == "ci-runner1").expect("ci-runner1");
    // i = 6: 6/10 of a CPU, 6 x 4096 B received and 1 x 1024 B sent per 2 s sample.
    assert_eq!(e.cpu_percent.map(|p| p.round()), Some(60.0));
    assert_eq!(e.rx_rate, Some(6.0 * 4096.0 / 2.0));
    assert_eq!(e.tx_rate, Some(1024.0 / 2.0));
    assert_eq!(e.cpu_hist.len(), 3);
    // The first sample has no rate yet.
    assert_eq!(e.cpu_hist[0], 0);
    let stopped = app.entries.iter().find(|e| e.c.name == "build1").expect("build1");
    assert_eq!((stopped.cpu_percent, stopped.cpu_hist.len()), (None, 0));
}

#[test]
fn a_restart_does_not_make_a_negative_rate() {
    let mut app = fixture::app(3, 2, true);
    let mut fleet = fixture::fleet(3, 2);
    fleet[0].started = fleet[0].started.map(|s| s + 100);
    fleet[0].usage.as_mut().expect("usage").cpu_ns = Some(1);
    app.update(Msg::Fleet { at_ms: NOW_MS + 4000, containers: fleet });
    assert_eq!(app.entries[0].cpu_percent, None);
}

#[test]
fn sorting_by_any_column_keeps_the_selection() {
    let mut app = fixture::app(24, 2, true);
    select(&mut app, "dns2");
    let mut seen = vec![app.sort];
    for _ in 0..Column::ALL.len() - 1 {
        key(&mut app, KeyCode::Char('o'));
        seen.push(app.sort);
        assert_eq!(app.current().map(|e| e.c.name.as_str()), Some("dns2"), "sorted by {:?}", app.sort);
        assert_eq!(app.view.len(), 24);
    }
    assert_eq!(seen, Column::ALL.to_vec());
    // CPU: biggest first, then reversed with O.
    while app.sort != Column::Cpu {
        key(&mut app, KeyCode::Char('o'));
    }
    let cpu: Vec<f64> = app.view.iter().map(|i| app.entries[*i].cpu_percent.unwrap_or(-1.0)).collect();
    assert!(cpu.windows(2).all(|w| w[0] >= w[1]), "{cpu:?}");
    key(&mut app, KeyCode::Char('O'));
    let cpu: Vec<f64> = app.view.iter().map(|i| app.entries[*i].cpu_percent.unwrap_or(-1.0)).collect();
    assert!(cpu.windows(2).all(|w| w[0] <= w[1]), "{cpu:?}");
}

#[test]
fn typing_a_filter_narrows_and_escape_clears_it() {
    let mut app = fixture::app(24, 1, true);
    key(&mut app, KeyCode::Char('/'));
    for c in "web".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.mode, Mode::Filter);
    let names: Vec<&str> = app.view.iter().map(|i| app.entries[*i].c.name.as_str()).collect();
    assert_eq!(names, ["web1", "web2", "web3"]);
    // Keys typed into the filter are not actions.
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    assert_eq!((app.mode.clone(), app.filter.as_str(), app.view.len()), (Mode::Normal, "web", 3));
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Esc);
    assert_eq!((app.filter.as_str(), app.view.len()), ("", 24));
}

#[test]
fn destructive_actions_ask_first() {
    let mut app = fixture::app(8, 1, true);
    select(&mut app, "web1");
    for (k, action) in [('x', Action::Stop), ('r', Action::Restart), ('K', Action::ForceStop), ('D', Action::Delete { force: true })] {
        assert!(key(&mut app, KeyCode::Char(k)).is_empty());
        assert!(matches!(&app.mode, Mode::Confirm(j) if j.action == action), "{k}: {:?}", app.mode);
        // Anything but y cancels.
        assert!(key(&mut app, KeyCode::Char('n')).is_empty());
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.busy.is_empty());
    }
    key(&mut app, KeyCode::Char('x'));
    let fx = key(&mut app, KeyCode::Char('y'));
    assert_eq!(fx, vec![Effect::Run(Job { name: "web1".into(), action: Action::Stop })]);
    assert_eq!(app.busy["web1"].progress(app.now_ms + 12_000), "stopping 12/30 s");
    // A second action on a busy container is refused on the status line.
    assert!(key(&mut app, KeyCode::Char('s')).is_empty());
    assert!(app.status.as_ref().is_some_and(|s| s.error && s.text.contains("busy")), "{:?}", app.status);
    let done = app.update(Msg::Done { job: Job { name: "web1".into(), action: Action::Stop }, result: Ok(vec![]) });
    assert_eq!(done, vec![Effect::Refresh]);
    assert!(app.busy.is_empty());
    assert_eq!(app.status.as_ref().map(|s| s.text.as_str()), Some("web1 stopped"));
}

#[test]
fn start_and_freeze_need_no_confirmation_and_failures_show() {
    let mut app = fixture::app(8, 1, true);
    select(&mut app, "build1");
    assert_eq!(key(&mut app, KeyCode::Char('s')), vec![Effect::Run(Job { name: "build1".into(), action: Action::Start })]);
    app.update(Msg::Done { job: Job { name: "build1".into(), action: Action::Start }, result: Err("init not found".into()) });
    assert_eq!(app.status.as_ref().map(|s| (s.error, s.text.as_str())), Some((true, "start build1: init not found")));
    // A stopped container has no console.
    assert!(key(&mut app, KeyCode::Char('c')).is_empty());
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("not running")));
    select(&mut app, "web1");
    assert_eq!(key(&mut app, KeyCode::Char('c')), vec![Effect::Console("web1".into())]);
    assert_eq!(key(&mut app, KeyCode::Char('e')), vec![Effect::Shell("web1".into())]);
    assert_eq!(key(&mut app, KeyCode::Char('f')), vec![Effect::Run(Job { name: "web1".into(), action: Action::Freeze })]);
}

#[test]
fn launch_form_takes_image_and_name() {
    let mut app = App::new(NOW_MS, true);
    key(&mut app, KeyCode::Char('n'));
    for _ in 0.."debian".len() {
        key(&mut app, KeyCode::Backspace);
    }
    for c in "alpine/3.20".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    // No name yet: Enter moves to the name field instead of launching.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    for c in "web9".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(fx, vec![Effect::Run(Job { name: "web9".into(), action: Action::Launch { image: "alpine/3.20".into() } })]);
    assert_eq!(app.busy["web9"].progress(NOW_MS + 4_000), "launching 4 s");
}

#[test]
fn events_mark_operations_of_other_clients() {
    let mut app = fixture::app(8, 1, true);
    let op = api::Operation {
        id: "7".into(),
        description: "stop db1".into(),
        status: api::OperationStatus::Running,
        containers: vec!["db1".into()],
        created: NOW_MS / 1000,
        finished: None,
        error: None,
        result: None,
    };
    let fx = app.update(Msg::Event(api::Event { kind: "operation-created".into(), time: NOW_MS, container: None, operation: Some(op.clone()) }));
    assert_eq!(fx, vec![Effect::Refresh]);
    assert_eq!(app.busy["db1"].progress(NOW_MS + 3_000), "stopping 3 s");
    let failed = api::Operation { status: api::OperationStatus::Failure, error: Some("timed out".into()), ..op };
    app.update(Msg::Event(api::Event { kind: "operation-failure".into(), time: NOW_MS + 5_000, container: None, operation: Some(failed) }));
    assert!(app.busy.is_empty());
    assert_eq!(app.events.back().map(|l| l.what.as_str()), Some("stop db1 failed: timed out"));
}

#[test]
fn losing_and_finding_the_daemon() {
    let mut app = fixture::app(4, 1, true);
    app.update(Msg::Unreachable { at_ms: NOW_MS + 1_000, error: "refused".into() });
    app.update(Msg::Unreachable { at_ms: NOW_MS + 2_000, error: "refused".into() });
    assert_eq!(app.link, Link::Down { since_ms: NOW_MS + 1_000, error: "refused".into() });
    // What we knew stays on screen meanwhile.
    assert_eq!(app.entries.len(), 4);
    app.update(Msg::Fleet { at_ms: NOW_MS + 3_000, containers: fixture::fleet(4, 1) });
    assert_eq!(app.link, Link::Up);
    assert_eq!(app.status.as_ref().map(|s| s.text.as_str()), Some("daemon reachable again"));
}

#[test]
fn a_vanished_selection_moves_to_a_neighbour() {
    let mut app = fixture::app(8, 1, true);
    select(&mut app, "web1");
    let last = app.selected;
    let fleet: Vec<_> = fixture::fleet(8, 1).into_iter().filter(|c| c.name != "web1").collect();
    app.update(Msg::Fleet { at_ms: NOW_MS + 2_000, containers: fleet });
    assert_eq!(app.selected, last.min(app.view.len() - 1));
    assert!(app.current().is_some());
    // And an empty fleet leaves nothing selected, without a panic.
    app.update(Msg::Fleet { at_ms: NOW_MS + 4_000, containers: vec![] });
    assert!(app.current().is_none());
    for k in [KeyCode::Down, KeyCode::Up, KeyCode::End, KeyCode::Char('x'), KeyCode::Char('D'), KeyCode::Char('c')] {
        key(&mut app, k);
    }
}

#[test]
fn console_text_is_made_printable() {
    let lines = console_lines(b"a\x1b[1;32mgreen\x1b[0m\r\nprogress 10%\rprogress 100%\n\x1b]0;title\x07tab\there\x08!");
    assert_eq!(lines, ["agreen", "progress 100%", "tab    here!"]);
}

#[test]
fn quitting() {
    let mut app = App::new(NOW_MS, true);
    assert_eq!(key(&mut app, KeyCode::Char('q')), vec![Effect::Quit]);
    let ctrl_c = app.update(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert_eq!(ctrl_c, vec![Effect::Quit]);
    // In the help, q only closes it.
    key(&mut app, KeyCode::Char('?'));
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert_eq!(app.mode, Mode::Normal);
}
