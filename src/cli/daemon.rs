/*!
The daemon's commands: `run` starts it; `press` and `status` ask it over the control socket
(`status` reads the catalog when it is not running).
*/

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::{ask_daemon, daemon_socket, load, Failure};
use crate::agent::control;
use crate::agent::state::Request;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::util::human_bytes;

pub(super) fn cmd_run(config_path: &Path, sim: bool, clock_speed: f64) -> Result<(), Failure> {
    // A file that does not exist is a usage error (a typo in --config); a file that exists but
    // cannot be used is bad input: the daemon shows it and waits for it to be fixed.
    if !config_path.exists() {
        return Err(Failure::Usage(format!(
            "{} does not exist: give the configuration with --config PATH",
            config_path.display()
        )));
    }
    let cfg = match Config::load(config_path) {
        Ok(cfg) => cfg,
        Err(e) => match crate::agent::waiting::wait_for_config(config_path, e, sim) {
            Some(cfg) => cfg,
            None => return Ok(()),
        },
    };
    for w in crate::config::exposed_secret_files(&cfg) {
        log::warn!("{w}");
    }
    crate::agent::daemon::run(cfg, crate::agent::daemon::Options { sim, clock_speed })
        .map_err(Failure::Failed)
}

pub(super) fn cmd_press(config_path: &Path, long: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let Some(sock) = daemon_socket(&cfg) else {
        return Err(Failure::Failed(
            "the daemon is not running (start it with `simdondar-backup run --sim`)".into(),
        ));
    };
    ask_daemon(
        &sock,
        &Request::Press { long },
        Some(std::time::Duration::from_secs(30)),
    )
}
#[derive(Serialize)]
pub(super) struct SourceStatus {
    source: String,
    kind: String,
    interval_seconds: u64,
    last_run: Option<crate::catalog::RunRow>,
    last_ok: Option<crate::catalog::RunRow>,
}

pub(super) fn cmd_status(config_path: &Path, json: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if let Some(sock) = daemon_socket(&cfg) {
        let r = control::request(
            &sock,
            &Request::Status,
            Some(std::time::Duration::from_secs(30)),
        )
        .map_err(Failure::Failed)?;
        if json {
            return print_catalog_status_json(&cfg, r.data.unwrap_or(serde_json::Value::Null));
        }
        println!("daemon: {}", r.message);
        return print_catalog_status(&cfg);
    }
    if json {
        return print_catalog_status_json(&cfg, serde_json::Value::Null);
    }
    print_catalog_status(&cfg)
}

/// `{"daemon": what the running daemon reports (or null), "sources": the catalog's view,
/// "offsite": each store's last pass and newest verified remote copy}`
pub(super) fn print_catalog_status_json(
    cfg: &Config,
    daemon: serde_json::Value,
) -> Result<(), Failure> {
    let list = catalog_status(cfg)?;
    let offsite = offsite_status(cfg)?;
    let text = serde_json::to_string_pretty(
        &serde_json::json!({ "daemon": daemon, "sources": list, "offsite": offsite }),
    )
    .unwrap_or_else(|_| "{}".into());
    println!("{text}");
    Ok(())
}

pub(super) fn catalog_status(cfg: &Config) -> Result<Vec<SourceStatus>, Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut list = Vec::new();
    for s in &cfg.sources {
        let (last_run, last_ok) = catalog
            .last_runs(&s.name)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        list.push(SourceStatus {
            source: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            interval_seconds: s.interval.as_secs(),
            last_run,
            last_ok,
        });
    }
    Ok(list)
}

/// Each off-site store's last pass and newest verified remote copy, from the catalog.
fn offsite_status(cfg: &Config) -> Result<Vec<serde_json::Value>, Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut out = Vec::new();
    for o in &cfg.offsite {
        let last = catalog
            .last_offsite_attempt(&o.name)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let verified = catalog
            .last_offsite_verified(&o.name)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        out.push(serde_json::json!({
            "name": o.name,
            "last_attempt": last,
            "last_verified": verified,
        }));
    }
    Ok(out)
}

pub(super) fn print_catalog_status(cfg: &Config) -> Result<(), Failure> {
    let list = catalog_status(cfg)?;
    let offsite = offsite_status(cfg)?;
    let mut out = std::io::stdout().lock();
    for o in &offsite {
        let verified = o["last_verified"].as_str().unwrap_or("never");
        let _ = writeln!(
            out,
            "off-site {}: newest verified copy {verified}",
            o["name"].as_str().unwrap_or("")
        );
        if let Some(kind) = o["last_attempt"]["failure"].as_str() {
            let _ = writeln!(
                out,
                "  last pass FAILED ({kind}): {}",
                o["last_attempt"]["detail"].as_str().unwrap_or("")
            );
        }
    }
    for s in &list {
        let _ = writeln!(
            out,
            "{} ({}, every {}s)",
            s.source, s.kind, s.interval_seconds
        );
        match &s.last_run {
            None => {
                let _ = writeln!(out, "  last run:    never");
            }
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  last run:    {} {} ({} of {} copies){}",
                    r.started_at,
                    r.status.to_uppercase(),
                    r.copies_ok,
                    r.copies_total,
                    r.reason
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
            }
        }
        match &s.last_ok {
            None => {
                let _ = writeln!(out, "  last good:   never");
            }
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  last good:   {} ({})",
                    r.started_at,
                    human_bytes(r.bytes_stored.unwrap_or(0))
                );
            }
        }
    }
    Ok(())
}
