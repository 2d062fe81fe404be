//! Drawing: `render(&App, &mut Frame)` only reads the state. The table builds rows for the
//! visible page alone, so a thousand containers cost what a screenful does.

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use super::app::{App, Column, Entry, Link, Mode};
use super::units::{age, rate, size, sparkline};
use crate::api;

/// Side by side from this width; the detail pane goes below the table on narrower screens.
const SIDE_BY_SIDE: u16 = 160;

/// Every key, as the help overlay lists it.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  k j", "select"),
    ("PgUp PgDn", "a page up / down"),
    ("g G  Home End", "first / last"),
    ("Enter", "detail pane full screen (again: back)"),
    ("/", "filter by name, state, image, address"),
    ("o  O", "sort by the next column / reverse"),
    ("s", "start"),
    ("x", "stop (asks)"),
    ("r", "restart (asks)"),
    ("K", "force-stop: kill at once (asks)"),
    ("D", "delete (asks)"),
    ("f", "freeze / thaw"),
    ("n", "launch: image and name"),
    ("c", "console (Ctrl-a q comes back)"),
    ("e", "shell (exit comes back)"),
    ("R", "refresh now"),
    ("Esc", "close, clear the status line"),
    ("?", "this help"),
    ("q  Ctrl-c", "quit"),
];

