/*!
The key-custody check (issue 12). Removable copies are encrypted to public keys whose private
halves live off the appliance, so a lost or wrong key would be found only at a restore. This finds
it before, with no private key on the appliance:

1. A challenge (five random words) is encrypted with age to each recipient on its own and written
   onto a manual disk: `SIMDONDAR-BACKUP/KEY-CHECK/key-check-<date>-<id>.age`, beside a README.
2. The key holder decrypts it on a laptop with the stock tool (`age -d -i KEY FILE`) and types the
   words on the appliance: `simdondar-backup key confirm WORD…`.
3. The confirmation is an audit entry (so is a failed attempt) and names the recipient.

Only a salted SHA-256 of the words is kept in the catalog (`key_checks`). A recipient without a
confirmation in the last [`EVERY_DAYS`] days is due: the daemon shows it on the amber LED, and the
next manual copy carries a fresh challenge when none is open for it.
*/

use std::fmt;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backup::layout::ROOT_DIR;
use crate::backup::writer::write_atomically;
use crate::catalog::{Catalog, CatalogError, KeyCheckRow};
use crate::safe_fs::Dir;

/// A key must be confirmed at least this often (the issue's "at least every 90 days").
pub const EVERY_DAYS: i64 = 90;

/// The folder on the disk.
pub const DIR_NAME: &str = "KEY-CHECK";

/// Words per challenge (from [`WORDS`]: 128^5 = 2^35 possibilities).
const WORD_COUNT: usize = 5;

/// Short, plain Indonesian words, easy to read off a laptop screen and type.
const WORDS: [&str; 128] = [
    "air", "api", "angin", "awan", "batu", "bulan", "bintang", "bumi", "daun", "gunung", "hujan",
    "hutan", "kayu", "laut", "langit", "pasir", "pohon", "sungai", "tanah", "pantai", "danau",
    "bukit", "embun", "kabut", "petir", "pelangi", "badai", "ombak", "karang", "padi", "jagung",
    "kelapa", "mangga", "pisang", "nanas", "jeruk", "apel", "anggur", "durian", "salak", "kopi",
    "teh", "gula", "garam", "madu", "susu", "roti", "nasi", "sate", "soto", "bakso", "tahu",
    "tempe", "sambal", "kecap", "ikan", "ayam", "bebek", "kambing", "sapi", "kuda", "kucing",
    "burung", "gajah", "harimau", "kancil", "rusa", "semut", "lebah", "capung", "elang", "merpati",
    "bangau", "rumah", "pintu", "jendela", "meja", "kursi", "lampu", "buku", "pena", "kertas",
    "tas", "sepatu", "topi", "baju", "kain", "jam", "kunci", "piring", "gelas", "sendok", "panci",
    "sepeda", "mobil", "kereta", "kapal", "perahu", "jalan", "jembatan", "pasar", "kota", "desa",
    "sekolah", "taman", "kebun", "sawah", "merah", "biru", "hijau", "kuning", "putih", "hitam",
    "ungu", "emas", "perak", "besi", "kaca", "batik", "gamelan", "wayang", "angklung", "layang",
    "bola", "kelereng", "delman", "becak", "payung",
];

/// Why a key check could not be done.
#[derive(Debug)]
pub enum KeyCheckError {
    /// No recipient is configured: nothing to check.
    NoRecipients,
    /// A recipient in the configuration is not an age public key.
    BadRecipient(String),
    /// The challenge could not be written onto the disk.
    Write {
        root: String,
        detail: String,
    },
    /// The words match no open challenge.
    NoMatch,
    Catalog(CatalogError),
    /// Randomness or encryption failed.
    Crypto(String),
}

impl fmt::Display for KeyCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyCheckError::NoRecipients => write!(
                f,
                "no [encryption] recipients are configured: there is no key to check"
            ),
            KeyCheckError::BadRecipient(r) => write!(f, "recipient {r} is not an age public key"),
            KeyCheckError::Write { root, detail } => write!(
                f,
                "cannot write the key check onto {root}: {detail}; check the disk and try again"
            ),
            KeyCheckError::NoMatch => write!(
                f,
                "these words match no open key check: check the spelling against the decrypted file (five words); a check already confirmed cannot be confirmed again, make a new one with `simdondar-backup key challenge --target DIR`"
            ),
            KeyCheckError::Catalog(e) => write!(f, "{e}"),
            KeyCheckError::Crypto(d) => write!(f, "cannot make the key check: {d}"),
        }
    }
}

impl std::error::Error for KeyCheckError {}

