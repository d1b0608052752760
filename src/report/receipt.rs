/*!
The handover receipt ("tanda terima") of a manual copy: the SOP's Pelaporan says the external
backup is handed to IT Support to archive, and this page is what both sides sign. It names the
backup (date and time, unit, source and databases), the disk (label, id, role), every stored file
with its size and SHA-256, and the encryption recipient or the fact that it is not encrypted, with
blanks for the names, signatures and dates of the Administrator (who hands over) and IT Support
(who receives).

[`ReceiptData::from_copy`] reads what was actually published on the disk (manifest, `.sha256`
sidecar, file sizes) through directory handles; [`write_receipt`] keeps one copy in
`state_dir/receipts/` and puts one on the disk next to the backups.
*/

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;

use super::html::{self, esc, group, human_size, text};
use super::texts::{fill, texts, Texts};
use super::{fmt_datetime, parse_time, ReportError};
use crate::backup::inventory;
use crate::backup::layout::{self, ROOT_DIR};
use crate::backup::manifest::Manifest;
use crate::backup::writer::{write_atomically, DiskName};
use crate::config::{Config, Language};
use crate::disks::marker::{self, MarkerRead};
use crate::safe_fs::Dir;

/// The folder below `state_dir` that keeps every receipt.
pub const RECEIPTS_DIR: &str = "receipts";

/// Sidecars larger than this are not read.
const MAX_SIDECAR_BYTES: u64 = 256 * 1024;

/// One stored file of the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFile {
    pub name: String,
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Everything a receipt shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptData {
    pub language: Language,
    /// When the backup started, in the configured zone.
    pub at: DateTime<Tz>,
    /// The unit: the appliance's host name.
    pub unit: String,
    /// The disk's label as IT Support knows it.
    pub disk_label: String,
    /// The enrollment marker's id.
    pub disk_id: Option<String>,
    /// `manual` (or `auto`).
    pub disk_role: String,
    pub source: String,
    /// `mysql`, `command`, `ssh-tar`.
    pub source_kind: String,
    pub databases: Vec<String>,
    /// `SIMDONDAR-BACKUP/<source>/YYYY/MM/DD`
    pub folder: String,
    /// Every stored file (every part), in order.
    pub files: Vec<ReceiptFile>,
    /// All stored bytes.
    pub total_bytes: u64,
    /// SHA-256 of all stored bytes in order.
    pub sha256: String,
    pub encrypted: bool,
    /// The age public keys it is encrypted to.
    pub recipients: Vec<String>,
    /// The `.sha256` file's name.
    pub sidecar: String,
    /// The newest audit entry when the copy was made ([`crate::audit_anchor`]).
    pub audit_anchor: Option<crate::audit_anchor::Anchor>,
}

impl ReceiptData {
    /// From a manifest, the folder it is in and its files as found on the disk. With `files`
    /// empty and a single part, the manifest's size and hash describe that part. Disk fields
    /// start from the manifest's role; set `disk_label` and `disk_id` afterwards.
    pub fn from_manifest(
        m: &Manifest,
        folder: &str,
        files: Vec<ReceiptFile>,
        cfg: &Config,
    ) -> Result<ReceiptData, ReportError> {
        let data_name = m
            .parts
            .first()
            .map(|p| layout::data_name_of(p))
            .unwrap_or("");
        let path = PathBuf::from(folder).join(data_name);
        let at = parse_time(&m.started_at, cfg.timezone).ok_or_else(|| ReportError::Backup {
            path: path.clone(),
            detail: format!("the manifest's started_at {:?} is not a time", m.started_at),
        })?;
        let files = if files.is_empty() {
            if m.parts.len() != 1 {
                return Err(ReportError::Backup {
                    path,
                    detail: "a split backup needs the size and SHA-256 of every part".into(),
                });
            }
            vec![ReceiptFile {
                name: m.parts[0].clone(),
                bytes: m.bytes_stored,
                sha256: m.sha256.clone(),
            }]
        } else {
            files
        };
        Ok(ReceiptData {
            language: cfg.language,
            at,
            unit: m
                .host
                .clone()
                .or_else(crate::clock::hostname)
                .unwrap_or_default(),
            disk_label: String::new(),
            disk_id: None,
            disk_role: m.role.clone().unwrap_or_else(|| "manual".into()),
            source: m.source.clone(),
            source_kind: m.kind.clone(),
            databases: m.databases.clone(),
            folder: folder.to_string(),
            files,
            total_bytes: m.bytes_stored,
            sha256: m.sha256.clone(),
            encrypted: m.encrypted,
            recipients: m.recipients.clone(),
            sidecar: format!("{data_name}.sha256"),
            audit_anchor: None,
        })
    }

