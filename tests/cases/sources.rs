//! The `command` source: any program's stdout is the backup, and its exit status decides.

use std::process::Stdio;

use crate::support::agent::{data_files, final_named, show, Setup};

#[test]
fn command_source_round_trip() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"printf\", \"isi program SIMDONDAR\\n\"]\nextension = \"txt\"\n",
        "",
    );
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    let data = data_files(&target).pop().expect("data file");
    assert!(
        data.to_string_lossy().ends_with(".txt.zst"),
        "{}",
        data.display()
    );
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&data)
        .arg("--stdout")
        .stdout(Stdio::piped())
        .output()
        .expect("restore");
    assert!(r.status.success(), "{}", show(&r));
    assert_eq!(r.stdout, b"isi program SIMDONDAR\n");
}

#[test]
fn failing_command_fails_the_run() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo half; echo 'tar: disk error' >&2; exit 3\"]\n",
        "",
    );
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sh failed with exit code 3: tar: disk error"),
        "{err}"
    );
    assert!(
        final_named(&target).is_empty(),
        "{:?}",
        final_named(&target)
    );
    assert_eq!(setup.runs()[0].status, "failed");
}
