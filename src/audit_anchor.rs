/*!
Audit anchors on the disks (issue 18): the hash chain of the audit log finds an entry changed,
inserted or removed in the middle, but not the newest entries deleted from the end (the chain that
is left is intact). So every disk a backup is written to carries the newest entry's id and hash at
that moment (`SIMDONDAR-BACKUP/audit-anchor.json`, shown in its INDEX and on the handover
receipt), and `audit verify` compares the catalog with the newest anchor found on the disks it can
see: an anchored entry that is gone means the tail was cut ([`Check::Truncated`], naming the
missing ids), one with another hash means history was rewritten ([`Check::Rewritten`]).

An anchor names its chain by the hash of entry 1 (`chain`) and the appliance by its host name
(`unit`): an anchor of another unit is set aside rather than raising a false alarm, but one of
this unit with another chain means the whole log was replaced ([`Check::Replaced`]). An anchor
is never overwritten by one that the catalog contradicts ([`write`] keeps the old one and says
why), so a cut followed by new entries with the same ids cannot wipe the evidence. A forged
anchor can raise an alarm that an auditor then looks into; it can never hide a cut.
*/

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backup::layout::ROOT_DIR;
use crate::catalog::{AuditRow, Catalog, CatalogError};
use crate::safe_fs::Dir;

/// The anchor's file name in `SIMDONDAR-BACKUP/`.
pub const FILE: &str = "audit-anchor.json";

/// Anchor files larger than this are not read.
const MAX_BYTES: u64 = 4096;

/// The newest audit entry at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The hash of entry 1: which chain this is.
    pub chain: String,
    /// The appliance's host name when it was written.
    #[serde(default)]
    pub unit: String,
    pub id: i64,
    /// The entry's time, as recorded.
    pub at: String,
    pub hash: String,
}

impl Anchor {
    /// The catalog's newest entry; `None` while the log is empty.
    pub fn newest(catalog: &Catalog) -> Result<Option<Anchor>, CatalogError> {
        let unit = crate::clock::hostname().unwrap_or_default();
        Ok(catalog.audit_ends()?.map(|(chain, id, at, hash)| Anchor {
            chain,
            unit: unit.clone(),
            id,
            at,
            hash,
        }))
    }

    /// `#1234 · 3fa2…9c01`, for a page.
    pub fn short(&self) -> String {
        let h = &self.hash;
        let tail = h.get(h.len().saturating_sub(4)..).unwrap_or("");
        let head = h.get(..8).unwrap_or(h);
        format!("#{} \u{b7} {head}\u{2026}{tail}", self.id)
    }
}

/// Writes `anchor` onto the target at `root` (atomically), unless the disk already holds a newer
/// anchor of the same chain, or one of this unit that the catalog contradicts: that one is kept as
/// evidence and the error says why (`audit verify` names what is missing).
pub fn write(root: &Path, anchor: &Anchor, catalog: &Catalog) -> std::io::Result<()> {
    let top = Dir::open(root)?;
    let dir = top.open_dirs([ROOT_DIR])?;
    if let Some(old) = read_in(&dir).ok().flatten() {
        if old.chain == anchor.chain && old.id > anchor.id {
            return Ok(());
        }
        let same_unit = !old.unit.is_empty() && old.unit == anchor.unit;
        let held = old.chain == anchor.chain
            && catalog
                .audit_hash_of(old.id)
                .map_err(std::io::Error::other)?
                .is_some_and(|h| h == old.hash);
        if (old.chain == anchor.chain || same_unit) && !held {
            return Err(std::io::Error::other(format!(
                "the disk's audit anchor (entry {} of {}) is not in the catalog any more: the audit log was cut or replaced; the anchor is kept as evidence, run `simdondar-backup audit verify`",
                old.id, old.at
            )));
        }
    }
    let bytes = serde_json::to_vec_pretty(anchor).map_err(std::io::Error::other)?;
    crate::backup::writer::write_atomically(&dir, FILE, &bytes)
}

