//! The bottom line: what is being typed, or the keys.

use super::App;
use super::app::{Mode, Typing};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::widgets::Paragraph;
use tcpdoctor_core::render::text::Shown;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let text = match app.typing {
        Some(Typing::Filter) => format!(
            "filter: {}_  (Enter keeps it, Esc clears)",
            Shown(&app.filter)
        ),
        Some(Typing::GoTo) => format!("go to time (HH:MM:SS UTC): {}_", Shown(&app.input)),
        None => {
            let filter = if app.filter.is_empty() {
                String::new()
            } else {
                format!("/{}  ", Shown(&app.filter))
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
