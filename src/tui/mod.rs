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
    use super::testing::{app, golden, key, screen};
    use crossterm::event::KeyCode;

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
}
