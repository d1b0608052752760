/*!
The index every target carries: `SIMDONDAR-BACKUP/INDEX.csv` and `INDEX.html`, rewritten after
each run from what is actually on the disk (its manifests, through [`inventory::scan`]), newest
backup first, with how to restore each source with and without this program. A disk carried to
another machine, or found in a drawer years later, explains itself.

Both files are written through `NAME.partial`, fsync and rename relative to a directory handle, so
a planted symlink is replaced rather than followed, and a power cut leaves the old index or the new
one, never half of one.
*/

use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::csv::{self, Csv};
use super::html::{self, esc, group, human_size, text};
use super::texts::{fill, texts, Texts};
use super::{fmt_datetime, parse_time, ReportError};
use crate::audit_anchor::Anchor;
use crate::backup::inventory::{self, Entry};
use crate::backup::layout::ROOT_DIR;
use crate::backup::writer::write_atomically;
use crate::config::{Config, Language};
use crate::disks::marker::{self, Marker, MarkerRead};
use crate::safe_fs::Dir;

/// The index files' names inside `SIMDONDAR-BACKUP/`.
pub const INDEX_CSV: &str = "INDEX.csv";
pub const INDEX_HTML: &str = "INDEX.html";

/// One backup in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// The start, in the configured zone (`None` when the manifest cannot be read).
    pub started: Option<DateTime<Tz>>,
    /// The start as the manifest says (RFC 3339).
    pub started_iso: String,
    pub source: String,
    pub kind: String,
    pub databases: Vec<String>,
    /// `SIMDONDAR-BACKUP/<source>/YYYY/MM/DD`
    pub folder: String,
    /// The data file's name (without `.partNNN`).
    pub data_name: String,
    /// The stored files, in order.
    pub files: Vec<String>,
    pub bytes: Option<u64>,
    pub sha256: String,
    pub encrypted: Option<bool>,
    pub compression: String,
    pub role: Option<String>,
    pub trigger: Option<String>,
    pub host: Option<String>,
    /// Why the manifest cannot be used.
    pub problem: Option<String>,
    /// Why a backup with a good manifest is not counted (a data file missing or of the wrong
    /// size, marked unreadable by `verify`).
    pub not_counted: Option<String>,
}

/// What a target holds, ready to be written as CSV and HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskIndex {
    pub language: Language,
    pub generated_at: DateTime<Tz>,
    /// From the disk's enrollment marker, when it has one.
    pub disk: Option<Marker>,
    /// Newest first.
    pub rows: Vec<IndexRow>,
    /// The newest audit entry when the disk was last written ([`crate::audit_anchor`]).
    pub anchor: Option<Anchor>,
    /// The monthly reports on the disk, newest first: (`YYYY-MM`, closed).
    pub months: Vec<(String, bool)>,
}

impl IndexRow {
    /// A scanned entry as a row, its times in `tz`.
    pub fn from_entry(e: &Entry, tz: Tz) -> IndexRow {
        let folder = e.dir_components.join("/");
        match &e.manifest {
            Ok(m) => IndexRow {
                started: parse_time(&m.started_at, tz),
                started_iso: m.started_at.clone(),
                source: m.source.clone(),
                kind: m.kind.clone(),
                databases: m.databases.clone(),
                folder,
                data_name: e.data_name.clone(),
                files: m.parts.clone(),
                bytes: Some(m.bytes_stored),
                sha256: m.sha256.clone(),
                encrypted: Some(m.encrypted),
                compression: m.compression.clone(),
                role: m.role.clone(),
                trigger: m.trigger.clone(),
                host: m.host.clone(),
                problem: None,
                not_counted: (!e.completeness.is_complete()).then(|| e.completeness.to_string()),
            },
            Err(reason) => IndexRow {
                started: None,
                started_iso: String::new(),
                source: e.source.clone(),
                kind: String::new(),
                databases: Vec::new(),
                folder,
                data_name: e.data_name.clone(),
                files: vec![e.data_name.clone()],
                bytes: None,
                sha256: String::new(),
                encrypted: None,
                compression: String::new(),
                role: None,
                trigger: None,
                host: None,
                problem: Some(reason.clone()),
                not_counted: None,
            },
        }
    }

