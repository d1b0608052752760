//! Fleet health (issue 16): the daemon's Prometheus metrics as a node_exporter textfile and on
//! HTTP, read by real parsers (Python's `prometheus_client`, `promtool check metrics`); the
//! alert rules of docs/fleet/ checked and unit-tested with `promtool`; the Grafana dashboard
//! asking only for metrics the agent exports.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simdondar_backup::agent::metrics::render::FAMILIES;

use crate::support::agent::{files_under, require_tool, show, Setup, PASSWORD};
use crate::support::daemon::Daemon;
use crate::support::mariadb::MariaDb;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Python 3 that has `prometheus_client` (Debian's, when pyenv or a venv comes first on PATH).
fn python_with_client() -> PathBuf {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import prometheus_client.parser"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Python's prometheus_client is needed by this test: install it with \
         `apt-get install python3-prometheus-client`"
    )
}

/// (sample name, labels, value) of every sample, as `prometheus_client`'s text parser reads them;
/// and the family names.
struct Parsed {
    families: BTreeSet<String>,
    samples: Vec<(String, serde_json::Map<String, serde_json::Value>, f64)>,
}

impl Parsed {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(v))
            })
            .map(|(_, _, v)| *v)
    }
}

fn parse_with_prometheus_client(text: &str) -> Parsed {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams, samples = [], []
for f in text_string_to_metric_families(sys.stdin.read()):
    fams.append(f.name)
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"families": fams, "samples": samples}))
"#;
    let mut child = Command::new(python_with_client())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the metrics: {}\n{text}",
        show(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    Parsed {
        families: v["families"]
            .as_array()
            .expect("families")
            .iter()
            .filter_map(|f| f.as_str().map(String::from))
            .collect(),
        samples: v["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| {
                (
                    s[0].as_str().unwrap_or_default().to_string(),
                    s[1].as_object().cloned().unwrap_or_default(),
                    s[2].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect(),
    }
}

/// `promtool check metrics` on the text: exit 0 and no problem reported.
fn promtool_check_metrics(text: &str) {
    let promtool = require_tool("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics found problems: {}\n{text}",
        show(&out)
    );
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One HTTP exchange: the whole answer (the server closes the connection).
fn http(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn unix(s: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .timestamp() as f64
}

#[test]
fn a_daemon_exports_its_health_as_a_textfile_and_on_http() {
    let _ = require_tool("promtool", "prometheus");
    let _ = python_with_client();
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("hdd");
    let prom_dir = setup.dir.path().join("node-exporter");
    std::fs::create_dir(&prom_dir).expect("mkdir");
    let textfile = prom_dir.join("simdondar-backup.prom");
    let port = free_port();
    // One run at start (the source never ran), then none for a day: the numbers hold still.
    let text = std::fs::read_to_string(&setup.config)
        .expect("config")
        .replace("databases = [", "interval = \"1d\"\ndatabases = [");
    std::fs::write(
        &setup.config,
        format!(
            "{text}\n[[target]]\npath = \"{}\"\n[panel]\nkind = \"sim\"\n[encryption]\nrequire_for = []\n\
             [metrics]\ntextfile = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n",
            target.display(),
            textfile.display()
        ),
    )
    .expect("config");

    let t0 = chrono::Utc::now().timestamp() as f64;
    let d = Daemon::spawn(&setup, 1);
    d.wait_until(
        Duration::from_secs(180),
        "the first backup in the textfile",
        || {
            std::fs::read_to_string(&textfile).is_ok_and(|t| {
                t.contains("simdondar_backup_last_success_timestamp_seconds{source=\"pmi\"}")
            })
        },
    );
    let t1 = chrono::Utc::now().timestamp() as f64;
    let runs = setup.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.status, "ok", "{run:?}");

    // The textfile: written atomically (no temporary left), 0644, read by real parsers.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&textfile)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    let names: Vec<_> = std::fs::read_dir(&prom_dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "only the .prom file: {names:?}");
    let text = std::fs::read_to_string(&textfile).expect("textfile");
    promtool_check_metrics(&text);
    let m = parse_with_prometheus_client(&text);

    let pmi = [("source", "pmi")];
    let success = m
        .value("simdondar_backup_last_success_timestamp_seconds", &pmi)
        .expect("last success");
    assert!(t0 <= success && success <= t1, "{t0} <= {success} <= {t1}");
    assert_eq!(
        success,
        unix(run.finished_at.as_deref().expect("finished")),
        "the run's end in the catalog"
    );
    assert_eq!(
        m.value("simdondar_backup_last_attempt_success", &pmi),
        Some(1.0)
    );
    assert_eq!(
        m.value("simdondar_backup_last_attempt_timestamp_seconds", &pmi),
        Some(unix(&run.started_at))
    );
    assert_eq!(
        m.value("simdondar_backup_interval_seconds", &pmi),
        Some(86_400.0)
    );
    assert_eq!(
        m.value(
            "simdondar_backup_runs_total",
            &[("source", "pmi"), ("result", "ok")]
        ),
        Some(1.0)
    );
    let duration = m
        .value("simdondar_backup_last_duration_seconds", &pmi)
        .expect("duration");
    assert!((0.0..=t1 - t0 + 1.0).contains(&duration), "{duration}");
    // Stored bytes: the catalog's and the manifest's on the disk.
    let manifests: Vec<_> = files_under(&target)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.zst.json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifests[0]).expect("manifest")).expect("JSON");
    let stored = m
        .value("simdondar_backup_last_stored_bytes", &pmi)
        .expect("stored bytes");
    assert_eq!(Some(stored), manifest["bytes_stored"].as_f64());
    assert_eq!(Some(stored as u64), run.bytes_stored);
    // The target: its folder name and role, one verified copy, free space as statvfs says.
    let hdd = [("source", "pmi"), ("target", "hdd")];
    assert_eq!(m.value("simdondar_backup_copies_verified", &hdd), Some(1.0));
    let copy_at = m
        .value("simdondar_backup_last_copy_success_timestamp_seconds", &hdd)
        .expect("copy time");
    assert!(t0 <= copy_at && copy_at <= t1, "{copy_at}");
    let role = [("target", "hdd"), ("role", "auto")];
    let free = m
        .value("simdondar_backup_target_free_bytes", &role)
        .expect("free");
    let size = m
        .value("simdondar_backup_target_size_bytes", &role)
        .expect("size");
    let (real_free, real_size) = simdondar_backup::util::space(&target).expect("statvfs");
    assert_eq!(size, real_size as f64);
    assert!(free > 0.0 && free <= size, "{free} of {size}");
    assert!(
        (free - real_free as f64).abs() < 1e9,
        "{free} vs {real_free}"
    );
    // The SOP's state: no manual copy yet (absent, not 0), the reminder's interval.
    assert_eq!(
        m.value("simdondar_backup_last_manual_copy_timestamp_seconds", &[]),
        None
    );
    assert_eq!(
        m.value("simdondar_backup_manual_copy_interval_seconds", &[]),
        Some(3.0 * 86_400.0)
    );
    assert_eq!(
        m.value(
            "simdondar_backup_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let generated = m
        .value("simdondar_backup_metrics_generated_timestamp_seconds", &[])
        .expect("generated");
    assert!(t0 <= generated, "{generated}");
    // No backup's name anywhere in a label.
    for (name, labels, _) in &m.samples {
        for v in labels.values() {
            let v = v.as_str().unwrap_or_default();
            assert!(!v.contains("pmi_") && !v.contains('/'), "{name}: {v}");
        }
    }

    // HTTP: the same families; 404, 405; garbage and silence do not stop it.
    let ok = http(port, b"GET /metrics HTTP/1.1\r\nHost: unit\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{ok}"
    );
    let body = ok
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    promtool_check_metrics(body);
    let over_http = parse_with_prometheus_client(body);
    assert_eq!(over_http.families, m.families);
    assert!(http(port, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(http(port, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    let garbage = http(
        port,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
    );
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    let silent: Vec<_> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let asked = Instant::now();
    let again = http(port, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "answered after {:?} with silent clients connected",
        asked.elapsed()
    );
    drop(silent);
    // The daemon still answers its control socket.
    let st = setup
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(st.status.success(), "{}", show(&st));
}

#[test]
fn a_port_in_use_is_a_status_error_and_the_daemon_and_textfile_go_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let setup = Setup::with_sources(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"1d\"\n",
        "",
    );
    let prom = setup.dir.path().join("x.prom");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!(
            "{text}\n[panel]\nkind = \"sim\"\n[metrics]\ntextfile = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n",
            prom.display()
        ),
    )
    .expect("config");
    let d = Daemon::start(&setup, 1);
    let out = setup
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(out.status.success(), "{}", show(&out));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let problem = st["daemon"]["metrics_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!("127.0.0.1:{port}")) && problem.contains("[metrics] listen"),
        "{st}"
    );
    assert!(d.log().contains("cannot listen"), "{}", d.log());
    d.wait_until(Duration::from_secs(20), "the textfile", || prom.exists());
    let m = parse_with_prometheus_client(&std::fs::read_to_string(&prom).expect("read"));
    assert!(m.families.contains("simdondar_backup_build_info"));
    drop(taken);
}

/// The alert names of alerts.yml (`- alert: NAME` lines).
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn alert_rules_pass_promtool_and_every_alert_has_a_test() {
    let promtool = require_tool("promtool", "prometheus");
    let dir = repo().join("docs/fleet");
    let check = Command::new(&promtool)
        .args(["check", "rules", "alerts.yml"])
        .current_dir(&dir)
        .output()
        .expect("promtool check rules");
    assert!(check.status.success(), "{}", show(&check));
    let test = Command::new(&promtool)
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(&dir)
        .output()
        .expect("promtool test rules");
    assert!(test.status.success(), "{}", show(&test));
    assert!(
        String::from_utf8_lossy(&test.stdout).contains("SUCCESS"),
        "{}",
        show(&test)
    );

    let rules = std::fs::read_to_string(dir.join("alerts.yml")).expect("alerts.yml");
    let tests = std::fs::read_to_string(dir.join("alerts.test.yml")).expect("alerts.test.yml");
    let names = alert_names(&rules);
    assert!(names.len() >= 6, "{names:?}");
    for n in &names {
        let cases: Vec<_> = tests
            .lines()
            .map(str::trim)
            .filter(|l| *l == format!("alertname: {n}"))
            .collect();
        assert!(
            cases.len() >= 2,
            "{n} needs a case firing and one not firing in alerts.test.yml"
        );
    }
    for n in [
        "NoVerifiedBackup",
        "ManualCopyOverdue",
        "RestoreTestFailed",
        "RestoreTestOverdue",
        "OffsiteStale",
        "DiskNearlyFull",
    ] {
        assert!(
            names.iter().any(|x| x.ends_with(n)),
            "{n} missing from {names:?}"
        );
    }
    // The rules ask only for exported metrics.
    let exported: BTreeSet<&str> = FAMILIES.iter().map(|(n, ..)| *n).collect();
    for used in metric_names(&rules) {
        assert!(
            exported.contains(used.as_str()),
            "alerts.yml uses {used}, which the agent does not export"
        );
    }
}

/// Every `simdondar_backup_…` name in a text.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("simdondar_backup_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_dashboard_parses_and_asks_only_for_exported_metrics() {
    let path = repo().join("docs/fleet/dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard.json");
    let d: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(
        d["schemaVersion"].as_i64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    let vars: Vec<_> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(vars.contains(&"unit"), "{vars:?}");
    let exported: BTreeSet<&str> = FAMILIES.iter().map(|(n, ..)| *n).collect();
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    let mut used = BTreeSet::new();
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert!(expr.contains("unit=~\"$unit\""), "{}: {expr}", p["title"]);
            for name in metric_names(expr) {
                assert!(
                    exported.contains(name.as_str()),
                    "panel {} uses {name}, which the agent does not export",
                    p["title"]
                );
                used.insert(name);
            }
        }
    }
    for must in [
        "simdondar_backup_last_success_timestamp_seconds",
        "simdondar_backup_last_manual_copy_timestamp_seconds",
        "simdondar_backup_restore_test_last_success",
        "simdondar_backup_offsite_last_verified_timestamp_seconds",
        "simdondar_backup_target_free_bytes",
    ] {
        assert!(used.contains(must), "no panel shows {must}");
    }
}
