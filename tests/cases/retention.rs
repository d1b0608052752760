//! Retention on a real target: applied only after the new backup verified, never below the
//! SOP's floor of five, and `prune --dry-run` explains each decision.

use crate::support::agent::{data_files, show, Setup};

#[test]
fn prune_after_each_backup_keeps_the_floor_and_dry_run_explains() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n",
        "[retention]\nkeep_last = 2\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nkeep_yearly = 0\n",
    );
    let target = setup.target("t");
    let mut seen = Vec::new();
    for i in 0..7 {
        let out = setup.backup(&[&target]);
        assert!(out.status.success(), "{}", show(&out));
        let now = data_files(&target);
        assert_eq!(now.len(), (i + 1).min(5), "after backup {}", i + 1);
        seen.extend(now.iter().cloned());
    }
    seen.sort();
    seen.dedup();
    let kept = data_files(&target);
    // The five newest are kept (two by keep-last, three by the floor).
    assert_eq!(kept, seen[seen.len() - 5..].to_vec());
    let stdout = String::from_utf8_lossy(&setup.backup(&[&target]).stdout).into_owned();
    assert!(stdout.contains("PRUNED"), "{stdout}");

    let v = setup.prune_plan(&target);
    let decisions: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["decision"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        decisions,
        ["keep-last", "keep-last", "min-keep", "min-keep", "min-keep"]
    );
    assert_eq!(data_files(&target).len(), 5, "a dry run removes nothing");
}

#[test]
fn prune_removes_what_the_policy_allows_and_records_it() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n",
        "",
    );
    let target = setup.target("t");
    // Old backups written by hand in the on-disk format, one per day in January 2026.
    for day in 1..=9u32 {
        let out = setup.backup(&[&target]);
        assert!(out.status.success(), "{}", show(&out));
        let newest = data_files(&target).into_iter().max().expect("data");
        let manifest_path = format!("{}.json", newest.display());
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).expect("read")).expect("json");
        m["started_at"] = serde_json::json!(format!("2026-01-{day:02}T10:00:00+07:00"));
        std::fs::write(&manifest_path, serde_json::to_vec(&m).expect("ser")).expect("write");
    }
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!("{text}\n[retention]\nkeep_last = 0\nkeep_hourly = 0\nkeep_daily = 3\nkeep_weekly = 1\nkeep_monthly = 0\nkeep_yearly = 0\n"),
    )
    .expect("config");
    let out = setup
        .cmd()
        .args(["prune", "--target"])
        .arg(&target)
        .output()
        .expect("prune");
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // keep-daily 3: 9, 8, 7 January; keep-weekly 1: ISO week of 1–4 Jan is a different week than
    // 5–11 Jan (already represented), so 4 January; the floor adds the newest remaining (6 Jan).
    assert_eq!(stdout.matches("REMOVED").count(), 4, "{stdout}");
    assert_eq!(data_files(&target).len(), 5);
    let cat = simdondar_backup::catalog::Catalog::open(&setup.state).expect("catalog");
    let pruned = cat
        .pruned_paths(&target.display().to_string())
        .expect("pruned");
    assert_eq!(pruned.len(), 4, "{pruned:?}");
    for p in &pruned {
        assert!(
            !std::path::Path::new(p).exists(),
            "{p} was recorded as pruned but exists"
        );
    }
}

/// A setting whose backups are 300 kB of random bytes (`.zst`), kept by `keep_last = 1` and the
/// floor of five.
fn random_setup() -> (Setup, std::path::PathBuf) {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c 300000 /dev/urandom; date +%s%N\"]\n",
        "[retention]\nkeep_last = 1\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nkeep_yearly = 0\n",
    );
    let target = setup.target("t");
    (setup, target)
}

fn backup_ok(setup: &Setup, target: &std::path::Path) {
    let out = setup.backup(&[target]);
    assert!(out.status.success(), "{}", show(&out));
}

fn prune_plan(setup: &Setup, target: &std::path::Path) -> Vec<serde_json::Value> {
    setup.prune_plan(target).as_array().expect("array").clone()
}

/// Five backups, one of them damaged behind the appliance's back by `damage`; then more backups.
/// The damaged copy never props up the floor: the five good ones stay, the oldest good one is
/// only removed once five newer good ones exist, and the damaged one is left alone, listed as
/// not counted with `state`.
fn damaged_copy_does_not_prop_up_the_floor(damage: impl Fn(&std::path::Path), state: &str) {
    let (setup, target) = random_setup();
    for _ in 0..5 {
        backup_ok(&setup, &target);
    }
    let files = data_files(&target);
    assert_eq!(files.len(), 5);
    let oldest = files[0].clone();
    let victim = files[3].clone();
    damage(&victim);

    // A sixth backup: five good ones and the damaged one. Counting the damaged copy (the old
    // behaviour), keep_last 1 + floor 5 would have removed the oldest good backup.
    backup_ok(&setup, &target);
    assert!(
        oldest.exists(),
        "the oldest good backup was removed while only 5 good ones exist"
    );
    let plan = prune_plan(&setup, &target);
    assert_eq!(plan.len(), 6, "{plan:?}");
    let by_path = |p: &std::path::Path| {
        plan.iter()
            .find(|i| i["path"].as_str() == Some(p.to_string_lossy().as_ref()))
            .unwrap_or_else(|| panic!("{} not in {plan:?}", p.display()))
            .clone()
    };
    let v = by_path(&victim);
    assert_eq!(v["decision"], "not-counted", "{v}");
    assert_eq!(v["completeness"]["state"], state, "{v}");
    let good_kept = plan
        .iter()
        .filter(|i| i["completeness"]["state"] == "complete" && i["decision"] != "remove")
        .count();
    assert_eq!(good_kept, 5, "{plan:?}");

    // `list` does not show it as a good backup.
    let out = setup
        .cmd()
        .args(["list", "--json", "--target"])
        .arg(&target)
        .output()
        .expect("list");
    assert!(out.status.success(), "{}", show(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = list
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["path"].as_str() == Some(victim.to_string_lossy().as_ref()))
        .expect("victim listed")
        .clone();
    assert_eq!(row["state"], state, "{row}");
    assert!(row["problem"].as_str().is_some(), "{row}");

    // A seventh: six good ones now, so the oldest good one goes; the damaged copy stays.
    backup_ok(&setup, &target);
    assert!(!oldest.exists(), "six good backups: the oldest is pruned");
    let plan = prune_plan(&setup, &target);
    assert_eq!(
        plan.iter()
            .filter(|i| i["completeness"]["state"] == "complete")
            .count(),
        5,
        "{plan:?}"
    );
    assert!(
        plan.iter().any(
            |i| i["path"].as_str() == Some(victim.to_string_lossy().as_ref())
                && i["decision"] == "not-counted"
        ),
        "{plan:?}"
    );
}

#[test]
fn a_truncated_copy_does_not_prop_up_the_floor() {
    damaged_copy_does_not_prop_up_the_floor(
        |victim| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(victim)
                .expect("open victim");
            let len = f.metadata().expect("len").len();
            f.set_len(len / 2).expect("truncate");
            // The data stays where it is; only its size tells.
            assert!(victim.exists());
        },
        "wrong_size",
    );
}

#[test]
fn a_deleted_data_file_does_not_prop_up_the_floor() {
    damaged_copy_does_not_prop_up_the_floor(
        |victim| {
            std::fs::remove_file(victim).expect("delete the data file");
            // Its manifest and sidecar stay, as after a careless delete on a Windows laptop.
            assert!(std::path::PathBuf::from(format!("{}.json", victim.display())).exists());
        },
        "missing_part",
    );
}
