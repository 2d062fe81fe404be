//! The dashboard's state and everything that changes it: `App::update(Msg) -> Vec<Effect>`.
//! No I/O and no clock of its own (time arrives in messages), so tests drive it with fixed
//! times; the shell (`shell.rs`) does the talking and the waiting.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::api;

/// Samples kept per container for the sparklines.
pub const HISTORY: usize = 120;
/// Events kept (the detail pane shows the selected container's last few).
const EVENTS: usize = 200;
/// Console lines kept for the detail pane.
const LOG_LINES: usize = 200;
/// How long a note stays on the status line; errors stay longer (or until a key).
const NOTE_MS: u64 = 5_000;
const ERROR_MS: u64 = 30_000;
/// What `stop` and `restart` give the guest before it is killed (the CLI's default).
pub const STOP_TIMEOUT_S: u64 = 30;
const PAGE: usize = 10;

/// The fleet table's columns, in the order shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Name,
    State,
    Ipv4,
    Image,
    Cpu,
    Memory,
    Pids,
    Net,
    Uptime,
    Autostart,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::Name,
        Column::State,
        Column::Ipv4,
        Column::Image,
        Column::Cpu,
        Column::Memory,
        Column::Pids,
        Column::Net,
        Column::Uptime,
        Column::Autostart,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Ipv4 => "IPV4",
            Column::Image => "IMAGE",
            Column::Cpu => "CPU%",
            Column::Memory => "MEM/LIMIT",
            Column::Pids => "PIDS",
            Column::Net => "NET RX/TX/s",
            Column::Uptime => "UPTIME",
            Column::Autostart => "AUTO",
        }
    }

    /// Numbers sort biggest first when their column is chosen.
    fn numeric(self) -> bool {
        matches!(self, Column::Cpu | Column::Memory | Column::Pids | Column::Net | Column::Uptime)
    }

    fn next(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }
}

/// One container as the dashboard knows it: the last answer, and what the samples before
/// it say about rates.
#[derive(Clone, Debug)]
pub struct Entry {
    pub c: api::Container,
    /// Percent of one CPU over the last sampling interval.
    pub cpu_percent: Option<f64>,
    /// Bytes per second over the last sampling interval.
    pub rx_rate: Option<f64>,
    pub tx_rate: Option<f64>,
    /// CPU percent x10, memory bytes, network bytes/s (rx + tx): oldest first.
    pub cpu_hist: VecDeque<u64>,
    pub mem_hist: VecDeque<u64>,
    pub net_hist: VecDeque<u64>,
    sample: Option<Sample>,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at_ms: u64,
    started: Option<u64>,
    cpu_ns: Option<u64>,
    rx: Option<u64>,
    tx: Option<u64>,
}

impl Entry {
    fn new(c: api::Container) -> Entry {
        Entry { c, cpu_percent: None, rx_rate: None, tx_rate: None, cpu_hist: VecDeque::new(), mem_hist: VecDeque::new(), net_hist: VecDeque::new(), sample: None }
    }

    /// Take a new answer sampled at `at_ms`, deriving rates from the previous one.
    fn observe(&mut self, c: api::Container, at_ms: u64) {
        let u = c.usage.as_ref();
        let now = Sample { at_ms, started: c.started, cpu_ns: u.and_then(|u| u.cpu_ns), rx: u.and_then(|u| u.net_rx), tx: u.and_then(|u| u.net_tx) };
        let prev = self.sample.filter(|p| p.started == now.started && p.started.is_some() && at_ms > p.at_ms);
        let secs = prev.map(|p| (at_ms - p.at_ms) as f64 / 1000.0);
        let per_sec = |a: Option<u64>, b: Option<u64>| match (a, b, secs) {
            (Some(a), Some(b), Some(s)) if a >= b => Some((a - b) as f64 / s),
            _ => None,
        };
        self.cpu_percent = per_sec(now.cpu_ns, prev.and_then(|p| p.cpu_ns)).map(|ns| ns / 1e7);
        self.rx_rate = per_sec(now.rx, prev.and_then(|p| p.rx));
        self.tx_rate = per_sec(now.tx, prev.and_then(|p| p.tx));
        if c.pid.is_some() {
            push(&mut self.cpu_hist, self.cpu_percent.map(|p| (p * 10.0).round() as u64).unwrap_or(0));
            push(&mut self.mem_hist, u.and_then(|u| u.memory).unwrap_or(0));
            push(&mut self.net_hist, (self.rx_rate.unwrap_or(0.0) + self.tx_rate.unwrap_or(0.0)).round() as u64);
        }
        self.sample = Some(now);
        self.c = c;
    }

