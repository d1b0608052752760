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
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use crate::backup::inventory::{self, Entry};
use crate::catalog::{Catalog, NewUpload, UploadRow, UploadState};
use crate::config::{Config, OffsiteConfig, OffsiteSchedule, S3Credentials};
use crate::kinds::{OffsiteError, OffsiteFailure};
use crate::offsite::keys::{manifest_key, object_key, sidecar_key};
use crate::offsite::s3::Store;
use crate::offsite::throttle::Pace;
use crate::offsite::upload::Flags;
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
    /// Staging files whose copy this store verified in this pass.
    #[serde(skip)]
    pub staged_done: Vec<String>,
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

/// Runs one pass over every store, drawing backups from the disks at `roots`. `stop` ends it
/// (uploads resume later); `pause` holds it between parts while a backup runs. `Err` when
/// another pass holds the lock (nothing was done).
pub fn pass(
    cfg: &Config,
    roots: &[PathBuf],
    stop: &AtomicBool,
    pause: &AtomicBool,
) -> Result<Vec<StoreOutcome>, String> {
    let _lock = take_lock(&cfg.state_dir)?;
    Ok(pass_locked(cfg, roots, Flags { stop, pause }))
}

fn pass_locked(cfg: &Config, roots: &[PathBuf], flags: Flags<'_>) -> Vec<StoreOutcome> {
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
        let pass = Pass {
            cfg,
            o,
            catalog: &catalog,
            roots,
            flags,
        };
        if let Err(e) = pass.run(&entries, &mut outcome) {
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
    // Staging files whose copies are verified, once no store's unfinished upload reads them (the
    // stores of one pass share one staging file of a backup).
    let done: BTreeSet<&String> = out.iter().flat_map(|o| &o.staged_done).collect();
    match catalog.uploads(None) {
        Ok(all) => {
            for path in done {
                let in_use = all
                    .iter()
                    .any(|r| r.state == UploadState::Uploading && &r.local_path == path);
                if !in_use {
                    stage::remove_staged(Path::new(path));
                }
            }
        }
        Err(e) => log::warn!("off-site: the staging files are kept: {e}"),
    }
    out
}

/// One store's pass.
struct Pass<'a> {
    cfg: &'a Config,
    o: &'a OffsiteConfig,
    catalog: &'a Catalog,
    roots: &'a [PathBuf],
    flags: Flags<'a>,
}

