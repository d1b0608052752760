/*!
Whether the backup user's grants let `mariadb-dump` see everything. A dump without the TRIGGER
privilege silently leaves out the triggers, and one without global SELECT silently leaves out
stored procedures — exit 0, nothing on stderr — so the agent reads `SHOW GRANTS` before each dump
and refuses to produce a backup that would restore incomplete. See docs/mariadb-grants.md.
*/

use std::collections::{BTreeMap, BTreeSet};

/// What the grants say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantCheck {
    /// Every needed privilege is granted.
    Complete,
    /// These privileges are missing (`"TRIGGER on pmi"`, `"SELECT on *.*"`).
    Missing(Vec<String>),
    /// Roles are involved; their privileges cannot be read here, so nothing is claimed.
    Unknown,
}

/// One parsed `GRANT … ON … TO …` line: the privileges and the object.
fn parse_line(line: &str) -> Option<(Vec<String>, String)> {
    let rest = line.trim().strip_prefix("GRANT ")?;
    let on = rest.find(" ON ")?;
    let privs = &rest[..on];
    let after = &rest[on + 4..];
    let to = after.find(" TO ")?;
    let object = after[..to].trim().replace('`', "");
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in privs.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_ascii_uppercase());
                cur.clear();
            }
            c if depth == 0 => cur.push(c),
            _ => {}
        }
    }
    out.push(cur.trim().to_ascii_uppercase());
    Some((out, object))
}

/// Checks `SHOW GRANTS` lines against what a dump of `databases` needs.
pub fn check(grant_lines: &[String], databases: &[String], lock_tables: bool) -> GrantCheck {
    let mut on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in grant_lines {
        let Some((privs, object)) = parse_line(line) else {
            // "GRANT role TO user": privileges come from a role we cannot see from here.
            if line.trim_start().starts_with("GRANT ") {
                return GrantCheck::Unknown;
            }
            continue;
        };
        on.entry(object).or_default().extend(privs);
    }
    let has = |object: &str, p: &str| {
        on.get(object)
            .is_some_and(|s| s.contains(p) || s.contains("ALL PRIVILEGES") || s.contains("ALL"))
    };
    let mut needed = vec!["SELECT", "SHOW VIEW", "TRIGGER", "EVENT"];
    if lock_tables {
        needed.push("LOCK TABLES");
    }
    let mut missing = Vec::new();
    for db in databases {
        for p in &needed {
            if !has("*.*", p) && !has(&format!("{db}.*"), p) {
                missing.push(format!("{p} on {db}"));
            }
        }
    }
    // Stored procedures and functions are read from mysql.proc.
    if !has("*.*", "SELECT") && !has("mysql.*", "SELECT") && !has("mysql.proc", "SELECT") {
        missing.push(
            "SELECT on mysql.proc (or *.*), without which stored procedures are silently left out"
                .into(),
        );
    }
    if missing.is_empty() {
        GrantCheck::Complete
    } else {
        GrantCheck::Missing(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
    fn dbs() -> Vec<String> {
        vec!["pmi".into(), "sms".into()]
    }

    #[test]
    fn global_grants_suffice() {
        let g = lines(&["GRANT SELECT, LOCK TABLES, SHOW VIEW, EVENT, TRIGGER ON *.* TO `backup`@`localhost` IDENTIFIED BY PASSWORD '*ABC'"]);
        assert_eq!(check(&g, &dbs(), true), GrantCheck::Complete);
        let g = lines(&["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]);
        assert_eq!(check(&g, &dbs(), true), GrantCheck::Complete);
    }

    #[test]
    fn missing_trigger_is_named() {
        let g =
            lines(&["GRANT SELECT, LOCK TABLES, SHOW VIEW, EVENT ON *.* TO `backup`@`localhost`"]);
        assert_eq!(
            check(&g, &dbs(), false),
            GrantCheck::Missing(vec!["TRIGGER on pmi".into(), "TRIGGER on sms".into()])
        );
    }

    #[test]
    fn database_level_grants_need_mysql_proc() {
        let g = lines(&[
            "GRANT USAGE ON *.* TO `backup`@`localhost`",
            "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `pmi`.* TO `backup`@`localhost`",
            "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `sms`.* TO `backup`@`localhost`",
        ]);
        match check(&g, &dbs(), true) {
            GrantCheck::Missing(m) => assert!(m[0].contains("mysql.proc"), "{m:?}"),
            other => panic!("{other:?}"),
        }
        let mut g2 = g.clone();
        g2.push("GRANT SELECT ON `mysql`.`proc` TO `backup`@`localhost`".into());
        assert_eq!(check(&g2, &dbs(), true), GrantCheck::Complete);
    }

    #[test]
    fn column_grants_and_roles() {
        assert_eq!(
            parse_line("GRANT SELECT (a, b), INSERT ON `x`.`t` TO `u`@`h`"),
            Some((vec!["SELECT".into(), "INSERT".into()], "x.t".into()))
        );
        let g = lines(&[
            "GRANT USAGE ON *.* TO `backup`@`localhost`",
            "GRANT `backup_role` TO `backup`@`localhost`",
        ]);
        assert_eq!(check(&g, &dbs(), false), GrantCheck::Unknown);
    }
}
