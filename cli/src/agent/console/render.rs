//! Drawing one [`ConsoleView`] the way ngrok's console looks: a title line, the session block
//! (labels padded to 30 columns), the connection metrics, then as many of the newest HTTP
//! requests as fit, status coloured by class.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use sluice_agent::config::ConsoleColor;

use super::{ConsoleView, RequestLine};

/// Width of the label column.
const LABEL: usize = 30;

fn field(label: &str, value: &str) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!("{label:<LABEL$}")),
        Span::raw(value.to_owned()),
    ])
}

/// Seconds, two decimals, from nanoseconds (ngrok's `p50`/`p90` columns).
fn secs(nanos: f64) -> String {
    format!("{:.2}", nanos / 1e9)
}

fn status_style(status: &str) -> Style {
    let colour = match status.as_bytes().first() {
        Some(b'2') => Color::Green,
        Some(b'3') => Color::Cyan,
        Some(b'4') => Color::Yellow,
        Some(b'5') => Color::Red,
        _ => return Style::default(),
    };
    Style::default().fg(colour)
}

fn request(r: &RequestLine, path_width: usize) -> Line<'static> {
    let mut path: String = r.path.chars().take(path_width).collect();
    if r.path.chars().count() > path_width && path_width > 1 {
        path.pop();
        path.push('…');
    }
    Line::from(vec![
        Span::raw(format!("{}  ", r.time)),
        Span::raw(format!("{:<7} ", r.method)),
        Span::raw(format!("{path:<path_width$} ")),
        Span::styled(r.status.clone(), status_style(&r.status)),
    ])
}

/// The lines of `view` for a screen `area` tall and wide.
pub fn lines(view: &ConsoleView, area: Rect) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let session_colour = if view.session == "online" {
        Color::Green
    } else {
        Color::Yellow
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled("sluice", bold.fg(Color::Cyan)),
            Span::raw(format!(
                "{:>width$}",
                "(Ctrl+C to quit)",
                width = usize::from(area.width).saturating_sub(6)
            )),
        ]),
        Line::default(),
        Line::from(vec![
            Span::raw(format!("{:<LABEL$}", "Session Status")),
            Span::styled(view.session.clone(), Style::default().fg(session_colour)),
        ]),
        field("Account", &view.account),
        field("Version", &view.version),
        field("Region", &view.edge),
        field("Latency", &view.latency),
    ];
    if let Some(web) = &view.web {
        out.push(field("Web Interface", web));
    }
    for f in &view.forwarding {
        out.push(field("Forwarding", f));
    }
    out.push(Line::default());
    let c = &view.metrics.conns;
    out.push(field(
        "Connections",
        &format!(
            "{:<8}{:<8}{:<8}{:<8}{:<8}{:<8}",
            "ttl", "opn", "rt1", "rt5", "p50", "p90"
        ),
    ));
    out.push(field(
        "",
        &format!(
            "{:<8}{:<8}{:<8.2}{:<8.2}{:<8}{:<8}",
            c.count,
            c.gauge,
            c.rate1,
            c.rate5,
            secs(c.p50),
            secs(c.p90)
        ),
    ));
    for w in &view.warnings {
        out.push(Line::styled(
            format!("warning: {w}"),
            Style::default().fg(Color::Yellow),
        ));
    }
    out.push(Line::default());
    out.push(Line::styled("HTTP Requests", bold));
    out.push(Line::from("-------------"));
    out.push(Line::default());
    let room = usize::from(area.height).saturating_sub(out.len());
    // time (16) + method (8) + status (~25) around the path.
    let path_width = usize::from(area.width)
        .saturating_sub(16 + 2 + 8 + 1 + 25)
        .max(8);
    out.extend(
        view.requests
            .iter()
            .take(room)
            .map(|r| request(r, path_width)),
    );
    out
}