    pub fn autostart(&self) -> bool {
        matches!(self.c.config.get("boot.autostart").map(String::as_str), Some("true" | "1" | "yes"))
    }

    /// Addresses the guest holds (leases), else none.
    pub fn ipv4(&self) -> Vec<&str> {
        self.c.addresses.iter().filter(|a| a.leased && self.c.pid.is_some()).map(|a| a.ipv4.as_str()).collect()
    }
}

fn push(h: &mut VecDeque<u64>, v: u64) {
    if h.len() == HISTORY {
        h.pop_front();
    }
    h.push_back(v);
}

/// What a container is busy with: an operation of ours or of another client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// `stop`, `start`, `launch`, ...
    pub verb: String,
    pub since_ms: u64,
    /// Seconds before the guest is killed (stop, restart), when we know it.
    pub timeout_s: Option<u64>,
    /// Started from this dashboard (its end comes back as [`Msg::Done`]).
    pub ours: bool,
}

impl Busy {
    /// `stopping 12/30 s`, `launching 4 s`.
    pub fn progress(&self, now_ms: u64) -> String {
        let ing = match self.verb.as_str() {
            "start" => "starting",
            "stop" => "stopping",
            "force-stop" => "killing",
            "restart" => "restarting",
            "delete" => "deleting",
            "freeze" => "freezing",
            "unfreeze" => "thawing",
            "launch" => "launching",
            "create" => "creating",
            "config" => "configuring",
            other => other,
        };
        let s = now_ms.saturating_sub(self.since_ms) / 1000;
        match self.timeout_s {
            Some(t) => format!("{ing} {s}/{t} s"),
            None => format!("{ing} {s} s"),
        }
    }
}

/// Something to ask of the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    ForceStop,
    /// `force`: it runs, and is killed first.
    Delete { force: bool },
    Freeze,
    Unfreeze,
    Launch { image: String },
}

impl Action {
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::ForceStop => "force-stop",
            Action::Delete { .. } => "delete",
            Action::Freeze => "freeze",
            Action::Unfreeze => "unfreeze",
            Action::Launch { .. } => "launch",
        }
    }

    fn done(&self) -> &'static str {
        match self {
            Action::Start => "started",
            Action::Stop | Action::ForceStop => "stopped",
            Action::Restart => "restarted",
            Action::Delete { .. } => "deleted",
            Action::Freeze => "frozen",
            Action::Unfreeze => "thawed",
            Action::Launch { .. } => "launched",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub action: Action,
}

impl Job {
    /// The question asked before a destructive job, or None.
    pub fn question(&self) -> Option<String> {
        let n = &self.name;
        Some(match &self.action {
            Action::Stop => format!("Stop {n}? Its init is asked to halt, and killed after {STOP_TIMEOUT_S} s."),
            Action::Restart => format!("Restart {n}? Its init is asked to halt, and killed after {STOP_TIMEOUT_S} s."),
            Action::ForceStop => format!("Force-stop {n}? Every process of it is killed at once."),
            Action::Delete { force: false } => format!("Delete {n} and its root filesystem?"),
            Action::Delete { force: true } => format!("Delete {n} and its root filesystem? It runs: it is killed first."),
            _ => return None,
        })
    }
}

/// Everything that happens to the dashboard.
#[derive(Clone, Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// Time passes (milliseconds since the epoch).
    Tick { now_ms: u64 },
    /// The whole fleet, read at `at_ms`.
    Fleet { at_ms: u64, containers: Vec<api::Container> },
    /// No daemon answers.
    Unreachable { at_ms: u64, error: String },
    /// The daemon answered with an error.
    Failed(String),
    Event(api::Event),
    /// A job of ours ended: the warnings, or the error.
    Done { job: Job, result: Result<Vec<String>, String> },
    /// The selected container's console output.
    Log { name: String, text: Vec<u8> },
    /// The console or shell gave the terminal back: what to say about it.
    Returned(Result<String, String>),
}

