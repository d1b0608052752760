/*!
Where a backup lives on an off-site store: `<prefix><source>/YYYY/MM/DD/<file>`, the same layout
as below `SIMDONDAR-BACKUP/` on a disk, with the `.sha256` sidecar and the manifest (`.json`)
beside the data, the manifest written last. A person with stock tools (`rclone`, `aws s3`) finds
a backup by its source and date.
*/

/// The object key of a file of backup `source` whose day folders are `date_dirs`.
pub fn object_key(prefix: &str, source: &str, date_dirs: &[String], file: &str) -> String {
    let mut k = String::from(prefix);
    k.push_str(source);
    for d in date_dirs {
        k.push('/');
        k.push_str(d);
    }
    k.push('/');
    k.push_str(file);
    k
}

/// The sidecar's key of the data object `key`.
pub fn sidecar_key(key: &str) -> String {
    format!("{key}.sha256")
}

/// The manifest's key of the data object `key`.
pub fn manifest_key(key: &str) -> String {
    format!("{key}.json")
}

/// The file name at the end of `key`.
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let d = ["2026".to_string(), "12".to_string(), "03".to_string()];
        let k = object_key("utd-x/", "pmi", &d, "pmi_20261203-100000.sql.zst.age");
        assert_eq!(k, "utd-x/pmi/2026/12/03/pmi_20261203-100000.sql.zst.age");
        assert_eq!(sidecar_key(&k), format!("{k}.sha256"));
        assert_eq!(file_name(&k), "pmi_20261203-100000.sql.zst.age");
        assert_eq!(object_key("", "pmi", &d, "f"), "pmi/2026/12/03/f");
    }
}
