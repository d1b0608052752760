//! Off-site copies on a real Garage object store on loopback (issue 16): encrypted uploads that
//! are verified, listed and restored byte-identical through an independent client (rclone, age,
//! zstd); resumed without re-sending finished parts after the link drops and after the agent is
//! killed; finished through a three-node cluster that loses a node; and each refusal (wrong key,
//! missing bucket, skewed clock, full quota, clear text) named by its kind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::agent::{data_files, require_tool, show, Setup};
use crate::support::daemon::Daemon;
use crate::support::garage::Garage;

/// A `command` source of `mib` MiB of random bytes (zstd leaves them as large), so an upload
/// has several 5 MiB parts.
fn random_source(mib: u32) -> String {
    format!(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"head\", \"-c\", \"{}\", \"/dev/urandom\"]\nextension = \"bin\"\n",
        mib as u64 * (1 << 20)
    )
}

/// An age key pair in the setting's folder: (identity file, recipient).
fn keypair(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("unit.key");
    let out = Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", show(&out));
    let text = std::fs::read_to_string(&key).expect("key");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_string();
    (key, recipient)
}

struct World {
    setup: Setup,
    target: PathBuf,
    identity: PathBuf,
}

/// A setting with one `[[offsite]]` store at `g` (with `extra` keys), a source, a target with one
/// backup on it.
fn world(g: &Garage, source: &str, extra: &str, creds: Option<&Path>) -> World {
    let base = Setup::with_sources("", "");
    let (identity, recipient) = keypair(base.dir.path());
    let creds_file = base.dir.path().join("s3.credentials");
    match creds {
        Some(p) => {
            std::fs::copy(p, &creds_file).expect("copy credentials");
        }
        None => g.write_credentials_file(&creds_file),
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = std::fs::read_to_string(&base.config).expect("config");
    let cfg = format!(
        "{text}[agent]\nstall_timeout = \"20s\"\n[encryption]\nrecipients = [\"{recipient}\"]\n[[offsite]]\nname = \"pusat\"\nendpoint = \"{}\"\nregion = \"{}\"\nbucket = \"{}\"\nprefix = \"utd-test/\"\ncredentials_file = \"{}\"\nschedule = \"each\"\npart_size = \"5MiB\"\n{extra}\n{source}",
        g.endpoint(),
        g.region(),
        g.bucket(),
        creds_file.display()
    );
    std::fs::write(&base.config, cfg).expect("write config");
    let target = base.target("hdd");
    let out = base.backup(&[&target]);
    assert!(out.status.success(), "backup: {}", show(&out));
    World {
        setup: base,
        target,
        identity,
    }
}

impl World {
    fn push_cmd(&self) -> Command {
        let mut c = self.setup.cmd();
        c.args(["offsite", "push", "--json", "--target"])
            .arg(&self.target);
        c
    }

    fn push(&self) -> (Output, serde_json::Value) {
        let out = self.push_cmd().output().expect("offsite push");
        let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out, v)
    }

    /// The parts of the (one) upload in the journal.
    fn parts_total(&self) -> i64 {
        let c = rusqlite::Connection::open(self.setup.state.join("catalog.sqlite")).expect("db");
        c.query_row("SELECT COUNT(*) FROM offsite_parts", [], |r| r.get(0))
            .unwrap_or(0)
    }

    fn parts_acknowledged(&self) -> i64 {
        let c = rusqlite::Connection::open(self.setup.state.join("catalog.sqlite")).expect("db");
        c.query_row(
            "SELECT COUNT(*) FROM offsite_parts WHERE etag IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    }
}

/// The first (only) store's outcome of a `push --json`.
fn store(v: &serde_json::Value) -> serde_json::Value {
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("one store in {v}"))
}

/// How long a test waits for the first parts of an upload to be acknowledged before it strikes:
/// about 10 s on a quiet machine; three lab VMs and a build beside the tests (2026-12-07) made
/// it more than 60.
const PARTS_WAIT: Duration = Duration::from_secs(180);

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one uploaded key, downloaded with rclone, decrypted with age, checked with sha256sum
/// against the remote sidecar, and compared with the local copy's decompressed bytes.
fn restored_matches(g: &Garage, w: &World, key: &str) {
    let dl = w.setup.dir.path().join("download");
    std::fs::create_dir_all(&dl).expect("download dir");
    let file = key.rsplit('/').next().expect("file name");
    for k in [
        key.to_string(),
        format!("{key}.sha256"),
        format!("{key}.json"),
    ] {
        let out = g.rclone(&[
            "copyto",
            &format!("g:{}/{k}", g.bucket()),
            dl.join(k.rsplit('/').next().expect("n"))
                .to_str()
                .expect("utf-8"),
        ]);
        assert!(out.status.success(), "rclone copyto {k}: {}", show(&out));
    }
    let check = Command::new(require_tool("sha256sum", "coreutils"))
        .args(["-c", &format!("{file}.sha256")])
        .current_dir(&dl)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "sha256sum -c of the remote copy: {}",
        show(&check)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dl.join(format!("{file}.json"))).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["encrypted"], true, "{manifest}");
    let remote_len = std::fs::metadata(dl.join(file)).expect("object").len();
    assert_eq!(manifest["bytes_stored"], remote_len, "{manifest}");
    // age -d | zstd -d, with the stock tools, equals the local copy decompressed.
    let plain = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -d -i '{}' '{}' | {} -d -c",
            require_tool("age", "age").display(),
            w.identity.display(),
            dl.join(file).display(),
            require_tool("zstd", "zstd").display()
        ))
        .output()
        .expect("age | zstd");
    assert!(plain.status.success(), "age -d | zstd -d: {}", show(&plain));
    let local = data_files(&w.target).pop().expect("local copy");
    let local_plain = Command::new(require_tool("zstd", "zstd"))
        .args(["-d", "-c"])
        .arg(&local)
        .output()
        .expect("zstd");
    assert!(local_plain.status.success());
    assert!(!plain.stdout.is_empty());
    assert!(
        plain.stdout == local_plain.stdout,
        "the restored off-site copy differs from the local backup"
    );
}

