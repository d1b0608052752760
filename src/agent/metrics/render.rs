/*!
The Prometheus text exposition format (0.0.4) of a [`MetricsSnapshot`]: pure, no I/O. Every
family has its `# HELP` and `# TYPE` lines once, its samples right after; label values are
escaped (`\\`, `"`, newline); a value that is not known is left out rather than written as 0, so
an alert on "absent" and an alert on "old" can tell the two apart. [`FAMILIES`] lists every name
this writes (the dashboard test checks its PromQL against it).
*/

use std::fmt::Write;

use super::MetricsSnapshot;

/// Every metric family the agent exports: (name, type, help).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("simdondar_backup_build_info", "gauge", "The agent's build: always 1, the version (and commit) as labels."),
    ("simdondar_backup_metrics_generated_timestamp_seconds", "gauge", "When these metrics were gathered (Unix time)."),
    ("simdondar_backup_interval_seconds", "gauge", "How often the source is backed up ([[source]] interval)."),
    ("simdondar_backup_last_success_timestamp_seconds", "gauge", "When the newest successful, verified backup of the source ended (Unix time)."),
    ("simdondar_backup_last_attempt_timestamp_seconds", "gauge", "When the newest finished backup run of the source started (Unix time)."),
    ("simdondar_backup_last_attempt_success", "gauge", "Whether the newest finished backup run of the source succeeded (1) or failed (0)."),
    ("simdondar_backup_last_duration_seconds", "gauge", "How long the newest finished backup run of the source took."),
    ("simdondar_backup_last_stored_bytes", "gauge", "Bytes stored (one copy) by the newest successful backup of the source."),
    ("simdondar_backup_runs_total", "counter", "Finished backup runs of the source by result: ok or the failure's kind."),
    ("simdondar_backup_target_free_bytes", "gauge", "Free bytes on an attached target (static folder or enrolled disk)."),
    ("simdondar_backup_target_size_bytes", "gauge", "Size in bytes of the file system of an attached target."),
    ("simdondar_backup_copies_verified", "gauge", "Verified copies of the source present on the target, as the catalog knows them."),
    ("simdondar_backup_last_copy_success_timestamp_seconds", "gauge", "When the newest verified copy of the source on the target was recorded (Unix time)."),
    ("simdondar_backup_last_manual_copy_timestamp_seconds", "gauge", "When the newest verified copy on a manual-role disk was recorded (Unix time); absent when there never was one."),
    ("simdondar_backup_manual_copy_interval_seconds", "gauge", "How often the SOP wants a manual copy ([schedule] manual_reminder)."),
    ("simdondar_backup_restore_test_last_timestamp_seconds", "gauge", "When the newest restore test ran (Unix time); absent when there never was one."),
    ("simdondar_backup_restore_test_last_success", "gauge", "Whether the newest restore test passed (1) or failed (0)."),
    ("simdondar_backup_restore_test_interval_seconds", "gauge", "How often the restore test runs ([schedule] restore_test); absent when never."),
    ("simdondar_backup_offsite_pending_bytes", "gauge", "Bytes of verified local backups waiting to be uploaded to, and verified on, the off-site store."),
    ("simdondar_backup_offsite_last_verified_timestamp_seconds", "gauge", "When the newest off-site copy was verified by read-back (Unix time)."),
    ("simdondar_backup_offsite_last_attempt_success", "gauge", "Whether the newest upload to the off-site store succeeded (1) or failed (0)."),
];

/// A label value escaped for the text format: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, other numbers in Rust's shortest exact form.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The samples of the families, collected per family so each is written in one block.
struct Out {
    samples: Vec<Vec<String>>,
}

