/*!
The age keys: `keygen`, and `key` (the key-custody check).
*/

use std::io::Write;
use std::path::Path;

use super::args::KeyCommand;
use super::{load, Failure};
use crate::catalog::Catalog;
use crate::config::Role;
use crate::disks::claim;

pub(super) fn cmd_keygen(out: &Path) -> Result<(), Failure> {
    use age::secrecy::ExposeSecret;
    use std::os::unix::fs::OpenOptionsExt;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = format!(
        "# created: {now}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| {
            Failure::Failed(format!(
                "cannot create {}: {e} (it must not exist yet; keys are never overwritten)",
                out.display()
            ))
        })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", out.display())))?;
    println!("Private key written to {} (mode 0600).", out.display());
    println!();
    println!("Put this line into the [encryption] section of the appliance's config:");
    println!();
    println!("    recipients = [\"{public}\"]");
    println!();
    eprintln!(
        "IMPORTANT: move {} OFF the appliance and keep it safe (two copies, e.g. a sealed envelope\n\
         in the head of unit's safe and IT Support's password manager). Without it, the encrypted\n\
         copies cannot be restored; with it, anyone can read the donor data.",
        out.display()
    );
    Ok(())
}

pub(super) fn cmd_key(config_path: &Path, command: &KeyCommand) -> Result<(), Failure> {
    use crate::keycheck;
    let cfg = load(config_path)?;
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let now = chrono::Utc::now();
    let failed = |e: keycheck::KeyCheckError| match e {
        keycheck::KeyCheckError::NoRecipients | keycheck::KeyCheckError::BadRecipient(_) => {
            Failure::Usage(e.to_string())
        }
        _ => Failure::Failed(e.to_string()),
    };
    match command {
        KeyCommand::Challenge { target } => {
            let abs = std::path::absolute(target).unwrap_or_else(|_| target.clone());
            let c = claim::claim(Some(&cfg), &abs).map_err(|e| Failure::Usage(e.to_string()))?;
            if c.role != Role::Manual {
                return Err(Failure::Usage(format!(
                    "{} is an {} disk: key checks go onto a manual disk (the one carried to the key holder)",
                    abs.display(),
                    c.role.as_str()
                )));
            }
            let issued =
                keycheck::issue(&catalog, &cfg.encryption.recipients, &abs, now).map_err(failed)?;
            for i in &issued {
                println!(
                    "key check {} for {}: {}",
                    i.id,
                    i.recipient,
                    abs.join(&i.file).display()
                );
            }
            println!(
                "the key holder decrypts it with `age -d -i KEYFILE FILE` and types the words here: simdondar-backup key confirm WORD…"
            );
            Ok(())
        }
        KeyCommand::Confirm { words } => {
            let row = keycheck::confirm(&catalog, &crate::audit::cli_actor(), words, now)
                .map_err(failed)?;
            println!(
                "key confirmed: {} can decrypt (check {}, issued {})",
                row.recipient, row.id, row.issued_at
            );
            Ok(())
        }
        KeyCommand::Status { json } => {
            let list =
                keycheck::status(&catalog, &cfg.encryption.recipients, now).map_err(failed)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
                );
            } else if list.is_empty() {
                println!("no [encryption] recipients are configured: there is no key to check");
            }
            if !*json {
                for s in &list {
                    println!(
                        "{}  {}{}",
                        s.recipient,
                        match (&s.confirmed_at, s.days) {
                            (Some(at), Some(d)) => format!("confirmed {at} ({d} days ago)"),
                            _ => "never confirmed".into(),
                        },
                        match (s.due, &s.open) {
                            (true, Some(id)) =>
                                format!("  DUE: challenge {id} waits for its words"),
                            (true, None) =>
                                "  DUE: write a challenge with `key challenge --target DIR`".into(),
                            (false, _) => String::new(),
                        }
                    );
                }
            }
            Ok(())
        }
    }
}