#[test]
fn a_backup_goes_offsite_encrypted_verified_listed_and_restores_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let w = world(&g, &random_source(12), "", None);
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    let s = store(&v);
    let key = s["uploaded"][0]
        .as_str()
        .expect("an uploaded key")
        .to_string();
    assert!(
        key.starts_with("utd-test/files/") && key.ends_with(".bin.zst.age"),
        "{key}"
    );
    assert_eq!(s["parts_sent"], 3, "12 MiB in 5 MiB parts: {s}");
    assert_eq!(s["pending_bytes"], 0, "{s}");
    // Nothing clear left the building: the data object is an age file; the staging file is gone.
    let head = g.rclone(&["cat", "--count", "21", &format!("g:{}/{key}", g.bucket())]);
    assert!(head.status.success(), "{}", show(&head));
    assert_eq!(
        head.stdout, b"age-encryption.org/v1",
        "the object is not an age file"
    );
    assert!(
        crate::support::agent::files_under(&w.target)
            .iter()
            .all(|p| !p.to_string_lossy().contains("offsite-staging/files")),
        "staging file left behind"
    );
    restored_matches(&g, &w, &key);
    // Listed as verified; a second pass sends nothing again.
    let list = w
        .setup
        .cmd()
        .args(["offsite", "list", "--json"])
        .output()
        .expect("list");
    assert!(list.status.success(), "{}", show(&list));
    let l: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(l["offsite"][0]["copies"][0]["key"], key.as_str(), "{l}");
    assert!(
        l["offsite"][0]["copies"][0]["verified_at"].is_string(),
        "{l}"
    );
    // The SOP report counts the verified remote copy as a copy on `offsite:pusat`.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Jakarta)
        .format("%Y-%m-%d")
        .to_string();
    let report = w
        .setup
        .cmd()
        .args([
            "report", "--from", &today, "--to", &today, "--format", "csv",
        ])
        .output()
        .expect("report");
    assert!(report.status.success(), "{}", show(&report));
    let csv = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(csv.contains("offsite:pusat"), "{csv}");
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(store(&v)["parts_sent"], 0, "{v}");
    assert_eq!(
        store(&v)["uploaded"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );
}