impl Pass<'_> {
    fn db(&self, e: crate::catalog::CatalogError) -> OffsiteError {
        OffsiteError::new(
            OffsiteFailure::Local,
            format!("off-site {}: {e}", self.o.name),
        )
    }

    fn run(
        &self,
        entries: &[(PathBuf, Entry)],
        outcome: &mut StoreOutcome,
    ) -> Result<(), OffsiteError> {
        let o = self.o;
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
        let store = Store::new(o, &creds, self.cfg.agent.stall_timeout)?;
        let sent_groups = self.sent_groups()?;
        let chosen = choose(o, entries, &sent_groups, Utc::now());
        outcome.pending_bytes = pending(self.catalog, o, &chosen).map_err(|e| self.db(e))?;
        store.check_bucket()?;
        let mut pace = Pace::new(o.bandwidth);
        // A failure of one backup's local file does not hold back the others; the first one is
        // the pass's failure. Anything about the store or the link ends the pass.
        let mut first_local: Option<OffsiteError> = None;
        let mut local = |e: OffsiteError| -> Result<(), OffsiteError> {
            if matches!(e.kind, OffsiteFailure::Local | OffsiteFailure::Policy) {
                log::warn!("{e}");
                first_local.get_or_insert(e);
                Ok(())
            } else {
                Err(e)
            }
        };

        // Uploads an earlier pass left unfinished.
        let rows = self
            .catalog
            .uploads(Some(&o.name))
            .map_err(|e| self.db(e))?;
        for row in rows.iter().filter(|r| r.state == UploadState::Uploading) {
            let path = Path::new(&row.local_path);
            if !self.roots.iter().any(|r| path.starts_with(r)) {
                // Its disk is not here now (unplugged, or not given): it waits for it.
                continue;
            }
            if !path.exists() {
                self.abandon(&store, row);
                continue;
            }
            let r = self
                .still_the_same(&store, row)
                .and_then(|()| self.finish_one(&store, row, &mut pace, outcome));
            if let Err(e) = r {
                local(e)?;
            }
        }
        // The chosen backups not on the store yet, newest first.
        for (root, e, key) in &chosen {
            if self.flags.stopped() {
                break;
            }
            let known = self
                .catalog
                .upload_of(&o.name, key)
                .map_err(|e| self.db(e))?;
            if known
                .as_ref()
                .is_some_and(|r| r.state != UploadState::Abandoned)
            {
                continue;
            }
            if let Err(err) = self.start_one(&store, root, e, key, &mut pace, outcome) {
                local(err)?;
            }
        }
        outcome.pending_bytes = pending(self.catalog, o, &chosen).map_err(|e| self.db(e))?;
        self.checks(&store, outcome)?;
        match first_local {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The schedule groups (source and day or week) that already have an upload on this store,
    /// verified or under way: `daily` and `weekly` send one backup per group.
    fn sent_groups(&self) -> Result<BTreeSet<String>, OffsiteError> {
        let rows = self
            .catalog
            .uploads(Some(&self.o.name))
            .map_err(|e| self.db(e))?;
        Ok(rows
            .iter()
            .filter(|r| r.state != UploadState::Abandoned)
            .filter_map(|r| {
                let rest = r.key.strip_prefix(&self.o.prefix)?;
                let parts: Vec<&str> = rest.split('/').collect();
                let [source, y, m, d, _file] = parts.as_slice() else {
                    return None;
                };
                let dirs = [y.to_string(), m.to_string(), d.to_string()];
                group_of(self.o.schedule, source, &dirs)
            })
            .collect())
    }

    /// Prepares, journals and sends one chosen backup.
    fn start_one(
        &self,
        store: &Store,
        root: &Path,
        e: &Entry,
        key: &str,
        pace: &mut Pace,
        outcome: &mut StoreOutcome,
    ) -> Result<(), OffsiteError> {
        let o = self.o;
        let Some(m) = e.good() else { return Ok(()) };
        // A copy of ours that stopped counting (its read-back differed) is sent again under its
        // key; any other object under the key (two units with one prefix) is never overwritten.
        let ours = self
            .catalog
            .upload_of(&o.name, key)
            .map_err(|e| self.db(e))?;
        if let Some(old) = &ours {
            self.catalog.forget_upload(old.id).map_err(|e| self.db(e))?;
        } else if store.head(key)?.is_some() {
            return Err(OffsiteError::new(
                OffsiteFailure::Policy,
                format!(
                    "off-site {}: {key} is on the store already, but this appliance did not send it: is another unit using the same bucket and prefix? Give each unit its own prefix",
                    o.name
                ),
            ));
        }
        let recipients = crate::jobs::backup_run::encryption_recipients(self.cfg);
        let prepared = stage::prepare(root, e, &recipients, self.flags)?;
        let mut remote = m.clone();
        remote.encrypted = true;
        if !m.encrypted {
            remote.recipients = self.cfg.encryption.recipients.clone();
        }
        remote.bytes_stored = prepared.size;
        remote.sha256 = prepared.sha256.clone();
        remote.parts = Vec::new();
        let manifest = String::from_utf8_lossy(&remote.to_json()).into_owned();
        let now = Utc::now().to_rfc3339();
        let local_path = prepared.path.to_string_lossy().into_owned();
        self.catalog
            .begin_upload(&NewUpload {
                offsite: &o.name,
                key,
                source: &e.source,
                started_at: &m.started_at,
                local_path: &local_path,
                staged: prepared.staged,
                size: prepared.size,
                sha256: &prepared.sha256,
                part_size: part_size_for(o.part_size, prepared.size),
                manifest: &manifest,
                created_at: &now,
            })
            .map_err(|e| self.db(e))?;
        let Some(row) = self
            .catalog
            .upload_of(&o.name, key)
            .map_err(|e| self.db(e))?
        else {
            return Ok(());
        };
        self.finish_one(store, &row, pace, outcome)
    }

    /// Before a resumed upload sends anything: its local file must still be the bytes the
    /// journal's parts were hashed from (the whole file's SHA-256). A changed file (a staging
    /// file made again, a copy rewritten) is aborted on the store and forgotten: the backup is
    /// prepared and sent again from the start at the next pass.
    fn still_the_same(&self, store: &Store, row: &UploadRow) -> Result<(), OffsiteError> {
        let path = Path::new(&row.local_path);
        let (size, sha) = stage::hash_file(path, self.flags)?;
        if size == row.size && sha == row.sha256 {
            return Ok(());
        }
        self.abandon(store, row);
        Err(OffsiteError::new(
            OffsiteFailure::Local,
            format!(
                "off-site {}: {} changed since its upload began ({size} bytes, SHA-256 {sha}; the journal says {} bytes, {}): the upload was aborted and the backup is sent again from the start",
                self.o.name, row.local_path, row.size, row.sha256
            ),
        ))
    }

    /// Sends what the store lacks of `row`, proves the remote copy, writes its sidecar and
    /// manifest and records it verified.
    fn finish_one(
        &self,
        store: &Store,
        row: &UploadRow,
        pace: &mut Pace,
        outcome: &mut StoreOutcome,
    ) -> Result<(), OffsiteError> {
        let o = self.o;
        let sent = upload::send(store, self.catalog, row, pace, self.flags)?;
        outcome.parts_sent += sent.parts_sent;
        outcome.parts_kept += sent.parts_kept;
        outcome.bytes_sent += sent.bytes_sent;
        let journal = self.catalog.parts_of(row.id).map_err(|e| self.db(e))?;
        let parts = readback::pick_parts(journal.len() as u32, o.check_parts, true, seed(&row.key));
        let checked = readback::check(store, row, &journal, &parts)?;
        let file = crate::offsite::keys::file_name(&row.key);
        store.put_small(
            &sidecar_key(&row.key),
            format!("{}  {file}\n", row.sha256).as_bytes(),
        )?;
        store.put_small(&manifest_key(&row.key), row.manifest.as_bytes())?;
        let now = Utc::now().to_rfc3339();
        self.catalog
            .set_upload_state(row.id, UploadState::Verified, &now)
            .map_err(|e| self.db(e))?;
        let detail = format!(
            "verified after upload: size, ETag, parts {:?} read back ({} bytes)",
            checked.parts, checked.bytes_read
        );
        self.catalog
            .record_remote_check(row.id, &now, None, &detail)
            .map_err(|e| self.db(e))?;
        if row.staged {
            // Removed at the end of the pass, once no store's upload still reads it.
            outcome.staged_done.push(row.local_path.clone());
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

    /// Reads back the remote copies whose `check` is due. A copy that no longer matches is
    /// forgotten, so the next pass sends it again while the backup is still on a disk here.
    fn checks(&self, store: &Store, outcome: &mut StoreOutcome) -> Result<(), OffsiteError> {
        let o = self.o;
        let Some(every) = o.check_every else {
            return Ok(());
        };
        let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(7));
        let rows = self
            .catalog
            .uploads(Some(&o.name))
            .map_err(|e| self.db(e))?;
        for row in rows.iter().filter(|r| r.state == UploadState::Verified) {
            if self.flags.stopped() {
                break;
            }
            let last = self
                .catalog
                .last_remote_check(row.id)
                .map_err(|e| self.db(e))?
                .map(|c| c.0)
                .or(row.verified_at.clone());
            let due = last
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .is_none_or(|t| Utc::now().signed_duration_since(t) >= every);
            if !due {
                continue;
            }
            let journal = self.catalog.parts_of(row.id).map_err(|e| self.db(e))?;
            let parts =
                readback::pick_parts(journal.len() as u32, o.check_parts, false, seed(&row.key));
            let now = Utc::now().to_rfc3339();
            match readback::check(store, row, &journal, &parts) {
                Ok(c) => {
                    outcome.checked += 1;
                    let detail = format!("parts {:?} read back, {} bytes", c.parts, c.bytes_read);
                    self.catalog
                        .record_remote_check(row.id, &now, None, &detail)
                        .map_err(|e| self.db(e))?;
                }
                Err(e) if e.kind == OffsiteFailure::Mismatch => {
                    // The copy no longer counts (abandoned); the next pass sends it again while
                    // the backup is still on a disk here.
                    log::error!("{e}");
                    self.catalog
                        .record_remote_check(row.id, &now, Some(e.kind), &e.message)
                        .map_err(|e| self.db(e))?;
                    self.catalog
                        .set_upload_state(row.id, UploadState::Abandoned, &now)
                        .map_err(|e| self.db(e))?;
                    return Err(OffsiteError::new(
                        e.kind,
                        format!(
                            "{}: the remote copy no longer counts and is sent again",
                            e.message
                        ),
                    ));
                }
                // The link or the store: the check stays due.
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Gives up an upload whose local file is gone or changed: aborted on the store, forgotten
    /// in the journal (the backup is chosen again if a disk here holds it).
    fn abandon(&self, store: &Store, row: &UploadRow) {
        if let Some(id) = &row.upload_id {
            if let Err(e) = store.abort_multipart(&row.key, id) {
                log::warn!("{e}");
                return;
            }
        }
        log::warn!(
            "off-site {}: the upload of {} from {} was given up and aborted on the store",
            row.offsite,
            row.key,
            row.local_path
        );
        if let Err(e) = self.catalog.forget_upload(row.id) {
            log::error!("off-site {}: {e}", row.offsite);
        }
    }
}

/// S3 allows 10,000 parts: a file larger than 10,000 parts of `configured` gets larger parts
/// (whole MiB).
pub fn part_size_for(configured: u64, size: u64) -> u64 {
    let needed = size.div_ceil(10_000).div_ceil(1 << 20) << 20;
    configured.max(needed)
}

/// The schedule group of a backup of `source` in the day folders `date_dirs`: `None` for `each`.
fn group_of(schedule: OffsiteSchedule, source: &str, date_dirs: &[String]) -> Option<String> {
    match schedule {
        OffsiteSchedule::Each => None,
        OffsiteSchedule::Daily => Some(format!("{source}/{}", date_dirs.join("/"))),
        OffsiteSchedule::Weekly => {
            let date: Vec<u32> = date_dirs
                .iter()
                .map(|d| d.parse::<u32>().unwrap_or(0))
                .collect();
            let week = match date.as_slice() {
                [y, mo, d] => NaiveDate::from_ymd_opt(*y as i32, *mo, *d)
                    .map(|n| format!("{}-W{}", n.iso_week().year(), n.iso_week().week())),
                _ => None,
            };
            Some(format!("{source}/{}", week.unwrap_or_default()))
        }
    }
}

/// The backups `o.schedule` chooses among `entries` (one per key, newest first), with the key
/// each gets on the store; a group (day, week) in `sent` has its backup already.
pub fn choose<'a>(
    o: &OffsiteConfig,
    entries: &'a [(PathBuf, Entry)],
    sent: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Vec<(PathBuf, &'a Entry, String)> {
    let oldest = now - chrono::Duration::days(CATCH_UP_DAYS);
    let mut seen_keys = BTreeSet::new();
    let mut seen_groups = sent.clone();
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
        if let Some(g) = group_of(o.schedule, &e.source, &date_dirs) {
            if !seen_groups.insert(g) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_never_exceed_ten_thousand() {
        assert_eq!(part_size_for(16 << 20, 1 << 30), 16 << 20);
        let big = 200u64 << 30; // 200 GiB
        let p = part_size_for(16 << 20, big);
        assert!(p > 16 << 20 && p.is_multiple_of(1 << 20));
        assert!(big.div_ceil(p) <= 10_000);
    }

    #[test]
    fn groups() {
        let d = ["2026".to_string(), "12".to_string(), "03".to_string()];
        assert_eq!(group_of(OffsiteSchedule::Each, "pmi", &d), None);
        assert_eq!(
            group_of(OffsiteSchedule::Daily, "pmi", &d).as_deref(),
            Some("pmi/2026/12/03")
        );
        assert_eq!(
            group_of(OffsiteSchedule::Weekly, "pmi", &d).as_deref(),
            Some("pmi/2026-W49")
        );
    }
}