    /// Reads a published copy on a mounted disk: `relative_path` is the data file below `root`
    /// (as in [`crate::backup::writer::CopyOutcome::relative_path`]). The disk's label, id and
    /// role come from its enrollment marker; a disk enrolled by its label has none, so its label
    /// as udev reports it comes from `disk` and its id is its file-system UUID; a folder is named
    /// by its name.
    pub fn from_copy(
        root: &Path,
        relative_path: &str,
        disk: Option<&DiskName>,
        cfg: &Config,
    ) -> Result<ReceiptData, ReportError> {
        let path = root.join(relative_path);
        let err = |detail: String| ReportError::Backup {
            path: path.clone(),
            detail,
        };
        let comps: Vec<&str> = relative_path.split('/').filter(|c| !c.is_empty()).collect();
        let Some((data_name, dirs)) = comps.split_last() else {
            return Err(err("empty path".into()));
        };
        if comps.iter().any(|c| *c == "." || *c == "..") {
            return Err(err("the path must not contain . or ..".into()));
        }
        let top = Dir::open(root).map_err(|e| err(e.to_string()))?;
        let dir = top
            .open_dirs(dirs.iter().copied())
            .map_err(|e| err(format!("cannot open its folder: {e}")))?;
        let m = inventory::read_manifest(&dir, &format!("{data_name}.json")).map_err(err)?;

        let sidecar_name = format!("{data_name}.sha256");
        let mut sums: BTreeMap<String, String> = BTreeMap::new();
        if let Ok(f) = dir.open_read(&sidecar_name) {
            let mut bytes = Vec::new();
            f.take(MAX_SIDECAR_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| err(format!("cannot read {sidecar_name}: {e}")))?;
            if let Some(lines) = layout::parse_sidecar(&String::from_utf8_lossy(&bytes)) {
                for (hash, name) in lines {
                    sums.insert(name, hash.to_ascii_lowercase());
                }
            }
        }
        let mut files = Vec::new();
        for part in &m.parts {
            let bytes = dir
                .open_read(part)
                .and_then(|f| f.metadata())
                .map(|md| md.len())
                .map_err(|e| err(format!("cannot read {part}: {e}")))?;
            let sha256 = match sums.get(part) {
                Some(h) => h.clone(),
                None if m.parts.len() == 1 => m.sha256.clone(),
                None => {
                    return Err(err(format!(
                        "{sidecar_name} lists no SHA-256 for the part {part}"
                    )))
                }
            };
            files.push(ReceiptFile {
                name: part.clone(),
                bytes,
                sha256,
            });
        }
        let mut r = ReceiptData::from_manifest(&m, &dirs.join("/"), files, cfg)?;
        r.sidecar = sidecar_name;
        let marker = match marker::read(&top) {
            MarkerRead::Present(mk) => Some(mk),
            _ => None,
        };
        r.disk_label = marker
            .as_ref()
            .map(|mk| marker::display_label(&mk.label))
            .filter(|l| !l.is_empty())
            .or_else(|| {
                disk.map(|d| marker::display_label(&d.label))
                    .filter(|l| !l.is_empty())
            })
            .unwrap_or_else(|| {
                root.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| root.display().to_string())
            });
        r.disk_id = marker
            .as_ref()
            .map(|mk| mk.id.clone())
            .or_else(|| disk.and_then(|d| d.uuid.as_ref().map(|u| format!("UUID {u}"))));
        if let Some(role) = marker.as_ref().map(|mk| mk.role) {
            r.disk_role = role.as_str().to_string();
        }
        Ok(r)
    }

    fn t(&self) -> &'static Texts {
        texts(self.language)
    }

    /// `TT-20261126-100000-SIMBAK-01`: the number written on the receipt.
    pub fn number(&self) -> String {
        format!(
            "TT-{}-{}",
            self.at.format("%Y%m%d-%H%M%S"),
            file_label(&self.disk_label)
        )
    }
}

/// A label made safe for a file name: ASCII letters, digits, `-` and `_`; anything else becomes
/// `-`; at most 40 characters; `disk` when nothing is left.
pub fn file_label(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out: String = out.trim_matches('-').chars().take(40).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "disk".to_string()
    } else {
        out
    }
}