/// Styles that read on 16-colour terminals, and without colour at all (`NO_COLOR`).
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn state(&self, e: &Entry, busy: bool) -> Style {
        if e.c.error.is_some() {
            return self.fg(Color::Red).add_modifier(Modifier::BOLD);
        }
        if busy {
            return self.fg(Color::Yellow).add_modifier(Modifier::BOLD);
        }
        match (e.c.status, self.color) {
            (api::Status::Running, _) => self.fg(Color::Green),
            (api::Status::Frozen, true) => self.fg(Color::Cyan),
            (api::Status::Frozen, false) => Style::new().add_modifier(Modifier::ITALIC),
            (api::Status::Stopping, _) => self.fg(Color::Yellow),
            (api::Status::Stopped, true) => self.fg(Color::DarkGray),
            (api::Status::Stopped, false) => Style::new().add_modifier(Modifier::DIM),
        }
    }
    fn head(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn error(&self) -> Style {
        if self.color {
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }
    fn label(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
}

pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    if area.height < 3 || area.width < 20 {
        f.render_widget(Paragraph::new("sysctr tui: too small"), area);
        return;
    }
    let t = Theme { color: app.color };
    let header = Rect { height: 1, ..area };
    // A long error gets the lines it needs, up to three.
    let status = status_text(app, &t, area.width);
    let fh = (status.width() as u16).div_ceil(area.width).clamp(1, 3).min(area.height - 2);
    let footer = Rect { y: area.bottom() - fh, height: fh, ..area };
    let body = Rect { y: area.y + 1, height: area.height - 1 - fh, ..area };
    title_bar(app, &t, f, header);
    f.render_widget(Paragraph::new(status).wrap(ratatui::widgets::Wrap { trim: false }), footer);
    let sel = app.current();
    if app.zoom {
        detail(app, &t, sel, f, body);
    } else if body.width >= SIDE_BY_SIDE {
        // The table takes what its columns use (up to 125), the detail pane the rest.
        let p = plan(app, Rect { width: 125, ..body });
        let left = p.used.max(60);
        table(app, &t, f, Rect { width: left, ..body }, p);
        detail(app, &t, sel, f, Rect { x: body.x + left, width: body.width - left, ..body });
    } else {
        // The table gets what its rows need, up to half; the detail pane the rest.
        let want = app.view.len() as u16 + 1;
        let h = want.clamp(4.min(body.height), (body.height / 2).max(4).min(body.height));
        let area = Rect { height: h, ..body };
        table(app, &t, f, area, plan(app, area));
        if body.height > h + 3 {
            detail(app, &t, sel, f, Rect { y: body.y + h, height: body.height - h, ..body });
        }
    }
    match &app.mode {
        Mode::Help => help(&t, f, area),
        Mode::Confirm(job) => {
            let q = job.question().unwrap_or_default();
            let lines = vec![Line::from(q), Line::from(""), Line::from(vec![Span::styled("y", t.label()), Span::raw(": yes   "), Span::styled("any other key", t.label()), Span::raw(": no")])];
            dialog(&t, f, area, &format!(" {} {} ", job.action.verb(), job.name), lines, true);
        }
        Mode::Launch(form) => {
            let field = |label: &str, v: &str, on: bool| {
                let cursor = if on { "█" } else { "" };
                let style = if on { t.selected() } else { Style::new() };
                Line::from(vec![Span::styled(format!("{label:<7}"), t.label()), Span::styled(format!("{v}{cursor}"), style)])
            };
            let lines = vec![
                field("Image", &form.image, form.field == 0),
                field("Name", &form.name, form.field == 1),
                Line::from(""),
                Line::styled("Tab: next field   Enter: launch   Esc: cancel", t.dim()),
            ];
            dialog(&t, f, area, " launch ", lines, false);
        }
        Mode::Normal | Mode::Filter => {}
    }
}

fn title_bar(app: &App, t: &Theme, f: &mut Frame, area: Rect) {
    let running = app.entries.iter().filter(|e| e.c.status == api::Status::Running).count();
    let frozen = app.entries.iter().filter(|e| e.c.status == api::Status::Frozen).count();
    let mut left = vec![
        Span::styled(" sysctr ", t.label()),
        Span::raw(format!(" {} containers · {running} running", app.entries.len())),
    ];
    if frozen > 0 {
        left.push(Span::raw(format!(" · {frozen} frozen")));
    }
    // Work on containers the table has no row for yet (a launch fetching its image).
    for (name, b) in app.busy.iter().filter(|(n, _)| !app.entries.iter().any(|e| &e.c.name == *n)) {
        left.push(Span::styled(format!(" · {} {name}", b.progress(app.now_ms)), t.fg(Color::Yellow).add_modifier(Modifier::BOLD)));
    }
    let arrow = if app.descending { "▼" } else { "▲" };
    left.push(Span::styled(format!("   sort {} {arrow}", app.sort.title()), t.dim()));
    if !app.filter.is_empty() {
        left.push(Span::raw(format!("   filter \"{}\": {} shown", app.filter, app.view.len())));
    }
    let left = Line::from(left);
    let used = left.width().min(usize::from(u16::MAX)) as u16;
    f.render_widget(Paragraph::new(left), area);
    let right = match &app.link {
        Link::Connecting => Span::styled("connecting… ", t.dim()),
        Link::Up => Span::styled(format!("updated {} ago ", age(app.updated_ms.map_or(0, |u| app.now_ms.saturating_sub(u)) / 1000)), t.dim()),
        Link::Down { .. } => Span::styled(" daemon unreachable ", t.error()),
    };
    let w = right.width() as u16;
    // Only where the left part leaves room for it.
    if area.width > used.saturating_add(w) {
        f.render_widget(Paragraph::new(right).alignment(Alignment::Right), Rect { x: area.right() - w, width: w, ..area });
    }
}

/// The bottom line: the filter being typed, the daemon's absence, the last note or error,
/// else the main keys.
fn status_text<'a>(app: &'a App, t: &Theme, width: u16) -> Line<'a> {
    if app.mode == Mode::Filter {
        Line::from(vec![Span::styled("/", t.label()), Span::raw(app.filter.clone()), Span::raw("█"), Span::styled("   Enter: keep   Esc: clear", t.dim())])
    } else if let Link::Down { since_ms, error } = &app.link {
        let s = app.now_ms.saturating_sub(*since_ms) / 1000;
        Line::styled(format!(" daemon unreachable, retrying ({s} s): {error}"), t.error())
    } else if let Some(s) = &app.status {
        if s.error {
            Line::styled(format!(" error: {}", s.text), t.error())
        } else {
            Line::from(Span::raw(format!(" {}", s.text)))
        }
    } else {
        let hints = [("?", "help"), ("/", "filter"), ("o", "sort"), ("s", "start"), ("x", "stop"), ("r", "restart"), ("D", "delete"), ("n", "launch"), ("c", "console"), ("e", "shell"), ("q", "quit")];
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1;
        // As many as fit on the line; `?` lists them all.
        for (k, what) in hints {
            used += k.len() + what.len() + 3;
            if used > width as usize {
                break;
            }
            spans.push(Span::styled(k, t.label()));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    }
}

