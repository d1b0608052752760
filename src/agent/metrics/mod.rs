/*!
Fleet health as Prometheus metrics (issue 16, docs/fleet.md): a plain [`MetricsSnapshot`]
gathered from the daemon's state and the catalog ([`gather`]), the pure text rendering of it
([`render::render`]), the node_exporter textfile written atomically ([`textfile`]) and the
optional HTTP `/metrics` listener ([`serve`]). [`Exporter`] is the thread that measures free
space (bounded: a disk that stops answering never holds it), renders and publishes.

Labels are bounded on purpose: sources (the configuration), targets (the attached static folders
and enrolled disks), off-site stores (the configuration) and the typed failure kinds. No backup
name or time ever becomes a label.
*/

pub mod render;
pub mod serve;
pub mod textfile;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::{DiskPhase, State};
use crate::catalog::Catalog;
use crate::config::{Config, Role};

/// Everything one rendering of the metrics says. Plain data: [`render::render`] is pure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// The agent's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The commit it was built from, when the build said (`SIMDONDAR_BUILD_COMMIT`).
    pub commit: Option<String>,
    /// When this snapshot was taken (Unix seconds).
    pub generated_unix: i64,
    pub sources: Vec<SourceHealth>,
    pub targets: Vec<TargetHealth>,
    /// Per source and attached target: the verified copies present.
    pub copies: Vec<CopiesHealth>,
    /// The newest verified copy on a manual-role disk (the SOP's manual backup).
    pub last_manual_copy_unix: Option<i64>,
    /// `[schedule] manual_reminder`: a manual copy is due this often.
    pub manual_copy_interval_secs: u64,
    /// The newest restore test: when, and whether it passed.
    pub restore_test: Option<(i64, bool)>,
    /// `[schedule] restore_test` (`None`: never scheduled).
    pub restore_test_interval_secs: Option<u64>,
    pub offsite: Vec<OffsiteHealth>,
}

/// One source's runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceHealth {
    pub name: String,
    pub interval_secs: u64,
    /// The end of the newest successful (verified) run.
    pub last_success_unix: Option<i64>,
    /// The start of the newest finished run, and whether it succeeded.
    pub last_attempt_unix: Option<i64>,
    pub last_attempt_ok: Option<bool>,
    /// How long the newest finished run took.
    pub last_duration_secs: Option<f64>,
    /// Bytes stored by the newest successful run (one copy).
    pub last_stored_bytes: Option<u64>,
    /// Finished runs by result: `ok` or a failure kind's stable name (`crate::kinds`).
    pub runs: BTreeMap<String, u64>,
}

/// One attached target: a static folder or an enrolled, mounted disk.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealth {
    /// The disk's label, or the folder's name.
    pub name: String,
    pub role: Role,
    /// Where it is mounted (not rendered: a path is no label).
    pub root: PathBuf,
    pub free_bytes: Option<u64>,
    pub size_bytes: Option<u64>,
}

/// The verified copies of one source on one attached target, as the catalog knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiesHealth {
    pub source: String,
    pub target: String,
    /// Copies written and read back, not removed by retention, not found bad since.
    pub verified: u64,
    /// When the newest of them was recorded.
    pub last_success_unix: Option<i64>,
}

/// One off-site store ([[offsite]]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsiteHealth {
    pub name: String,
    /// Bytes of verified local backups the schedule sends that are not verified remotely yet.
    pub pending_bytes: u64,
    /// The newest remote copy whose read-back matched.
    pub last_verified_unix: Option<i64>,
    /// Whether the newest upload attempt succeeded (`None`: none yet).
    pub last_attempt_ok: Option<bool>,
}