    /// The two restore commands: with simdondar-backup, and with standard tools only; each is
    /// broken into lines that fit an A4 page with `\` continuations, so it prints without a
    /// wrapped word and still pastes into a shell.
    pub fn restore_commands(&self, t: &Texts) -> (String, String) {
        let encrypted = self.encrypted.unwrap_or(false);
        let stem = self
            .data_name
            .trim_end_matches(".age")
            .trim_end_matches(".zst")
            .trim_end_matches(".gz");
        let sink = if stem.ends_with(".sql") {
            "mariadb --max-allowed-packet=1G".to_string()
        } else if stem.ends_with(".tar") {
            format!("tar -xf - -C {}", t.restore_dir)
        } else {
            format!("> {stem}")
        };
        let path = format!("{}/{}", self.folder, self.data_name);
        let identity = if encrypted {
            format!("--identity {} ", t.key_file)
        } else {
            String::new()
        };
        const NEXT: &str = " \\\n    ";
        let with_tool =
            format!("simdondar-backup restore{NEXT}{path}{NEXT}{identity}--stdout | {sink}");
        let decompress = if self.compression == "gzip" || self.compression == "gz" {
            "gzip -d"
        } else {
            "zstd -d"
        };
        let split = self.files.len() > 1;
        let check = format!(
            "(cd {} && sha256sum -c {}.sha256)",
            self.folder, self.data_name
        );
        let without = match (split, encrypted) {
            (false, false) => format!("{check} &&{NEXT}{decompress}c {path}{NEXT}| {sink}"),
            (false, true) => format!(
                "{check} &&{NEXT}age -d -i {} {path}{NEXT}| {decompress} | {sink}",
                t.key_file
            ),
            (true, false) => {
                format!("{check} &&{NEXT}cat {path}.part*{NEXT}| {decompress} | {sink}")
            }
            (true, true) => format!(
                "{check} &&{NEXT}cat {path}.part*{NEXT}| age -d -i {} | {decompress} | {sink}",
                t.key_file
            ),
        };
        (with_tool, without)
    }
}

impl DiskIndex {
    /// The index of scanned entries (already newest first).
    pub fn build(
        entries: &[Entry],
        disk: Option<&Marker>,
        language: Language,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> DiskIndex {
        DiskIndex {
            language,
            generated_at: now.with_timezone(&tz),
            disk: disk.cloned(),
            rows: entries
                .iter()
                .map(|e| IndexRow::from_entry(e, tz))
                .collect(),
            anchor: None,
            months: Vec::new(),
        }
    }

    fn t(&self) -> &'static Texts {
        texts(self.language)
    }

    /// RFC 4180 CSV: a header row, then one row per backup, newest first.
    pub fn to_csv(&self) -> String {
        let t = self.t();
        let mut c = Csv::new();
        c.row([
            t.col_datetime,
            t.col_started_iso,
            t.col_source,
            t.col_kind_src,
            t.col_databases,
            t.col_folder,
            t.col_files,
            t.col_size_bytes,
            t.col_size,
            "SHA-256",
            t.col_encrypted,
            t.col_role,
            t.col_trigger,
            t.col_host,
            t.col_note,
        ]);
        for r in &self.rows {
            let note = match (&r.problem, &r.not_counted) {
                (Some(p), _) => fill(t.index_unreadable, &[("reason", &html::clean(p, 300))]),
                (None, Some(n)) => fill(t.index_not_counted, &[("reason", &html::clean(n, 300))]),
                (None, None) => String::new(),
            };
            c.row([
                r.started.as_ref().map(fmt_datetime).unwrap_or_default(),
                csv::untrusted(&html::clean(&r.started_iso, 64)),
                csv::untrusted(&html::clean(&r.source, 64)),
                csv::untrusted(&html::clean(&r.kind, 32)),
                csv::untrusted(&html::clean(&r.databases.join(" "), 200)),
                csv::untrusted(&html::clean(&r.folder, 200)),
                csv::untrusted(&html::clean(&r.files.join(" "), 2000)),
                r.bytes.map(|b| b.to_string()).unwrap_or_default(),
                r.bytes
                    .map(|b| human_size(b, self.language))
                    .unwrap_or_default(),
                csv::untrusted(&html::clean(&r.sha256, 64)),
                r.encrypted
                    .map(|e| t.yes_no(e).to_string())
                    .unwrap_or_default(),
                r.role
                    .as_deref()
                    .map(|x| csv::untrusted(&html::clean(t.role(x), 32)))
                    .unwrap_or_default(),
                r.trigger
                    .as_deref()
                    .map(|x| csv::untrusted(&html::clean(t.trigger(x), 32)))
                    .unwrap_or_default(),
                csv::untrusted(&html::clean(r.host.as_deref().unwrap_or(""), 64)),
                csv::untrusted(&note),
            ]);
        }
        c.finish()
    }