/// One cell's text.
fn cell(app: &App, e: &Entry, col: Column) -> String {
    let u = e.c.usage.as_ref();
    let dash = || "-".to_owned();
    match col {
        Column::Name => e.c.name.clone(),
        Column::State => match app.busy.get(&e.c.name) {
            Some(b) => b.progress(app.now_ms),
            None if e.c.error.is_some() => "ERROR".into(),
            None => e.c.status.to_string(),
        },
        Column::Ipv4 => e.ipv4().first().map(|s| s.to_string()).unwrap_or_else(dash),
        Column::Image => e.c.image.as_ref().map(|i| i.name.clone()).unwrap_or_else(dash),
        Column::Cpu => e.cpu_percent.map(|p| format!("{p:.1}")).unwrap_or_else(dash),
        Column::Memory => match (u.and_then(|u| u.memory), u.and_then(|u| u.memory_limit)) {
            (Some(m), Some(l)) => format!("{}/{}", size(m), size(l)),
            (Some(m), None) => size(m),
            _ => dash(),
        },
        Column::Pids => u.and_then(|u| u.pids).map(|p| p.to_string()).unwrap_or_else(dash),
        Column::Net => match (e.rx_rate, e.tx_rate) {
            (Some(r), Some(t)) => format!("{}/{}", rate(r), rate(t)),
            _ => dash(),
        },
        Column::Uptime => e.c.started.filter(|_| e.c.pid.is_some()).map(|s| age((app.now_ms / 1000).saturating_sub(s))).unwrap_or_else(dash),
        Column::Autostart => if e.autostart() { "yes" } else { "no" }.into(),
    }
}

/// What the table shows in an area: the page of rows, their cells, the columns that fit
/// (index, column, width) and the width they take.
struct Plan<'a> {
    offset: usize,
    page: Vec<&'a Entry>,
    cells: Vec<Vec<String>>,
    cols: Vec<(usize, Column, usize)>,
    used: u16,
}

fn plan<'a>(app: &'a App, area: Rect) -> Plan<'a> {
    let rows_h = area.height.saturating_sub(1).max(1) as usize;
    // Page by page: the selection moves within a page; a page turns as a whole.
    let offset = app.selected / rows_h * rows_h;
    let page: Vec<&Entry> = app.view.iter().skip(offset).take(rows_h).filter_map(|i| app.entries.get(*i)).collect();
    let cells: Vec<Vec<String>> = page.iter().map(|e| Column::ALL.iter().map(|c| cell(app, e, *c)).collect()).collect();
    // Columns by importance, while they fit.
    let priority = [Column::Name, Column::State, Column::Cpu, Column::Memory, Column::Pids, Column::Ipv4, Column::Uptime, Column::Net, Column::Image, Column::Autostart];
    let width_of = |c: Column| {
        let i = Column::ALL.iter().position(|x| *x == c).unwrap_or(0);
        let title = c.title().len() + usize::from(c == app.sort);
        let w = cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(title);
        match c {
            Column::Name => w.clamp(8, 24),
            Column::State => w.max(8),
            _ => w,
        }
    };
    let mut shown = Vec::new();
    let mut used = 0usize;
    for c in priority {
        let w = width_of(c);
        if used + w < area.width as usize || shown.is_empty() {
            used += w + 1;
            shown.push((c, w));
        }
    }
    let cols: Vec<(usize, Column, usize)> = Column::ALL.iter().enumerate().filter_map(|(i, c)| shown.iter().find(|(s, _)| s == c).map(|(_, w)| (i, *c, *w))).collect();
    Plan { offset, page, cells, cols, used: used.min(u16::MAX as usize) as u16 }
}

