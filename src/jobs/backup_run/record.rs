/*!
Recording how a backup run ended: every copy and the run in the catalog, then both in the audit
log; and the one-line summary of the copies when not all of them were written.
*/

use super::{Run, RunError, RunReport};
use crate::backup::writer::CopyOutcome;
use crate::catalog::{CopyRow, RunEnd};
use crate::kinds::{CopyFailure, RunFailure};

/// Records the end of the run: `report` takes the verdict of `end`, the catalog records every
/// copy and the run, and the audit log every copy and the run.
pub(super) fn record_end(
    run: &Run<'_>,
    report: &mut RunReport,
    end: RunEnd,
) -> Result<(), RunError> {
    let (catalog, run_id, trigger) = (run.catalog, run.run_id, run.trigger);
    report.ok = end.ok;
    report.reason = end.reason.clone();
    report.failure = end.failure.as_deref().and_then(RunFailure::parse);
    for c in &report.copies {
        catalog.record_copy(&CopyRow {
            run_id,
            target: c.target.root.display().to_string(),
            path: Some(c.relative_path.clone()),
            role: Some(c.target.role.as_str().to_string()),
            ok: c.result.is_ok(),
            reason: c.result.as_ref().err().map(|e| e.message.clone()),
            failure: c.failure().map(|k| k.as_str().to_string()),
            bytes: c.result.as_ref().ok().copied(),
            recorded_at: run.now(),
        })?;
    }
    catalog.finish_run(run_id, &end)?;
    let actor = match trigger {
        super::Trigger::Cli => crate::audit::cli_actor(),
        t => format!("daemon:{}", t.as_str()),
    };
    for c in &report.copies {
        crate::audit::record(
            catalog,
            &actor,
            "copy",
            &serde_json::json!({
                "run": run_id,
                "target": c.target.root.display().to_string(),
                "path": c.relative_path,
                "role": c.target.role.as_str(),
                "ok": c.result.is_ok(),
                "error": c.result.as_ref().err().map(|e| e.message.as_str()),
                "failure": c.failure().map(CopyFailure::as_str),
            }),
        );
    }
    crate::audit::record(
        catalog,
        &actor,
        "run",
        &serde_json::json!({
            "run": run_id,
            "source": report.source,
            "trigger": trigger.as_str(),
            "ok": end.ok,
            "reason": end.reason,
            "failure": end.failure,
            "sha256": end.sha256,
            "copies_ok": end.copies_ok,
            "copies_total": end.copies_total,
        }),
    );
    Ok(())
}

/// Ends a run that failed before any byte was streamed (the source did not start, or no target
/// could be opened) and records it.
pub(super) fn fail_before_stream(
    run: &Run<'_>,
    mut report: RunReport,
    reason: String,
    kind: RunFailure,
) -> Result<RunReport, RunError> {
    let end = RunEnd {
        ok: false,
        finished_at: run.now(),
        reason: Some(reason),
        failure: Some(kind.as_str().to_string()),
        copies_total: run.targets.len() as u32,
        ..RunEnd::default()
    };
    record_end(run, &mut report, end)?;
    Ok(report)
}

/// "1 of 2 copies written; /mnt/x: disk full while writing", with the first failed copy's kind.
pub(super) fn summarize_copies(copies: &[CopyOutcome], total: usize) -> (String, RunFailure) {
    let ok = copies.iter().filter(|c| c.result.is_ok()).count();
    let first = copies.iter().find_map(|c| c.result.as_ref().err());
    let (words, kind) = match first {
        Some(e) => (e.message.as_str(), RunFailure::Copy(e.kind)),
        None => ("unknown error", RunFailure::Other),
    };
    (format!("{ok} of {total} copies written; {words}"), kind)
}