/// The anchor on the target at `root`: `Ok(None)` when there is none, `Err` with why when it
/// cannot be read or is not an anchor.
pub fn read(root: &Path) -> Result<Option<Anchor>, String> {
    let Ok(top) = Dir::open(root) else {
        return Ok(None);
    };
    let Ok(dir) = top.open_dirs([ROOT_DIR]) else {
        return Ok(None);
    };
    read_in(&dir)
}

fn read_in(dir: &Dir) -> Result<Option<Anchor>, String> {
    use std::io::Read;
    let f = match dir.open_read(FILE) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {FILE}: {e}")),
    };
    let mut bytes = Vec::new();
    f.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {FILE}: {e}"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{FILE} is not an audit anchor: {e}"))
}

/// What the catalog's chain says about an anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The anchored entry is in the catalog with the same hash.
    Holds,
    /// The anchor belongs to another appliance's audit log.
    OtherChain,
    /// The catalog ends before the anchored entry: entries `from..=to` were cut from its end.
    Truncated { from: i64, to: i64 },
    /// The anchored entry is in the catalog with another hash: history was rewritten.
    Rewritten,
    /// An anchor of this unit names another chain: the whole log was replaced.
    Replaced,
}

/// Compares `anchor` with the catalog's entries (oldest first).
pub fn check(rows: &[AuditRow], anchor: &Anchor) -> Check {
    let Some(first) = rows.first() else {
        return Check::Truncated {
            from: 1,
            to: anchor.id,
        };
    };
    if first.id == 1 && first.hash != anchor.chain {
        let unit = crate::clock::hostname().unwrap_or_default();
        return if !anchor.unit.is_empty() && anchor.unit == unit {
            Check::Replaced
        } else {
            Check::OtherChain
        };
    }
    match rows.iter().find(|r| r.id == anchor.id) {
        Some(r) if r.hash == anchor.hash => Check::Holds,
        Some(_) => Check::Rewritten,
        None => {
            let last = rows.iter().map(|r| r.id).max().unwrap_or(0);
            Check::Truncated {
                from: last + 1,
                to: anchor.id,
            }
        }
    }
}

