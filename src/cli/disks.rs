/*!
USB disks: `disks` (what is plugged in), `disk enroll`, `eject`.
*/

use std::io::Write;
use std::path::Path;

use super::{ask_daemon, daemon_socket, load, Failure};
use crate::agent::state::Request;
use crate::config::Role;
use crate::disks::Disks;
use crate::util::human_bytes;

pub(super) fn cmd_disks(config_path: &Path, json: bool) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let views = Disks::new(&cfg).list().map_err(Failure::Failed)?;
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&views).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    if views.is_empty() {
        let _ = writeln!(out, "no disks found");
    }
    for v in &views {
        let role = match v.role {
            Some(r) => r.as_str(),
            None if v.unreadable => "UNREADABLE",
            None if v.unusable.is_some() => "UNUSABLE",
            None => "UNKNOWN",
        };
        let _ = writeln!(
            out,
            "{:<12} {:<14} {:<6} {:<10} {:>10}  free {:>10}  {}{}  last backup {}",
            v.devnode.display(),
            if v.label.is_empty() {
                "-"
            } else {
                v.label.as_str()
            },
            v.fs_type.as_deref().unwrap_or("-"),
            role,
            human_bytes(v.size_bytes),
            v.free_bytes.map(human_bytes).unwrap_or_else(|| "?".into()),
            match (v.not_answering, v.mounted_at.is_some()) {
                (true, _) => "NOT ANSWERING",
                (false, true) => "mounted",
                (false, false) => "not mounted",
            },
            v.driver
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            v.last_backup.as_deref().unwrap_or("never")
        );
        if let Some(p) = &v.problem {
            let _ = writeln!(out, "             {p}");
        }
    }
    Ok(())
}

pub(super) fn find_device(spec: &Path) -> Result<crate::disks::device::BlockDev, Failure> {
    let canon = std::fs::canonicalize(spec).unwrap_or_else(|_| spec.to_path_buf());
    crate::disks::device::enumerate()
        .map_err(|e| Failure::Failed(format!("cannot list block devices: {e}")))?
        .into_iter()
        .find(|d| d.devnode == canon || d.devnode == spec)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{} is not a block device udev knows",
                spec.display()
            ))
        })
}

pub(super) fn cmd_enroll(
    config_path: &Path,
    spec: &Path,
    role: Role,
    label: Option<&str>,
    force: bool,
) -> Result<(), Failure> {
    use crate::disks::marker::{self, Marker, MarkerRead};
    use crate::safe_fs::Dir;
    let cfg = load(config_path)?;
    let now = chrono::Utc::now().with_timezone(&cfg.timezone).to_rfc3339();
    let write_marker = |root: &Path, fs_label: Option<&str>| -> Result<Marker, Failure> {
        let dir =
            Dir::open(root).map_err(|e| Failure::Failed(format!("{}: {e}", root.display())))?;
        if let MarkerRead::Present(m) = marker::read(&dir) {
            if !force {
                return Err(Failure::Usage(format!(
                    "this disk is already enrolled as {} (\"{}\", id {}); add --force to replace the marker",
                    m.role.as_str(),
                    m.label,
                    m.id
                )));
            }
        }
        let m = Marker {
            id: marker::new_id(),
            role,
            label: marker::display_label(label.or(fs_label).unwrap_or("")),
            enrolled_at: now.clone(),
        };
        marker::write(&dir, &m).map_err(|e| {
            Failure::Failed(crate::backup::writer::describe_io(
                root,
                "writing the enrollment marker",
                &e,
            ))
        })?;
        Ok(m)
    };
    let m = if spec.is_dir() {
        write_marker(spec, None)?
    } else {
        if daemon_socket(&cfg).is_some() {
            return Err(Failure::Usage(
                "the daemon is running and manages the disks: stop it (`systemctl stop simdondar-backup`) before enrolling a device, or enroll through a folder where the disk is mounted".into(),
            ));
        }
        let dev = find_device(spec)?;
        let Some(fs_type) = dev.fs_type.clone() else {
            return Err(Failure::Usage(format!(
                "{} has no file system: format it first (this program never formats disks)",
                spec.display()
            )));
        };
        let disks = Disks::new(&cfg);
        let point = disks.mount_dir().join(dev.mount_name());
        let mounted_here = crate::disks::mount::mount_at(&point).is_none();
        if mounted_here {
            crate::disks::mount::mount(&dev.devnode, &fs_type, &point, false)
                .map_err(|e| Failure::Failed(e.to_string()))?;
        }
        let res = write_marker(&point, dev.fs_label.as_deref());
        if mounted_here {
            if let Err(e) = disks.eject(&point, None, false) {
                log::warn!("{e}");
            }
        }
        res?
    };
    crate::audit::record_in(
        &cfg.state_dir,
        &crate::audit::cli_actor(),
        "disk-enroll",
        &serde_json::json!({ "device": spec.display().to_string(), "marker": m }),
    );
    println!(
        "enrolled as {} (label \"{}\", id {}): backups will be written to this disk",
        m.role.as_str(),
        m.label,
        m.id
    );
    Ok(())
}

