/*!
The off-site job (issue 16, docs/offsite.md): one pass over every `[[offsite]]` store. For each:
the key is read and the bucket checked; uploads a previous pass left unfinished are resumed (or,
when their local file is gone, aborted on the store and forgotten); the backups the store's
`schedule` chooses from the given disks, not yet on the store, are prepared (encrypted), sent,
read back and only then recorded as verified, with the `.sha256` sidecar and the manifest beside
them, the manifest last; remote copies whose `check` is due are read back again. The outcome of
each store is recorded in the catalog (what `status`, the panel and the metrics show).

Nothing here touches a local backup: a store that fails never fails or delays a backup run, and
the daemon runs this job on its own thread.
*/

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use crate::backup::inventory::{self, Entry};
use crate::catalog::{Catalog, NewUpload, UploadRow, UploadState};
use crate::config::{Config, OffsiteConfig, OffsiteSchedule, S3Credentials};
use crate::kinds::{OffsiteError, OffsiteFailure};
use crate::offsite::keys::{manifest_key, object_key, sidecar_key};
use crate::offsite::s3::Store;
use crate::offsite::throttle::Pace;
use crate::offsite::{readback, stage, upload};

/// Backups older than this are not chosen for a first upload (a store added to a unit with a
/// year of backups sends the recent ones, not the whole history).
pub const CATCH_UP_DAYS: i64 = 14;

/// What one pass did on one store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreOutcome {
    pub name: String,
    /// Keys verified on the store in this pass.
    pub uploaded: Vec<String>,
    pub parts_sent: u32,
    /// Parts the store already held from an interrupted upload (not sent again).
    pub parts_kept: u32,
    pub bytes_sent: u64,
    /// Remote copies read back on their `check` schedule.
    pub checked: u32,
    /// Bytes of chosen backups still not verified on the store.
    pub pending_bytes: u64,
    /// Why the pass stopped early (or a check failed).
    pub failure: Option<OffsiteFailure>,
    pub message: Option<String>,
}

/// One off-site pass at a time, across the daemon and every CLI process
/// (`state_dir/locks/offsite.lock`, held exclusively for the pass).
fn take_lock(state_dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("offsite.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        "another off-site pass is running (the daemon's or a `simdondar-backup offsite push`): this one was not started"
            .to_string()
    })
}

/// Runs one pass over every store, drawing backups from the disks at `roots`. `Err` when another
/// pass holds the lock (nothing was done).
pub fn pass(
    cfg: &Config,
    roots: &[PathBuf],
    stop: &AtomicBool,
) -> Result<Vec<StoreOutcome>, String> {
    let _lock = take_lock(&cfg.state_dir)?;
    Ok(pass_locked(cfg, roots, stop))
}

fn pass_locked(cfg: &Config, roots: &[PathBuf], stop: &AtomicBool) -> Vec<StoreOutcome> {
    let catalog = match Catalog::open(&cfg.state_dir) {
        Ok(c) => c,
        Err(e) => {
            return cfg
                .offsite
                .iter()
                .map(|o| StoreOutcome {
                    name: o.name.clone(),
                    failure: Some(OffsiteFailure::Local),
                    message: Some(format!("off-site {}: {e}", o.name)),
                    ..StoreOutcome::default()
                })
                .collect()
        }
    };
    let entries: Vec<(PathBuf, Entry)> = roots
        .iter()
        .flat_map(|r| {
            inventory::scan(r)
                .unwrap_or_default()
                .into_iter()
                .map(move |e| (r.clone(), e))
        })
        .filter(|(_, e)| e.good().is_some())
        .collect();
    let mut out = Vec::new();
    for o in &cfg.offsite {
        let mut outcome = StoreOutcome {
            name: o.name.clone(),
            ..StoreOutcome::default()
        };
        if let Err(e) = store_pass(cfg, o, &catalog, &entries, stop, &mut outcome) {
            log::warn!("{e}");
            outcome.failure = Some(e.kind);
            outcome.message = Some(e.message);
        }
        let now = Utc::now().to_rfc3339();
        let detail = outcome.message.clone().unwrap_or_else(|| {
            format!(
                "{} uploaded, {} parts sent ({} bytes), {} parts kept, {} checked",
                outcome.uploaded.len(),
                outcome.parts_sent,
                outcome.bytes_sent,
                outcome.parts_kept,
                outcome.checked
            )
        });
        if let Err(e) = catalog.record_offsite_attempt(
            &o.name,
            &now,
            outcome.failure,
            &detail,
            outcome.pending_bytes,
        ) {
            log::error!("off-site {}: {e}", o.name);
        }
        crate::audit::record(&catalog, "agent", "offsite", &outcome);
        out.push(outcome);
    }
    out
}