/// Draws `view` on the whole frame.
pub fn draw(frame: &mut Frame<'_>, view: &ConsoleView) {
    let area = frame.area();
    let background = match view.color {
        ConsoleColor::Black => Style::default().bg(Color::Black).fg(Color::White),
        ConsoleColor::Transparent => Style::default(),
    };
    let text = lines(view, area);
    frame.render_widget(
        Paragraph::new(text).block(Block::default().style(background)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::console::RequestLine;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use sluice_agent::metrics::MetricsSnapshot;

    fn view(requests: usize) -> ConsoleView {
        let mut metrics = MetricsSnapshot::default();
        metrics.conns.count = 12;
        metrics.conns.gauge = 1;
        metrics.conns.rate1 = 0.25;
        metrics.conns.p50 = 1.5e9;
        metrics.conns.p90 = 3.25e9;
        ConsoleView {
            session: "online".into(),
            account: "local".into(),
            version: "0.1.0".into(),
            edge: "127.0.0.1:4443".into(),
            latency: "412µs".into(),
            web: Some("http://127.0.0.1:4040".into()),
            forwarding: vec![
                "http://a.localhost:8080 -> http://localhost:3000".into(),
                "tcp://localhost:20001 -> tcp://localhost:22".into(),
            ],
            metrics,
            requests: (0..requests)
                .map(|i| RequestLine {
                    time: format!("12:00:{i:02}.000 UTC"),
                    method: "GET".into(),
                    path: format!("/item/{i}"),
                    status: if i == 0 { "404 Not Found" } else { "200 OK" }.into(),
                })
                .collect(),
            warnings: vec![],
            color: ConsoleColor::Transparent,
        }
    }

    fn screen(
        view: &ConsoleView,
        w: u16,
        h: u16,
    ) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let mut terminal = Terminal::new(TestBackend::new(w, h))?;
        terminal.draw(|f| draw(f, view))?;
        let buffer = terminal.backend().buffer().clone();
        Ok((0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect())
    }

    #[test]
    fn draws_the_session_metrics_and_the_requests_that_fit()
    -> Result<(), Box<dyn std::error::Error>> {
        let v = view(50);
        let rows = screen(&v, 100, 24)?;
        assert!(rows[0].starts_with("sluice") && rows[0].ends_with("(Ctrl+C to quit)"));
        let find = |label: &str| rows.iter().find(|r| r.starts_with(label)).cloned();
        assert_eq!(
            find("Session Status").as_deref(),
            Some(format!("{:<30}online", "Session Status").as_str())
        );
        assert!(find("Account").is_some_and(|r| r.ends_with("local")));
        assert!(find("Latency").is_some_and(|r| r.ends_with("412µs")));
        assert!(find("Web Interface").is_some_and(|r| r.ends_with("http://127.0.0.1:4040")));
        let forwarding: Vec<_> = rows
            .iter()
            .filter(|r| r.starts_with("Forwarding"))
            .collect();
        assert_eq!(forwarding.len(), 2);
        let conns = rows
            .iter()
            .position(|r| r.starts_with("Connections"))
            .ok_or("no Connections")?;
        assert!(rows[conns].contains("ttl     opn     rt1     rt5     p50     p90"));
        assert_eq!(
            rows[conns + 1].trim(),
            "12      1       0.25    0.00    1.50    3.25"
        );
        // The newest request first; only as many as fit in 24 rows.
        let first = rows
            .iter()
            .position(|r| r.contains("/item/0"))
            .ok_or("no requests")?;
        assert!(rows[first].ends_with("404 Not Found"));
        assert!(rows[first + 1].contains("/item/1") && rows[first + 1].ends_with("200 OK"));
        assert_eq!(
            rows.iter().filter(|r| r.contains("/item/")).count(),
            24 - first
        );
        // A taller screen shows more of them (what a resize redraw does).
        let taller = screen(&v, 100, 40)?;
        assert_eq!(
            taller.iter().filter(|r| r.contains("/item/")).count(),
            40 - first
        );
        Ok(())
    }

    #[test]
    fn long_paths_are_cut_to_the_width() -> Result<(), Box<dyn std::error::Error>> {
        let mut v = view(1);
        v.requests[0].path = format!("/{}", "x".repeat(300));
        let rows = screen(&v, 80, 30)?;
        let line = rows
            .iter()
            .find(|r| r.contains("/xxx"))
            .ok_or("no request")?;
        assert!(
            line.contains('…') && line.ends_with("404 Not Found"),
            "{line}"
        );
        Ok(())
    }
}