#[test]
fn the_upload_resumes_after_the_link_drops_without_resending_finished_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = Garage::single(dir.path());
    let w = world(&g, &random_source(30), "bandwidth = \"4MiB\"\n", None);
    let child = w
        .push_cmd()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("push");
    wait_until("two parts acknowledged", PARTS_WAIT, || {
        w.parts_acknowledged() >= 2
    });
    g.kill_node(0);
    let out = child.wait_with_output().expect("push output");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the push must fail when the store goes away: {}",
        show(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let kind = store(&v)["failure"].as_str().unwrap_or("").to_string();
    assert!(kind == "dropped" || kind == "unreachable", "{v}");
    let done = w.parts_acknowledged();
    g.start_node(0);
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    let s = store(&v);
    // Every part the store acknowledged before it went away is kept (not sent again); the others
    // are sent once.
    assert_eq!(s["parts_kept"].as_i64(), Some(done), "{s}");
    assert!(done >= 2, "{s}");
    assert_eq!(
        s["parts_kept"].as_i64().unwrap_or(0) + s["parts_sent"].as_i64().unwrap_or(0),
        w.parts_total(),
        "each part sent once after the restart: {s}"
    );
    assert!(w.parts_total() >= 7, "30 MiB in 5 MiB parts: {s}");
    let key = s["uploaded"][0].as_str().expect("uploaded").to_string();
    restored_matches(&g, &w, &key);
}