fn store_pass(
    cfg: &Config,
    o: &OffsiteConfig,
    catalog: &Catalog,
    entries: &[(PathBuf, Entry)],
    stop: &AtomicBool,
    outcome: &mut StoreOutcome,
) -> Result<(), OffsiteError> {
    let creds = S3Credentials::load(&o.credentials_file).map_err(|m| {
        OffsiteError::new(
            OffsiteFailure::Credentials,
            format!(
                "off-site {}: credentials_file {} {m}",
                o.name,
                o.credentials_file.display()
            ),
        )
    })?;
    let store = Store::new(o, &creds, cfg.agent.stall_timeout)?;
    let db = |e: crate::catalog::CatalogError| {
        OffsiteError::new(OffsiteFailure::Local, format!("off-site {}: {e}", o.name))
    };
    let chosen = choose(o, entries, Utc::now());
    outcome.pending_bytes = pending(catalog, o, &chosen).map_err(db)?;
    store.check_bucket()?;
    let mut pace = Pace::new(o.bandwidth);

    // Uploads an earlier pass left unfinished.
    for row in catalog.uploads(Some(&o.name)).map_err(db)? {
        if row.state != UploadState::Uploading {
            continue;
        }
        if !Path::new(&row.local_path).exists() {
            abandon(&store, catalog, &row);
            continue;
        }
        finish_one(&store, catalog, o, &row, &mut pace, stop, outcome)?;
    }
    // The chosen backups not on the store yet, newest first.
    for (root, e, key) in &chosen {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if catalog.upload_of(&o.name, key).map_err(db)?.is_some() {
            continue;
        }
        let recipients = crate::jobs::backup_run::encryption_recipients(cfg);
        let prepared = stage::prepare(root, e, &recipients)?;
        let Some(m) = e.good() else { continue };
        let mut remote = m.clone();
        remote.encrypted = true;
        if !m.encrypted {
            remote.recipients = cfg.encryption.recipients.clone();
        }
        remote.bytes_stored = prepared.size;
        remote.sha256 = prepared.sha256.clone();
        remote.parts = Vec::new();
        let manifest = String::from_utf8_lossy(&remote.to_json()).into_owned();
        let now = Utc::now().to_rfc3339();
        let local_path = prepared.path.to_string_lossy().into_owned();
        let id = catalog
            .begin_upload(&NewUpload {
                offsite: &o.name,
                key,
                source: &e.source,
                started_at: &m.started_at,
                local_path: &local_path,
                staged: prepared.staged,
                size: prepared.size,
                sha256: &prepared.sha256,
                part_size: o.part_size,
                manifest: &manifest,
                created_at: &now,
            })
            .map_err(db)?;
        let Some(row) = catalog
            .uploads(Some(&o.name))
            .map_err(db)?
            .into_iter()
            .find(|r| r.id == id)
        else {
            continue;
        };
        finish_one(&store, catalog, o, &row, &mut pace, stop, outcome)?;
    }
    outcome.pending_bytes = pending(catalog, o, &chosen).map_err(db)?;

    // Remote copies whose read-back is due.
    if let Some(every) = o.check_every {
        let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(7));
        for row in catalog.uploads(Some(&o.name)).map_err(db)? {
            if row.state != UploadState::Verified || stop.load(Ordering::Relaxed) {
                continue;
            }
            let last = catalog
                .last_remote_check(row.id)
                .map_err(db)?
                .map(|c| c.0)
                .or(row.verified_at.clone());
            let due = last
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .is_none_or(|t| Utc::now().signed_duration_since(t) >= every);
            if !due {
                continue;
            }
            let journal = catalog.parts_of(row.id).map_err(db)?;
            let parts =
                readback::pick_parts(journal.len() as u32, o.check_parts, false, seed(&row.key));
            let now = Utc::now().to_rfc3339();
            match readback::check(&store, &row, &journal, &parts) {
                Ok(c) => {
                    outcome.checked += 1;
                    let detail = format!("parts {:?} read back, {} bytes", c.parts, c.bytes_read);
                    catalog
                        .record_remote_check(row.id, &now, None, &detail)
                        .map_err(db)?;
                }
                Err(e) => {
                    catalog
                        .record_remote_check(row.id, &now, Some(e.kind), &e.message)
                        .map_err(db)?;
                    if e.kind == OffsiteFailure::Mismatch {
                        // The copy no longer counts; the next pass sends it again if the
                        // backup is still on a disk here.
                        catalog
                            .set_upload_state(row.id, UploadState::Abandoned, &now)
                            .map_err(db)?;
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Sends what the store lacks of `row`, proves the remote copy, writes its sidecar and manifest
/// and records it verified.
fn finish_one(
    store: &Store,
    catalog: &Catalog,
    o: &OffsiteConfig,
    row: &UploadRow,
    pace: &mut Pace,
    stop: &AtomicBool,
    outcome: &mut StoreOutcome,
) -> Result<(), OffsiteError> {
    let db = |e: crate::catalog::CatalogError| {
        OffsiteError::new(OffsiteFailure::Local, format!("off-site {}: {e}", o.name))
    };
    let sent = upload::send(store, catalog, row, pace, stop)?;
    outcome.parts_sent += sent.parts_sent;
    outcome.parts_kept += sent.parts_kept;
    outcome.bytes_sent += sent.bytes_sent;
    let journal = catalog.parts_of(row.id).map_err(db)?;
    let parts = readback::pick_parts(journal.len() as u32, o.check_parts, true, seed(&row.key));
    let checked = readback::check(store, row, &journal, &parts)?;
    let file = crate::offsite::keys::file_name(&row.key);
    store.put_small(
        &sidecar_key(&row.key),
        format!("{}  {file}\n", row.sha256).as_bytes(),
    )?;
    store.put_small(&manifest_key(&row.key), row.manifest.as_bytes())?;
    let now = Utc::now().to_rfc3339();
    catalog
        .set_upload_state(row.id, UploadState::Verified, &now)
        .map_err(db)?;
    let detail = format!(
        "verified after upload: size, ETag, parts {:?} read back ({} bytes)",
        checked.parts, checked.bytes_read
    );
    catalog
        .record_remote_check(row.id, &now, None, &detail)
        .map_err(db)?;
    if row.staged {
        stage::remove_staged(Path::new(&row.local_path));
    }
    log::info!(
        "off-site {}: {} verified on the store ({} parts sent, {} kept)",
        o.name,
        row.key,
        sent.parts_sent,
        sent.parts_kept
    );
    outcome.uploaded.push(row.key.clone());
    Ok(())
}

/// Gives up an upload whose local file is gone: aborted on the store, forgotten in the journal
/// (the backup is chosen again if another disk holds it).
fn abandon(store: &Store, catalog: &Catalog, row: &UploadRow) {
    if let Some(id) = &row.upload_id {
        if let Err(e) = store.abort_multipart(&row.key, id) {
            log::warn!("{e}");
            return;
        }
    }
    log::warn!(
        "off-site {}: {} went away before its upload finished; the upload was aborted",
        row.offsite,
        row.local_path
    );
    if let Err(e) = catalog.forget_upload(row.id) {
        log::error!("off-site {}: {e}", row.offsite);
    }
}

/// The backups `o.schedule` chooses among `entries` (one per key, newest first), with the key
/// each gets on the store.
pub fn choose<'a>(
    o: &OffsiteConfig,
    entries: &'a [(PathBuf, Entry)],
    now: DateTime<Utc>,
) -> Vec<(PathBuf, &'a Entry, String)> {
    let oldest = now - chrono::Duration::days(CATCH_UP_DAYS);
    let mut seen_keys = BTreeSet::new();
    let mut seen_groups = BTreeSet::new();
    let mut list: Vec<(&PathBuf, &Entry, DateTime<Utc>)> = entries
        .iter()
        .filter_map(|(r, e)| {
            let m = e.good()?;
            let t = DateTime::parse_from_rfc3339(&m.started_at)
                .ok()?
                .with_timezone(&Utc);
            (t >= oldest).then_some((r, e, t))
        })
        .collect();
    list.sort_by_key(|x| std::cmp::Reverse(x.2));
    let mut out = Vec::new();
    for (root, e, _) in list {
        let Some(m) = e.good() else { continue };
        let date_dirs: Vec<String> = e.dir_components.iter().skip(2).cloned().collect();
        let group = match o.schedule {
            OffsiteSchedule::Each => None,
            OffsiteSchedule::Daily => Some(format!("{}/{}", e.source, date_dirs.join("/"))),
            OffsiteSchedule::Weekly => {
                let date = date_dirs
                    .iter()
                    .map(|d| d.parse::<u32>().unwrap_or(0))
                    .collect::<Vec<_>>();
                let week = match date.as_slice() {
                    [y, mo, d] => NaiveDate::from_ymd_opt(*y as i32, *mo, *d)
                        .map(|n| format!("{}-W{}", n.iso_week().year(), n.iso_week().week())),
                    _ => None,
                };
                Some(format!("{}/{}", e.source, week.unwrap_or_default()))
            }
        };
        if let Some(g) = &group {
            if !seen_groups.insert(g.clone()) {
                continue;
            }
        }
        let file = if m.encrypted {
            e.data_name.clone()
        } else {
            format!("{}.age", e.data_name)
        };
        let key = object_key(&o.prefix, &e.source, &date_dirs, &file);
        if seen_keys.insert(key.clone()) {
            out.push((root.clone(), e, key));
        }
    }
    out
}

/// The bytes of chosen backups not verified on the store (the days already sent by an earlier
/// pass count as sent).
fn pending(
    catalog: &Catalog,
    o: &OffsiteConfig,
    chosen: &[(PathBuf, &Entry, String)],
) -> Result<u64, crate::catalog::CatalogError> {
    let mut total = 0;
    for (_, e, key) in chosen {
        let done = catalog
            .upload_of(&o.name, key)?
            .is_some_and(|r| r.state == UploadState::Verified);
        if !done {
            total += e.good().map(|m| m.bytes_stored).unwrap_or(0);
        }
    }
    Ok(total)
}

fn seed(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain(Utc::now().timestamp().to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