/// What the shell is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Read the fleet now rather than at the next refresh.
    Refresh,
    Run(Job),
    /// Hand the terminal to the container's console, or a login shell in it.
    Console(String),
    Shell(String),
    FetchLog(String),
    Quit,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchForm {
    pub image: String,
    pub name: String,
    /// 0: image, 1: name.
    pub field: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Help,
    Confirm(Job),
    Launch(LaunchForm),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Nothing heard yet.
    Connecting,
    Up,
    Down { since_ms: u64, error: String },
}

/// A lifecycle or operation event, as the detail pane lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub at_ms: u64,
    pub container: String,
    pub what: String,
}

pub struct App {
    /// Every container, by name.
    pub entries: Vec<Entry>,
    /// Indices into `entries`: filtered and sorted, as the table shows them.
    pub view: Vec<usize>,
    /// Index into `view`.
    pub selected: usize,
    selected_name: Option<String>,
    pub sort: Column,
    pub descending: bool,
    pub filter: String,
    pub mode: Mode,
    /// The detail pane fills the screen.
    pub zoom: bool,
    pub status: Option<Status>,
    pub link: Link,
    pub busy: BTreeMap<String, Busy>,
    pub events: VecDeque<Logged>,
    /// The selected container's console tail: (name, lines).
    pub log: Option<(String, Vec<String>)>,
    pub now_ms: u64,
    pub updated_ms: Option<u64>,
    /// Colours allowed (`NO_COLOR` unset).
    pub color: bool,
}

impl App {
    pub fn new(now_ms: u64, color: bool) -> App {
        App {
            entries: Vec::new(),
            view: Vec::new(),
            selected: 0,
            selected_name: None,
            sort: Column::Name,
            descending: false,
            filter: String::new(),
            mode: Mode::Normal,
            zoom: false,
            status: None,
            link: Link::Connecting,
            busy: BTreeMap::new(),
            events: VecDeque::new(),
            log: None,
            now_ms,
            updated_ms: None,
            color,
        }
    }

