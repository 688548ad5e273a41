//! A table declared as a list of columns. Each column carries its header,
//! its width, how a row's cell reads and how rows sort by it, so adding a
//! column is one entry and every column sorts. Filtering, sorting, the
//! header's sort mark and the details all work over the declared columns.

use super::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use std::cmp::Ordering;
use tcpdoctor_core::model::Sample;
use tcpdoctor_core::render::text::{Shown, shown};

/// How rows sort by a column.
pub enum SortKey<R> {
    /// By the text shown (names, addresses).
    Cell,
    /// By a number, then by the text shown. An unknown maps to an end:
    /// `f64::MIN` for a rate, `f64::MAX` for a time left (none: never).
    Number(fn(&R) -> f64),
}

/// One column of a table of `R` rows.
pub struct Column<R> {
    pub header: &'static str,
    pub width: Constraint,
    pub cell: fn(&R) -> String,
    pub sort: SortKey<R>,
}

impl<R> Column<R> {
    /// The number rows are ordered by before their text (the same for every
    /// row when the column sorts by text).
    fn sort_number(&self, row: &R) -> f64 {
        match self.sort {
            SortKey::Cell => 0.0,
            SortKey::Number(number) => number(row),
        }
    }
}

/// The order of two rows given each one's sort number and cell text.
fn order(a: (f64, &str), b: (f64, &str)) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

/// A table of the screen: which rows of a sample it lists, its columns, and
/// what a row's details add to its cells.
pub struct Listing<R: 'static> {
    /// The tab's name ("processes").
    pub name: &'static str,
    pub rows: fn(&Sample) -> &[R],
    pub columns: &'static [Column<R>],
    /// The text findings about a row mention; the details list them.
    pub subject: fn(&R) -> String,
    /// Lines the details show after the cells (a process's sockets).
    pub more: fn(&R) -> Vec<Line<'static>>,
}

/// A row as shown: where it is in the sample's rows, and its cells.
pub struct Arranged {
    pub index: usize,
    pub cells: Vec<String>,
}

/// What the details of a row show besides its cells.
pub struct RowDetail {
    pub subject: String,
    pub more: Vec<Line<'static>>,
}

/// A `Listing` whatever its row type, so the app holds any of them.
pub trait Tabular {
    fn name(&self) -> &'static str;
    fn column_count(&self) -> usize;
    fn headers(&self) -> Vec<&'static str>;
    fn widths(&self) -> Vec<Constraint>;
    /// The sample's rows with a cell containing `filter` (any case), sorted
    /// by column `sort` (the last one when past the end).
    fn arrange(&self, s: &Sample, filter: &str, sort: usize, descending: bool) -> Vec<Arranged>;
    /// The details of the row at `index` of the sample's rows.
    fn detail(&self, s: &Sample, index: usize) -> Option<RowDetail>;
}

impl<R> Tabular for Listing<R> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn column_count(&self) -> usize {
        self.columns.len()
    }

    fn headers(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.header).collect()
    }

    fn widths(&self) -> Vec<Constraint> {
        self.columns.iter().map(|c| c.width).collect()
    }

    fn arrange(&self, s: &Sample, filter: &str, sort: usize, descending: bool) -> Vec<Arranged> {
        let mut rows: Vec<(&R, Arranged)> = (self.rows)(s)
            .iter()
            .enumerate()
            .map(|(index, row)| {
                let cells = self.columns.iter().map(|c| (c.cell)(row)).collect();
                (row, Arranged { index, cells })
            })
            .collect();
        if !filter.is_empty() {
            let needle = filter.to_lowercase();
            rows.retain(|(_, r)| r.cells.iter().any(|c| c.to_lowercase().contains(&needle)));
        }
        let at = sort.min(self.columns.len().saturating_sub(1));
        if let Some(column) = self.columns.get(at) {
            rows.sort_by(|(a, x), (b, y)| {
                let o = order(
                    (column.sort_number(a), &x.cells[at]),
                    (column.sort_number(b), &y.cells[at]),
                );
                if descending { o.reverse() } else { o }
            });
        }
        rows.into_iter().map(|(_, r)| r).collect()
    }

    fn detail(&self, s: &Sample, index: usize) -> Option<RowDetail> {
        let row = (self.rows)(s).get(index)?;
        Some(RowDetail {
            subject: (self.subject)(row),
            more: (self.more)(row),
        })
    }
}

