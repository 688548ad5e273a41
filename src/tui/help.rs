//! The help box (`?`).

use super::centered;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

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

pub fn draw(f: &mut Frame, area: Rect) {
    let b = centered(area, 70, 14);
    f.render_widget(Clear, b);
    f.render_widget(
        Paragraph::new(HELP).block(Block::default().borders(Borders::ALL).title(" help ")),
        b,
    );
}
