//! The `ssh-tar` source against a real `sshd` on loopback: the program files and uploads arrive
//! as a tar that restores byte for byte; a wrong host key or a missing directory fails the run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::agent::{data_files, final_named, show, Setup};
use crate::support::sshd::Sshd;

fn ssh_setup(sshd: &Sshd, path: &Path, known_hosts: &Path) -> Setup {
    std::fs::set_permissions(&sshd.key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Setup::with_sources(
        &format!(
            "[[source]]\nname = \"program\"\nkind = \"ssh-tar\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"root\"\nkey_file = \"{}\"\nknown_hosts = \"{}\"\npath = \"{}\"\n",
            sshd.port,
            sshd.key.display(),
            known_hosts.display(),
            path.display()
        ),
        "",
    )
}

#[test]
fn ssh_tar_round_trip() {
    let sshd = Sshd::start();
    let app = tempfile::tempdir().expect("tempdir");
    let www = app.path().join("simudda");
    std::fs::create_dir_all(www.join("upload/foto")).expect("mkdir");
    std::fs::write(www.join("index.php"), "<?php echo 'SIMDONDAR'; ?>\n").expect("write");
    let photo: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(www.join("upload/foto/donor 0001.jpg"), &photo).expect("write");
    let setup = ssh_setup(&sshd, &www, &sshd.known_hosts);
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    let data = data_files(&target).pop().expect("data");
    assert!(
        data.to_string_lossy().ends_with(".tar.zst"),
        "{}",
        data.display()
    );

    let restored = tempfile::tempdir().expect("tempdir");
    let tar_path = restored.path().join("x.tar");
    let r = setup
        .cmd()
        .arg("restore")
        .arg(&data)
        .arg("--stdout")
        .output()
        .expect("restore");
    assert!(r.status.success(), "{}", show(&r));
    std::fs::write(&tar_path, &r.stdout).expect("write tar");
    let x = Command::new("tar")
        .arg("-xf")
        .arg(&tar_path)
        .current_dir(restored.path())
        .output()
        .expect("tar");
    assert!(x.status.success(), "{}", show(&x));
    assert_eq!(
        std::fs::read(restored.path().join("upload/foto/donor 0001.jpg")).expect("photo"),
        photo
    );
    assert_eq!(
        std::fs::read_to_string(restored.path().join("index.php")).expect("php"),
        "<?php echo 'SIMDONDAR'; ?>\n"
    );
}

#[test]
fn ssh_tar_refuses_an_unpinned_host_key() {
    let sshd = Sshd::start();
    let app = tempfile::tempdir().expect("tempdir");
    let setup = ssh_setup(&sshd, app.path(), &sshd.wrong_known_hosts);
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match the one pinned"),
        "{}",
        show(&out)
    );
    assert!(final_named(&target).is_empty());
}

#[test]
fn ssh_tar_missing_directory_fails_the_run() {
    let sshd = Sshd::start();
    let setup = ssh_setup(&sshd, Path::new("/nonexistent/simudda"), &sshd.known_hosts);
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent/simudda does not exist on 127.0.0.1"),
        "{}",
        show(&out)
    );
    assert!(final_named(&target).is_empty());
    assert_eq!(setup.runs()[0].status, "failed");
}
