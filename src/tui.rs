//! The terminal UI of `watch` and `replay`: what it shows (`App`), how it
//! is drawn (`draw`) and what each key does (`App::on_key`). Drawing is a
//! pure function of the app, so the screens are tested on ratatui's
//! TestBackend at 80x24 and wide.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use std::collections::VecDeque;
use tcpdoctor_core::model::{Sample, human_age};

/// The tables a user switches between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Processes,
    Upstreams,
    Listeners,
    Findings,
}

impl View {
    const ALL: [View; 4] = [
        View::Processes,
        View::Upstreams,
        View::Listeners,
        View::Findings,
    ];

    fn name(self) -> &'static str {
        match self {
            View::Processes => "processes",
            View::Upstreams => "upstreams",
            View::Listeners => "listeners",
            View::Findings => "findings",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            View::Processes => &[
                "PID",
                "COMM",
                "ESTAB",
                "CL_WAIT",
                "CW/MIN",
                "T_WAIT",
                "FDS/LIMIT",
                "TO LIMIT",
            ],
            View::Upstreams => &[
                "LOCAL IP",
                "REMOTE",
                "PORTS",
                "USED",
                "NEW/S",
                "GROW/MIN",
                "TO EXHAUST",
            ],
            View::Listeners => &["LOCAL", "PROCESS", "ACCEPT Q", "BACKLOG", "T_WAIT"],
            View::Findings => &["SEVERITY", "FINDING", "TITLE"],
        }
    }
}

/// Where the samples come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// New samples arrive; the newest is shown unless paused.
    Live,
    /// A recording: the shown sample moves with the seek keys.
    Replay,
}

/// What a key asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
}

/// Everything the screen shows.
pub struct App {
    pub mode: Mode,
    /// "host, kernel, namespace, source, interval".
    pub header: String,
    pub samples: VecDeque<Sample>,
    /// The sample shown (an index into `samples`).
    pub shown: usize,
    pub view: View,
    pub sort: usize,
    pub descending: bool,
    pub filter: String,
    /// Typing into the filter (after `/`) or a time to go to (after `g`).
    pub typing: Option<Typing>,
    /// The time being typed after `g`.
    pub input: String,
    pub paused: bool,
    pub selected: usize,
    pub detail: bool,
    pub help: bool,
    /// Explains a finding id (the library's `explain`), for the details.
    pub explain: fn(&str) -> Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typing {
    Filter,
    GoTo,
}

/// How many samples live mode keeps for the sparklines.
pub const HISTORY: usize = 600;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

fn seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), human_age)
}

