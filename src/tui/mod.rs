//! The terminal UI of `watch` and `replay`: what it shows and what each key
//! does (`app`), and how it is drawn (`draw`, one module per part of the
//! screen). Each table is a list of declared columns (`table`), one module
//! per table. Drawing is a pure function of the app, so the screens are
//! tested on ratatui's TestBackend at 80x24 and wide.

mod app;
mod detail;
mod findings;
mod footer;
mod format;
mod header;
mod help;
mod listeners;
mod processes;
mod table;
#[cfg(test)]
mod testing;
mod upstreams;

pub use app::{Action, App, Mode};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let [title, states, tabs, table, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw_title(f, app, title);
    header::draw_states(f, app, states);
    header::draw_tabs(f, app, tabs);
    table::draw(f, app, table);
    footer::draw(f, app, foot);
    if app.detail {
        detail::draw(f, app, area);
    }
    if app.help {
        help::draw(f, area);
    }
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

#[cfg(test)]
mod tests {
    use super::testing::{app, golden, key, sample, screen};
    use super::{App, Mode, draw};
    use crossterm::event::KeyCode;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tcpdoctor_core::render::untrusted::escaped;

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

    /// Sets the title, clears the screen, breaks the line, turns it around.
    const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J\n\u{9b}2J\u{202e}";

    /// Every cell of every table and of the details, with hostile names
    /// in the rows, the header and a recorded state's name.
    #[test]
    fn hostile_names_reach_no_cell_raw() {
        let mut a = App::new(Mode::Replay, format!("host {HOSTILE}"));
        for i in 1..=3 {
            let mut s = sample(i);
            s.processes[0].comm = HOSTILE.into();
            s.processes[0].sockets = vec![format!("CLOSE_WAIT {HOSTILE}")];
            s.listeners[0].comm = HOSTILE.into();
            s.findings[0].title = format!("pid 4242 ({HOSTILE}): CLOSE_WAIT growing");
            s.findings[0].subject = "pid 4242".into();
            s.states.insert(HOSTILE.into(), 1_000_000);
            a.push(s);
        }
        let mut shown = String::new();
        for view in ['1', '2', '3', '4'] {
            a.on_key(key(KeyCode::Char(view)));
            for detail in [false, true] {
                a.detail = detail;
                let mut t = Terminal::new(TestBackend::new(160, 40)).expect("a test terminal");
                t.draw(|f| draw(f, &a)).expect("draws");
                let buf = t.backend().buffer();
                for cell in buf.content() {
                    let bad: Vec<char> = cell.symbol().chars().filter(|c| escaped(*c)).collect();
                    assert!(bad.is_empty(), "view {view}: {bad:?} in a cell");
                    shown.push_str(cell.symbol());
                }
            }
        }
        assert!(
            shown.contains("\\x1b]0;pwned"),
            "the names are shown escaped"
        );
        assert!(shown.contains("\\u{9b}2J"), "the 8-bit CSI too");
    }
}