pub(super) fn cmd_eject(config_path: &Path, which: Option<&str>) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if let Some(sock) = daemon_socket(&cfg) {
        return ask_daemon(
            &sock,
            &Request::Eject {
                disk: which.map(String::from),
            },
            // The daemon ejects every disk at once under one deadline and answers by then,
            // naming any disk still busy (issue 18).
            Some(crate::disks::RELEASE_WAIT + crate::disks::EJECT_REPLY_MARGIN),
        );
    }
    let disks = Disks::new(&cfg);
    let dir = disks.mount_dir();
    let devs = crate::disks::device::enumerate().unwrap_or_default();
    let mounted: Vec<_> = crate::disks::mount::mounts()
        .into_iter()
        .filter(|m| m.mount_point.parent() == Some(dir.as_path()))
        .collect();
    let mut chosen = Vec::new();
    for m in &mounted {
        let dev = devs.iter().find(|d| {
            d.devnum == m.devnum
                || Path::new(&m.source) == d.devnode
                || dir.join(d.mount_name()) == m.mount_point
        });
        let matches = match which {
            None => true,
            Some(w) => {
                Path::new(w) == m.mount_point
                    || dev.is_some_and(|d| {
                        d.devnode == Path::new(w)
                            || d.fs_uuid.as_deref() == Some(w)
                            || d.fs_label.as_deref() == Some(w)
                    })
            }
        };
        if matches {
            chosen.push((m.mount_point.clone(), dev.cloned()));
        }
    }
    if chosen.is_empty() {
        return Err(Failure::Usage(match which {
            Some(w) => format!("no disk mounted by the appliance matches \"{w}\""),
            None => "no disk is mounted by the appliance: it is already safe to remove".into(),
        }));
    }
    // Every disk at once, under one deadline (issue 18).
    let deadline = std::time::Instant::now() + crate::disks::RELEASE_WAIT;
    let results = std::sync::Mutex::new(Vec::new());
    disks.eject_all(&chosen, true, deadline, |i, res| {
        if let Ok(mut r) = results.lock() {
            r.push((i, res));
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    // In the order the disks were chosen.
    results.sort_by_key(|(i, _)| *i);
    let mut problems = Vec::new();
    for (i, res) in results {
        let (point, dev) = &chosen[i];
        let name = dev
            .as_ref()
            .map(|d| {
                format!(
                    "{} ({})",
                    d.fs_label
                        .as_deref()
                        .map(crate::disks::marker::display_label)
                        .unwrap_or_default(),
                    d.devnode.display()
                )
            })
            .unwrap_or_else(|| point.display().to_string());
        crate::audit::record_in(
            &cfg.state_dir,
            &crate::audit::cli_actor(),
            "disk-eject",
            &serde_json::json!({ "disk": name, "ok": res.is_ok(), "error": res.as_ref().err().map(|e| e.message.as_str()), "failure": res.as_ref().err().map(|e| e.kind) }),
        );
        match res {
            Ok(e) => {
                println!(
                    "SAFE TO REMOVE  {name}{}{}",
                    if e.powered_off { ", powered down" } else { "" },
                    if e.lazy {
                        " (it was busy: detached, and released once the last program let go)"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => problems.push(format!("{name}: {e}; do not remove it yet")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}