/// "HH:MM:SS" of a Unix time, UTC.
fn clock(unix_s: f64) -> String {
    let s = unix_s.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// "HH:MM:SS" -> seconds of the day.
fn parse_clock(t: &str) -> Option<u64> {
    let mut it = t.trim().split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    );
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

impl App {
    pub fn new(mode: Mode, header: String) -> App {
        App {
            mode,
            header,
            samples: VecDeque::new(),
            shown: 0,
            view: View::Processes,
            sort: 0,
            descending: true,
            filter: String::new(),
            typing: None,
            input: String::new(),
            paused: false,
            selected: 0,
            detail: false,
            help: false,
            explain: tcpdoctor_core::ops::explain::explain,
        }
    }

    /// Adds a live sample; the shown one follows unless paused.
    pub fn push(&mut self, s: Sample) {
        let at_end = self.shown + 1 >= self.samples.len();
        self.samples.push_back(s);
        if self.samples.len() > HISTORY {
            self.samples.pop_front();
            self.shown = self.shown.saturating_sub(1);
        }
        if !self.paused && at_end {
            self.shown = self.samples.len() - 1;
        }
    }

    pub fn current(&self) -> Option<&Sample> {
        self.samples.get(self.shown)
    }

    /// The rows of the current table, filtered and sorted, as cells.
    pub fn rows(&self) -> Vec<Vec<String>> {
        let Some(s) = self.current() else {
            return Vec::new();
        };
        let mut rows: Vec<(Vec<String>, Vec<f64>)> = match self.view {
            View::Processes => s
                .processes
                .iter()
                .map(|p| {
                    let limit = match (p.fds, p.nofile) {
                        (Some(f), Some(n)) => format!("{f}/{n}"),
                        (Some(f), None) => format!("{f}/-"),
                        _ => "-".into(),
                    };
                    (
                        vec![
                            p.pid.to_string(),
                            p.comm.clone(),
                            p.established.to_string(),
                            p.close_wait.to_string(),
                            opt(p.close_wait_growth_per_min, 1),
                            p.time_wait.to_string(),
                            limit,
                            seconds(p.time_to_fd_limit_s),
                        ],
                        vec![
                            f64::from(p.pid),
                            0.0,
                            p.established as f64,
                            p.close_wait as f64,
                            p.close_wait_growth_per_min.unwrap_or(f64::MIN),
                            p.time_wait as f64,
                            f64::from(p.fds.unwrap_or(0)),
                            p.time_to_fd_limit_s.unwrap_or(f64::MAX),
                        ],
                    )
                })
                .collect(),
            View::Upstreams => s
                .upstreams
                .iter()
                .map(|u| {
                    let used = u.in_use as f64 / u.usable.max(1) as f64;
                    (
                        vec![
                            u.local_ip.to_string(),
                            u.remote.to_string(),
                            format!("{}/{}", u.in_use, u.usable),
                            format!("{:.0}%", used * 100.0),
                            opt(u.new_per_s, 1),
                            opt(u.growth_per_min, 1),
                            seconds(u.time_to_exhaustion_s),
                        ],
                        vec![
                            0.0,
                            0.0,
                            u.in_use as f64,
                            used,
                            u.new_per_s.unwrap_or(f64::MIN),
                            u.growth_per_min.unwrap_or(f64::MIN),
                            u.time_to_exhaustion_s.unwrap_or(f64::MAX),
                        ],
                    )
                })
                .collect(),
            View::Listeners => s
                .listeners
                .iter()
                .map(|l| {
                    let who = l
                        .pid
                        .map_or_else(|| "-".into(), |p| format!("{p}/{}", l.comm));
                    (
                        vec![
                            l.local.to_string(),
                            who,
                            l.accept_queue.to_string(),
                            l.backlog.to_string(),
                            l.time_wait.to_string(),
                        ],
                        vec![
                            f64::from(l.local.port),
                            0.0,
                            f64::from(l.accept_queue),
                            f64::from(l.backlog),
                            l.time_wait as f64,
                        ],
                    )
                })
                .collect(),
            View::Findings => s
                .findings
                .iter()
                .map(|f| {
                    let rank = f64::from(f.severity.exit_code());
                    (
                        vec![
                            f.severity.name().to_uppercase(),
                            f.id.clone(),
                            f.title.clone(),
                        ],
                        vec![rank, 0.0, 0.0],
                    )
                })
                .collect(),
        };
        if !self.filter.is_empty() {
            let needle = self.filter.to_lowercase();
            rows.retain(|(cells, _)| cells.iter().any(|c| c.to_lowercase().contains(&needle)));
        }
        let col = self.sort.min(self.view.columns().len() - 1);
        rows.sort_by(|a, b| {
            let o = a.1[col]
                .total_cmp(&b.1[col])
                .then_with(|| a.0[col].cmp(&b.0[col]));
            if self.descending { o.reverse() } else { o }
        });
        rows.into_iter().map(|(cells, _)| cells).collect()
    }

    fn set_view(&mut self, v: View) {
        self.view = v;
        self.sort = 0;
        self.selected = 0;
        self.detail = false;
    }

    fn seek(&mut self, to: isize) {
        let last = self.samples.len().saturating_sub(1) as isize;
        self.shown = to.clamp(0, last) as usize;
    }

    /// Applies a key.
    pub fn on_key(&mut self, k: KeyEvent) -> Action {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(t) = self.typing {
            // The filter applies as it is typed; a time only on Enter.
            let text = match t {
                Typing::Filter => &mut self.filter,
                Typing::GoTo => &mut self.input,
            };
            match k.code {
                KeyCode::Enter => {
                    self.typing = None;
                    if t == Typing::GoTo {
                        let at = std::mem::take(&mut self.input);
                        self.go_to(&at);
                    }
                }
                KeyCode::Esc => {
                    self.typing = None;
                    text.clear();
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            self.selected = 0;
            return Action::None;
        }
        if self.help {
            self.help = false;
            return Action::None;
        }
        let n = self.rows().len();
        let shown = self.shown as isize;
        match k.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Esc if self.detail => self.detail = false,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => {
                let i = View::ALL.iter().position(|v| *v == self.view).unwrap_or(0);
                self.set_view(View::ALL[(i + 1) % View::ALL.len()]);
            }
            KeyCode::BackTab => {
                let i = View::ALL.iter().position(|v| *v == self.view).unwrap_or(0);
                self.set_view(View::ALL[(i + View::ALL.len() - 1) % View::ALL.len()]);
            }
            KeyCode::Char(c @ '1'..='4') => self.set_view(View::ALL[(c as u8 - b'1') as usize]),
            KeyCode::Char('s') => self.sort = (self.sort + 1) % self.view.columns().len(),
            KeyCode::Char('S') => {
                let n = self.view.columns().len();
                self.sort = (self.sort + n - 1) % n;
            }
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Char('/') => {
                self.filter.clear();
                self.typing = Some(Typing::Filter);
            }
            KeyCode::Char('p') | KeyCode::Char(' ') if self.mode == Mode::Live => {
                self.paused = !self.paused;
                if !self.paused {
                    self.shown = self.samples.len().saturating_sub(1);
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter => self.detail = n > 0,
            KeyCode::Left | KeyCode::Char('[') => {
                self.paused = true;
                self.seek(shown - 1);
            }
            KeyCode::Right | KeyCode::Char(']') => self.seek(shown + 1),
            KeyCode::PageUp => {
                self.paused = true;
                self.seek(shown - 60);
            }
            KeyCode::PageDown => self.seek(shown + 60),
            KeyCode::Home => {
                self.paused = true;
                self.seek(0);
            }
            KeyCode::End => {
                self.paused = false;
                self.seek(isize::MAX);
            }
            KeyCode::Char('g') => {
                self.input.clear();
                self.typing = Some(Typing::GoTo);
            }
            _ => {}
        }
        Action::None
    }

    /// Shows the first sample at or after a wall-clock time ("HH:MM:SS").
    fn go_to(&mut self, t: &str) {
        let Some(want) = parse_clock(t) else { return };
        if let Some(i) = self
            .samples
            .iter()
            .position(|s| (s.at_unix_s as u64 % 86_400) >= want)
        {
            self.paused = true;
            self.shown = i;
        }
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let [head, states, tabs, table, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, app, head);
    draw_states(f, app, states);
    draw_tabs(f, app, tabs);
    draw_table(f, app, table);
    draw_footer(f, app, foot);
    if app.detail {
        draw_detail(f, app, area);
    }
    if app.help {
        draw_help(f, area);
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    // What state the screen is in comes first: a narrow terminal cuts the
    // end of the line.
    let mut spans = vec![Span::styled("tcpdoctor ", Style::new().bold())];
    match app.mode {
        Mode::Replay => spans.push(Span::styled(
            format!("[replay {}/{}] ", app.shown + 1, app.samples.len()),
            Style::new().reversed(),
        )),
        Mode::Live if app.paused => spans.push(Span::styled("[PAUSED] ", Style::new().reversed())),
        Mode::Live => {}
    }
    if let Some(s) = app.current() {
        spans.push(Span::raw(format!(
            "{} UTC +{} · ",
            clock(s.at_unix_s),
            human_age(s.elapsed_s)
        )));
    }
    spans.push(Span::raw(app.header.clone()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The states with the most sockets now, each with its sparkline over the
/// samples kept, two per line.
fn draw_states(f: &mut Frame, app: &App, area: Rect) {
    let Some(s) = app.current() else {
        f.render_widget(Paragraph::new("waiting for the first sample..."), area);
        return;
    };
    let mut top: Vec<(&String, &u64)> = s.states.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let lines = area.height as usize;
    let halves =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).split(area);
    for (i, (name, n)) in top.iter().take(lines * 2).enumerate() {
        let half = halves[i % 2];
        let y = half.y + (i / 2) as u16;
        if y >= half.y + half.height {
            break;
        }
        let label = format!("{name:<12}{n:>8} ");
        let w = label.len() as u16;
        f.render_widget(
            Paragraph::new(label),
            Rect::new(half.x, y, w.min(half.width), 1),
        );
        if half.width > w + 2 {
            let width = (half.width - w - 1) as usize;
            let upto = app.shown + 1;
            let from = upto.saturating_sub(width);
            let data: Vec<u64> = app
                .samples
                .range(from..upto)
                .map(|x| x.states.get(*name).copied().unwrap_or(0))
                .collect();
            f.render_widget(
                Sparkline::default().data(&data),
                Rect::new(half.x + w, y, width as u16, 1),
            );
        }
    }
    if top.is_empty() {
        f.render_widget(Paragraph::new("no TCP sockets"), area);
    }
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, v.name());
        spans.push(if *v == app.view {
            Span::styled(label, Style::new().reversed())
        } else {
            Span::raw(label)
        });
    }
    if let Some(s) = app.current() {
        let rate = |k: &str| s.rates.get(k).copied();
        if app.view == View::Listeners {
            spans.push(Span::raw(format!(
                " overflows {}/s (host)",
                opt(rate("ListenOverflows"), 1)
            )));
        } else {
            spans.push(Span::raw(format!(" window {:.0}s", s.window_s)));
        }
        if !s.tables_fresh {
            spans.push(Span::raw(format!(" (tables {:.0}s old)", s.tables_age_s)));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_table(f: &mut Frame, app: &App, area: Rect) {
    let cols = app.view.columns();
    let header = Row::new(cols.iter().enumerate().map(|(i, c)| {
        let mark = if i == app.sort.min(cols.len() - 1) {
            if app.descending { "v" } else { "^" }
        } else {
            ""
        };
        Cell::from(format!("{c}{mark}"))
    }))
    .style(Style::new().bold());
    let rows = app.rows();
    let visible = area.height.saturating_sub(1) as usize;
    let skip = app.selected.saturating_sub(visible.saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(skip)
        .take(visible)
        .map(|(i, cells)| {
            let r = Row::new(cells.iter().map(|c| Cell::from(c.clone())));
            if i == app.selected {
                r.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                r
            }
        })
        .collect();
    let widths: Vec<Constraint> = match app.view {
        View::Processes => vec![
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(12),
            Constraint::Min(8),
        ],
        View::Upstreams => vec![
            Constraint::Length(15),
            Constraint::Length(21),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
        View::Listeners => vec![
            Constraint::Length(22),
            Constraint::Length(20),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Min(6),
        ],
        View::Findings => vec![
            Constraint::Length(9),
            Constraint::Length(22),
            Constraint::Min(20),
        ],
    };
    let empty = rows.is_empty();
    f.render_widget(
        Table::new(body, widths).header(header).column_spacing(1),
        area,
    );
    if empty && area.height > 2 {
        let what = if app.filter.is_empty() {
            format!("no {} in this sample", app.view.name())
        } else {
            format!("no {} match /{}", app.view.name(), app.filter)
        };
        f.render_widget(
            Paragraph::new(what).italic(),
            Rect::new(area.x, area.y + 1, area.width, 1),
        );
    }
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let text = match app.typing {
        Some(Typing::Filter) => format!("filter: {}_  (Enter keeps it, Esc clears)", app.filter),
        Some(Typing::GoTo) => format!("go to time (HH:MM:SS UTC): {}_", app.input),
        None => {
            let filter = if app.filter.is_empty() {
                String::new()
            } else {
                format!("/{}  ", app.filter)
            };
            let moves = match app.mode {
                Mode::Live => "p pause  <- -> step",
                Mode::Replay => "<- -> step  PgUp/PgDn 60  g time",
            };
            format!("{filter}q quit  ? help  Tab table  s sort  / filter  Enter details  {moves}")
        }
    };
    f.render_widget(Paragraph::new(text).reversed(), area);
}

/// A box in the middle of `area`, at most `w` x `h`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_detail(f: &mut Frame, app: &App, area: Rect) {
    let rows = app.rows();
    let Some(cells) = rows.get(app.selected) else {
        return;
    };
    let cols = app.view.columns();
    let mut text: Vec<Line> = cols
        .iter()
        .zip(cells)
        .map(|(c, v)| Line::from(format!("{c:>10}: {v}")))
        .collect();
    // Its sockets, the findings about it, and what the first one means.
    if let Some(s) = app.current() {
        if app.view == View::Processes
            && let Some(p) = s.processes.iter().find(|p| p.pid.to_string() == cells[0])
            && !p.sockets.is_empty()
        {
            text.push(Line::from(""));
            text.push(Line::from("sockets (CLOSE_WAIT first, oldest first):").bold());
            text.extend(p.sockets.iter().map(|l| Line::from(format!("  {l}"))));
        }
        let key = match app.view {
            View::Processes => format!("pid {}", cells[0]),
            View::Findings => cells[1].clone(),
            _ => cells[1].clone(),
        };
        let related: Vec<_> = s
            .findings
            .iter()
            .filter(|f| f.subject.contains(&key) || f.title.contains(&key) || f.id == key)
            .collect();
        for fnd in &related {
            text.push(Line::from(""));
            text.push(
                Line::from(format!("{} {}: {}", fnd.severity.name(), fnd.id, fnd.title)).bold(),
            );
        }
        if let Some(first) = related.first()
            && let Some(explained) = (app.explain)(&first.id)
        {
            text.push(Line::from(""));
            text.extend(
                explained
                    .lines()
                    .take(12)
                    .map(|l| Line::from(l.to_string())),
            );
        }
    }
    let b = centered(
        area,
        area.width.saturating_sub(4).max(40),
        area.height.saturating_sub(4),
    );
    f.render_widget(Clear, b);
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" details (Esc) "),
        ),
        b,
    );
}

const HELP: &str = "\
q, Ctrl-C   quit (the terminal is restored)
Tab, 1-4    processes, upstreams, listeners, findings
s / S       sort by the next / previous column; r reverses
/           filter rows by any text (pid, name, port, peer)
Up/Down     select a row; Enter shows it with its findings
p, Space    pause / resume (live)
<- ->       step back / forward one sample
PgUp PgDn   60 samples back / forward; Home, End
g           go to a time (HH:MM:SS UTC; replay)
CW/MIN is CLOSE_WAIT growth by socket cookie over the window;
TO LIMIT / TO EXHAUST: time left at the current growth.";

fn draw_help(f: &mut Frame, area: Rect) {
    let b = centered(area, 70, 14);
    f.render_widget(Clear, b);
    f.render_widget(
        Paragraph::new(HELP).block(Block::default().borders(Borders::ALL).title(" help ")),
        b,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::path::Path;
    use tcpdoctor_core::model::{FindingRow, ListenerRow, ProcessRow, Severity, UpstreamRow};

    fn sample(i: u64) -> Sample {
        let mut s = Sample {
            at_unix_s: 1_795_999_000.0 + i as f64,
            elapsed_s: i as f64,
            interval_s: 1.0,
            window_s: i.min(60) as f64,
            tables_fresh: true,
            ..Sample::default()
        };
        s.states.insert("ESTABLISHED".into(), 1200 + i);
        s.states.insert("CLOSE_WAIT".into(), 10 * i);
        s.states.insert("TIME_WAIT".into(), 300);
        s.states.insert("LISTEN".into(), 3);
        s.total = s.states.values().sum();
        s.rates.insert("ListenOverflows".into(), 2.0);
        s.processes = vec![
            ProcessRow {
                pid: 4242,
                comm: "leaky-app".into(),
                established: 20,
                close_wait: 10 * i,
                close_wait_growth_per_min: Some(600.0),
                fds: Some(30 + 10 * i as u32),
                nofile: Some(1024),
                fd_growth_per_min: Some(600.0),
                time_to_fd_limit_s: Some(90.0),
                sockets: vec!["CLOSE_WAIT 10.0.0.1:8080 > 10.0.0.7:51234, 29s".into()],
                ..ProcessRow::default()
            },
            ProcessRow {
                pid: 17,
                comm: "nginx".into(),
                established: 1180,
                time_wait: 300,
                close_wait_growth_per_min: Some(0.0),
                fds: Some(1300),
                nofile: Some(65536),
                ..ProcessRow::default()
            },
        ];
        s.upstreams = vec![UpstreamRow {
            netns: 1,
            local_ip: "10.0.0.1".parse().expect("ip"),
            remote: "10.0.0.9:5432".parse().expect("ep"),
            in_use: 21000,
            usable: 28232,
            new_per_s: Some(350.0),
            growth_per_min: Some(120.0),
            time_to_exhaustion_s: Some(3616.0),
        }];
        s.listeners = vec![ListenerRow {
            netns: 1,
            local: "0.0.0.0:8080".parse().expect("ep"),
            pid: Some(4242),
            comm: "leaky-app".into(),
            accept_queue: 128,
            backlog: 128,
            time_wait: 0,
        }];
        s.findings = vec![FindingRow {
            severity: Severity::Critical,
            id: "close-wait-growing".into(),
            subject: "pid 4242 (leaky-app)".into(),
            title: "pid 4242 (leaky-app): CLOSE_WAIT growing by 600.0/min over the last 60 s"
                .into(),
        }];
        s
    }

    fn app() -> App {
        let mut a = App::new(
            Mode::Live,
            "web-1 · kernel 6.18 · current netns · every 1.0s".into(),
        );
        a.explain = |id| Some(format!("{id}: what it means, in a few lines."));
        for i in 1..=30 {
            a.push(sample(i));
        }
        a
    }

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
        t.draw(|f| draw(f, app)).expect("draws");
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn golden(name: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("TCPDOCTOR_BLESS").is_some() {
            std::fs::write(&path, actual).expect("writes the golden file");
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (TCPDOCTOR_BLESS=1 creates it)", path.display()));
        assert_eq!(actual, want, "screen differs from {}", path.display());
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn every_table_at_80x24_and_wide() {
        let mut a = app();
        golden("tui-processes-80x24.txt", &screen(&a, 80, 24));
        golden("tui-processes-160x40.txt", &screen(&a, 160, 40));
        for (k, name) in [('2', "upstreams"), ('3', "listeners"), ('4', "findings")] {
            a.on_key(key(KeyCode::Char(k)));
            golden(&format!("tui-{name}-80x24.txt"), &screen(&a, 80, 24));
        }
    }

    #[test]
    fn keys_sort_filter_select_pause_and_help() {
        let mut a = app();
        // Sorted by pid, descending, by default: 4242 first.
        assert_eq!(a.rows()[0][0], "4242");
        a.on_key(key(KeyCode::Char('r')));
        assert_eq!(a.rows()[0][0], "17", "reversed");
        a.on_key(key(KeyCode::Char('s'))); // COMM
        a.on_key(key(KeyCode::Char('s'))); // ESTAB
        a.on_key(key(KeyCode::Char('r')));
        assert_eq!(a.rows()[0][1], "nginx", "most ESTABLISHED first");
        a.on_key(key(KeyCode::Char('/')));
        for c in "leaky".chars() {
            a.on_key(key(KeyCode::Char(c)));
        }
        a.on_key(key(KeyCode::Enter));
        assert_eq!(a.rows().len(), 1);
        a.on_key(key(KeyCode::Enter));
        assert!(a.detail);
        let s = screen(&a, 80, 24);
        assert!(s.contains("close-wait-growing: what it means"), "{s}");
        golden("tui-detail-80x24.txt", &s);
        a.on_key(key(KeyCode::Esc));
        assert!(!a.detail);
        a.on_key(key(KeyCode::Char('p')));
        let shown = a.shown;
        a.push(sample(31));
        assert_eq!(a.shown, shown, "paused: the screen stays");
        assert!(screen(&a, 80, 24).contains("[PAUSED]"));
        a.on_key(key(KeyCode::Char('p')));
        assert_eq!(a.shown, a.samples.len() - 1, "resumed at the newest");
        a.on_key(key(KeyCode::Char('?')));
        assert!(screen(&a, 80, 24).contains("go to a time"));
        a.on_key(key(KeyCode::Char('x')));
        assert!(!a.help, "any key closes the help");
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.on_key(ctrl_c), Action::Quit);
    }

    #[test]
    fn replay_seeks_by_step_page_and_time() {
        let mut a = App::new(Mode::Replay, "recorded".into());
        a.samples = (0..200).map(sample).collect();
        a.on_key(key(KeyCode::Right));
        a.on_key(key(KeyCode::PageDown));
        assert_eq!(a.shown, 61);
        a.on_key(key(KeyCode::Left));
        assert_eq!(a.shown, 60);
        a.on_key(key(KeyCode::End));
        assert_eq!(a.shown, 199);
        a.filter = "nginx".into();
        a.on_key(key(KeyCode::Char('g')));
        // The time of sample 100, typed as a user would.
        for c in clock(1_795_999_100.0).chars() {
            a.on_key(key(KeyCode::Char(c)));
        }
        a.on_key(key(KeyCode::Enter));
        assert_eq!(a.shown, 100);
        assert_eq!(
            a.filter, "nginx",
            "typing a time leaves the row filter alone"
        );
        assert!(screen(&a, 80, 24).contains("[replay 101/200]"));
        assert_eq!(parse_clock("25:00:00"), None);
    }
}