fn unix(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// The snapshot, from the state (targets, disks) and the catalog (runs, copies, tests). Free
/// space is left `None`: the [`Exporter`] measures it off the event loop. A catalog that cannot
/// be read leaves the parts it would fill empty (and is logged), never fails the snapshot.
pub fn gather(
    cfg: &Config,
    state: &State,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> MetricsSnapshot {
    let mut snap = MetricsSnapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: option_env!("SIMDONDAR_BUILD_COMMIT").map(String::from),
        generated_unix: now.timestamp(),
        manual_copy_interval_secs: secs(cfg.schedule.manual_reminder),
        restore_test_interval_secs: cfg.schedule.restore_test.map(secs),
        ..MetricsSnapshot::default()
    };
    let problem = |what: &str, e: &dyn std::fmt::Display| {
        log::debug!("metrics: cannot read {what} from the catalog: {e}");
    };
    for s in &cfg.sources {
        match source_health(catalog, &s.name) {
            Ok(mut h) => {
                h.interval_secs = secs(s.interval);
                snap.sources.push(h);
            }
            Err(e) => problem("the runs", &e),
        }
    }
    for t in &state.static_targets {
        snap.targets.push(TargetHealth {
            name: state.target_label(&t.root),
            role: t.role,
            root: t.root.clone(),
            free_bytes: None,
            size_bytes: None,
        });
    }
    for d in state.disks.values() {
        let Some(v) = &d.view else { continue };
        let (Some(role), Some(point)) = (v.role, &v.mounted_at) else {
            continue;
        };
        if d.phase != DiskPhase::Ready {
            continue;
        }
        snap.targets.push(TargetHealth {
            name: state.target_label(point),
            role,
            root: point.clone(),
            free_bytes: None,
            size_bytes: (v.size_bytes > 0).then_some(v.size_bytes),
        });
    }
    for t in &snap.targets {
        match copies_on(catalog, t) {
            Ok(v) => snap.copies.extend(v),
            Err(e) => problem("the copies", &e),
        }
    }
    snap.last_manual_copy_unix = match catalog.last_manual_copy() {
        Ok(t) => t.as_deref().and_then(unix),
        Err(e) => {
            problem("the manual copies", &e);
            state.last_manual_copy.map(|t| t.timestamp())
        }
    };
    snap.restore_test = match catalog.last_restore_test() {
        Ok(t) => t.and_then(|t| Some((unix(&t.tested_at)?, t.passed))),
        Err(e) => {
            problem("the restore tests", &e);
            state.last_restore_test.map(|(t, ok)| (t.timestamp(), ok))
        }
    };
    // Each store's last pass (pending bytes, success) and newest verified remote copy.
    snap.offsite = Vec::new();
    for o in &cfg.offsite {
        let attempt = catalog.last_offsite_attempt(&o.name).unwrap_or_else(|e| {
            log::warn!("metrics: the off-site passes: {e}");
            None
        });
        let verified = catalog.last_offsite_verified(&o.name).unwrap_or_else(|e| {
            log::warn!("metrics: the off-site copies: {e}");
            None
        });
        snap.offsite.push(OffsiteHealth {
            name: o.name.clone(),
            pending_bytes: attempt.as_ref().map(|a| a.pending).unwrap_or(0),
            last_verified_unix: verified.as_deref().and_then(unix),
            last_attempt_ok: attempt.map(|a| a.failure.is_none()),
        });
    }
    snap
}

fn source_health(catalog: &Catalog, source: &str) -> rusqlite::Result<SourceHealth> {
    let c = catalog.connection();
    let mut h = SourceHealth {
        name: source.to_string(),
        ..SourceHealth::default()
    };
    let ok: Option<(Option<String>, Option<i64>)> = c
        .query_row(
            "SELECT finished_at, bytes_stored FROM runs WHERE source = ?1 AND status = 'ok'
             ORDER BY id DESC LIMIT 1",
            [source],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(none_if_no_rows)?;
    if let Some((finished, bytes)) = ok {
        h.last_success_unix = finished.as_deref().and_then(unix);
        h.last_stored_bytes = bytes.map(|b| b.max(0) as u64);
    }
    let last: Option<(String, Option<String>, String)> = c
        .query_row(
            "SELECT started_at, finished_at, status FROM runs
             WHERE source = ?1 AND status != 'running' ORDER BY id DESC LIMIT 1",
            [source],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(none_if_no_rows)?;
    if let Some((started, finished, status)) = last {
        h.last_attempt_unix = unix(&started);
        h.last_attempt_ok = Some(status == "ok");
        let (s, f) = (
            DateTime::parse_from_rfc3339(&started).ok(),
            finished
                .as_deref()
                .and_then(|f| DateTime::parse_from_rfc3339(f).ok()),
        );
        if let (Some(s), Some(f)) = (s, f) {
            h.last_duration_secs = Some(((f - s).num_milliseconds().max(0) as f64) / 1000.0);
        }
    }
    let mut st = c.prepare(
        "SELECT status, failure, COUNT(*) FROM runs
         WHERE source = ?1 AND status != 'running' GROUP BY status, failure",
    )?;
    let rows = st.query_map([source], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (status, failure, n) = row?;
        // Only the typed kinds' stable names (a bounded set); anything else is "other".
        let result = if status == "ok" {
            "ok".to_string()
        } else {
            failure
                .as_deref()
                .and_then(crate::kinds::RunFailure::parse)
                .map(|k| k.as_str().to_string())
                .unwrap_or_else(|| "other".into())
        };
        *h.runs.entry(result).or_default() += n.max(0) as u64;
    }
    Ok(h)
}

fn none_if_no_rows<T>(e: rusqlite::Error) -> rusqlite::Result<Option<T>> {
    match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    }
}

/// The verified copies per source on one target: written and read back (a copy row `ok`), not
/// removed by retention, and not found bad by the newest verification of it.
fn copies_on(catalog: &Catalog, t: &TargetHealth) -> rusqlite::Result<Vec<CopiesHealth>> {
    let c = catalog.connection();
    let root = t.root.display().to_string();
    let gone: std::collections::HashSet<String> = {
        let mut st = c.prepare("SELECT path FROM pruned WHERE target = ?1")?;
        let v = st
            .query_map([&root], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        v
    };
    let bad: std::collections::HashSet<String> = {
        // The newest verification of each path decides.
        let mut st = c.prepare(
            "SELECT path FROM verifications v WHERE target = ?1 AND ok = 0
             AND id = (SELECT MAX(id) FROM verifications w WHERE w.target = v.target AND w.path = v.path)",
        )?;
        let v = st
            .query_map([&root], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        v
    };
    let mut st = c.prepare(
        "SELECT r.source, c.path, c.recorded_at FROM copies c JOIN runs r ON r.id = c.run_id
         WHERE c.target = ?1 AND c.status = 'ok' AND c.path IS NOT NULL ORDER BY c.id",
    )?;
    let rows = st.query_map([&root], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut per: BTreeMap<String, CopiesHealth> = BTreeMap::new();
    for row in rows {
        let (source, path, at) = row?;
        let abs = t.root.join(&path).display().to_string();
        if gone.contains(&abs) || bad.contains(&abs) {
            continue;
        }
        let e = per.entry(source.clone()).or_insert_with(|| CopiesHealth {
            source,
            target: t.name.clone(),
            verified: 0,
            last_success_unix: None,
        });
        e.verified += 1;
        if let Some(u) = unix(&at) {
            e.last_success_unix = Some(e.last_success_unix.map_or(u, |x| x.max(u)));
        }
    }
    Ok(per.into_values().collect())
}

/// The latest rendered text, shared with the HTTP listener.
pub type Latest = Arc<Mutex<String>>;

/// The thread that measures free space, renders, writes the textfile and updates [`Latest`].
/// The event loop hands it snapshots and never waits for it: when it is busy, a newer snapshot
/// is offered again at the next tick.
pub struct Exporter {
    tx: SyncSender<MetricsSnapshot>,
    pub latest: Latest,
}

/// How long free space on one target is waited for.
const SPACE_WAIT: Duration = Duration::from_secs(5);

impl Exporter {
    /// Starts the thread; `textfile` is written after every snapshot when set.
    pub fn start(textfile: Option<PathBuf>) -> Exporter {
        let (tx, rx) = sync_channel::<MetricsSnapshot>(1);
        let latest: Latest = Arc::new(Mutex::new(String::new()));
        let shared = latest.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || export_loop(rx, textfile, shared));
        if let Err(e) = spawned {
            log::error!("metrics: cannot start the exporter thread: {e}");
        }
        Exporter { tx, latest }
    }

    /// Hands over a snapshot; never blocks. `false`: the exporter is still busy with the previous
    /// one (offer a newer one soon).
    pub fn offer(&self, snap: MetricsSnapshot) -> bool {
        match self.tx.try_send(snap) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                log::debug!("metrics: the exporter thread is gone");
                true
            }
        }
    }
}

fn export_loop(rx: Receiver<MetricsSnapshot>, textfile: Option<PathBuf>, latest: Latest) {
    let mut writer = textfile.map(textfile::Writer::new);
    // Roots whose free space did not come within SPACE_WAIT: not asked again (their thread may
    // still be stuck in the kernel).
    let mut hung: Vec<PathBuf> = Vec::new();
    for mut snap in rx {
        for t in &mut snap.targets {
            if hung.contains(&t.root) {
                continue;
            }
            let root = t.root.clone();
            match crate::bounded::within(SPACE_WAIT, "metrics-space", move || {
                crate::util::space(&root)
            }) {
                Ok(Ok((free, total))) => {
                    t.free_bytes = Some(free);
                    t.size_bytes = Some(total);
                }
                Ok(Err(e)) => log::debug!("metrics: free space of {}: {e}", t.root.display()),
                Err(_) => {
                    log::warn!(
                        "metrics: {} did not say its free space within {} s; not asked again",
                        t.root.display(),
                        SPACE_WAIT.as_secs()
                    );
                    hung.push(t.root.clone());
                }
            }
        }
        let text = render::render(&snap);
        if let Some(w) = &mut writer {
            let _ = w.write(&text);
        }
        if let Ok(mut l) = latest.lock() {
            *l = text;
        }
    }
}