#[test]
fn the_agent_killed_mid_upload_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let w = world(&g, &random_source(25), "bandwidth = \"4MiB\"\n", None);
    let mut child = w
        .push_cmd()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("push");
    wait_until("two parts acknowledged", PARTS_WAIT, || {
        w.parts_acknowledged() >= 2
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    let s = store(&v);
    assert!(s["parts_kept"].as_i64() >= Some(2), "{s}");
    assert_eq!(
        s["parts_kept"].as_i64().unwrap_or(0) + s["parts_sent"].as_i64().unwrap_or(0),
        w.parts_total(),
        "{s}"
    );
    assert!(w.parts_total() >= 6, "25 MiB in 5 MiB parts: {s}");
    let key = s["uploaded"][0].as_str().expect("uploaded").to_string();
    restored_matches(&g, &w, &key);
}

#[test]
fn a_three_node_cluster_loses_a_node_during_an_upload_and_it_still_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = Garage::cluster(dir.path(), 3);
    let w = world(&g, &random_source(20), "bandwidth = \"4MiB\"\n", None);
    let child = w
        .push_cmd()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("push");
    wait_until("one part acknowledged", PARTS_WAIT, || {
        w.parts_acknowledged() >= 1
    });
    g.kill_node(2);
    let out = child.wait_with_output().expect("push");
    assert!(
        out.status.success(),
        "one of three nodes lost: {}",
        show(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = store(&v)["uploaded"][0]
        .as_str()
        .expect("uploaded")
        .to_string();
    restored_matches(&g, &w, &key);
}

/// The pass's failure kind and message for a setting that cannot work.
fn refused(w: &World, faketime: Option<&str>) -> (String, String) {
    let mut c = match faketime {
        Some(offset) => {
            let mut c = Command::new(require_tool("faketime", "faketime"));
            c.args(["-f", offset]).arg(crate::support::agent::bin());
            c.arg("--config").arg(&w.setup.config);
            c
        }
        None => w.setup.cmd(),
    };
    c.args(["offsite", "push", "--json", "--target"])
        .arg(&w.target);
    let out = c.output().expect("push");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = store(&v);
    (
        s["failure"].as_str().unwrap_or("").to_string(),
        s["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn wrong_key_missing_bucket_skewed_clock_and_full_quota_each_give_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let src = random_source(6);
    // A key the store does not know.
    let bad = dir.path().join("bad.credentials");
    std::fs::write(&bad, "access_key_id = \"GK0000000000000000deadbeef\"\nsecret_access_key = \"0000000000000000000000000000000000000000000000000000000000000000\"\n").expect("write");
    let w = world(&g, &src, "", Some(&bad));
    let (kind, msg) = refused(&w, None);
    assert_eq!(kind, "credentials", "{msg}");
    assert!(msg.contains("credentials_file"), "{msg}");
    // A known key with a wrong secret.
    let (id, _) = g.create_key("other");
    std::fs::write(
        &bad,
        format!(
            "access_key_id = \"{id}\"\nsecret_access_key = \"{}\"\n",
            "1".repeat(64)
        ),
    )
    .expect("write");
    let w = world(&g, &src, "", Some(&bad));
    let (kind, msg) = refused(&w, None);
    assert_eq!(kind, "credentials", "{msg}");
    // A bucket that does not exist.
    let w = world(&g, &src, "", None);
    let cfg = std::fs::read_to_string(&w.setup.config)
        .expect("cfg")
        .replace("bucket = \"simdondar\"", "bucket = \"tidak-ada\"");
    std::fs::write(&w.setup.config, cfg).expect("cfg");
    let (kind, msg) = refused(&w, None);
    assert_eq!(kind, "no_bucket", "{msg}");
    // The appliance's clock two days behind (a Pi before NTP, on its last saved time). Garage
    // refuses signatures older than a day (docs/garage-facts.md).
    let w = world(&g, &src, "", None);
    let (kind, msg) = refused(&w, Some("-2d"));
    assert_eq!(kind, "clock_skew", "{msg}");
    assert!(
        msg.contains("2 days behind") && msg.contains("NTP"),
        "{msg}"
    );
    // A full quota.
    g.set_quota_max_size(1 << 20);
    let (kind, msg) = refused(&w, None);
    assert_eq!(kind, "full", "{msg}");
}

#[test]
fn a_store_without_an_encryption_recipient_is_refused_at_its_line() {
    let setup = Setup::with_sources(&random_source(1), "");
    let creds = setup.dir.path().join("s3.credentials");
    std::fs::write(&creds, "access_key_id = \"a\"\nsecret_access_key = \"b\"\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = std::fs::read_to_string(&setup.config).expect("cfg");
    let line = text.lines().count() + 1;
    std::fs::write(
        &setup.config,
        format!("{text}[[offsite]]\nname = \"pusat\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"simdondar\"\ncredentials_file = \"{}\"\n", creds.display()),
    )
    .expect("cfg");
    let out = setup
        .cmd()
        .args(["config", "check"])
        .output()
        .expect("config check");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(":{line}:")),
        "the [[offsite]] line {line}: {err}"
    );
    assert!(err.contains("only encrypted copies may leave"), "{err}");
}

#[test]
fn the_store_checks_each_parts_checksums_on_receipt() {
    use simdondar_backup::offsite::s3::{BodySums, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let creds = simdondar_backup::config::S3Credentials {
        access_key_id: g.access_key_id.clone(),
        secret_access_key: g.secret_access_key.clone(),
    };
    let cfg_text = format!(
        "[encryption]\nrecipients = [\"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj\"]\n[[offsite]]\nname = \"pusat\"\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{}\"\ncredentials_file = \"{}\"\n",
        g.endpoint(),
        g.bucket(),
        dir.path().join("c").display()
    );
    g.write_credentials_file(&dir.path().join("c"));
    let cfg =
        simdondar_backup::config::Config::parse(Path::new("t.toml"), &cfg_text).expect("config");
    let store = Store::new(&cfg.offsite[0], &creds, Duration::from_secs(20)).expect("store");
    let body = vec![42u8; 100_000];
    let good_md5: [u8; 16] = {
        use md5::Digest as _;
        md5::Md5::digest(&body).into()
    };
    let good_sha: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&body).into()
    };
    let (bad_md5, bad_sha) = ([0u8; 16], [0u8; 32]);
    let id = store.create_multipart("t/obj").expect("create");
    for (md5, sha) in [(&bad_md5, &good_sha), (&good_md5, &bad_sha)] {
        let e = store
            .upload_part(
                "t/obj",
                &id,
                1,
                &mut &body[..],
                body.len() as u64,
                BodySums { md5, sha256: sha },
            )
            .expect_err("a part whose checksum does not match must be refused");
        assert_eq!(
            e.kind,
            simdondar_backup::kinds::OffsiteFailure::Mismatch,
            "{e}"
        );
    }
    assert_eq!(
        store.list_parts("t/obj", &id).expect("list"),
        Some(Vec::new())
    );
    let etag = store
        .upload_part(
            "t/obj",
            &id,
            1,
            &mut &body[..],
            body.len() as u64,
            BodySums {
                md5: &good_md5,
                sha256: &good_sha,
            },
        )
        .expect("the right checksums are accepted");
    assert_eq!(etag, simdondar_backup::util::hex::hex(&good_md5));
    store.abort_multipart("t/obj", &id).expect("abort");
    assert_eq!(store.list_parts("t/obj", &id).expect("list"), None);
}

#[test]
fn a_remote_copy_changed_on_the_store_is_caught_by_its_scheduled_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let w = world(
        &g,
        &random_source(11),
        "check = \"1s\"\ncheck_parts = 3\n",
        None,
    );
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    let key = store(&v)["uploaded"][0]
        .as_str()
        .expect("uploaded")
        .to_string();
    // Someone with access to the store replaces the object with bytes of the same length.
    let obj = format!("g:{}/{key}", g.bucket());
    let cat = g.rclone(&["cat", &obj]);
    assert!(cat.status.success(), "{}", show(&cat));
    let mut bytes = cat.stdout;
    let n = bytes.len();
    for b in &mut bytes[n / 2..n / 2 + 16] {
        *b ^= 0xff;
    }
    let f = dir.path().join("tampered");
    std::fs::write(&f, &bytes).expect("write");
    let put = g.rclone(&["copyto", f.to_str().expect("utf-8"), &obj]);
    assert!(put.status.success(), "{}", show(&put));
    std::thread::sleep(Duration::from_millis(1100));
    let (out, v) = w.push();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = store(&v);
    assert_eq!(s["failure"], "mismatch", "{s}");
    // It no longer counts as a remote copy.
    let list = w
        .setup
        .cmd()
        .args(["offsite", "list", "--json"])
        .output()
        .expect("list");
    let l: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(
        l["offsite"][0]["copies"].as_array().map(Vec::len),
        Some(0),
        "{l}"
    );
    // The next pass sends it again, whole.
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(store(&v)["uploaded"][0], key.as_str(), "{v}");
    restored_matches(&g, &w, &key);
}

#[test]
fn daily_sends_one_backup_a_day_and_two_stores_share_one_staging_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    g.cli_ok(&["bucket", "create", "cadangan"]);
    g.cli_ok(&[
        "bucket",
        "allow",
        "--read",
        "--write",
        "cadangan",
        "--key",
        &g.access_key_id,
    ]);
    let w = world(&g, &random_source(7), "", None);
    let text = std::fs::read_to_string(&w.setup.config)
        .expect("cfg")
        .replace("schedule = \"each\"", "schedule = \"daily\"");
    let second = text
        .split("[[offsite]]")
        .nth(1)
        .and_then(|t| t.split("[[source]]").next())
        .expect("the [[offsite]] table")
        .replace("name = \"pusat\"", "name = \"cadangan\"")
        .replace("bucket = \"simdondar\"", "bucket = \"cadangan\"");
    std::fs::write(&w.setup.config, format!("{text}\n[[offsite]]{second}")).expect("cfg");
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    let all = v.as_array().expect("stores");
    assert_eq!(all.len(), 2, "{v}");
    let mut keys = Vec::new();
    for s in all {
        assert_eq!(s["uploaded"].as_array().map(Vec::len), Some(1), "{s}");
        keys.push(s["uploaded"][0].as_str().expect("key").to_string());
    }
    assert_eq!(keys[0], keys[1]);
    // Both stores sent the same encrypted bytes: one staging file, removed after both.
    let sums: Vec<String> = ["simdondar", "cadangan"]
        .iter()
        .map(|b| {
            let o = g.rclone(&["cat", &format!("g:{b}/{}.sha256", keys[0])]);
            String::from_utf8_lossy(&o.stdout).to_string()
        })
        .collect();
    assert_eq!(sums[0], sums[1]);
    assert!(!sums[0].is_empty());
    assert!(
        crate::support::agent::files_under(&w.target)
            .iter()
            .all(|p| !p.to_string_lossy().contains("offsite-staging/files")),
        "staging file left behind"
    );
    // A second backup on the same day is not sent: `daily` sends one a day.
    std::thread::sleep(Duration::from_millis(1100));
    let out = w.setup.backup(&[&w.target]);
    assert!(out.status.success(), "{}", show(&out));
    let (out, v) = w.push();
    assert!(out.status.success(), "{}", show(&out));
    for s in v.as_array().expect("stores") {
        assert_eq!(s["uploaded"].as_array().map(Vec::len), Some(0), "{s}");
        assert_eq!(s["pending_bytes"], 0, "{s}");
    }
}

