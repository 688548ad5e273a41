//! The top of the screen: the title line, the busiest states with their
//! sparklines, and the tabs.

use super::App;
use super::app::{Mode, View};
use super::format::{clock, decimal};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use tcpdoctor_core::model::human_age;
use tcpdoctor_core::render::text::{Shown, shown};

/// Mode, time of the sample shown, then the host line.
pub fn draw_title(f: &mut Frame, app: &App, area: Rect) {
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
    spans.push(Span::raw(shown(&app.header).into_owned()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The states with the most sockets now, each with its sparkline over the
/// samples kept, two per line.
pub fn draw_states(f: &mut Frame, app: &App, area: Rect) {
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
        let label = format!("{:<12}{n:>8} ", Shown(name));
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

/// The tabs, the one shown reversed, then what the rates are over.
pub fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, v.table().name());
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
                decimal(rate("ListenOverflows"), 1)
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
