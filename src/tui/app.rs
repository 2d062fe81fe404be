//! The dashboard's state and everything that changes it: `App::update(Msg) -> Vec<Effect>`.
//! No I/O and no clock of its own (time arrives in messages), so tests drive it with fixed
//! times; the shell (`shell.rs`) does the talking and the waiting.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fleet::{compare, console_lines, matches};
pub use super::fleet::{Column, Entry};
use crate::api;

/// Events kept (the detail pane shows the selected container's last few).
const EVENTS: usize = 200;
/// How long a note stays on the status line; errors stay longer (or until a key).
const NOTE_MS: u64 = 5_000;
const ERROR_MS: u64 = 30_000;
/// What `stop` and `restart` give the guest before it is killed (the CLI's default).
pub const STOP_TIMEOUT_S: u64 = 30;
const PAGE: usize = 10;

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
        let same = self.entries.len() == containers.len() && self.entries.iter().zip(&containers).all(|(e, c)| e.c.name == c.name);
        if same {
            // The usual refresh: the same containers in the same order; update in place.
            for (e, c) in self.entries.iter_mut().zip(containers) {
                e.observe(c, at_ms);
            }
        } else {
            let mut old: HashMap<String, Entry> = self.entries.drain(..).map(|e| (e.c.name.clone(), e)).collect();
            self.entries = containers
                .into_iter()
                .map(|c| {
                    let mut e = old.remove(&c.name).unwrap_or_else(|| Entry::new(c.clone()));
                    e.observe(c, at_ms);
                    e
                })
                .collect();
        }
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

#[cfg(test)]
mod tests;
