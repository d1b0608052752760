//! The Garage harness itself (issue 16): a single node stores and returns bytes through an
//! independent S3 client (rclone); a three-node cluster (replication 3) keeps reading and writing
//! with one node killed, and the node comes back.

use std::time::Instant;

use crate::support::agent::show;
use crate::support::garage::Garage;

fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

#[test]
fn garage_single_node_round_trip() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let g = Garage::single(&tmp.path().join("garage"));
    let src = tmp.path().join("dump.sql.zst.age");
    let bytes = payload(300_000, 1);
    std::fs::write(&src, &bytes).expect("write the source file");

    let put = g.rclone(&[
        "copyto",
        src.to_str().expect("utf-8 path"),
        "g:simdondar/pmi/2025/01/02/pmi_20250102-030405.sql.zst.age",
    ]);
    assert!(put.status.success(), "rclone copyto: {}", show(&put));
    let cat = g.rclone(&[
        "cat",
        "g:simdondar/pmi/2025/01/02/pmi_20250102-030405.sql.zst.age",
    ]);
    assert!(cat.status.success(), "rclone cat: {}", show(&cat));
    assert!(
        cat.stdout == bytes,
        "rclone cat returned {} bytes, not the {} put",
        cat.stdout.len(),
        bytes.len()
    );

    // The credentials file the agent reads.
    let creds = tmp.path().join("s3.credentials");
    g.write_credentials_file(&creds);
    let text = std::fs::read_to_string(&creds).expect("read the credentials file");
    let table: toml::Table = text.parse().expect("the credentials file is TOML");
    assert_eq!(
        table["access_key_id"].as_str(),
        Some(g.access_key_id.as_str())
    );
    assert_eq!(
        table["secret_access_key"].as_str(),
        Some(g.secret_access_key.as_str())
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode {mode:o}");
    eprintln!(
        "garage single node: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn garage_cluster_survives_one_node_killed() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut g = Garage::cluster(&tmp.path().join("garage"), 3);
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    let a = payload(200_000, 2);
    let b = payload(150_000, 3);
    std::fs::write(&first, &a).expect("write");
    std::fs::write(&second, &b).expect("write");

    let put = g.rclone(&["copyto", first.to_str().expect("utf-8"), "g:simdondar/a"]);
    assert!(put.status.success(), "rclone copyto a: {}", show(&put));

    // Measured: the first request after the SIGKILL may wait ~8 s until Garage's ping notices
    // that node 2's connection is gone (docs/garage-facts.md); later ones are immediate.
    g.kill_node(2);
    assert!(!g.is_running(2), "node 2 should be dead after kill_node");
    let cat = g.rclone(&["cat", "g:simdondar/a"]);
    assert!(
        cat.status.success(),
        "read with node 2 down: {}",
        show(&cat)
    );
    assert!(
        cat.stdout == a,
        "read with node 2 down: {} bytes differ",
        cat.stdout.len()
    );
    let put = g.rclone(&["copyto", second.to_str().expect("utf-8"), "g:simdondar/b"]);
    assert!(
        put.status.success(),
        "write with node 2 down: {}",
        show(&put)
    );

    g.start_node(2);
    // Node 2 serves both objects through its own S3 API once it is back.
    for (key, want) in [("a", &a), ("b", &b)] {
        let cat = g.rclone_at(2, &["cat", &format!("g:simdondar/{key}")]);
        assert!(
            cat.status.success(),
            "read {key} through node 2: {}",
            show(&cat)
        );
        assert!(
            cat.stdout == *want,
            "read {key} through node 2: bytes differ"
        );
    }
    eprintln!(
        "garage three nodes: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