fn status(setup: &Setup) -> serde_json::Value {
    let out = setup
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn the_daemon_sends_offsite_on_its_own_and_a_store_down_is_amber_while_backups_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = Garage::single(dir.path());
    let w = world(&g, &random_source(6), "", None);
    let text = std::fs::read_to_string(&w.setup.config).expect("cfg");
    std::fs::write(
        &w.setup.config,
        format!(
            "{text}\n[[target]]\npath = \"{}\"\n[schedule]\nrestore_test = \"0\"\nscrub = \"0\"\n[metrics]\ntextfile = \"{}\"\n",
            w.target.display(),
            w.setup.dir.path().join("simdondar.prom").display()
        ),
    )
    .expect("cfg");
    g.kill_node(0);
    let d = Daemon::spawn(&w.setup, 120);
    // The store is down: the daemon's pass fails, amber, with its kind.
    let t = Instant::now();
    let amber = loop {
        let s = status(&w.setup);
        let found = s["daemon"]["health"]["attention"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["kind"] == "offsite_failed").cloned());
        if let Some(a) = found {
            break (a, s);
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "no off-site failure shown:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(amber.0["failure"], "unreachable", "{}", amber.1);
    let prom = w.setup.dir.path().join("simdondar.prom");
    let metric = |name: &str| -> Option<f64> {
        let text = std::fs::read_to_string(&prom).unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{offsite=\"pusat\"}} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    wait_until(
        "the failed pass in the metrics",
        Duration::from_secs(30),
        || metric("simdondar_backup_offsite_last_attempt_success") == Some(0.0),
    );
    assert!(
        metric("simdondar_backup_offsite_pending_bytes").is_some_and(|b| b > 0.0),
        "{}",
        std::fs::read_to_string(&prom).unwrap_or_default()
    );
    // A backup through the daemon still succeeds, and nothing about the store is red.
    let out = w.setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}\n{}", show(&out), d.log());
    let s = status(&w.setup);
    assert!(
        s["daemon"]["health"]["failures"]
            .as_array()
            .is_some_and(|f| f.is_empty()),
        "{s}"
    );
    // The store comes back: a later pass (15 minutes of the daemon's clock) sends both backups.
    g.start_node(0);
    let t = Instant::now();
    loop {
        let s = status(&w.setup);
        let cleared = s["daemon"]["health"]["attention"]
            .as_array()
            .is_some_and(|a| !a.iter().any(|x| x["kind"] == "offsite_failed"));
        if cleared
            && s["daemon"]["offsite_last_verified"].is_string()
            && s["offsite"][0]["last_verified"].is_string()
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the store came back but no copy was verified:\n{s}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = w
        .setup
        .cmd()
        .args(["offsite", "list", "--json"])
        .output()
        .expect("list");
    let l: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(
        l["offsite"][0]["copies"].as_array().map(Vec::len),
        Some(2),
        "{l}"
    );
    wait_until(
        "the verified copies in the metrics",
        Duration::from_secs(30),
        || {
            metric("simdondar_backup_offsite_last_attempt_success") == Some(1.0)
                && metric("simdondar_backup_offsite_pending_bytes") == Some(0.0)
                && metric("simdondar_backup_offsite_last_verified_timestamp_seconds").is_some()
        },
    );
    // `list` counts them beside the disk's copies, as `offsite:pusat`.
    let list = w
        .setup
        .cmd()
        .args(["list", "--json"])
        .output()
        .expect("list");
    assert!(list.status.success(), "{}", show(&list));
    let l: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let remote: Vec<_> = l
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["target"] == "offsite:pusat" && e["role"] == "offsite")
        .collect();
    assert_eq!(remote.len(), 2, "{l}");
}

#[test]
fn no_room_to_stage_fails_the_pass_and_leaves_the_disk_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(dir.path());
    let w = world(&g, &random_source(2), "", None);
    // A 40 MiB disk: room for backups of 2 MiB, not for a staging file plus the next backup
    // plus the 64 MiB margin.
    let small = w.setup.target("small");
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=40m", "tmpfs"])
        .arg(&small)
        .output()
        .expect("mount");
    assert!(
        mount.status.success(),
        "mounting a tmpfs needs root: {}",
        show(&mount)
    );
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Umount(&small);
    let out = w.setup.backup(&[&small]);
    assert!(out.status.success(), "{}", show(&out));
    let before = crate::support::agent::files_under(&small);
    let out = w
        .setup
        .cmd()
        .args(["offsite", "push", "--json", "--target"])
        .arg(&small)
        .output()
        .expect("push");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = store(&v);
    assert_eq!(s["failure"], "local", "{s}");
    assert!(
        s["message"].as_str().is_some_and(|m| m.contains("no room")),
        "{s}"
    );
    assert_eq!(s["uploaded"].as_array().map(Vec::len), Some(0), "{s}");
    // Nothing was left on the disk but the (empty) staging folder; the backup is whole.
    let after: Vec<_> = crate::support::agent::files_under(&small);
    assert_eq!(after, before);
    crate::support::agent::sha256sum_all(&small);
}
