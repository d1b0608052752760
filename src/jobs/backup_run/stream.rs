/*!
The stream of a backup run and its verdict: the source's output through the pipeline to every
writer (rows per table counted from a `mysql` dump as it passes), then the source judged
(DESIGN.md §4.1). The verdict says whether the copies may be kept, and if not, why.
*/

use std::collections::BTreeMap;

use super::Run;
use crate::backup::pipeline::{self, Hooks, StreamError};
use crate::backup::rowcount::RowCounter;
use crate::backup::source::{self, Running, SourceError};
use crate::backup::writer::WriterHandle;
use crate::config::SourceKind;
use crate::kinds::RunFailure;

/// Why the copies may not be kept: `None` when every target failed (the copies say why),
/// `Some((reason, kind))` when the run failed.
pub(super) type Failed = Option<(String, RunFailure)>;

/// The stream's outcome with the source's verdict, and the rows per table (manifest `tables`).
pub(super) struct Judged {
    pub verdict: Result<(pipeline::Streamed, source::SourceInfo), Failed>,
    pub tables: BTreeMap<String, u64>,
}

/// Streams the source to the writers and judges the source's output.
pub(super) fn stream_and_judge(
    run: &Run<'_>,
    mut running: Running,
    writers: &[WriterHandle],
    hooks: &Hooks<'_>,
) -> Judged {
    // Rows per table are counted from the raw dump while it streams (manifest `tables`).
    let mut rows = matches!(run.source.kind, SourceKind::Mysql(_)).then(RowCounter::new);
    let mut observe = |b: &[u8]| {
        if let Some(r) = rows.as_mut() {
            r.feed(b);
        }
    };
    let streamed = pipeline::stream(
        &mut running,
        writers,
        &run.config.compression,
        &run.recipients,
        Some(&mut observe),
        hooks,
    );
    let tables = rows.map(RowCounter::finish).unwrap_or_default();
    let verdict = match streamed {
        Ok(s) => match running.finish(&s.tail) {
            Ok(info) => Ok((s, info)),
            Err(e) => Err(Some((e.to_string(), e.kind()))),
        },
        Err(e) => {
            running.kill();
            let source_err: Option<SourceError> = running.finish(&[]).err();
            Err(match (e, source_err) {
                (StreamError::AllTargetsFailed, _) => None,
                (StreamError::Read(e), Some(se)) => Some((format!("{se} ({e})"), se.kind())),
                (e @ StreamError::Cancelled, _) => Some((e.to_string(), RunFailure::Cancelled)),
                // A source stopped by its watchdog ends the stream early: say so.
                (_, Some(se @ SourceError::Stalled { .. })) => Some((se.to_string(), se.kind())),
                (e, _) => Some((e.to_string(), RunFailure::Other)),
            })
        }
    };
    Judged { verdict, tables }
}
