//! Hostile input never panics (DESIGN.md §4.7): property tests over arbitrary bytes and
//! mutated valid inputs for the config parser, the disk marker, the manifest reader, the sidecar,
//! the control-socket protocol and mountinfo.

use std::path::Path;

use proptest::prelude::*;
use simdondar_backup::agent::control::parse_request;
use simdondar_backup::backup::layout::parse_sidecar;
use simdondar_backup::backup::manifest::Manifest;
use simdondar_backup::config::Config;
use simdondar_backup::disks::marker;
use simdondar_backup::disks::mount::parse_mountinfo;

const CONFIG: &str = "timezone = \"Asia/Jakarta\"\n[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/run/mysqld/mysqld.sock\"\nuser = \"backup\"\ndatabases = [\"pmi\"]\ninterval = \"1h\"\n[[target]]\npath = \"/srv/b\"\n[retention]\nkeep_last = 3\n[disks]\nfat_split_size = \"1GiB\"\n";

const MANIFEST: &str = r#"{"format":1,"source":"pmi","kind":"mysql","started_at":"2026-11-26T10:00:00+07:00","finished_at":"2026-11-26T10:01:00+07:00","databases":["pmi"],"compression":"zstd","encrypted":false,"bytes_raw":10,"bytes_stored":5,"sha256":"0000000000000000000000000000000000000000000000000000000000000000","parts":["pmi_20261126-100000.sql.zst"],"tables":{"pmi.a":1},"tool_version":"t"}"#;

/// A valid input with some bytes replaced, inserted or removed.
fn mutate(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((0usize..base.len(), any::<u8>(), 0u8..3), 0..8).prop_map(
        move |edits| {
            let mut v = base.as_bytes().to_vec();
            for (pos, byte, op) in edits {
                let pos = pos.min(v.len());
                match op {
                    0 if pos < v.len() => v[pos] = byte,
                    1 => v.insert(pos, byte),
                    _ if pos < v.len() => {
                        v.remove(pos);
                    }
                    _ => {}
                }
            }
            v
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn config_parser_never_panics(bytes in prop_oneof![mutate(CONFIG), proptest::collection::vec(any::<u8>(), 0..400)]) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Config::parse(Path::new("/etc/x.toml"), &text) {
            // Every error is located in the file (or names it).
            prop_assert!(e.to_string().starts_with("/etc/x.toml"));
        }
    }

    #[test]
    fn marker_parser_never_panics(bytes in prop_oneof![
        mutate("id = \"abc\"\nrole = \"manual\"\nlabel = \"SIMBAK01\"\nenrolled_at = \"2026-11-26T10:00:00+07:00\"\n"),
        proptest::collection::vec(any::<u8>(), 0..300)
    ]) {
        let _ = marker::parse(&bytes);
        let _ = marker::display_label(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn manifest_reader_never_panics_nor_accepts_escaping_parts(bytes in prop_oneof![mutate(MANIFEST), proptest::collection::vec(any::<u8>(), 0..300)]) {
        if let Ok(m) = Manifest::from_json(&bytes) {
            for p in &m.parts {
                prop_assert!(!p.contains('/') && p != ".." && !p.is_empty());
            }
        }
    }

    #[test]
    fn control_protocol_never_panics(bytes in prop_oneof![
        mutate("{\"cmd\":\"backup\",\"sources\":[\"pmi\"]}"),
        mutate("{\"cmd\":\"press\",\"long\":true}"),
        proptest::collection::vec(any::<u8>(), 0..200)
    ]) {
        let _ = parse_request(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn sidecar_and_mountinfo_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_sidecar(&text);
        let _ = parse_mountinfo(&text);
        let _ = parse_mountinfo(&format!("42 27 7:0 / /run/x\\{text} rw - ext4 /dev/loop0 rw\n"));
    }
}
