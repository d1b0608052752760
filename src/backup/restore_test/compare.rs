/*!
The restore test's verdict on the counts: every table in the manifest's `tables` must come back
with exactly that many rows, and no restored table of the backed-up databases may be missing from
the manifest. Each difference is named with both numbers.
*/

use std::collections::{BTreeMap, BTreeSet};

use super::{RestoreTestError, TableCheck, TableName};

/// Compares the manifest's counts with the restored tables (`(schema, name)` as bytes);
/// `count` returns the rows of the tables asked for (`None` where counting failed).
pub(super) fn compare_tables(
    expected: &BTreeMap<String, u64>,
    databases: &[String],
    restored: &[TableName],
    count: impl FnOnce(&[TableName]) -> Result<Vec<Option<u64>>, RestoreTestError>,
) -> Result<(Vec<TableCheck>, Vec<String>), RestoreTestError> {
    let key = |(s, t): &TableName| {
        format!(
            "{}.{}",
            String::from_utf8_lossy(s),
            String::from_utf8_lossy(t)
        )
    };
    let by_key: BTreeMap<String, &TableName> = restored.iter().map(|r| (key(r), r)).collect();
    let wanted: Vec<TableName> = expected
        .keys()
        .filter_map(|k| by_key.get(k).map(|r| (*r).clone()))
        .collect();
    let counts = count(&wanted)?;
    let counted: BTreeMap<String, Option<u64>> = wanted
        .iter()
        .zip(counts)
        .map(|(r, n)| (key(r), n))
        .collect();

    let mut checks = Vec::new();
    let mut problems = Vec::new();
    for (table, &n) in expected {
        let actual = counted.get(table).copied().flatten();
        match (by_key.contains_key(table), actual) {
            (false, _) => problems.push(format!(
                "{table}: backup says {n} rows, but the table is missing after the restore"
            )),
            (true, None) => problems.push(format!(
                "{table}: backup says {n} rows, but the restored table could not be counted"
            )),
            (true, Some(a)) if a != n => {
                problems.push(format!("{table}: backup says {n} rows, restored {a}"))
            }
            _ => {}
        }
        checks.push(TableCheck {
            table: table.clone(),
            expected: n,
            actual,
        });
    }
    // Tables that came back but that the backup's counts do not know: the counts cannot vouch
    // for them.
    let mut scope: BTreeSet<String> = databases.iter().cloned().collect();
    if scope.is_empty() {
        scope = restored
            .iter()
            .filter(|r| expected.contains_key(&key(r)))
            .map(|(s, _)| String::from_utf8_lossy(s).into_owned())
            .collect();
    }
    for r in restored {
        let k = key(r);
        if scope.contains(String::from_utf8_lossy(&r.0).as_ref()) && !expected.contains_key(&k) {
            problems.push(format!(
                "{k}: restored, but the backup's row counts do not list it"
            ));
        }
    }
    Ok((checks, problems))
}
