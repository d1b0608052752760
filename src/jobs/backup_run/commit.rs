/*!
The end of a backup run's stream: with a good verdict, every writer is given its manifest and
commits (read-back, rename, sidecar, manifest), retention runs on each target whose copy is
published, the paperwork is written and the run is recorded; with a bad one, every writer is told
to abort and the run is recorded as failed.
*/

use std::collections::BTreeMap;

use chrono::Utc;

use super::paperwork::{publish_disk_documents, publish_paperwork};
use super::pruning::prune_target;
use super::record::{record_end, summarize_copies};
use super::settle::settle;
use super::stream::Failed;
use super::{rfc3339, Run, RunError, RunReport};
use crate::backup::manifest::{Manifest, FORMAT};
use crate::backup::pipeline::Streamed;
use crate::backup::source::SourceInfo;
use crate::backup::writer::{Msg, WriterHandle};
use crate::catalog::RunEnd;
use crate::kinds::CopyFailure;

/// The manifests of this run's stored streams: (clear, encrypted), each when that stream exists.
fn manifests(
    run: &Run<'_>,
    s: &Streamed,
    info: &SourceInfo,
    tables: BTreeMap<String, u64>,
) -> (Option<Manifest>, Option<Manifest>) {
    let (config, source) = (run.config, run.source);
    let finished = Utc::now().with_timezone(&run.tz);
    let base = Manifest {
        format: FORMAT,
        source: source.name.clone(),
        kind: source.kind.as_str().to_string(),
        started_at: rfc3339(&run.started),
        finished_at: rfc3339(&finished),
        databases: info.databases.clone(),
        server_version: info.server_version.clone(),
        compression: "zstd".into(),
        compression_level: Some(config.compression.level),
        encrypted: false,
        recipients: Vec::new(),
        bytes_raw: s.bytes_raw,
        bytes_stored: 0,
        sha256: String::new(),
        parts: vec![run.name.data_file.clone()],
        tables,
        tool_version: format!("simdondar-backup {}", env!("CARGO_PKG_VERSION")),
        dump_tool: info.dump_tool.clone(),
        consistency: info.consistency.clone(),
        trigger: Some(run.trigger.as_str().to_string()),
        role: None,
        fs_driver: None,
        clock_synchronized: crate::clock::is_synchronized(),
        host: crate::clock::hostname(),
    };
    let clear_manifest = s.clear.as_ref().map(|c| Manifest {
        bytes_stored: c.bytes,
        sha256: c.sha256.clone(),
        ..base.clone()
    });
    let enc_manifest = s.encrypted.as_ref().map(|c| Manifest {
        encrypted: true,
        recipients: config.encryption.recipients.clone(),
        bytes_stored: c.bytes,
        sha256: c.sha256.clone(),
        parts: vec![run.enc_name.data_file.clone()],
        ..base.clone()
    });
    (clear_manifest, enc_manifest)
}

/// Keeps the copies of a good stream: commits every writer, applies retention, writes the
/// paperwork and records the run.
pub(super) fn keep(
    run: &Run<'_>,
    s: Streamed,
    info: SourceInfo,
    tables: BTreeMap<String, u64>,
    writers: Vec<WriterHandle>,
    mut report: RunReport,
) -> Result<RunReport, RunError> {
    let (config, catalog, total) = (run.config, run.catalog, run.targets.len());
    let (clear_manifest, enc_manifest) = manifests(run, &s, &info, tables);
    // Every writer is told at once, then each verdict is collected: the read-backs of
    // the targets overlap, and a disk that stopped answering delays none of the others.
    for w in &writers {
        let m = if w.encrypted {
            &enc_manifest
        } else {
            &clear_manifest
        };
        let stored = if w.encrypted { &s.encrypted } else { &s.clear };
        if let Some(lane) = w.lane() {
            lane.send(match (m, stored) {
                (Some(m), Some(st)) => Msg::Commit {
                    manifest: Box::new(m.clone()),
                    xxh3: st.xxh3,
                },
                _ => Msg::Abort,
            });
        }
    }
    for w in writers {
        report.copies.push(w.finish());
    }
    // Retention only after the new copy on that target is verified and published.
    for c in report.copies.iter().filter(|c| c.result.is_ok()) {
        report
            .pruned
            .extend(prune_target(config, catalog, &c.target, &run.source.name));
    }
    publish_paperwork(config, catalog, &report.copies);
    let ok_count = report.copies.iter().filter(|c| c.result.is_ok()).count();
    let all_ok = ok_count == total;
    let manifest = clear_manifest.or(enc_manifest);
    let summary = (!all_ok).then(|| summarize_copies(&report.copies, total));
    let end = RunEnd {
        ok: all_ok,
        finished_at: run.now(),
        failure: summary.as_ref().map(|(_, k)| k.as_str().to_string()),
        reason: summary.map(|(r, _)| r),
        bytes_raw: Some(s.bytes_raw),
        bytes_stored: manifest.as_ref().map(|m| m.bytes_stored),
        sha256: manifest.as_ref().map(|m| m.sha256.clone()),
        copies_ok: ok_count as u32,
        copies_total: total as u32,
        warnings: info.warnings,
    };
    report.manifest = manifest;
    record_end(run, &mut report, end)?;
    publish_disk_documents(config, catalog, &report.copies);
    settle(&report.copies, run.stall);
    Ok(report)
}

/// Discards the copies of a failed stream: every writer aborts (removing what it wrote), and the
/// run is recorded with the reason.
pub(super) fn discard(
    run: &Run<'_>,
    failed: Failed,
    writers: Vec<WriterHandle>,
    mut report: RunReport,
) -> Result<RunReport, RunError> {
    for w in &writers {
        if let Some(lane) = w.lane() {
            lane.send(Msg::Abort);
        }
    }
    for w in writers {
        let mut outcome = w.finish();
        if let (Err(e), Some((reason, _))) = (&mut outcome.result, &failed) {
            // A copy that failed by itself keeps its own kind and words.
            if e.kind == CopyFailure::Aborted {
                e.message = format!("not kept: {reason}");
            }
        }
        report.copies.push(outcome);
    }
    let total = run.targets.len();
    let (reason, kind) = failed.unwrap_or_else(|| summarize_copies(&report.copies, total));
    let end = RunEnd {
        ok: false,
        finished_at: run.now(),
        reason: Some(reason),
        failure: Some(kind.as_str().to_string()),
        copies_total: total as u32,
        ..RunEnd::default()
    };
    record_end(run, &mut report, end)?;
    settle(&report.copies, run.stall);
    Ok(report)
}