fn table(app: &App, t: &Theme, f: &mut Frame, area: Rect, plan: Plan) {
    let Plan { offset, page, cells, cols, .. } = plan;
    let head = Row::new(cols.iter().map(|(_, c, _)| {
        let mark = if *c == app.sort { if app.descending { "▼" } else { "▲" } } else { "" };
        format!("{}{mark}", c.title())
    }))
    .style(t.head());
    let rows = page.iter().zip(&cells).enumerate().map(|(n, (e, r))| {
        let busy = app.busy.contains_key(&e.c.name);
        let row = Row::new(cols.iter().map(|(i, c, _)| {
            let text = r[*i].clone();
            if *c == Column::State {
                ratatui::widgets::Cell::from(text).style(t.state(e, busy))
            } else {
                ratatui::widgets::Cell::from(text)
            }
        }));
        if offset + n == app.selected {
            row.style(t.selected())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = cols.iter().map(|(_, _, w)| Constraint::Length(*w as u16)).collect();
    f.render_widget(Table::new(rows, widths).header(head).column_spacing(1), area);
    if app.view.is_empty() {
        let msg = match (&app.link, app.filter.is_empty()) {
            (Link::Connecting, _) => "waiting for the daemon…",
            (_, false) => "no container matches the filter (Esc on / clears it)",
            _ => "no containers yet: n launches one",
        };
        if area.height > 1 {
            f.render_widget(Paragraph::new(Line::styled(format!(" {msg}"), t.dim())), Rect { y: area.y + 1, height: 1, ..area });
        }
    }
}

fn detail(app: &App, t: &Theme, e: Option<&Entry>, f: &mut Frame, area: Rect) {
    let Some(e) = e else {
        f.render_widget(Block::new().borders(Borders::TOP).title(" detail "), area);
        return;
    };
    let c = &e.c;
    let block = Block::new().borders(Borders::ALL).title(Line::from(vec![Span::raw(" "), Span::styled(c.name.clone(), t.label()), Span::raw(" ")]));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let u = c.usage.as_ref();
    let lab = |s: &str| Span::styled(format!("{s:<7}"), t.label());
    let busy = app.busy.get(&c.name);
    let mut lines: Vec<Line> = Vec::new();

    let mut first = vec![Span::styled(cell(app, e, Column::State), t.state(e, busy.is_some()))];
    if let Some(p) = c.pid {
        first.push(Span::raw(format!("  pid {p}")));
    }
    if c.pid.is_some() && !c.monitor_alive {
        first.push(Span::styled("  monitor lost: no console until the next start", t.error()));
    }
    first.push(Span::raw(format!("  up {}", cell(app, e, Column::Uptime))));
    first.push(Span::raw(format!("  {} · image {} · autostart {}", c.runtime, cell(app, e, Column::Image), cell(app, e, Column::Autostart))));
    lines.push(Line::from(first));
    if let Some(err) = &c.error {
        lines.push(Line::styled(format!("config error: {err}"), t.error()));
    }
    // Numbers first, then as much history as the width allows.
    let spark_w = |text: &str| w.saturating_sub(7 + text.chars().count() + 2).min(60);
    let cpu_limit = [c.config.get("limits.cpu").map(|v| format!("{v} cpus")), c.config.get("limits.cpu.allowance").cloned()].into_iter().flatten().collect::<Vec<_>>().join(", ");
    let cpu = format!("{}%  {}", e.cpu_percent.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into()), if cpu_limit.is_empty() { "no limit".into() } else { cpu_limit });
    let mem = match u.and_then(|u| u.memory) {
        Some(m) => {
            let lim = u.and_then(|u| u.memory_limit);
            let pct = lim.filter(|l| *l > 0).map(|l| format!(" ({}%)", m * 100 / l)).unwrap_or_default();
            format!("{} / {}{pct}  peak {}", size(m), lim.map(size).unwrap_or_else(|| "no limit".into()), u.and_then(|u| u.memory_peak).map(size).unwrap_or_else(|| "-".into()))
        }
        None => "-".into(),
    };
    let net = match (e.rx_rate, e.tx_rate) {
        (Some(r), Some(tx)) => format!("rx {}/s  tx {}/s", rate(r), rate(tx)),
        _ => "-".into(),
    };
    let mem_max = u.and_then(|u| u.memory_limit).unwrap_or(0);
    for (label, text, hist, max) in [("CPU", cpu, &e.cpu_hist, 0), ("Memory", mem, &e.mem_hist, mem_max), ("Net", net, &e.net_hist, 0)] {
        let sw = spark_w(&text);
        let mut spans = vec![lab(label), Span::raw(text.clone())];
        if sw >= 4 && !hist.is_empty() {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(sparkline(hist.iter().copied(), sw.min(hist.len()), max), t.fg(Color::Green)));
        }
        lines.push(Line::from(spans));
    }
    if let Some(u) = u {
        let pids = format!("{} / {}", u.pids.map(|p| p.to_string()).unwrap_or_else(|| "-".into()), u.pids_limit.map(|p| p.to_string()).unwrap_or_else(|| "no limit".into()));
        let extra = format!("   swap {}   OOM kills {}", u.swap.map(size).unwrap_or_else(|| "-".into()), u.oom_kills.map(|o| o.to_string()).unwrap_or_else(|| "-".into()));
        lines.push(Line::from(vec![lab("PIDs"), Span::raw(pids + &extra)]));
        let psi = match &u.pressure {
            Some(p) => format!("cpu {:.2}%  memory {:.2}%/{:.2}%  io {:.2}%/{:.2}%  (avg10 some/full)", p.cpu_some, p.memory_some, p.memory_full, p.io_some, p.io_full),
            None => "not accounted on this host".into(),
        };
        lines.push(Line::from(vec![lab("PSI"), Span::raw(psi)]));
    }
    for a in &c.addresses {
        let held = if a.leased && c.pid.is_some() { "" } else { " (reserved)" };
        lines.push(Line::from(vec![lab("NIC"), Span::raw(format!("{} {} on {} {}{held}", a.nic, a.ipv4, a.network, a.hwaddr))]));
    }
    if let Some(b) = busy {
        lines.push(Line::from(vec![lab("Now"), Span::styled(b.progress(app.now_ms), t.state(e, true))]));
    }

    // Config, events and the console tail share what is left: config and events first (a
    // few lines each), the console gets the rest.
    let room = (inner.height as usize).saturating_sub(lines.len());
    let config: Vec<Line> = c
        .config
        .iter()
        .map(|(k, v)| {
            let pending = if c.pending.contains(k) { " (pending: next start)" } else { "" };
            Line::raw(format!("  {k}={v}{pending}"))
        })
        .collect();
    let events: Vec<&super::app::Logged> = app.events.iter().filter(|l| l.container == c.name).collect();
    let log: &[String] = app.log.as_ref().filter(|(n, _)| *n == c.name).map(|(_, l)| l.as_slice()).unwrap_or(&[]);
    let tall = room >= 14;
    let n_config = config.len().min(if tall { 6 } else { 2 });
    let n_events = events.len().min(if tall { 5 } else { 2 });
    let mut sections: Vec<(String, Vec<Line>)> = Vec::new();
    let more = |n: usize, of: usize| if of > n { format!(" (+{} more)", of - n) } else { String::new() };
    sections.push((format!("Config{}", more(n_config, config.len())), config.into_iter().take(n_config).collect()));
    sections.push((
        "Events".into(),
        events[events.len() - n_events..].iter().map(|l| Line::raw(format!("  {:>6} ago  {}", age(app.now_ms.saturating_sub(l.at_ms) / 1000), l.what))).collect(),
    ));
    for (title, body) in sections {
        if lines.len() + 1 >= inner.height as usize {
            break;
        }
        let empty = body.is_empty();
        lines.push(Line::styled(title, t.label()));
        if empty {
            lines.push(Line::styled("  none", t.dim()));
        }
        lines.extend(body);
    }
    let left = (inner.height as usize).saturating_sub(lines.len() + 1);
    if left > 0 {
        lines.push(Line::styled("Console", t.label()));
        if log.is_empty() {
            lines.push(Line::styled(if c.pid.is_some() { "  (nothing yet)" } else { "  (not running)" }, t.dim()));
        }
        lines.extend(log[log.len().saturating_sub(left)..].iter().map(|l| Line::raw(format!("  {l}"))));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn dialog(t: &Theme, f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, alert: bool) {
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(0).max(title.len()) as u16 + 4;
    let r = centered(area, w.max(40), lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let style = if alert { t.fg(Color::Yellow) } else { Style::new() };
    let block = Block::new().borders(Borders::ALL).border_style(style).title(Span::styled(title.to_owned(), t.label()));
    f.render_widget(Paragraph::new(lines).block(block), r);
}

fn help(t: &Theme, f: &mut Frame, area: Rect) {
    let lines: Vec<Line> = KEYS.iter().map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:<14}"), t.label()), Span::raw(*what)])).collect();
    let r = centered(area, 60, lines.len() as u16 + 3);
    f.render_widget(Clear, r);
    let block = Block::new().borders(Borders::ALL).title(Span::styled(" keys ", t.label())).title_bottom(Line::styled(" any key closes ", t.dim()));
    f.render_widget(Paragraph::new(lines).block(block), r);
}

#[cfg(test)]
mod tests;
