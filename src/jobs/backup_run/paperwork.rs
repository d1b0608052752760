/*!
The paperwork of a backup run, once its copies are published: the audit anchor on every disk
written, the handover receipt and the key-custody challenge for a manual copy, then (once the run
is recorded) the month's SOP reports and the INDEX on every disk written. Failures here are
logged and never undo a verified backup.
*/

use crate::backup::writer::CopyOutcome;
use crate::catalog::Catalog;
use crate::config::Config;

/// Once the run is recorded: on every target written, the SOP report of the running month (and
/// of every closed month it lacks, once; issue 18), then its INDEX.csv/INDEX.html, which links
/// them. Failures are logged and never undo a verified backup.
pub(super) fn publish_disk_documents(config: &Config, catalog: &Catalog, copies: &[CopyOutcome]) {
    // The names of this run's good targets, for the reports: a disk's label as udev gave it, a
    // folder's marker if it shows it at once; no other disk is touched (one that stopped
    // answering must not hold the paperwork up).
    let known: std::collections::BTreeMap<String, String> = copies
        .iter()
        .filter(|c| c.result.is_ok())
        .filter_map(|c| {
            let label = match &c.target.disk {
                Some(d) if !d.label.is_empty() => Some(d.label.clone()),
                _ => crate::report::sop::marker_label(
                    &c.target.root,
                    crate::report::sop::MARKER_LOOK,
                ),
            }?;
            Some((c.target.root.display().to_string(), label))
        })
        .collect();
    for c in copies.iter().filter(|c| c.result.is_ok()) {
        if let Err(e) =
            crate::report::monthly::write_month_reports(&c.target.root, catalog, config, &known)
        {
            log::warn!(
                "cannot write the monthly reports on {}: {e}",
                c.target.root.display()
            );
        }
        if let Err(e) = crate::report::write_disk_index(&c.target.root, config) {
            log::warn!(
                "cannot rewrite the index on {}: {e}",
                c.target.root.display()
            );
        }
    }
}

/// After the copies: every target written carries the audit anchor, and each manual copy gets
/// its handover receipt (on the disk and in `state_dir/receipts`) and, when a key is due for its
/// custody check, a challenge ([`crate::keycheck`]). Failures here are logged and
/// audited but never undo a verified backup.
pub(super) fn publish_paperwork(config: &Config, catalog: &Catalog, copies: &[CopyOutcome]) {
    // The newest audit entry now: every disk written carries it, so a later cut of the log's
    // tail is found (`audit verify`, [`crate::audit_anchor`]).
    let anchor = match crate::audit_anchor::Anchor::newest(catalog) {
        Ok(a) => a,
        Err(e) => {
            log::warn!("cannot read the audit log's newest entry: {e}");
            None
        }
    };
    for c in copies.iter().filter(|c| c.result.is_ok()) {
        if let Some(a) = &anchor {
            if let Err(e) = crate::audit_anchor::write(&c.target.root, a, catalog) {
                log::error!(
                    "cannot write the audit anchor on {}: {e}",
                    c.target.root.display()
                );
            }
        }
        if c.target.role != crate::config::Role::Manual {
            continue;
        }
        // The disk goes to the key holders: it carries a key check when one is due.
        if !config.encryption.recipients.is_empty() {
            crate::keycheck::issue_if_due(catalog, &config.encryption.recipients, &c.target.root);
        }
        let receipt = crate::report::ReceiptData::from_copy(
            &c.target.root,
            &c.relative_path,
            c.target.disk.as_deref(),
            config,
        )
        .and_then(|mut r| {
            r.audit_anchor = anchor.clone();
            crate::report::write_receipt(&config.state_dir, Some(&c.target.root), &r)
        });
        match receipt {
            Ok(path) => crate::audit::record(
                catalog,
                "daemon",
                "receipt",
                &serde_json::json!({ "copy": c.relative_path, "receipt": path.display().to_string() }),
            ),
            Err(e) => log::error!(
                "cannot write the handover receipt for {}: {e}",
                c.relative_path
            ),
        }
    }
}