    /// A self-contained printable page.
    pub fn to_html(&self) -> String {
        let t = self.t();
        let lang = self.language;
        let mut b = String::with_capacity(16 * 1024 + self.rows.len() * 600);
        b.push_str("<header class=\"doc\">\n");
        b.push_str(&format!("<div class=\"org\">{}</div>\n", esc(t.org)));
        b.push_str(&format!("<h1>{}</h1>\n", esc(t.index_title)));
        b.push_str(&format!(
            "<p class=\"sub\">{}</p>\n</header>\n",
            html::esc_sop(t.sop)
        ));
        b.push_str("<table class=\"meta\">\n");
        if let Some(m) = &self.disk {
            b.push_str(&format!(
                "<tr><td class=\"k\">{}</td><td class=\"v\">{} ({})</td></tr>\n",
                esc(t.index_disk),
                text(&marker::display_label(&m.label)),
                esc(t.role(m.role.as_str()))
            ));
            b.push_str(&format!(
                "<tr><td class=\"k\">{}</td><td class=\"v mono\">{}</td></tr>\n",
                esc(t.index_disk_id),
                text(&m.id)
            ));
        }
        b.push_str(&format!(
            "<tr><td class=\"k\">{}</td><td class=\"v\">{}</td></tr>\n",
            esc(t.index_updated),
            esc(&fmt_datetime(&self.generated_at))
        ));
        let total: u64 = self.rows.iter().filter_map(|r| r.bytes).sum();
        let count = self.rows.iter().filter(|r| r.problem.is_none()).count();
        b.push_str(&format!(
            "<tr><td class=\"k\">{}</td><td class=\"v\">{}</td></tr>\n</table>\n",
            esc(t.index_contents),
            esc(&fill(
                t.index_count,
                &[
                    ("n", &group(count as u64, lang)),
                    ("size", &human_size(total, lang))
                ]
            ))
        ));

        // The monthly SOP reports on this disk, linked (relative: they open from the disk).
        if !self.months.is_empty() {
            b.push_str(&format!("<h2>{}</h2>\n<ul>\n", esc(t.index_reports)));
            for (k, closed) in &self.months {
                b.push_str(&format!(
                    "<li><a href=\"{dir}/{k}.html\">{k}</a> (<a href=\"{dir}/{k}.csv\">CSV</a>) &middot; {}</li>\n",
                    esc(if *closed {
                        t.index_report_closed
                    } else {
                        t.index_report_running
                    }),
                    dir = super::monthly::DIR,
                    k = esc(k)
                ));
            }
            b.push_str("</ul>\n");
        }

        // How to restore: the newest backup of each source.
        let mut seen = std::collections::BTreeSet::new();
        let examples: Vec<&IndexRow> = self
            .rows
            .iter()
            .filter(|r| r.problem.is_none() && seen.insert(r.source.clone()))
            .collect();
        if !examples.is_empty() {
            b.push_str(&format!("<h2>{}</h2>\n", esc(t.restore_title)));
            b.push_str(&format!(
                "<p class=\"small\">{}</p>\n",
                esc(t.restore_intro)
            ));
            for r in &examples {
                let (with_tool, without) = r.restore_commands(t);
                b.push_str(&format!(
                    "<p><strong>{}</strong> &middot; {}</p>\n",
                    text(&r.source),
                    esc(&r.started.as_ref().map(fmt_datetime).unwrap_or_default())
                ));
                b.push_str(&format!(
                    "<p class=\"small\">{}</p><pre class=\"cmd\">{}</pre>\n",
                    esc(t.restore_with_tool),
                    command(&with_tool)
                ));
                b.push_str(&format!(
                    "<p class=\"small\">{}</p><pre class=\"cmd\">{}</pre>\n",
                    esc(t.restore_without_tool),
                    command(&without)
                ));
            }
            let mut notes = Vec::new();
            if examples.iter().any(|r| r.encrypted == Some(true)) {
                notes.push(t.restore_key_note);
            }
            if self.rows.iter().any(|r| r.files.len() > 1) {
                notes.push(t.restore_parts_note);
            }
            notes.push(t.restore_more);
            b.push_str(&format!(
                "<p class=\"small\">{}</p>\n",
                esc(&notes.join(" "))
            ));
        }

        // Every backup.
        b.push_str(&format!(
            "<h2>{} ({})</h2>\n",
            esc(t.index_list),
            group(count as u64, lang)
        ));
        if self.rows.is_empty() {
            b.push_str(&format!("<p>{}</p>\n", esc(t.index_none)));
        } else {
            b.push_str(&format!(
                "<table class=\"grid fixed index\"><colgroup><col style=\"width:20mm\"><col style=\"width:14mm\"><col><col style=\"width:14mm\"><col style=\"width:52mm\"><col style=\"width:16mm\"><col style=\"width:15mm\"></colgroup><thead><tr><th>{}</th><th>{}</th><th>{}</th><th class=\"r\">{}</th><th>{}</th><th class=\"n\">{}</th><th>{}</th></tr></thead>\n<tbody>\n",
                esc(t.col_datetime),
                esc(t.col_source),
                esc(t.col_files),
                esc(t.col_size),
                "SHA-256",
                esc(t.col_encrypted),
                esc(t.col_role)
            ));
            for r in &self.rows {
                let files: Vec<String> = r.files.iter().map(|f| text(f)).collect();
                if let (None, Some(n)) = (&r.problem, &r.not_counted) {
                    b.push_str(&format!(
                        "<tr class=\"gap\"><td class=\"nw\">{}</td><td>{}</td><td class=\"mono\">{}</td><td colspan=\"4\" class=\"gapnote\">{}</td></tr>\n",
                        r.started.as_ref().map(fmt_datetime).map(|s| text(&s)).unwrap_or_default(),
                        text(&r.source),
                        files.join("<br>"),
                        text(&fill(t.index_not_counted, &[("reason", n)]))
                    ));
                    continue;
                }
                if let Some(p) = &r.problem {
                    b.push_str(&format!(
                        "<tr class=\"gap\"><td class=\"nw\">&mdash;</td><td>{}</td><td class=\"mono\">{}</td><td colspan=\"4\" class=\"gapnote\">{}</td></tr>\n",
                        text(&r.source),
                        files.join("<br>"),
                        text(&fill(t.index_unreadable, &[("reason", p)]))
                    ));
                    continue;
                }
                let sha = html::clean(&r.sha256, 64);
                let (a, z) = sha.split_at(sha.len().min(32));
                b.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"r\">{}</td><td class=\"hash\">{}<br>{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                    r.started
                        .as_ref()
                        .map(|s| format!(
                            "{}<br>{}",
                            esc(&s.format("%d-%m-%Y").to_string()),
                            esc(&s.format("%H:%M %Z").to_string())
                        ))
                        .unwrap_or_default(),
                    text(&r.source),
                    files.join("<br>"),
                    esc(&r.bytes.map(|x| human_size(x, lang)).unwrap_or_default()),
                    esc(a),
                    esc(z),
                    esc(r.encrypted.map(|e| t.yes_no(e)).unwrap_or("")),
                    esc(r.role.as_deref().map(|x| t.role(x)).unwrap_or(t.r_none)),
                ));
            }
            b.push_str("</tbody></table>\n");
        }
        let anchor = html::anchor_note(t, self.anchor.as_ref());
        b.push_str(&format!(
            "<footer class=\"doc\">{} &middot; {}{anchor}</footer>\n",
            esc(&fill(
                t.generated_by,
                &[
                    (
                        "tool",
                        &format!("simdondar-backup {}", env!("CARGO_PKG_VERSION"))
                    ),
                    (
                        "host",
                        &crate::clock::hostname().unwrap_or_else(|| t.unknown_host.to_string())
                    ),
                ]
            )),
            esc(&fmt_datetime(&self.generated_at))
        ));
        let running = match &self.disk {
            Some(m) => format!(
                "{} \u{b7} {}",
                t.index_title,
                marker::display_label(&m.label)
            ),
            None => t.index_title.to_string(),
        };
        html::page(t, t.index_title, &running, &b)
    }
}