/// `tanda-terima-YYYYMMDD-HHMMSS-<label>.html`
pub fn receipt_file_name(r: &ReceiptData) -> String {
    format!(
        "tanda-terima-{}-{}.html",
        r.at.format("%Y%m%d-%H%M%S"),
        file_label(&r.disk_label)
    )
}

/// The receipt as a self-contained printable A4 page.
pub fn receipt_html(r: &ReceiptData) -> String {
    let t = r.t();
    let lang = r.language;
    let mut b = String::with_capacity(12 * 1024);
    b.push_str("<header class=\"doc\">\n");
    b.push_str(&format!("<div class=\"org\">{}</div>\n", esc(t.org)));
    b.push_str("<div class=\"hdrrow\"><div>");
    b.push_str(&format!("<h1>{}</h1>\n", esc(t.receipt_title)));
    b.push_str(&format!(
        "<p class=\"sub\">{}</p></div>\n",
        html::esc_sop(&fill(t.receipt_subtitle, &[("sop", t.sop)]))
    ));
    b.push_str(&format!(
        "<div class=\"docno\">{}<br><strong>{}</strong></div></div>\n</header>\n",
        esc(t.receipt_number),
        text(&r.number())
    ));
    b.push_str(&format!(
        "<p class=\"intro\">{}</p>\n",
        html::esc_sop(t.receipt_intro)
    ));

    let day_name = t.weekdays_long[r.at.weekday().num_days_from_sunday() as usize];
    let unit = if r.unit.is_empty() {
        t.unknown_host.to_string()
    } else {
        r.unit.clone()
    };
    let mut disk = format!(
        "{} <strong>{}</strong>",
        esc(t.r_label),
        text(&r.disk_label)
    );
    if let Some(id) = &r.disk_id {
        disk.push_str(&format!(
            " &middot; {} <span class=\"mono\">{}</span>",
            esc(t.r_disk_id),
            text(id)
        ));
    }
    disk.push_str(&format!(
        " &middot; {} <strong>{}</strong>",
        esc(t.r_role),
        esc(t.role(&html::clean(&r.disk_role, 20)))
    ));
    let encryption = if r.encrypted {
        let keys: Vec<String> = r
            .recipients
            .iter()
            .map(|k| format!("<br><span class=\"hash\">{}</span>", text(k)))
            .collect();
        format!("{}{}", esc(t.r_encrypted_for), keys.concat())
    } else {
        format!("<strong>{}</strong>", esc(t.r_not_encrypted))
    };
    let databases = if r.databases.is_empty() {
        esc(t.r_none)
    } else {
        text(&r.databases.join(", "))
    };
    let mut rows: Vec<(&str, String)> = vec![
        (
            t.r_datetime,
            format!(
                "<strong>{}, {}</strong>",
                esc(day_name),
                esc(&fmt_datetime(&r.at))
            ),
        ),
        (t.r_unit, format!("<strong>{}</strong>", text(&unit))),
        (t.r_disk, disk),
        (
            t.r_source,
            format!(
                "<strong>{}</strong> ({})",
                text(&r.source),
                text(&r.source_kind)
            ),
        ),
        (t.r_databases, databases),
        (t.r_encryption, encryption),
        (
            t.r_total,
            format!(
                "<strong>{}</strong> ({} {})",
                esc(&human_size(r.total_bytes, lang)),
                group(r.total_bytes, lang),
                esc(t.bytes_word)
            ),
        ),
    ];
    if r.files.len() > 1 {
        rows.push((
            t.r_sha_all,
            format!("<span class=\"hash\">{}</span>", hash_lines(&r.sha256)),
        ));
    }
    b.push_str("<table class=\"grid kv\">\n");
    for (k, v) in rows {
        b.push_str(&format!("<tr><th>{}</th><td>{v}</td></tr>\n", esc(k)));
    }
    b.push_str("</table>\n");
    if !r.encrypted {
        b.push_str(&format!(
            "<div class=\"box alert\"><strong>{}</strong></div>\n",
            esc(t.r_warn_clear)
        ));
    }

    b.push_str(&format!("<h2>{}</h2>\n", esc(t.r_files)));
    b.push_str(&format!(
        "<p class=\"small\">{}: <span class=\"mono\">{}/</span></p>\n",
        esc(t.col_folder),
        text(&r.folder)
    ));
    b.push_str(&format!(
        "<table class=\"grid fixed files\"><colgroup><col style=\"width:9mm\"><col><col style=\"width:27mm\"><col style=\"width:62mm\"></colgroup><thead><tr><th class=\"n\">{}</th><th>{}</th><th class=\"r\">{}</th><th>{}</th></tr></thead><tbody>\n",
        esc(t.r_col_no),
        esc(t.r_col_name),
        esc(t.r_col_size),
        esc(t.r_col_sha)
    ));
    for (i, f) in r.files.iter().enumerate() {
        b.push_str(&format!(
            "<tr><td class=\"n\">{}</td><td class=\"mono\">{}</td><td class=\"r\">{}<br><span class=\"small\">{} {}</span></td><td class=\"hash\">{}</td></tr>\n",
            i + 1,
            text(&f.name),
            esc(&human_size(f.bytes, lang)),
            group(f.bytes, lang),
            esc(t.bytes_word),
            hash_lines(&f.sha256)
        ));
    }
    b.push_str("</tbody></table>\n");
    b.push_str(&format!(
        "<p class=\"small\">{}</p>\n",
        esc(&fill(
            t.r_check_hint,
            &[("sidecar", &html::clean(&r.sidecar, 120))]
        ))
    ));

    b.push_str(&format!(
        "<h2>{}</h2>\n<div class=\"sign\">",
        esc(t.r_handover_title)
    ));
    b.push_str(&html::signature_block(
        t,
        t.r_giver,
        Some(t.r_giver_role),
        false,
        "",
    ));
    b.push_str(&html::signature_block(
        t,
        t.r_receiver,
        Some(t.r_receiver_role),
        false,
        "",
    ));
    b.push_str("</div>\n");
    b.push_str(&format!(
        "<table class=\"archive\"><tr><td class=\"k\">{}</td><td class=\"line\">&nbsp;</td></tr></table>\n",
        esc(t.r_archive)
    ));
    let anchor = html::anchor_note(t, r.audit_anchor.as_ref());
    b.push_str(&format!(
        "<footer class=\"doc\">{} &middot; {}{anchor}</footer>\n",
        esc(&fill(
            t.generated_by,
            &[
                (
                    "tool",
                    &format!("simdondar-backup {}", env!("CARGO_PKG_VERSION"))
                ),
                ("host", &unit),
            ]
        )),
        esc(t.sop)
    ));
    let title = format!("{} {}", t.receipt_title, r.number());
    html::page(t, &title, &title, &b)
}

