//! What the screen shows (`App`) and what each key does (`App::on_key`).

use super::findings::FINDINGS;
use super::format::parse_clock;
use super::listeners::LISTENERS;
use super::processes::PROCESSES;
use super::table::{Arranged, Tabular};
use super::upstreams::UPSTREAMS;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::VecDeque;
use tcpdoctor_core::model::Sample;

/// The tables a user switches between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Processes,
    Upstreams,
    Listeners,
    Findings,
}

impl View {
    pub const ALL: [View; 4] = [
        View::Processes,
        View::Upstreams,
        View::Listeners,
        View::Findings,
    ];

    /// The declared table the view shows.
    pub fn table(self) -> &'static dyn Tabular {
        match self {
            View::Processes => &PROCESSES,
            View::Upstreams => &UPSTREAMS,
            View::Listeners => &LISTENERS,
            View::Findings => &FINDINGS,
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
    /// The column the table sorts by.
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

    /// The rows of the current table, filtered and sorted.
    pub fn arranged(&self) -> Vec<Arranged> {
        self.current().map_or_else(Vec::new, |s| {
            self.view
                .table()
                .arrange(s, &self.filter, self.sort, self.descending)
        })
    }

    /// The rows of the current table, filtered and sorted, as cells.
    #[cfg(test)]
    pub fn rows(&self) -> Vec<Vec<String>> {
        self.arranged().into_iter().map(|r| r.cells).collect()
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
            self.on_typed(t, k.code);
            return Action::None;
        }
        if self.help {
            self.help = false;
            return Action::None;
        }
        let n = self.arranged().len();
        let shown = self.shown as isize;
        // At least 1, so `% columns` cannot divide by zero.
        let columns = self.view.table().column_count().max(1);
        let view_at = View::ALL.iter().position(|v| *v == self.view).unwrap_or(0);
        match k.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Esc if self.detail => self.detail = false,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => self.set_view(View::ALL[(view_at + 1) % View::ALL.len()]),
            KeyCode::BackTab => {
                self.set_view(View::ALL[(view_at + View::ALL.len() - 1) % View::ALL.len()]);
            }
            KeyCode::Char(c @ '1'..='4') => self.set_view(View::ALL[(c as u8 - b'1') as usize]),
            KeyCode::Char('s') => self.sort = (self.sort + 1) % columns,
            KeyCode::Char('S') => self.sort = (self.sort + columns - 1) % columns,
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

    /// A key typed into the filter or the time to go to.
    fn on_typed(&mut self, t: Typing, code: KeyCode) {
        // The filter applies as it is typed; a time only on Enter.
        let text = match t {
            Typing::Filter => &mut self.filter,
            Typing::GoTo => &mut self.input,
        };
        match code {
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

#[cfg(test)]
mod tests {
    use super::super::format::clock;
    use super::super::testing::{app, golden, key, sample, screen};
    use super::*;

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