/// The newest anchor of this catalog's chain among `roots` (by id), with the root it is on; and
/// the anchors set aside (another chain, unreadable), in words.
pub fn newest_on(
    roots: &[PathBuf],
    chain: Option<&str>,
) -> (Option<(PathBuf, Anchor)>, Vec<String>) {
    let unit = crate::clock::hostname().unwrap_or_default();
    let mut best: Option<(PathBuf, Anchor)> = None;
    let mut notes = Vec::new();
    for root in roots {
        match read(root) {
            Ok(Some(a)) => {
                // Another chain of this very unit is the finding, not something to set aside.
                let this_unit = !a.unit.is_empty() && a.unit == unit;
                if chain.is_some_and(|c| c != a.chain) && !this_unit {
                    notes.push(format!(
                        "{}: its audit anchor is from another appliance's log; set aside",
                        root.display()
                    ));
                    continue;
                }
                if best.as_ref().is_none_or(|(_, b)| a.id > b.id) {
                    best = Some((root.clone(), a));
                }
            }
            Ok(None) => {}
            Err(e) => notes.push(format!("{}: {e}", root.display())),
        }
    }
    (best, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{audit_hash, AUDIT_GENESIS};

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut rows = Vec::new();
        let mut prev = AUDIT_GENESIS.to_string();
        for id in 1..=n {
            let at = format!("2026-12-0{}T10:00:00Z", 1 + id % 9);
            let hash = audit_hash(&prev, id, &at, "daemon", "run", "{}");
            rows.push(AuditRow {
                id,
                at,
                actor: "daemon".into(),
                kind: "run".into(),
                detail: "{}".into(),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        rows
    }

    fn anchor_of(rows: &[AuditRow], id: i64) -> Anchor {
        let r = &rows[(id - 1) as usize];
        Anchor {
            chain: rows[0].hash.clone(),
            unit: String::new(),
            id,
            at: r.at.clone(),
            hash: r.hash.clone(),
        }
    }

    #[test]
    fn a_cut_tail_a_rewritten_entry_and_another_chain_are_told_apart() {
        let rows = chain(10);
        let a = anchor_of(&rows, 8);
        assert_eq!(check(&rows, &a), Check::Holds);
        // The newest entries 6..=10 deleted: the chain left is intact, the anchor is not.
        assert!(crate::audit::verify_chain(&rows[..5]).is_ok());
        assert_eq!(check(&rows[..5], &a), Check::Truncated { from: 6, to: 8 });
        assert_eq!(check(&[], &a), Check::Truncated { from: 1, to: 8 });
        let mut other = rows.clone();
        other[7].hash = "0".repeat(64);
        assert_eq!(check(&other, &a), Check::Rewritten);
        let foreign = chain(3);
        let mut b = anchor_of(&foreign, 2);
        b.chain = "f".repeat(64);
        assert_eq!(check(&rows, &b), Check::OtherChain);
    }

    #[test]
    fn anchors_are_written_read_and_never_go_back() {
        let d = tempfile::tempdir().expect("tempdir");
        let cat = Catalog::open(&d.path().join("state")).expect("catalog");
        let root = d.path().join("disk");
        std::fs::create_dir_all(root.join(ROOT_DIR)).expect("mkdir");
        for i in 0..5 {
            cat.audit("daemon", "run", &format!("{{\"n\":{i}}}"))
                .expect("audit");
        }
        let rows = cat.audit_entries().expect("rows");
        let newest = Anchor::newest(&cat).expect("newest").expect("some");
        assert_eq!((newest.id, newest.hash.clone()), (5, rows[4].hash.clone()));
        assert_eq!(read(&root), Ok(None));
        let mut four = anchor_of(&rows, 4);
        four.unit = newest.unit.clone();
        write(&root, &four, &cat).expect("write");
        let mut three = anchor_of(&rows, 3);
        three.unit = newest.unit.clone();
        write(&root, &three, &cat).expect("an older one is not written");
        assert_eq!(read(&root), Ok(Some(four.clone())));
        let (best, notes) = newest_on(std::slice::from_ref(&root), Some(&rows[0].hash));
        assert_eq!(best.map(|(_, a)| a.id), Some(4));
        assert!(notes.is_empty());
        assert_eq!(four.short().chars().filter(|c| *c == '\u{2026}').count(), 1);

        // The log cut after entry 2 and written on to entry 6: the anchor of entry 4 no longer
        // matches, and is kept rather than overwritten by the new entry 6.
        let conn = rusqlite::Connection::open(cat.path()).expect("open");
        conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id > 2;")
            .expect("cut");
        drop(conn);
        for i in 0..4 {
            cat.audit("daemon", "run", &format!("{{\"m\":{i}}}"))
                .expect("audit");
        }
        let after = Anchor::newest(&cat).expect("newest").expect("some");
        assert_eq!(after.id, 6);
        let e = write(&root, &after, &cat).expect_err("the evidence is kept");
        assert!(e.to_string().contains("entry 4"), "{e}");
        assert_eq!(read(&root), Ok(Some(four.clone())));
        let rows = cat.audit_entries().expect("rows");
        assert_eq!(check(&rows, &four), Check::Rewritten);

        // A whole new log on the same unit: its anchors are not another appliance's.
        let mut replaced = four.clone();
        replaced.chain = "e".repeat(64);
        assert_eq!(check(&rows, &replaced), Check::Replaced);
        let (best, _) = newest_on(std::slice::from_ref(&root), Some("another chain"));
        assert!(best.is_some(), "this unit's anchor is never set aside");

        std::fs::write(root.join(ROOT_DIR).join(FILE), b"{not json").expect("write");
        assert!(read(&root).is_err());
    }
}