/// A SHA-256 as two lines of 32 hex digits (escaped), as the index prints it.
fn hash_lines(h: &str) -> String {
    let h = html::clean(h, 64);
    match h.char_indices().nth(32) {
        Some((i, _)) => format!("{}<br>{}", esc(&h[..i]), esc(&h[i..])),
        None => esc(&h),
    }
}

fn write_err(path: PathBuf) -> impl Fn(std::io::Error) -> ReportError {
    move |e| ReportError::Write {
        path: path.clone(),
        detail: e.to_string(),
    }
}

/// Writes the receipt to `state_dir/receipts/` and, when given, to the disk's
/// `SIMDONDAR-BACKUP/` folder; returns the path of the copy in `state_dir`.
pub fn write_receipt(
    state_dir: &Path,
    disk_root: Option<&Path>,
    r: &ReceiptData,
) -> Result<PathBuf, ReportError> {
    let name = receipt_file_name(r);
    let page = receipt_html(r);
    let folder = state_dir.join(RECEIPTS_DIR);
    std::fs::create_dir_all(&folder).map_err(write_err(folder.clone()))?;
    let dir = Dir::open(&folder).map_err(write_err(folder.clone()))?;
    let kept = folder.join(&name);
    write_atomically(&dir, &name, page.as_bytes()).map_err(write_err(kept.clone()))?;
    dir.sync().map_err(write_err(folder.clone()))?;
    if let Some(root) = disk_root {
        let on_disk = root.join(ROOT_DIR);
        let dir = Dir::open(root)
            .and_then(|top| top.create_dir(ROOT_DIR))
            .map_err(write_err(on_disk.clone()))?;
        write_atomically(&dir, &name, page.as_bytes()).map_err(write_err(on_disk.join(&name)))?;
        dir.sync().map_err(write_err(on_disk))?;
    }
    Ok(kept)
}
