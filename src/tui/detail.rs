//! The details box (Enter): the selected row's cells, what its table adds
//! (a process's sockets), the findings about it and what the first means.

use super::findings::severity;
use super::{App, centered};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tcpdoctor_core::render::text::Shown;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(s) = app.current() else {
        return;
    };
    let table = app.view.table();
    let rows = app.arranged();
    let Some(row) = rows.get(app.selected) else {
        return;
    };
    let mut text: Vec<Line> = table
        .headers()
        .iter()
        .zip(&row.cells)
        .map(|(c, v)| Line::from(format!("{c:>10}: {}", Shown(v))))
        .collect();
    if let Some(detail) = table.detail(s, row.index) {
        text.extend(detail.more);
        let key = &detail.subject;
        let related: Vec<_> = s
            .findings
            .iter()
            .filter(|f| f.subject.contains(key) || f.title.contains(key) || f.id == *key)
            .collect();
        for fnd in &related {
            let line = format!("{} {}: {}", severity(fnd).0, fnd.id, Shown(&fnd.title));
            text.push(Line::from(""));
            text.push(Line::from(line).bold());
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
