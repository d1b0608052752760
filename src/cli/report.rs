/*!
`report`: the SOP report for a range of days.
*/

use std::io::Write;
use std::path::Path;

use super::args::ReportFormat;
use super::{load, Failure};
use crate::catalog::Catalog;

pub(super) fn cmd_report(
    config_path: &Path,
    from: &str,
    to: &str,
    format: ReportFormat,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let parse = |s: &str, what: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| Failure::Usage(format!("--{what} {s}: write the date as YYYY-MM-DD")))
    };
    let (from, to) = (parse(from, "from")?, parse(to, "to")?);
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let r = crate::report::sop_report(&cat, &cfg, from, to).map_err(|e| match e {
        crate::report::ReportError::Period { .. } | crate::report::ReportError::TooLong { .. } => {
            Failure::Usage(e.to_string())
        }
        e => Failure::Failed(e.to_string()),
    })?;
    let text = match format {
        ReportFormat::Csv => r.to_csv(),
        ReportFormat::Html => r.to_html(),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::Failed(format!("cannot write the report: {e}")))
}
