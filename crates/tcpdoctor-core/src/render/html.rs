//! The exporter's `/` page: the verdict, the findings by severity with
//! their evidence and remedy, which namespaces, and when they were last
//! computed. One self-contained page: no scripts, no external assets, and
//! every value escaped (process names and peers come from the host).

use crate::diagnose::{Diagnosis, Severity};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What the page says besides the findings.
pub(crate) struct PageInfo<'a> {
    /// Which namespaces are read ("current", "all", a name).
    pub netns: &'a str,
    /// When the findings were computed (Unix seconds; 0 before the first
    /// refresh) and how long that took.
    pub refreshed_unix: u64,
    pub duration_s: f64,
}

/// "2026-11-30 01:02:03 UTC".
fn utc(unix: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm), so the page needs
    // no time crate.
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}\
    h2{margin-top:1.5em}.finding{border-left:4px solid #888;padding:.2em .8em;margin:.8em 0}\
    .critical{border-color:#c00}.warning{border-color:#e90}.info{border-color:#39c}\
    dl{display:grid;grid-template-columns:max-content auto;gap:0 1em;font-family:monospace}\
    dd{margin:0}.meta{color:#555}";

/// The page for `diagnosis` (None before the first refresh).
pub(crate) fn findings_page(diagnosis: Option<&Diagnosis>, info: &PageInfo) -> String {
    let mut body = String::new();
    let verdict = diagnosis.map_or("no diagnosis yet", |d| d.summary.verdict.as_str());
    body.push_str(&format!("<p><strong>{}</strong></p>\n", escape(verdict)));
    let refreshed = if info.refreshed_unix == 0 {
        "not yet".to_string()
    } else {
        format!(
            "{} (took {:.2} s)",
            utc(info.refreshed_unix),
            info.duration_s
        )
    };
    body.push_str(&format!(
        "<p class=\"meta\">network namespaces: {} &middot; last refresh: {} &middot; \
         <a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a></p>\n",
        escape(info.netns),
        escape(&refreshed)
    ));
    let findings = diagnosis.map_or(&[][..], |d| d.findings.as_slice());
    for sev in [Severity::Critical, Severity::Warning, Severity::Info] {
        let of: Vec<_> = findings.iter().filter(|f| f.severity == sev).collect();
        if of.is_empty() {
            continue;
        }
        body.push_str(&format!("<h2>{} ({})</h2>\n", sev.name(), of.len()));
        for f in of {
            let ns = f.netns.as_deref().map_or_else(String::new, |n| {
                format!(" <span class=\"meta\">[{}]</span>", escape(n))
            });
            body.push_str(&format!(
                "<div class=\"finding {}\" id=\"{}\"><h3>{}{ns}</h3><p class=\"meta\">{} \
                 &middot; {}</p>\n<dl>",
                sev.name(),
                escape(f.id),
                escape(&f.title),
                escape(f.id),
                escape(&f.subject)
            ));
            for (k, v) in &f.evidence.0 {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                body.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v)));
            }
            body.push_str(&format!(
                "</dl>\n<p>{}</p>\n<p><strong>Remedy:</strong> {}</p></div>\n",
                escape(&f.explanation),
                escape(&f.remedy)
            ));
        }
    }
    if findings.is_empty() && diagnosis.is_some() {
        body.push_str("<p>No findings.</p>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>tcpdoctor</title>\
         <style>{STYLE}</style></head>\n<body>\n<h1>tcpdoctor</h1>\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escaping() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_999_000), "2026-11-30 00:36:40 UTC");
        assert_eq!(escape("<b a='1'>&\""), "&lt;b a=&#39;1&#39;&gt;&amp;&quot;");
        let page = findings_page(
            None,
            &PageInfo {
                netns: "<all>",
                refreshed_unix: 0,
                duration_s: 0.0,
            },
        );
        assert!(page.contains("&lt;all&gt;") && !page.contains("<all>"));
        assert!(
            !page.contains("<script") && !page.contains("http"),
            "self-contained"
        );
    }
}
