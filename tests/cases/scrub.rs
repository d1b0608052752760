//! The scheduled scrub (issue 11): a pass re-reads every copy on a disk, finds the one whose
//! bytes changed on the disk, counts the good copies per source, records every verdict in the
//! catalog, and, stopped part-way, goes on where it stopped instead of starting over.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use simdondar_backup::backup::scrub::{self, Disk, Pace, Progress};
use simdondar_backup::catalog::Catalog;

use crate::support::agent::{data_files, show, Setup};

fn flip_a_byte(p: &Path) {
    let mut b = std::fs::read(p).expect("read");
    let i = b.len() / 2;
    b[i] ^= 0x55;
    std::fs::write(p, b).expect("write");
}

#[test]
fn a_pass_finds_the_bad_copy_counts_the_good_ones_and_resumes_after_a_stop() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c 300000 /dev/urandom\"]\nextension = \"bin\"\n",
        "[retention]\nkeep_last = 10\n",
    );
    let target = setup.target("hdd");
    for _ in 0..5 {
        let out = setup.backup(&[&target]);
        assert!(out.status.success(), "{}", show(&out));
    }
    let data = data_files(&target);
    assert_eq!(data.len(), 5, "{data:?}");
    flip_a_byte(&data[2]);
    let catalog = Catalog::open(&setup.state).expect("catalog");
    let disks = vec![Disk {
        root: target.clone(),
        label: "HDD".into(),
    }];

    // Stopped after the first copy (the slow rate makes it wait there).
    let (pause, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let first = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            stop.store(true, Ordering::Relaxed);
        });
        let pace = Pace {
            rate: 1000,
            pause: &pause,
            stop: &stop,
        };
        scrub::run_pass(&setup.state, &disks, &pace, &catalog)
    });
    assert!(!first.complete);
    assert_eq!(first.checked, 1);
    let progress = Progress::load(&setup.state);
    assert!(progress.pass_started.is_some());
    assert_eq!(progress.done.len(), 1);

    // Goes on with the other four.
    stop.store(false, Ordering::Relaxed);
    let pace = Pace {
        rate: 1 << 30,
        pause: &pause,
        stop: &stop,
    };
    let rest = scrub::run_pass(&setup.state, &disks, &pace, &catalog);
    assert!(rest.complete);
    assert_eq!(
        rest.checked, 4,
        "the copy checked before the stop is not read again"
    );
    assert_eq!(rest.bad.len(), 1, "{rest:?}");
    assert_eq!(rest.bad[0].1, data[2].display().to_string());
    assert_eq!(rest.low, vec![("HDD".to_string(), "files".to_string(), 4)]);
    let progress = Progress::load(&setup.state);
    assert_eq!(progress.pass_started, None);
    assert!(progress.last_finished.is_some());
    let verdicts = catalog
        .verifications(&target.display().to_string())
        .expect("verifications");
    assert_eq!(verdicts.len(), 5, "{verdicts:?}");
    assert_eq!(verdicts.iter().filter(|v| !v.1).count(), 1);
}