impl From<CatalogError> for KeyCheckError {
    fn from(e: CatalogError) -> Self {
        KeyCheckError::Catalog(e)
    }
}

/// One challenge written.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub id: String,
    pub recipient: String,
    /// The file on the disk.
    pub file: String,
}

/// Where a recipient's key custody stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub recipient: String,
    /// The newest confirmation (RFC 3339), if any.
    pub confirmed_at: Option<String>,
    /// Whole days since then.
    pub days: Option<i64>,
    /// No confirmation within [`EVERY_DAYS`].
    pub due: bool,
    /// An unconfirmed challenge exists (its id).
    pub open: Option<String>,
}

fn random_bytes(n: usize) -> Result<Vec<u8>, KeyCheckError> {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map(|()| b)
        .map_err(|e| KeyCheckError::Crypto(format!("/dev/urandom: {e}")))
}

/// The words in the form they are compared in: lower case, single spaces.
fn normalise(words: &[String]) -> String {
    words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn words_hash(id: &str, words: &str) -> String {
    crate::util::hex(&Sha256::digest(format!("{id}:{words}").as_bytes()))
}

/// The recipient's short name in file names (its last 8 characters).
fn short(recipient: &str) -> &str {
    &recipient[recipient.len().saturating_sub(8)..]
}

const README: &str = "\
PEMERIKSAAN KUNCI ENKRIPSI / ENCRYPTION KEY CHECK (simdondar-backup)

ID: Setiap file .age di folder ini berisi lima kata, dienkripsi untuk satu kunci publik
(recipient). Pemegang kunci pribadi membukanya di laptop dengan program age:
    age -d -i kunci-it-support.txt key-check-....age
lalu mengetik kata-kata itu di appliance:
    simdondar-backup key confirm KATA1 KATA2 KATA3 KATA4 KATA5
Jika file tidak bisa dibuka, kunci itu hilang atau salah: laporkan ke kepala unit hari ini,
buat kunci baru (simdondar-backup keygen) dan ganti recipient di konfigurasi.

EN: Each .age file here holds five words, encrypted to one public key (recipient). The holder of
the private key opens it on a laptop with the age tool (command above) and types the words on the
appliance (`simdondar-backup key confirm ...`). If it does not open, that key is lost or wrong:
report it today, make a new key (`simdondar-backup keygen`) and replace the recipient.
";

/// Writes a challenge for each recipient onto the disk at `root` (a manual disk) and records it.
pub fn issue(
    catalog: &Catalog,
    recipients: &[String],
    root: &Path,
    now: DateTime<Utc>,
) -> Result<Vec<Issued>, KeyCheckError> {
    if recipients.is_empty() {
        return Err(KeyCheckError::NoRecipients);
    }
    let write_err = |e: std::io::Error| KeyCheckError::Write {
        root: root.display().to_string(),
        detail: e.to_string(),
    };
    let top = Dir::open(root).map_err(write_err)?;
    let dir = top.create_dirs([ROOT_DIR, DIR_NAME]).map_err(write_err)?;
    write_atomically(&dir, "README.txt", README.as_bytes()).map_err(write_err)?;
    let host = crate::clock::hostname().unwrap_or_else(|| "simdondar-backup".into());
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for r in recipients {
        let key: age::x25519::Recipient = r
            .parse()
            .map_err(|_| KeyCheckError::BadRecipient(r.clone()))?;
        let id = crate::util::hex(&random_bytes(4)?);
        let picks = random_bytes(WORD_COUNT)?;
        let words: Vec<String> = picks
            .iter()
            .map(|b| WORDS[usize::from(*b) % WORDS.len()].to_string())
            .collect();
        let phrase = words.join(" ");
        let text = format!(
            "SIMDONDAR backup: pemeriksaan kunci / key check {id}\nappliance: {host}\nrecipient: {r}\nissued: {at}\n\nKATA / WORDS:  {phrase}\n\nKetik di appliance / type on the appliance:\n  simdondar-backup key confirm {phrase}\n"
        );
        let mut sealed = Vec::new();
        let enc = age::Encryptor::with_recipients(std::iter::once(&key as &dyn age::Recipient))
            .map_err(|e| KeyCheckError::Crypto(e.to_string()))?;
        let mut w = enc
            .wrap_output(&mut sealed)
            .map_err(|e| KeyCheckError::Crypto(e.to_string()))?;
        w.write_all(text.as_bytes())
            .and_then(|()| w.finish().map(|_| ()))
            .map_err(|e| KeyCheckError::Crypto(e.to_string()))?;
        let name = format!("key-check-{}-{}-{id}.age", now.format("%Y%m%d"), short(r));
        write_atomically(&dir, &name, &sealed).map_err(write_err)?;
        dir.sync().map_err(write_err)?;
        let file = format!("{ROOT_DIR}/{DIR_NAME}/{name}");
        catalog.record_key_check(&KeyCheckRow {
            id: id.clone(),
            recipient: r.clone(),
            issued_at: at.clone(),
            disk: root.display().to_string(),
            file: file.clone(),
            words_sha256: words_hash(&id, &phrase),
            confirmed_at: None,
        })?;
        crate::audit::record(
            catalog,
            &crate::audit::cli_actor(),
            "key-challenge",
            &serde_json::json!({ "id": id, "recipient": r, "disk": root.display().to_string(), "file": file }),
        );
        out.push(Issued {
            id,
            recipient: r.clone(),
            file,
        });
    }
    Ok(out)
}

/// Confirms the open challenge whose words these are; a miss is audited too.
pub fn confirm(
    catalog: &Catalog,
    actor: &str,
    words: &[String],
    now: DateTime<Utc>,
) -> Result<KeyCheckRow, KeyCheckError> {
    let phrase = normalise(words);
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let hit = catalog
        .key_checks()?
        .into_iter()
        .filter(|c| c.confirmed_at.is_none())
        .find(|c| words_hash(&c.id, &phrase) == c.words_sha256);
    let Some(mut row) = hit else {
        crate::audit::record(
            catalog,
            actor,
            "key-confirm-failed",
            &serde_json::json!({ "words": phrase.split(' ').count() }),
        );
        return Err(KeyCheckError::NoMatch);
    };
    catalog.confirm_key_check(&row.id, &at)?;
    row.confirmed_at = Some(at);
    crate::audit::record(
        catalog,
        actor,
        "key-confirmed",
        &serde_json::json!({ "id": row.id, "recipient": row.recipient, "issued_at": row.issued_at }),
    );
    Ok(row)
}

/// Each configured recipient's custody.
pub fn status(
    catalog: &Catalog,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<KeyStatus>, KeyCheckError> {
    let rows = catalog.key_checks()?;
    Ok(recipients
        .iter()
        .map(|r| {
            let mine: Vec<&KeyCheckRow> = rows.iter().filter(|c| &c.recipient == r).collect();
            let confirmed_at = mine
                .iter()
                .filter_map(|c| c.confirmed_at.clone())
                .max_by_key(|t| parse(t));
            let days = confirmed_at
                .as_deref()
                .and_then(parse)
                .map(|t| (now - t).num_days());
            let open = mine
                .iter()
                .filter(|c| c.confirmed_at.is_none())
                .max_by_key(|c| parse(&c.issued_at))
                .map(|c| c.id.clone());
            KeyStatus {
                recipient: r.clone(),
                due: days.is_none_or(|d| d >= EVERY_DAYS),
                confirmed_at,
                days,
                open,
            }
        })
        .collect())
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The oldest due recipient's age in days (`Some(None)`: one was never confirmed); `None` when
/// nothing is due.
pub fn overdue(statuses: &[KeyStatus]) -> Option<Option<i64>> {
    let due: Vec<&KeyStatus> = statuses.iter().filter(|s| s.due).collect();
    if due.is_empty() {
        return None;
    }
    if due.iter().any(|s| s.days.is_none()) {
        return Some(None);
    }
    Some(due.iter().filter_map(|s| s.days).max())
}

/// After a manual copy onto `root`: a challenge for each due recipient that has none open.
pub fn issue_if_due(catalog: &Catalog, recipients: &[String], root: &Path) {
    let now = Utc::now();
    let due: Vec<String> = match status(catalog, recipients, now) {
        Ok(s) => s
            .into_iter()
            .filter(|s| s.due && s.open.is_none())
            .map(|s| s.recipient)
            .collect(),
        Err(e) => {
            log::error!("key check: {e}");
            return;
        }
    };
    if due.is_empty() {
        return;
    }
    match issue(catalog, &due, root, now) {
        Ok(list) => {
            for i in list {
                log::info!(
                    "key check {} for {} written to {}",
                    i.id,
                    i.recipient,
                    i.file
                );
            }
        }
        Err(e) => log::error!("key check: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient() -> (String, age::x25519::Identity) {
        let id = age::x25519::Identity::generate();
        (id.to_public().to_string(), id)
    }

    fn open(file: &Path, id: &age::x25519::Identity) -> String {
        let bytes = std::fs::read(file).expect("read");
        let d = age::Decryptor::new(&bytes[..]).expect("age file");
        let mut r = d
            .decrypt(std::iter::once(id as &dyn age::Identity))
            .expect("decrypts with its own key");
        let mut s = String::new();
        std::io::Read::read_to_string(&mut r, &mut s).expect("text");
        s
    }

    fn words_of(text: &str) -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with("KATA / WORDS:"))
            .expect("words line");
        line["KATA / WORDS:".len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    #[test]
    fn the_words_list_has_no_duplicates() {
        let set: std::collections::BTreeSet<_> = WORDS.iter().collect();
        assert_eq!(set.len(), WORDS.len());
    }

    #[test]
    fn each_key_gets_its_own_challenge_and_only_its_words_confirm_it() {
        let d = tempfile::tempdir().expect("tmp");
        let cat = Catalog::open(&d.path().join("state")).expect("catalog");
        let disk = d.path().join("disk");
        std::fs::create_dir(&disk).expect("mkdir");
        let (a, a_id) = recipient();
        let (b, b_id) = recipient();
        let now = Utc::now();
        let before = status(&cat, &[a.clone(), b.clone()], now).expect("status");
        assert!(before.iter().all(|s| s.due && s.days.is_none()));
        assert_eq!(overdue(&before), Some(None));

        let issued = issue(&cat, &[a.clone(), b.clone()], &disk, now).expect("issue");
        assert_eq!(issued.len(), 2);
        let a_text = open(&disk.join(&issued[0].file), &a_id);
        // B's key cannot open A's challenge.
        let bytes = std::fs::read(disk.join(&issued[0].file)).expect("read");
        assert!(age::Decryptor::new(&bytes[..])
            .expect("age")
            .decrypt(std::iter::once(&b_id as &dyn age::Identity))
            .is_err());
        let a_words = words_of(&a_text);
        assert_eq!(a_words.len(), WORD_COUNT);
        // Nothing on the disk or in the catalog holds the words in clear.
        let rows = cat.key_checks().expect("rows");
        assert!(rows.iter().all(|r| !r.words_sha256.contains(&a_words[0])));

        // Wrong words: refused and audited.
        let e = confirm(&cat, "uid:0", &["salah".into()], now).expect_err("no match");
        assert!(matches!(e, KeyCheckError::NoMatch));
        // The right words, in capitals and one argument: A is confirmed, B still due.
        let shouted = vec![a_words.join(" ").to_uppercase()];
        let row = confirm(&cat, "uid:0", &shouted, now).expect("confirmed");
        assert_eq!(row.recipient, a);
        let after = status(&cat, &[a.clone(), b.clone()], now).expect("status");
        assert!(!after[0].due && after[0].days == Some(0));
        assert!(after[1].due && after[1].open.is_some());
        // Confirmed once only.
        assert!(confirm(&cat, "uid:0", &a_words, now).is_err());
        let kinds: Vec<String> = cat
            .audit_entries()
            .expect("audit")
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert!(kinds.contains(&"key-confirmed".to_string()), "{kinds:?}");
        assert!(
            kinds.contains(&"key-confirm-failed".to_string()),
            "{kinds:?}"
        );
        // 91 days later A is due again.
        let later = now + chrono::Duration::days(EVERY_DAYS + 1);
        let s = status(&cat, std::slice::from_ref(&a), later).expect("status");
        assert!(s[0].due);
        assert_eq!(overdue(&s), Some(Some(EVERY_DAYS + 1)));
        let _ = b_id;
    }

    #[test]
    fn a_new_challenge_is_written_only_when_due_and_none_is_open() {
        let d = tempfile::tempdir().expect("tmp");
        let cat = Catalog::open(&d.path().join("state")).expect("catalog");
        let disk = d.path().join("disk");
        std::fs::create_dir(&disk).expect("mkdir");
        let (a, _) = recipient();
        issue_if_due(&cat, std::slice::from_ref(&a), &disk);
        issue_if_due(&cat, std::slice::from_ref(&a), &disk);
        assert_eq!(
            cat.key_checks().expect("rows").len(),
            1,
            "one open is enough"
        );
        let files: Vec<_> = std::fs::read_dir(disk.join(ROOT_DIR).join(DIR_NAME))
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.contains(&"README.txt".to_string()), "{files:?}");
        assert_eq!(files.iter().filter(|f| f.ends_with(".age")).count(), 1);
    }
}
