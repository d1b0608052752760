/*!
`offsite push` (one pass over the off-site stores now) and `offsite list` (the remote copies the
catalog knows as verified, and each store's last pass).
*/

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::args::OffsiteCommand;
use super::{load, targets, Failure};
use crate::catalog::{Catalog, UploadState};

pub(super) fn cmd_offsite(
    config_path: &std::path::Path,
    command: &OffsiteCommand,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if cfg.offsite.is_empty() {
        return Err(Failure::Usage(
            "no [[offsite]] store in the configuration (docs/offsite.md says how to add one)"
                .into(),
        ));
    }
    match command {
        OffsiteCommand::Push {
            targets: given,
            json,
        } => push(&cfg, given, *json),
        OffsiteCommand::List { json } => list(&cfg, *json),
    }
}

fn push(cfg: &crate::config::Config, given: &[PathBuf], json: bool) -> Result<(), Failure> {
    let roots = targets::target_roots(Some(cfg), given, "send off-site")?;
    let stop = AtomicBool::new(false);
    let pause = AtomicBool::new(false);
    let outcomes =
        crate::jobs::offsite::pass(cfg, &roots, &stop, &pause).map_err(Failure::Failed)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcomes).unwrap_or_default()
        );
    } else {
        for o in &outcomes {
            match &o.message {
                Some(m) => println!("{}: FAILED ({}): {m}", o.name, o.failure.map(|f| f.as_str()).unwrap_or("other")),
                None => println!(
                    "{}: {} uploaded and verified, {} parts sent ({} bytes), {} parts already on the store, {} remote copies re-checked, {} bytes waiting",
                    o.name,
                    o.uploaded.len(),
                    o.parts_sent,
                    o.bytes_sent,
                    o.parts_kept,
                    o.checked,
                    o.pending_bytes
                ),
            }
            for k in &o.uploaded {
                println!("  {k}");
            }
        }
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .map(|o| o.name.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "off-site pass failed on: {}",
            failed.join(", ")
        )))
    }
}

fn list(cfg: &crate::config::Config, json: bool) -> Result<(), Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut stores = Vec::new();
    for o in &cfg.offsite {
        let uploads = catalog
            .uploads(Some(&o.name))
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let last = catalog
            .last_offsite_attempt(&o.name)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let mut copies = Vec::new();
        for u in uploads
            .iter()
            .filter(|u| u.state == UploadState::Verified)
            .rev()
        {
            let check = catalog
                .last_remote_check(u.id)
                .map_err(|e| Failure::Failed(e.to_string()))?;
            copies.push(serde_json::json!({
                "key": u.key,
                "source": u.source,
                "started_at": u.started_at,
                "bytes": u.size,
                "sha256": u.sha256,
                "verified_at": u.verified_at,
                "last_check": check.as_ref().map(|c| &c.0),
                "last_check_ok": check.as_ref().map(|c| c.1.is_none()),
            }));
        }
        let uploading: Vec<_> = uploads
            .iter()
            .filter(|u| u.state == UploadState::Uploading)
            .map(|u| u.key.clone())
            .collect();
        stores.push(serde_json::json!({
            "name": o.name,
            "endpoint": o.endpoint,
            "bucket": o.bucket,
            "prefix": o.prefix,
            "copies": copies,
            "uploading": uploading,
            "last_attempt": last,
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "offsite": stores }))
                .unwrap_or_default()
        );
        return Ok(());
    }
    for s in &stores {
        println!(
            "{} ({}/{}/{}):",
            s["name"].as_str().unwrap_or(""),
            s["endpoint"].as_str().unwrap_or(""),
            s["bucket"].as_str().unwrap_or(""),
            s["prefix"].as_str().unwrap_or("")
        );
        let copies = s["copies"].as_array().cloned().unwrap_or_default();
        if copies.is_empty() {
            println!("  no verified remote copy yet");
        }
        for c in copies {
            println!(
                "  {}  {} bytes  verified {}",
                c["key"].as_str().unwrap_or(""),
                c["bytes"],
                c["verified_at"].as_str().unwrap_or("")
            );
        }
        for k in s["uploading"].as_array().cloned().unwrap_or_default() {
            println!(
                "  {} (upload not finished; it resumes at the next pass)",
                k.as_str().unwrap_or("")
            );
        }
        if let Some(m) = s["last_attempt"]["failure"].as_str() {
            println!(
                "  last pass FAILED ({m}): {}",
                s["last_attempt"]["detail"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}