    /// The selected container.
    pub fn current(&self) -> Option<&Entry> {
        self.view.get(self.selected).and_then(|i| self.entries.get(*i))
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(k) => self.key(k),
            Msg::Tick { now_ms } => {
                self.now_ms = now_ms;
                if self.status.as_ref().is_some_and(|s| now_ms.saturating_sub(s.at_ms) > if s.error { ERROR_MS } else { NOTE_MS }) {
                    self.status = None;
                }
                vec![]
            }
            Msg::Fleet { at_ms, containers } => self.fleet(at_ms, containers),
            Msg::Unreachable { at_ms, error } => {
                let since_ms = match &self.link {
                    Link::Down { since_ms, .. } => *since_ms,
                    _ => at_ms,
                };
                self.link = Link::Down { since_ms, error };
                vec![]
            }
            Msg::Failed(e) => {
                self.error(e);
                vec![]
            }
            Msg::Event(ev) => self.event(ev),
            Msg::Done { job, result } => {
                if self.busy.get(&job.name).is_some_and(|b| b.ours && b.verb == job.action.verb()) {
                    self.busy.remove(&job.name);
                }
                match result {
                    Ok(warnings) if warnings.is_empty() => self.note(format!("{} {}", job.name, job.action.done())),
                    Ok(warnings) => self.note(format!("{} {} (warning: {})", job.name, job.action.done(), warnings.join("; "))),
                    Err(e) => self.error(format!("{} {}: {e}", job.action.verb(), job.name)),
                }
                vec![Effect::Refresh]
            }
            Msg::Log { name, text } => {
                if self.current().is_some_and(|e| e.c.name == name) {
                    self.log = Some((name, console_lines(&text)));
                }
                vec![]
            }
            Msg::Returned(r) => {
                match r {
                    Ok(note) => self.note(note),
                    Err(e) => self.error(e),
                }
                vec![Effect::Refresh]
            }
        }
    }

    fn note(&mut self, text: String) {
        self.status = Some(Status { text, error: false, at_ms: self.now_ms });
    }

    fn error(&mut self, text: String) {
        self.status = Some(Status { text, error: true, at_ms: self.now_ms });
    }

    fn fleet(&mut self, at_ms: u64, containers: Vec<api::Container>) -> Vec<Effect> {
        if let Link::Down { .. } = self.link {
            self.note("daemon reachable again".into());
            // Operations of others may have ended while we were not listening.
            self.busy.retain(|_, b| b.ours);
        }
        self.link = Link::Up;
        self.updated_ms = Some(at_ms);
        let mut old: HashMap<String, Entry> = self.entries.drain(..).map(|e| (e.c.name.clone(), e)).collect();
        self.entries = containers
            .into_iter()
            .map(|c| match old.remove(&c.name) {
                Some(mut e) => {
                    e.observe(c, at_ms);
                    e
                }
                None => {
                    let mut e = Entry::new(c.clone());
                    e.observe(c, at_ms);
                    e
                }
            })
            .collect();
        let before = self.selected_name.clone();
        self.relayout();
        let mut fx = Vec::new();
        if let Some(e) = self.current() {
            // The tail follows the selected container while it runs (and once when chosen).
            if e.c.pid.is_some() || before.as_deref() != Some(e.c.name.as_str()) {
                fx.push(Effect::FetchLog(e.c.name.clone()));
            }
        }
        fx
    }

    fn event(&mut self, ev: api::Event) -> Vec<Effect> {
        let at_ms = ev.time;
        match (&ev.container, &ev.operation) {
            (Some(c), _) => {
                let what = ev.kind.strip_prefix("container-").unwrap_or(&ev.kind).to_owned();
                self.log_event(at_ms, c, what);
            }
            (None, Some(op)) => {
                let verb = op.description.split_whitespace().next().unwrap_or("").to_owned();
                for c in &op.containers {
                    match ev.kind.as_str() {
                        "operation-created" => {
                            // Ours already has its entry (and knows its timeout).
                            self.busy.entry(c.clone()).or_insert(Busy { verb: verb.clone(), since_ms: op.created * 1000, timeout_s: None, ours: false });
                        }
                        _ => {
                            if self.busy.get(c).is_some_and(|b| !b.ours) {
                                self.busy.remove(c);
                            }
                            if ev.kind == "operation-failure" {
                                let e = op.error.clone().unwrap_or_default();
                                self.log_event(at_ms, c, format!("{} failed: {e}", op.description));
                            }
                        }
                    }
                }
            }
            (None, None) => {}
        }
        vec![Effect::Refresh]
    }

    fn log_event(&mut self, at_ms: u64, container: &str, what: String) {
        if self.events.len() == EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Logged { at_ms, container: container.to_owned(), what });
    }

    /// Filter and sort again, keeping the selection on the same container.
    fn relayout(&mut self) {
        let needle = self.filter.to_lowercase();
        self.view = (0..self.entries.len()).filter(|i| needle.is_empty() || matches(&self.entries[*i], &needle)).collect();
        let (entries, sort, busy) = (&self.entries, self.sort, &self.busy);
        self.view.sort_by(|a, b| {
            let (a, b) = (&entries[*a], &entries[*b]);
            let o = compare(a, b, sort, busy);
            let o = if self.descending { o.reverse() } else { o };
            o.then_with(|| a.c.name.cmp(&b.c.name))
        });
        self.selected = match &self.selected_name {
            Some(n) => self.view.iter().position(|i| &self.entries[*i].c.name == n).unwrap_or(self.selected.min(self.view.len().saturating_sub(1))),
            None => 0,
        };
        self.remember_selection();
    }

    fn remember_selection(&mut self) {
        self.selected_name = self.current().map(|e| e.c.name.clone());
    }

    /// Move the selection; the console tail follows.
    fn select(&mut self, to: usize) -> Vec<Effect> {
        let before = self.selected_name.clone();
        self.selected = to.min(self.view.len().saturating_sub(1));
        self.remember_selection();
        if self.selected_name != before {
            self.log = None;
            if let Some(n) = &self.selected_name {
                return vec![Effect::FetchLog(n.clone())];
            }
        }
        vec![]
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            return vec![Effect::Quit];
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(k),
            Mode::Help => {
                // Any key closes the help; `q` does not also quit.
                vec![]
            }
            Mode::Filter => {
                match k.code {
                    KeyCode::Enter => {}
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.relayout();
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                        self.relayout();
                        self.mode = Mode::Filter;
                    }
                    KeyCode::Char(c) => {
                        self.filter.push(c);
                        self.relayout();
                        self.mode = Mode::Filter;
                    }
                    _ => self.mode = Mode::Filter,
                }
                vec![]
            }
            Mode::Confirm(job) => match k.code {
                KeyCode::Char('y' | 'Y') => self.run(job),
                _ => {
                    self.note(format!("{} {}: cancelled", job.action.verb(), job.name));
                    vec![]
                }
            },
            Mode::Launch(mut form) => match k.code {
                KeyCode::Esc => vec![],
                KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                    form.field = 1 - form.field.min(1);
                    self.mode = Mode::Launch(form);
                    vec![]
                }
                KeyCode::Backspace => {
                    if form.field == 0 { form.image.pop() } else { form.name.pop() };
                    self.mode = Mode::Launch(form);
                    vec![]
                }
                KeyCode::Char(c) if !c.is_control() => {
                    if form.field == 0 { form.image.push(c) } else { form.name.push(c) };
                    self.mode = Mode::Launch(form);
                    vec![]
                }
                KeyCode::Enter if form.image.trim().is_empty() || form.name.trim().is_empty() => {
                    form.field = usize::from(!form.image.trim().is_empty());
                    self.mode = Mode::Launch(form);
                    vec![]
                }
                KeyCode::Enter => self.run(Job { name: form.name.trim().to_owned(), action: Action::Launch { image: form.image.trim().to_owned() } }),
                _ => {
                    self.mode = Mode::Launch(form);
                    vec![]
                }
            },
        }
    }

    fn normal_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        // A key acknowledges the status line.
        if self.status.as_ref().is_some_and(|s| s.error) && k.code != KeyCode::Esc {
            self.status = None;
        }
        let last = self.view.len().saturating_sub(1);
        match k.code {
            KeyCode::Char('q') => vec![Effect::Quit],
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.select(self.selected + 1),
            KeyCode::PageUp => self.select(self.selected.saturating_sub(PAGE)),
            KeyCode::PageDown => self.select(self.selected + PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(last),
            KeyCode::Enter => {
                self.zoom = !self.zoom;
                vec![]
            }
            KeyCode::Esc => {
                self.zoom = false;
                self.status = None;
                vec![]
            }
            KeyCode::Char('?') => {
                self.mode = Mode::Help;
                vec![]
            }
            KeyCode::Char('/') => {
                self.mode = Mode::Filter;
                vec![]
            }
            KeyCode::Char('o') => {
                self.sort = self.sort.next();
                self.descending = self.sort.numeric();
                self.relayout();
                vec![]
            }
            KeyCode::Char('O') => {
                self.descending = !self.descending;
                self.relayout();
                vec![]
            }
            KeyCode::Char('R') => vec![Effect::Refresh],
            KeyCode::Char('n') => {
                self.mode = Mode::Launch(LaunchForm { image: "debian".into(), ..Default::default() });
                vec![]
            }
            KeyCode::Char(c @ ('s' | 'x' | 'r' | 'K' | 'D' | 'f' | 'c' | 'e')) => self.on_selected(c),
            _ => vec![],
        }
    }

    /// An action key on the selected container.
    fn on_selected(&mut self, key: char) -> Vec<Effect> {
        let Some(e) = self.current() else {
            self.error("no container selected".into());
            return vec![];
        };
        let (name, status, running) = (e.c.name.clone(), e.c.status, e.c.pid.is_some());
        if let Some(b) = self.busy.get(&name) {
            let p = b.progress(self.now_ms);
            self.error(format!("{name} is busy ({p}); wait for it to finish"));
            return vec![];
        }
        let action = match key {
            's' => Action::Start,
            'x' => Action::Stop,
            'r' => Action::Restart,
            'K' => Action::ForceStop,
            'D' => Action::Delete { force: status != api::Status::Stopped },
            'f' if status == api::Status::Frozen => Action::Unfreeze,
            'f' => Action::Freeze,
            'c' | 'e' if !running => {
                self.error(format!("{name} is not running; start it first (s)"));
                return vec![];
            }
            'c' => return vec![Effect::Console(name)],
            _ => return vec![Effect::Shell(name)],
        };
        let job = Job { name, action };
        if job.question().is_some() {
            self.mode = Mode::Confirm(job);
            return vec![];
        }
        self.run(job)
    }

    fn run(&mut self, job: Job) -> Vec<Effect> {
        let timeout_s = matches!(job.action, Action::Stop | Action::Restart).then_some(STOP_TIMEOUT_S);
        self.busy.insert(job.name.clone(), Busy { verb: job.action.verb().into(), since_ms: self.now_ms, timeout_s, ours: true });
        vec![Effect::Run(job)]
    }
}