impl Out {
    fn add(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let Some(i) = FAMILIES.iter().position(|(n, ..)| *n == name) else {
            debug_assert!(false, "{name} is not in FAMILIES");
            return;
        };
        let mut line = name.to_string();
        if !labels.is_empty() {
            line.push('{');
            for (k, (l, v)) in labels.iter().enumerate() {
                if k > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{l}=\"{}\"", escape_label(v));
            }
            line.push('}');
        }
        let _ = write!(line, " {}", num(value));
        self.samples[i].push(line);
    }

    fn opt(&mut self, name: &str, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.add(name, labels, v);
        }
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The snapshot in the text exposition format 0.0.4 (`text/plain; version=0.0.4`).
pub fn render(s: &MetricsSnapshot) -> String {
    let mut o = Out {
        samples: vec![Vec::new(); FAMILIES.len()],
    };
    let mut build = vec![("version", s.version.as_str())];
    if let Some(c) = &s.commit {
        build.push(("commit", c.as_str()));
    }
    o.add("simdondar_backup_build_info", &build, 1.0);
    o.add(
        "simdondar_backup_metrics_generated_timestamp_seconds",
        &[],
        s.generated_unix as f64,
    );
    for src in &s.sources {
        let l = [("source", src.name.as_str())];
        o.add(
            "simdondar_backup_interval_seconds",
            &l,
            src.interval_secs as f64,
        );
        o.opt(
            "simdondar_backup_last_success_timestamp_seconds",
            &l,
            src.last_success_unix.map(|v| v as f64),
        );
        o.opt(
            "simdondar_backup_last_attempt_timestamp_seconds",
            &l,
            src.last_attempt_unix.map(|v| v as f64),
        );
        o.opt(
            "simdondar_backup_last_attempt_success",
            &l,
            src.last_attempt_ok.map(flag),
        );
        o.opt(
            "simdondar_backup_last_duration_seconds",
            &l,
            src.last_duration_secs,
        );
        o.opt(
            "simdondar_backup_last_stored_bytes",
            &l,
            src.last_stored_bytes.map(|v| v as f64),
        );
        // `ok` always, so a counter exists from the first scrape and `increase()` sees the first run.
        if !src.runs.contains_key("ok") {
            o.add(
                "simdondar_backup_runs_total",
                &[("source", src.name.as_str()), ("result", "ok")],
                0.0,
            );
        }
        for (result, n) in &src.runs {
            o.add(
                "simdondar_backup_runs_total",
                &[("source", src.name.as_str()), ("result", result.as_str())],
                *n as f64,
            );
        }
    }
    for t in &s.targets {
        let l = [("target", t.name.as_str()), ("role", t.role.as_str())];
        o.opt(
            "simdondar_backup_target_free_bytes",
            &l,
            t.free_bytes.map(|v| v as f64),
        );
        o.opt(
            "simdondar_backup_target_size_bytes",
            &l,
            t.size_bytes.map(|v| v as f64),
        );
    }
    for c in &s.copies {
        let l = [("source", c.source.as_str()), ("target", c.target.as_str())];
        o.add("simdondar_backup_copies_verified", &l, c.verified as f64);
        o.opt(
            "simdondar_backup_last_copy_success_timestamp_seconds",
            &l,
            c.last_success_unix.map(|v| v as f64),
        );
    }
    o.opt(
        "simdondar_backup_last_manual_copy_timestamp_seconds",
        &[],
        s.last_manual_copy_unix.map(|v| v as f64),
    );
    o.add(
        "simdondar_backup_manual_copy_interval_seconds",
        &[],
        s.manual_copy_interval_secs as f64,
    );
    if let Some((at, ok)) = s.restore_test {
        o.add(
            "simdondar_backup_restore_test_last_timestamp_seconds",
            &[],
            at as f64,
        );
        o.add("simdondar_backup_restore_test_last_success", &[], flag(ok));
    }
    o.opt(
        "simdondar_backup_restore_test_interval_seconds",
        &[],
        s.restore_test_interval_secs.map(|v| v as f64),
    );
    for x in &s.offsite {
        let l = [("offsite", x.name.as_str())];
        o.add(
            "simdondar_backup_offsite_pending_bytes",
            &l,
            x.pending_bytes as f64,
        );
        o.opt(
            "simdondar_backup_offsite_last_verified_timestamp_seconds",
            &l,
            x.last_verified_unix.map(|v| v as f64),
        );
        o.opt(
            "simdondar_backup_offsite_last_attempt_success",
            &l,
            x.last_attempt_ok.map(flag),
        );
    }

    let mut text = String::new();
    for ((name, kind, help), lines) in FAMILIES.iter().zip(&o.samples) {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::super::{CopiesHealth, OffsiteHealth, SourceHealth, TargetHealth};
    use super::*;
    use crate::config::Role;

    fn sample() -> MetricsSnapshot {
        MetricsSnapshot {
            version: "0.1.0".into(),
            commit: Some("abc123".into()),
            generated_unix: 1_790_000_000,
            sources: vec![SourceHealth {
                name: "pmi".into(),
                interval_secs: 3600,
                last_success_unix: Some(1_789_999_000),
                last_attempt_unix: Some(1_789_998_900),
                last_attempt_ok: Some(true),
                last_duration_secs: Some(12.5),
                last_stored_bytes: Some(123_456),
                runs: BTreeMap::from([("ok".into(), 7), ("database_unreachable".into(), 2)]),
            }],
            targets: vec![
                TargetHealth {
                    name: "HDD \"A\"\\x\nB".into(),
                    role: Role::Auto,
                    root: PathBuf::from("/run/simdondar-backup/disks/1234-ABCD"),
                    free_bytes: Some(1 << 30),
                    size_bytes: Some(4 << 30),
                },
                TargetHealth {
                    name: "SIMBAK01".into(),
                    role: Role::Manual,
                    root: PathBuf::from("/run/simdondar-backup/disks/9999"),
                    free_bytes: None,
                    size_bytes: None,
                },
            ],
            copies: vec![CopiesHealth {
                source: "pmi".into(),
                target: "HDD \"A\"\\x\nB".into(),
                verified: 5,
                last_success_unix: Some(1_789_999_000),
            }],
            last_manual_copy_unix: None,
            manual_copy_interval_secs: 3 * 86_400,
            restore_test: Some((1_789_000_000, false)),
            restore_test_interval_secs: Some(7 * 86_400),
            offsite: vec![OffsiteHealth {
                name: "pusat".into(),
                pending_bytes: 42,
                last_verified_unix: Some(1_789_900_000),
                last_attempt_ok: Some(false),
            }],
        }
    }

    #[test]
    fn every_family_has_help_and_type_once_before_its_samples() {
        // Every value known, so every family is written.
        let mut s = sample();
        s.last_manual_copy_unix = Some(1_789_000_000);
        let text = render(&s);
        for (name, kind, _) in FAMILIES {
            let help = format!("# HELP {name} ");
            let typ = format!("# TYPE {name} {kind}\n");
            assert_eq!(text.matches(&help).count(), 1, "{name}:\n{text}");
            assert_eq!(text.matches(&typ).count(), 1, "{name}:\n{text}");
            let first_sample = text
                .lines()
                .position(|l| {
                    l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))
                })
                .expect("a sample");
            let type_line = text
                .lines()
                .position(|l| l == typ.trim_end())
                .expect("type line");
            assert_eq!(type_line + 1, first_sample, "{name}");
        }
        for (name, ..) in FAMILIES {
            assert!(name.starts_with("simdondar_backup_"), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn values_and_labels_are_written_as_the_format_wants() {
        let text = render(&sample());
        for want in [
            "simdondar_backup_build_info{version=\"0.1.0\",commit=\"abc123\"} 1\n",
            "simdondar_backup_last_success_timestamp_seconds{source=\"pmi\"} 1789999000\n",
            "simdondar_backup_last_attempt_success{source=\"pmi\"} 1\n",
            "simdondar_backup_last_duration_seconds{source=\"pmi\"} 12.5\n",
            "simdondar_backup_last_stored_bytes{source=\"pmi\"} 123456\n",
            "simdondar_backup_runs_total{source=\"pmi\",result=\"database_unreachable\"} 2\n",
            "simdondar_backup_runs_total{source=\"pmi\",result=\"ok\"} 7\n",
            "simdondar_backup_interval_seconds{source=\"pmi\"} 3600\n",
            // A label value with a quote, a backslash and a line feed, escaped.
            "simdondar_backup_target_free_bytes{target=\"HDD \\\"A\\\"\\\\x\\nB\",role=\"auto\"} 1073741824\n",
            "simdondar_backup_copies_verified{source=\"pmi\",target=\"HDD \\\"A\\\"\\\\x\\nB\"} 5\n",
            "simdondar_backup_manual_copy_interval_seconds 259200\n",
            "simdondar_backup_restore_test_last_success 0\n",
            "simdondar_backup_offsite_pending_bytes{offsite=\"pusat\"} 42\n",
            "simdondar_backup_offsite_last_attempt_success{offsite=\"pusat\"} 0\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // Unknown is absent, not 0: no free space of the manual disk, no manual copy ever.
        assert!(!text.contains("role=\"manual\""), "{text}");
        assert!(
            !text.contains("simdondar_backup_last_manual_copy_timestamp_seconds "),
            "{text}"
        );
        // Every sample line is on one line: the escaped line feed did not break it.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.starts_with("simdondar_backup_"), "{l:?}");
        }
    }

    #[test]
    fn a_source_without_runs_still_has_its_ok_counter_and_interval() {
        let mut s = sample();
        s.sources[0] = SourceHealth {
            name: "files".into(),
            interval_secs: 86_400,
            ..SourceHealth::default()
        };
        let text = render(&s);
        assert!(
            text.contains("simdondar_backup_runs_total{source=\"files\",result=\"ok\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("simdondar_backup_interval_seconds{source=\"files\"} 86400\n"));
        assert!(
            !text.contains("simdondar_backup_last_success_timestamp_seconds{"),
            "{text}"
        );
    }

    #[test]
    fn labels_are_only_the_bounded_ones() {
        let text = render(&sample());
        let allowed = [
            "version", "commit", "source", "result", "target", "role", "offsite",
        ];
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let Some(open) = l.find('{') else { continue };
            let close = l.rfind('}').expect("closing brace");
            // Label names are what precede `="` after `{` or `",`.
            let body = &l[open + 1..close];
            for part in body.split("\",") {
                let name = part.split('=').next().unwrap_or_default();
                assert!(allowed.contains(&name), "label {name:?} in {l}");
            }
            // No backup's file name or date ever appears.
            assert!(!l.contains(".sql"), "{l}");
            assert!(!l.contains("SIMDONDAR-BACKUP"), "{l}");
            assert!(!l.contains("/run/"), "a path is no label: {l}");
        }
    }

    #[test]
    fn numbers_are_exact() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1_790_000_000.0), "1790000000");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(f64::INFINITY), "+Inf");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