/// A multi-line command for a `<pre>`: each line cleaned and escaped, the line breaks kept.
fn command(cmd: &str) -> String {
    cmd.lines().map(text).collect::<Vec<_>>().join("\n")
}

/// Rewrites `SIMDONDAR-BACKUP/INDEX.csv` and `INDEX.html` on the target at `root` from what is
/// on it now.
pub fn write_disk_index(root: &Path, cfg: &Config) -> Result<(), ReportError> {
    write_disk_index_at(root, cfg, Utc::now())
}

/// [`write_disk_index`] with the generation time given.
pub fn write_disk_index_at(
    root: &Path,
    cfg: &Config,
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    let target_err = |detail: String| ReportError::Target {
        path: root.to_path_buf(),
        detail,
    };
    let entries = inventory::scan(root).map_err(target_err)?;
    let top = Dir::open(root).map_err(|e| target_err(e.to_string()))?;
    let disk = match marker::read(&top) {
        MarkerRead::Present(m) => Some(m),
        _ => None,
    };
    let mut index = DiskIndex::build(&entries, disk.as_ref(), cfg.language, cfg.timezone, now);
    index.anchor = crate::audit_anchor::read(root).ok().flatten();
    index.months = super::monthly::listed(root);
    let folder = root.join(ROOT_DIR);
    let dir = top.create_dir(ROOT_DIR).map_err(|e| ReportError::Write {
        path: folder.clone(),
        detail: e.to_string(),
    })?;
    for (name, body) in [(INDEX_CSV, index.to_csv()), (INDEX_HTML, index.to_html())] {
        write_atomically(&dir, name, body.as_bytes()).map_err(|e| ReportError::Write {
            path: folder.join(name),
            detail: e.to_string(),
        })?;
    }
    dir.sync().map_err(|e| ReportError::Write {
        path: folder,
        detail: e.to_string(),
    })
}