fn matches(e: &Entry, needle: &str) -> bool {
    let c = &e.c;
    c.name.to_lowercase().contains(needle)
        || c.status.to_string().to_lowercase().contains(needle)
        || c.image.as_ref().is_some_and(|i| i.name.to_lowercase().contains(needle))
        || c.addresses.iter().any(|a| a.ipv4.contains(needle))
}

fn compare(a: &Entry, b: &Entry, col: Column, busy: &BTreeMap<String, Busy>) -> std::cmp::Ordering {
    let mem = |e: &Entry| e.c.usage.as_ref().and_then(|u| u.memory);
    let rank = |e: &Entry| {
        let busy = busy.contains_key(&e.c.name);
        let s = match e.c.status {
            api::Status::Running => 0,
            api::Status::Frozen => 1,
            api::Status::Stopping => 2,
            api::Status::Stopped => 3,
        };
        (s, busy)
    };
    let float = |x: Option<f64>, y: Option<f64>| x.unwrap_or(-1.0).total_cmp(&y.unwrap_or(-1.0));
    match col {
        Column::Name => a.c.name.cmp(&b.c.name),
        Column::State => rank(a).cmp(&rank(b)),
        Column::Ipv4 => ipv4_key(a).cmp(&ipv4_key(b)),
        Column::Image => a.c.image.as_ref().map(|i| &i.name).cmp(&b.c.image.as_ref().map(|i| &i.name)),
        Column::Cpu => float(a.cpu_percent, b.cpu_percent),
        Column::Memory => mem(a).cmp(&mem(b)),
        Column::Pids => a.c.usage.as_ref().and_then(|u| u.pids).cmp(&b.c.usage.as_ref().and_then(|u| u.pids)),
        Column::Net => float(a.rx_rate.map(|r| r + a.tx_rate.unwrap_or(0.0)), b.rx_rate.map(|r| r + b.tx_rate.unwrap_or(0.0))),
        // Longest running first when descending: an earlier start is a longer uptime.
        Column::Uptime => a.c.started.map(|s| u64::MAX - s).cmp(&b.c.started.map(|s| u64::MAX - s)),
        Column::Autostart => a.autostart().cmp(&b.autostart()),
    }
}

/// Addresses sort numerically (10.0.0.9 before 10.0.0.10).
fn ipv4_key(e: &Entry) -> Option<Vec<u32>> {
    e.ipv4().first().map(|a| a.split(['.', '/']).map(|p| p.parse().unwrap_or(0)).collect())
}

/// Console bytes as printable lines: escape sequences and control characters dropped
/// (they would drive our terminal), carriage returns ending a line's rewrite.
fn console_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\n' => lines.push(std::mem::take(&mut cur)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => cur.clear(),
            '\x1b' => {
                // CSI `ESC [ ... final` or OSC `ESC ] ... BEL|ST`; anything else: the next char.
                match chars.next() {
                    Some('[') => {
                        for c in chars.by_ref() {
                            if ('@'..='~').contains(&c) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(c) = chars.next() {
                            if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\t' => cur.push_str("    "),
            c if c.is_control() => {}
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    let skip = lines.len().saturating_sub(LOG_LINES);
    lines.drain(..skip);
    lines
}

#[cfg(test)]
mod tests;
