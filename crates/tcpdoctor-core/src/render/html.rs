//! The exporter's `/` page: the current verdict and findings.

use crate::diagnose::Diagnosis;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `diagnosis` (None before the first refresh).
pub fn findings_page(diagnosis: Option<&Diagnosis>) -> String {
    let mut rows = String::new();
    if let Some(d) = diagnosis {
        for f in &d.findings {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                f.severity.name(),
                escape(f.id),
                escape(&f.title),
                escape(&f.remedy)
            ));
        }
    }
    let verdict = diagnosis.map_or("no diagnosis yet", |d| d.summary.verdict.as_str());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tcpdoctor</title></head>\
         <body>\n<h1>tcpdoctor</h1>\n<p>{}</p>\n<p><a href=\"/metrics\">/metrics</a> &middot; \
         <a href=\"/healthz\">/healthz</a></p>\n<table border=\"1\" cellpadding=\"4\"><tr>\
         <th>severity</th><th>finding</th><th>title</th><th>remedy</th></tr>\n{rows}</table>\n\
         </body></html>\n",
        escape(verdict)
    )
}