/// Draws the table of the app's view, the selected row in view.
pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let table = app.view.table();
    let sorted = app.sort.min(table.column_count().saturating_sub(1));
    let header = Row::new(table.headers().into_iter().enumerate().map(|(i, c)| {
        let mark = match (i == sorted, app.descending) {
            (false, _) => "",
            (true, true) => "v",
            (true, false) => "^",
        };
        Cell::from(format!("{c}{mark}"))
    }))
    .style(Style::new().bold());
    let rows = app.arranged();
    let visible = area.height.saturating_sub(1) as usize;
    let skip = app.selected.saturating_sub(visible.saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(skip)
        .take(visible)
        .map(|(i, r)| {
            let row = Row::new(r.cells.iter().map(|c| Cell::from(shown(c).into_owned())));
            if i == app.selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(body, table.widths())
            .header(header)
            .column_spacing(1),
        area,
    );
    if rows.is_empty() && area.height > 2 {
        let what = if app.filter.is_empty() {
            format!("no {} in this sample", table.name())
        } else {
            format!("no {} match /{}", table.name(), Shown(&app.filter))
        };
        f.render_widget(
            Paragraph::new(what).italic(),
            Rect::new(area.x, area.y + 1, area.width, 1),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::app::View;
    use super::super::testing::{app, key, sample};
    use super::super::{findings, listeners, processes, upstreams};
    use super::*;
    use crossterm::event::KeyCode;
    use tcpdoctor_core::model::{FindingRow, ListenerRow, ProcessRow, Severity, UpstreamRow};

    /// A sample with several rows per table, unknown values among them.
    fn varied() -> Sample {
        let mut s = sample(30);
        s.processes.push(ProcessRow {
            pid: 99,
            comm: "agent".into(),
            ..ProcessRow::default()
        });
        s.upstreams.push(UpstreamRow {
            remote: "10.0.0.8:443".parse().expect("ep"),
            in_use: 5,
            new_per_s: None,
            growth_per_min: None,
            time_to_exhaustion_s: None,
            ..s.upstreams[0].clone()
        });
        s.listeners.push(ListenerRow {
            local: "127.0.0.1:22".parse().expect("ep"),
            pid: None,
            comm: String::new(),
            accept_queue: 0,
            backlog: 4096,
            ..s.listeners[0].clone()
        });
        for (severity, id) in [
            (Severity::Info, "tw-normal"),
            (Severity::Warning, "ports-low"),
        ] {
            s.findings.push(FindingRow {
                severity,
                id: id.into(),
                subject: "host".into(),
                title: format!("{id} on the host"),
            });
        }
        s
    }

    /// How two rows order by a column, ascending, worked out afresh.
    fn compare<R>(column: &Column<R>, a: &R, b: &R) -> Ordering {
        order(
            (column.sort_number(a), &(column.cell)(a)),
            (column.sort_number(b), &(column.cell)(b)),
        )
    }

    /// Sorts by every column both ways and checks each row is in order
    /// with the next and none is lost.
    fn sorts_on_every_column<R>(table: &Listing<R>, s: &Sample) {
        let all = (table.rows)(s);
        assert!(all.len() >= 2, "{}: rows to order", table.name);
        assert!(!table.columns.is_empty(), "{}: columns", table.name);
        for (at, column) in table.columns.iter().enumerate() {
            for descending in [false, true] {
                let rows = table.arrange(s, "", at, descending);
                assert_eq!(rows.len(), all.len(), "{} {}", table.name, column.header);
                for pair in rows.windows(2) {
                    let o = compare(column, &all[pair[0].index], &all[pair[1].index]);
                    let want = if descending {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    };
                    assert!(o == want || o == Ordering::Equal, "{}", column.header);
                }
            }
        }
        // A sort past the last column sorts by the last, never panics.
        assert_eq!(table.arrange(s, "", usize::MAX, true).len(), all.len());
    }

    #[test]
    fn every_column_of_every_table_sorts() {
        let s = varied();
        sorts_on_every_column(&processes::PROCESSES, &s);
        sorts_on_every_column(&upstreams::UPSTREAMS, &s);
        sorts_on_every_column(&listeners::LISTENERS, &s);
        sorts_on_every_column(&findings::FINDINGS, &s);
    }

    #[test]
    fn the_sort_key_visits_every_column_of_every_view() {
        let mut a = app();
        for (n, view) in ['1', '2', '3', '4'].into_iter().zip(View::ALL) {
            a.on_key(key(KeyCode::Char(n)));
            assert_eq!(a.view, view);
            let columns = view.table().column_count();
            for at in 0..columns {
                assert_eq!(a.sort, at);
                assert!(
                    !a.rows().is_empty(),
                    "{} sorted by column {at}",
                    view.table().name()
                );
                a.on_key(key(KeyCode::Char('s')));
            }
            assert_eq!(a.sort, 0, "s wraps around");
        }
    }

    #[test]
    fn severity_ranks_worse_first() {
        let s = varied();
        let rows = findings::FINDINGS.arrange(&s, "", 0, true);
        let shown: Vec<&str> = rows.iter().map(|r| r.cells[0].as_str()).collect();
        assert_eq!(shown, ["CRITICAL", "WARNING", "INFO"]);
    }
}
