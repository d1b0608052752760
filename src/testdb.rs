//! The SIMDONDAR-like test database: SQL text, for the `mariadb` client, that creates and fills
//! the databases `pmi`, `sms` and `wagw` the way a real UTD PMI server holds them.
//!
//! This module owns the shape of that test data (tables, engines, character sets, routines,
//! trigger, view, event) and its content, which is a pure function of a [`TestDbSpec`]: the same
//! spec always gives the same bytes. It is used by the integration tests, the demo and the
//! benchmarks; it never talks to a server itself.
//!
//! What the data exercises, on purpose:
//! - `pmi` is `latin1` and mixes InnoDB (`pendonor`, `htransaksi`, `stokkantong`, `tmp_import`,
//!   which is empty) and MyISAM (`hasilelisa`, `user_log`); `sms` is `latin1`, `wagw` is
//!   `utf8mb4` and holds emoji.
//! - Names carry latin1 accented letters (é, ö, ñ, ü, ø, Þ …); the file is UTF-8 and starts with
//!   `SET NAMES utf8mb4`, so the server converts them into latin1 bytes (`é` is stored as `E9`).
//! - Free text holds single and double quotes, backslashes, `),(`, semicolons, newlines, CR,
//!   NUL, Ctrl-Z, `--`, `/* */` and `DELIMITER`, all escaped as MariaDB string literals.
//! - `pendonor.foto` is a BLOB of random bytes (written as `X'…'` hex literals) that always
//!   contains 0x00, 0x22, 0x27, 0x5C, 0x0A, 0x0D and 0x1A; photos are most of the bytes.
//! - A few `TglLhr` values are the legacy zero date `0000-00-00`; some are NULL.
//! - `DEFINER=root@localhost` routines (`sp_stok_golongan`, `fn_umur`), a trigger
//!   (`trg_htransaksi_ai`), a view (`v_donor_aktif`) and a disabled event (`ev_bersih_log`), all
//!   created after the data so that loading never fires the trigger.
//!
//! Size: `scale_mb` is roughly the MiB of table data; `scale_mb = 0` still gives a complete
//! database with a few hundred rows in every table (except `tmp_import`). Rows are written as
//! multi-row INSERTs of about 512 KiB each.

use std::fmt::Write as _;
use std::io::{self, Write};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestDbSpec {
    /// Approximate table data in MiB (most of it donor photos). 0 gives a small database.
    pub scale_mb: u64,
    /// Seed of every random choice; the same spec always gives the same SQL.
    pub seed: u64,
}

/// A donor name that always appears (donor 0, `pmi.pendonor.Nama`), whatever the spec. Tests
/// scan disks for it to prove that no clear text leaked. Its ASCII part `Wijayakusuma` appears in
/// no other generated name. Stored as latin1 in the database, it is UTF-8 in a dump taken with
/// `--default-character-set=utf8mb4`.
pub const KNOWN_DONOR_NAME: &str = "Sörensen Wijayakusuma";

/// Statements are closed once they reach this many bytes (plus at most one row).
const STMT_TARGET: usize = 512 * 1024;

/// Donors in every database, whatever the scale.
const BASE_DONORS: u64 = 300;

/// Average table bytes that one more donor brings (photo, donor row, donations, bags, screening
/// results and log lines), measured as InnoDB/MyISAM data length.
const BYTES_PER_DONOR: u64 = 5750;

/// Writes SQL (for the `mariadb` client) that creates and fills the databases.
///
/// The output drops and recreates `pmi`, `sms` and `wagw`. Load it with the `mariadb` client
/// (it uses `DELIMITER`); `--max-allowed-packet` above 2 MiB is enough.
pub fn write_sql<W: Write>(spec: &TestDbSpec, out: &mut W) -> io::Result<()> {
    let mut g = Gen {
        seed: spec.seed,
        donors: donor_count(spec),
        out,
        stmt: Vec::with_capacity(STMT_TARGET + 64 * 1024),
        photo: Vec::with_capacity(8 * 1024),
        text: String::with_capacity(256),
    };
    g.header(spec)?;
    g.pmi()?;
    g.sms()?;
    g.wagw()?;
    g.out.write_all(b"-- end of simdondar-testdb output\n")?;
    g.out.flush()
}

/// Number of donors (rows of `pmi.pendonor`) for a spec.
fn donor_count(spec: &TestDbSpec) -> u64 {
    BASE_DONORS.saturating_add(spec.scale_mb.saturating_mul(1024 * 1024) / BYTES_PER_DONOR)
}

// ---------------------------------------------------------------------------------------------
// Randomness: xorshift64*, seeded through splitmix64, one independent stream per row.

/// xorshift64* (Vigna): small, fast and good enough for test data.
struct Rng(u64);

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let s = splitmix64(seed);
        Rng(if s == 0 { 0x2545_F491_4F6C_DD1D } else { s })
    }

    /// The stream of one item (`stream` names the kind of item, `i`/`j` its index), so that
    /// every table can be generated in its own pass and still agree with the others.
    fn item(seed: u64, stream: u64, i: u64, j: u64) -> Rng {
        Rng::new(seed ^ splitmix64(stream ^ splitmix64(i ^ splitmix64(j.wrapping_add(0x51)))))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let n = rest.len();
        rest.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
    }
}

const S_DONOR_CORE: u64 = 1;
const S_DONOR: u64 = 2;
const S_DONATION: u64 = 3;
const S_LOG: u64 = 4;
const S_SMS_OUT: u64 = 5;
const S_SMS_IN: u64 = 6;
const S_WA_KONTAK: u64 = 7;
const S_WA_PESAN: u64 = 8;

// ---------------------------------------------------------------------------------------------
// Vocabulary. Everything here must be representable in latin1 except the wagw-only texts.

const FIRST_NAMES: &[&str] = &[
    "Agus",
    "Budi",
    "Siti",
    "Dewi",
    "Rina",
    "Joko",
    "Slamet",
    "Sri",
    "Wahyu",
    "Yohanes",
    "Putu",
    "Made",
    "Ketut",
    "Nyoman",
    "Ahmad",
    "Muhammad",
    "Nur",
    "Fitri",
    "Bambang",
    "Herlina",
    "Yusuf",
    "Intan",
    "Rudi",
    "Maria",
    "Fransiska",
    "Andréas",
    "José",
    "Zoë",
    "Renée",
    "Françoise",
    "Jürgen",
    "Björn",
    "Anaïs",
    "Hélène",
    "Søren",
    "Ægidius",
    "Théo",
    "Chloé",
    "Raphaël",
    "Noël",
    "Inês",
    "João",
    "Ólafur",
    "Þórunn",
    "Åsa",
    "Ñusta",
    "D'Arcy",
];

const LAST_NAMES: &[&str] = &[
    "Wijaya",
    "Santoso",
    "Saputra",
    "Lestari",
    "Hidayat",
    "Nugroho",
    "Kusuma",
    "Pratama",
    "Siregar",
    "Simanjuntak",
    "Nasution",
    "Harahap",
    "Sinaga",
    "Hutapea",
    "Setiawan",
    "Gunawan",
    "Halim",
    "Tanjung",
    "Lubis",
    "Pardede",
    "Manurung",
    "Panjaitan",
    "Sitompul",
    "Müller",
    "Núñez",
    "Gonçalves",
    "Ødegård",
    "Brontë",
    "D'Souza",
    "O'Connor",
    "Ibáñez",
    "Schröder",
    "Ångström",
    "Fernández",
    "Lefèvre",
    "Dupré",
];

const STREETS: &[&str] = &[
    "Merdeka",
    "Jend. Sudirman",
    "Diponegoro",
    "Gajah Mada",
    "Pemuda",
    "Ahmad Yani",
    "Cikini Raya",
    "Kebon Jeruk",
    "Pasir Kaliki",
    "Teuku Umar",
    "Imam Bonjol",
    "Gatot Subroto",
];

const CITIES: &[&str] = &[
    "Jakarta Pusat",
    "Bandung",
    "Medan",
    "Surabaya",
    "Makassar",
    "Denpasar",
    "Yogyakarta",
    "Padang",
    "Kupang",
    "Jayapura",
    "Pontianak",
    "Ternate",
];

const JOBS: &[&str] = &[
    "PNS",
    "Wiraswasta",
    "Mahasiswa",
    "TNI/Polri",
    "Karyawan swasta",
    "Petani",
    "Guru",
    "Ibu rumah tangga",
    "Pensiunan",
    "Dokter",
];

const STAFF: &[&str] = &[
    "admin",
    "dr. Ratna",
    "Sr. Yosefa",
    "Andi",
    "petugas_malam",
    "Ni Luh Putu",
    "Ch'ng",
    "Désirée",
];

/// Free text that breaks naive SQL handling. Index 0 is the plain case.
const TRICKY: &[&str] = &[
    "donor rutin",
    "pindah alamat; lihat catatan lama",
    "kata petugas: \"kantong bocor\"",
    "nama ayah O'Brien",
    "path C:\\SIMDONDAR\\foto\\",
    "nilai ),( tidak valid",
    "baris 1\nbaris 2\r\nbaris 3",
    "tab\tdi sini",
    "ada NUL\0di tengah",
    "'); DROP TABLE pendonor; --",
    "\\'; SELECT 1; -- ",
    "ctrl-Z \u{1a} di tengah",
    "kutip '' ganda \"\" miring \\\\ akhir\\",
    "café dan crème brûlée",
    "*/ komentar /* palsu",
    "DELIMITER ;;",
    "-- bukan komentar",
    "#tagar",
    "persen % dan garis _ bawah",
    "),('X','Y');\n",
    "",
];

/// WhatsApp gateway texts (utf8mb4: emoji and Javanese script allowed).
const WA_TEXTS: &[&str] = &[
    "Terima kasih sudah donor darah 🙏❤️",
    "Stok darah O+ menipis, mohon bantuannya 🩸",
    "Jadwal donor berikutnya: 3 bulan lagi 📅",
    "Sugeng rawuh ꦱꦸꦒꦼꦁꦫꦮꦸꦃ",
    "Balas 'YA' untuk konfirmasi; \"TIDAK\" untuk batal",
    "Lokasi: Jl. Kramat Raya No. 47 \\ gedung B",
    "ok 👍",
];

const GOLONGAN: &[&str] = &["A", "B", "AB", "O"];

// ---------------------------------------------------------------------------------------------
// Dates: days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's algorithms.

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_digits(buf: &mut Vec<u8>, v: i64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut n = v.unsigned_abs();
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(tmp.len().saturating_sub(width));
    if v < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[start..]);
}

fn push_date(buf: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_digits(buf, y, 4);
    buf.push(b'-');
    push_digits(buf, m, 2);
    buf.push(b'-');
    push_digits(buf, d, 2);
}

fn push_datetime(buf: &mut Vec<u8>, secs: i64) {
    push_date(buf, secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    buf.push(b' ');
    push_digits(buf, s / 3600, 2);
    buf.push(b':');
    push_digits(buf, s / 60 % 60, 2);
    buf.push(b':');
    push_digits(buf, s % 60, 2);
}

// ---------------------------------------------------------------------------------------------
// SQL literals.

/// Appends `s` escaped for the inside of a MariaDB string literal (quotes not included), valid
/// whatever quote character encloses it and with or without `ANSI_QUOTES`; it relies on
/// backslash escapes, so the session must not use `NO_BACKSLASH_ESCAPES` (the output sets
/// `sql_mode` itself).
fn push_escaped(buf: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            0 => b"\\0",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0x1a => b"\\Z",
            b'\'' => b"\\'",
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            _ => continue,
        };
        buf.extend_from_slice(&s[start..i]);
        buf.extend_from_slice(esc);
        start = i + 1;
    }
    buf.extend_from_slice(&s[start..]);
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex_literal(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.reserve(bytes.len() * 2 + 3);
    buf.extend_from_slice(b"X'");
    for &b in bytes {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 15)]);
    }
    buf.push(b'\'');
}

/// One row of a multi-row INSERT: values are appended in column order, commas added.
struct Row<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl Row<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn str(&mut self, s: &str) -> &mut Self {
        self.strs(&[s])
    }

    /// One string literal made of several pieces.
    fn strs(&mut self, parts: &[&str]) -> &mut Self {
        self.sep();
        self.buf.push(b'\'');
        for p in parts {
            push_escaped(self.buf, p.as_bytes());
        }
        self.buf.push(b'\'');
        self
    }

    fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        push_digits(self.buf, v, 1);
        self
    }

    /// A DECIMAL with one or more fraction digits: `dec(125, 1)` is `12.5`.
    fn dec(&mut self, v: i64, frac_digits: u32) -> &mut Self {
        self.sep();
        let p = 10_i64.pow(frac_digits);
        if v < 0 {
            self.buf.push(b'-');
        }
        push_digits(self.buf, (v / p).abs(), 1);
        self.buf.push(b'.');
        push_digits(self.buf, (v % p).abs(), frac_digits as usize);
        self
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"NULL");
        self
    }

    fn raw(&mut self, sql: &str) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(sql.as_bytes());
        self
    }

    fn date(&mut self, days: i64) -> &mut Self {
        self.sep();
        self.buf.push(b'\'');
        push_date(self.buf, days);
        self.buf.push(b'\'');
        self
    }

    fn datetime(&mut self, secs: i64) -> &mut Self {
        self.sep();
        self.buf.push(b'\'');
        push_datetime(self.buf, secs);
        self.buf.push(b'\'');
        self
    }

    fn hex(&mut self, bytes: &[u8]) -> &mut Self {
        self.sep();
        push_hex_literal(self.buf, bytes);
        self
    }
}

/// Multi-row INSERT statements into one table, each closed near [`STMT_TARGET`] bytes.
struct Insert<'a, W: Write> {
    out: &'a mut W,
    buf: &'a mut Vec<u8>,
    head: &'a str,
    rows: usize,
}

impl<'a, W: Write> Insert<'a, W> {
    fn new(out: &'a mut W, buf: &'a mut Vec<u8>, head: &'a str) -> Self {
        buf.clear();
        Insert {
            out,
            buf,
            head,
            rows: 0,
        }
    }

    fn row(&mut self, fill: impl FnOnce(&mut Row<'_>)) -> io::Result<()> {
        if self.rows == 0 {
            self.buf.extend_from_slice(self.head.as_bytes());
        } else {
            self.buf.push(b',');
        }
        self.buf.push(b'(');
        fill(&mut Row {
            buf: self.buf,
            first: true,
        });
        self.buf.push(b')');
        self.rows += 1;
        if self.buf.len() >= STMT_TARGET {
            self.flush_stmt()?;
        }
        Ok(())
    }

    fn flush_stmt(&mut self) -> io::Result<()> {
        if self.rows > 0 {
            self.buf.extend_from_slice(b";\n");
            self.out.write_all(self.buf)?;
            self.buf.clear();
            self.rows = 0;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush_stmt()
    }
}

// ---------------------------------------------------------------------------------------------
// The generator.

struct Gen<'w, W: Write> {
    seed: u64,
    donors: u64,
    out: &'w mut W,
    /// The statement being built (reused).
    stmt: Vec<u8>,
    /// The photo being built (reused).
    photo: Vec<u8>,
    /// Scratch text (reused).
    text: String,
}

/// What several tables need to know about a donor.
struct DonorCore {
    gol: &'static str,
    rhesus: &'static str,
    donations: u64,
}

fn donor_core(seed: u64, i: u64) -> DonorCore {
    let mut r = Rng::item(seed, S_DONOR_CORE, i, 0);
    DonorCore {
        gol: r.pick(GOLONGAN),
        rhesus: if r.chance(20) { "-" } else { "+" },
        donations: r.below(6),
    }
}

fn donor_code(buf: &mut String, i: u64) {
    buf.clear();
    let _ = write!(buf, "3273-{:08}", i + 1);
}

/// One donation: its bag and its screening result share these values.
struct Donation {
    tgl: i64,
    volume: i64,
    jenis: &'static str,
    produk: &'static str,
    status: &'static str,
    reactive: [bool; 4],
    petugas: &'static str,
}

/// 2015-01-01 00:00:00 and 2026-12-31 23:59:59, seconds since the epoch.
fn donation_span() -> (i64, i64) {
    (
        days_from_civil(2015, 1, 1) * 86_400,
        days_from_civil(2027, 1, 1) * 86_400 - 1,
    )
}

fn donation(seed: u64, i: u64, j: u64) -> Donation {
    let mut r = Rng::item(seed, S_DONATION, i, j);
    let (lo, hi) = donation_span();
    let reactive = [r.chance(3), r.chance(8), r.chance(5), r.chance(6)];
    let tgl = r.range(lo, hi);
    let volume = *[250_i64, 350, 450].get(r.below(3) as usize).unwrap_or(&350);
    let jenis = if r.chance(850) { "DS" } else { "DP" };
    let produk = r.pick(&["WB", "PRC", "PRC", "TC", "FFP", "LP"]);
    let status = if reactive.iter().any(|&x| x) {
        "R"
    } else {
        r.pick(&["S", "S", "K", "K", "K", "E"])
    };
    Donation {
        tgl,
        volume,
        jenis,
        produk,
        status,
        reactive,
        petugas: r.pick(STAFF),
    }
}

fn no_trans(buf: &mut String, seq: u64) {
    buf.clear();
    let _ = write!(buf, "DT{seq:09}");
}

fn no_kantong(buf: &mut String, tgl: i64, seq: u64) {
    let (y, _, _) = civil_from_days(tgl.div_euclid(86_400));
    buf.clear();
    let _ = write!(buf, "K{:02}{seq:08}", y % 100);
}

impl<W: Write> Gen<'_, W> {
    fn w(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())
    }

    fn header(&mut self, spec: &TestDbSpec) -> io::Result<()> {
        self.text.clear();
        let _ = write!(
            self.text,
            "-- SIMDONDAR-like test database, generated by simdondar-testdb\n\
             -- scale_mb={} seed={} donors={}\n\
             -- Load with the mariadb client (uses DELIMITER). Text is UTF-8; pmi and sms store latin1.\n",
            spec.scale_mb, spec.seed, self.donors
        );
        let header = std::mem::take(&mut self.text);
        self.w(&header)?;
        self.text = header;
        self.w("SET NAMES utf8mb4;\n\
             SET time_zone = '+00:00';\n\
             SET sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';\n\
             SET foreign_key_checks = 0;\n\
             SET unique_checks = 0;\n\
             SET autocommit = 1;\n\n")
    }

    fn pmi(&mut self) -> io::Result<()> {
        self.w(PMI_DDL)?;
        self.pendonor()?;
        self.htransaksi()?;
        self.stokkantong()?;
        self.hasilelisa()?;
        self.user_log()?;
        self.w(PMI_CODE)
    }

    fn pendonor(&mut self) -> io::Result<()> {
        let (seed, donors) = (self.seed, self.donors);
        let mut code = String::with_capacity(16);
        let mut phone = String::with_capacity(24);
        let mut addr_no = String::with_capacity(32);
        let photo = &mut self.photo;
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `pendonor` (`Kode`,`Nama`,`Alamat`,`TglLhr`,`JenisKelamin`,`GolDarah`,\
             `Rhesus`,`Telp`,`Pekerjaan`,`Catatan`,`JumlahDonor`,`foto`,`TglDaftar`) VALUES ",
        );
        let birth_lo = days_from_civil(1950, 1, 1);
        let birth_hi = days_from_civil(2007, 12, 31);
        let (reg_lo, reg_hi) = donation_span();
        for i in 0..donors {
            let core = donor_core(seed, i);
            let mut r = Rng::item(seed, S_DONOR, i, 0);
            donor_code(&mut code, i);
            let first = r.pick(FIRST_NAMES);
            let last = r.pick(LAST_NAMES);
            let street = r.pick(STREETS);
            let city = r.pick(CITIES);
            addr_no.clear();
            let _ = write!(
                addr_no,
                " No. {}, RT {:02}/RW {:02}, ",
                r.range(1, 250),
                r.range(1, 20),
                r.range(1, 15)
            );
            let addr_tail = if r.chance(100) { r.pick(TRICKY) } else { "" };
            let birth = r.range(birth_lo, birth_hi);
            let birth_kind = r.below(100);
            let male = r.chance(550);
            phone.clear();
            let _ = write!(
                phone,
                "{}{:03}-{:04}-{:04}",
                if r.chance(200) { "+62 8" } else { "08" },
                r.range(11, 899),
                r.range(0, 9999),
                r.range(0, 9999)
            );
            let job = r.pick(JOBS);
            let note = if r.chance(300) { r.pick(TRICKY) } else { "" };
            let has_photo = !r.chance(100);
            if has_photo {
                let len = r.range(1536, 6656) as usize;
                photo.resize(len, 0);
                r.fill(photo);
                // A JPEG-like start that always holds the bytes dumps must escape.
                photo[..12].copy_from_slice(&[
                    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x27, 0x5C, 0x22, 0x0A, 0x0D, 0x1A, 0x00,
                ]);
            }
            let registered = r.range(reg_lo, reg_hi);
            ins.row(|row| {
                row.str(&code);
                if i == 0 {
                    row.str(KNOWN_DONOR_NAME);
                } else {
                    row.strs(&[first, " ", last]);
                }
                row.strs(&["Jl. ", street, &addr_no, city, addr_tail]);
                match birth_kind {
                    // Legacy rows: the zero date (always on donor 2) and unknown dates.
                    _ if i == 2 => row.raw("'0000-00-00'"),
                    0 => row.raw("'0000-00-00'"),
                    1 | 2 => row.null(),
                    _ => row.date(birth),
                };
                row.str(if male { "L" } else { "P" })
                    .str(core.gol)
                    .str(core.rhesus)
                    .str(&phone)
                    .str(job);
                if note.is_empty() {
                    row.null();
                } else {
                    row.str(note);
                }
                row.int(core.donations as i64);
                if has_photo {
                    row.hex(photo);
                } else {
                    row.null();
                }
                row.datetime(registered);
            })?;
        }
        ins.finish()
    }

    /// Calls `each(donor, donation_index, seq)` for every donation, in a fixed order.
    fn for_each_donation(
        seed: u64,
        donors: u64,
        mut each: impl FnMut(u64, u64, u64) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut seq = 0;
        for i in 0..donors {
            for j in 0..donor_core(seed, i).donations {
                seq += 1;
                each(i, j, seq)?;
            }
        }
        Ok(())
    }

    fn htransaksi(&mut self) -> io::Result<()> {
        let (seed, donors) = (self.seed, self.donors);
        let (mut code, mut nt, mut nk, mut td) =
            (String::new(), String::new(), String::new(), String::new());
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `htransaksi` (`NoTrans`,`Tgl`,`KodePendonor`,`JenisDonor`,`NoKantong`,\
             `Volume`,`Hb`,`TekananDarah`,`BeratBadan`,`Petugas`,`Status`,`Keterangan`) VALUES ",
        );
        Self::for_each_donation(seed, donors, |i, j, seq| {
            let d = donation(seed, i, j);
            let mut r = Rng::item(seed, S_DONATION ^ 0x100, i, j);
            donor_code(&mut code, i);
            no_trans(&mut nt, seq);
            no_kantong(&mut nk, d.tgl, seq);
            td.clear();
            let _ = write!(td, "{}/{}", r.range(100, 150), r.range(60, 95));
            let hb = r.range(125, 175);
            let bb = r.range(450, 1100);
            let note = if r.chance(150) { r.pick(TRICKY) } else { "" };
            ins.row(|row| {
                row.str(&nt)
                    .datetime(d.tgl)
                    .str(&code)
                    .str(d.jenis)
                    .str(&nk)
                    .int(d.volume)
                    .dec(hb, 1)
                    .str(&td)
                    .dec(bb, 1)
                    .str(d.petugas)
                    .int(i64::from(d.status != "R"));
                if note.is_empty() {
                    row.null();
                } else {
                    row.str(note);
                }
            })
        })?;
        ins.finish()
    }

    fn stokkantong(&mut self) -> io::Result<()> {
        let (seed, donors) = (self.seed, self.donors);
        let (mut nt, mut nk) = (String::new(), String::new());
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `stokkantong` (`NoKantong`,`NoTrans`,`GolDarah`,`Rhesus`,`Produk`,\
             `Volume`,`TglAmbil`,`TglKadaluwarsa`,`Status`,`Lokasi`) VALUES ",
        );
        Self::for_each_donation(seed, donors, |i, j, seq| {
            let core = donor_core(seed, i);
            let d = donation(seed, i, j);
            no_trans(&mut nt, seq);
            no_kantong(&mut nk, d.tgl, seq);
            let shelf_days = match d.produk {
                "TC" => 5,
                "FFP" => 365,
                _ => 35,
            };
            ins.row(|row| {
                row.str(&nk)
                    .str(&nt)
                    .str(core.gol)
                    .str(core.rhesus)
                    .str(d.produk)
                    .int(d.volume)
                    .datetime(d.tgl)
                    .date(d.tgl.div_euclid(86_400) + shelf_days)
                    .str(d.status)
                    .str(match seq % 4 {
                        0 => "Kulkas 1",
                        1 => "Kulkas 2 (rak \"B\")",
                        2 => "Freezer -30°C",
                        _ => "Gudang",
                    });
            })
        })?;
        ins.finish()
    }

    fn hasilelisa(&mut self) -> io::Result<()> {
        let (seed, donors) = (self.seed, self.donors);
        let mut nk = String::new();
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `hasilelisa` (`id`,`NoKantong`,`TglPeriksa`,`HIV`,`HBsAg`,`HCV`,\
             `Sifilis`,`OD_HIV`,`Metode`,`Petugas`,`Catatan`) VALUES ",
        );
        Self::for_each_donation(seed, donors, |i, j, seq| {
            let d = donation(seed, i, j);
            let mut r = Rng::item(seed, S_DONATION ^ 0x200, i, j);
            no_kantong(&mut nk, d.tgl, seq);
            let checked = d.tgl + r.range(3_600, 2 * 86_400);
            let od = if d.reactive[0] {
                r.range(1200, 3999)
            } else {
                r.range(10, 180)
            };
            let note = if d.reactive.iter().any(|&x| x) {
                "reaktif; rujuk ke UDD pusat \"konfirmasi\""
            } else if r.chance(50) {
                r.pick(TRICKY)
            } else {
                ""
            };
            ins.row(|row| {
                row.int(seq as i64).str(&nk).datetime(checked);
                for x in d.reactive {
                    row.int(i64::from(x));
                }
                row.dec(od, 3)
                    .str(if r.chance(700) { "ELISA" } else { "ChLIA" })
                    .str(d.petugas);
                if note.is_empty() {
                    row.null();
                } else {
                    row.str(note);
                }
            })
        })?;
        ins.finish()
    }

    fn user_log(&mut self) -> io::Result<()> {
        let (seed, donors) = (self.seed, self.donors);
        let rows = 200 + donors / 2;
        let (lo, hi) = donation_span();
        let (mut code, mut text, mut ip) = (String::new(), String::new(), String::new());
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `user_log` (`id`,`waktu`,`user`,`modul`,`aksi`,`ip`) VALUES ",
        );
        for k in 0..rows {
            let mut r = Rng::item(seed, S_LOG, k, 0);
            let user = r.pick(STAFF);
            let donor = r.below(donors);
            donor_code(&mut code, donor);
            let first = r.pick(FIRST_NAMES);
            let last = r.pick(LAST_NAMES);
            text.clear();
            let modul = match r.below(6) {
                0 => {
                    let _ = write!(text, "login berhasil; user='{user}'");
                    "login"
                }
                1 => {
                    let _ = write!(
                        text,
                        "UPDATE pendonor SET Nama='{first} {last}' WHERE Kode='{code}';"
                    );
                    "pendonor"
                }
                2 => {
                    let _ = write!(
                        text,
                        "cetak kartu donor {code} ke \\\\srv-pmi\\epson; status \"OK\""
                    );
                    "cetak"
                }
                3 => {
                    let _ = write!(
                        text,
                        "login gagal untuk \"{user}\"\npercobaan ke-{}",
                        r.range(1, 5)
                    );
                    "login"
                }
                4 => {
                    let _ = write!(text, "ubah stok {}),({};", r.pick(GOLONGAN), r.range(1, 99));
                    "stok"
                }
                _ => {
                    text.push_str(r.pick(TRICKY));
                    "lain-lain"
                }
            };
            ip.clear();
            let _ = write!(
                ip,
                "10.{}.{}.{}",
                r.range(0, 3),
                r.range(0, 255),
                r.range(1, 254)
            );
            let when = r.range(lo, hi);
            let no_ip = r.chance(100);
            ins.row(|row| {
                row.int(k as i64 + 1)
                    .datetime(when)
                    .str(user)
                    .str(modul)
                    .str(&text);
                if no_ip {
                    row.null();
                } else {
                    row.str(&ip);
                }
            })?;
        }
        ins.finish()
    }

    fn sms(&mut self) -> io::Result<()> {
        self.w(SMS_DDL)?;
        let seed = self.seed;
        let donors = self.donors;
        let (lo, hi) = donation_span();
        let (mut code, mut text, mut phone) = (String::new(), String::new(), String::new());
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `outbox` (`ID`,`DestinationNumber`,`TextDecoded`,`SendingDateTime`,\
             `CreatorID`,`Status`) VALUES ",
        );
        for k in 0..320 {
            let mut r = Rng::item(seed, S_SMS_OUT, k, 0);
            donor_code(&mut code, r.below(donors));
            let name = if k == 0 {
                KNOWN_DONOR_NAME
            } else {
                r.pick(FIRST_NAMES)
            };
            let when = r.range(lo, hi);
            text.clear();
            let _ = write!(
                text,
                "Yth. {name} ({code}), terima kasih telah mendonorkan darah. \"Setetes darah Anda, \
                 nyawa bagi sesama\"; info: 0274-555'01"
            );
            phone.clear();
            let _ = write!(phone, "08{:010}", r.below(10_000_000_000));
            let status = r.pick(&["SendingOK", "SendingError", "Reserved"]);
            ins.row(|row| {
                row.int(k as i64 + 1)
                    .str(&phone)
                    .str(&text)
                    .datetime(when)
                    .str("simdondar")
                    .str(status);
            })?;
        }
        ins.finish()?;
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `inbox` (`ID`,`SenderNumber`,`TextDecoded`,`ReceivingDateTime`,\
             `Processed`) VALUES ",
        );
        for k in 0..280 {
            let mut r = Rng::item(seed, S_SMS_IN, k, 0);
            phone.clear();
            let _ = write!(phone, "+628{:010}", r.below(10_000_000_000));
            let when = r.range(lo, hi);
            let body = r.pick(TRICKY);
            let processed = r.chance(800);
            ins.row(|row| {
                row.int(k as i64 + 1)
                    .str(&phone)
                    .strs(&["DONOR ", body])
                    .datetime(when)
                    .str(if processed { "true" } else { "false" });
            })?;
        }
        ins.finish()?;
        self.w("\n")
    }

    fn wagw(&mut self) -> io::Result<()> {
        self.w(WAGW_DDL)?;
        let seed = self.seed;
        let (lo, hi) = donation_span();
        let mut phone = String::new();
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `kontak` (`nomor`,`nama`,`dibuat`) VALUES ",
        );
        for k in 0..150_u64 {
            let mut r = Rng::item(seed, S_WA_KONTAK, k, 0);
            phone.clear();
            let _ = write!(phone, "62{:011}", k * 7_919 + 81_200_000_000);
            let first = r.pick(FIRST_NAMES);
            let last = r.pick(LAST_NAMES);
            let emoji = if r.chance(300) { " 🩸" } else { "" };
            let when = r.range(lo, hi);
            ins.row(|row| {
                row.str(&phone)
                    .strs(&[first, " ", last, emoji])
                    .datetime(when);
            })?;
        }
        ins.finish()?;
        let mut ins = Insert::new(
            self.out,
            &mut self.stmt,
            "INSERT INTO `pesan` (`id`,`nomor`,`arah`,`isi`,`waktu`,`status`) VALUES ",
        );
        for k in 0..400_u64 {
            let mut r = Rng::item(seed, S_WA_PESAN, k, 0);
            phone.clear();
            let _ = write!(phone, "62{:011}", r.below(150) * 7_919 + 81_200_000_000);
            let incoming = r.chance(400);
            let text = if r.chance(250) {
                r.pick(TRICKY)
            } else {
                r.pick(WA_TEXTS)
            };
            let when = r.range(lo, hi);
            let millis = r.range(0, 999);
            let status = r.range(0, 3);
            ins.row(|row| {
                row.int(k as i64 + 1)
                    .str(&phone)
                    .str(if incoming { "masuk" } else { "keluar" })
                    .str(text);
                row.sep();
                row.buf.push(b'\'');
                push_datetime(row.buf, when);
                row.buf.push(b'.');
                push_digits(row.buf, millis, 3);
                row.buf.push(b'\'');
                row.int(status);
            })?;
        }
        ins.finish()?;
        self.w("\n")
    }
}

const PMI_DDL: &str = r#"-- ---------------------------------------------------------------- pmi
DROP DATABASE IF EXISTS `pmi`;
CREATE DATABASE `pmi` CHARACTER SET latin1 COLLATE latin1_swedish_ci;
USE `pmi`;

CREATE TABLE `pendonor` (
  `Kode` varchar(20) NOT NULL,
  `Nama` varchar(100) NOT NULL,
  `Alamat` varchar(255) DEFAULT NULL,
  `TglLhr` date DEFAULT NULL,
  `JenisKelamin` enum('L','P') NOT NULL DEFAULT 'L',
  `GolDarah` varchar(2) NOT NULL,
  `Rhesus` enum('+','-') NOT NULL DEFAULT '+',
  `Telp` varchar(20) DEFAULT NULL,
  `Pekerjaan` varchar(50) DEFAULT NULL,
  `Catatan` text DEFAULT NULL,
  `JumlahDonor` int(10) unsigned NOT NULL DEFAULT 0,
  `foto` blob DEFAULT NULL,
  `TglDaftar` datetime NOT NULL,
  PRIMARY KEY (`Kode`),
  KEY `idx_nama` (`Nama`),
  KEY `idx_gol` (`GolDarah`,`Rhesus`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COMMENT='data pendonor (termasuk foto)';

CREATE TABLE `htransaksi` (
  `NoTrans` varchar(20) NOT NULL,
  `Tgl` datetime NOT NULL,
  `KodePendonor` varchar(20) NOT NULL,
  `JenisDonor` enum('DS','DP') NOT NULL DEFAULT 'DS' COMMENT 'DS sukarela, DP pengganti',
  `NoKantong` varchar(20) DEFAULT NULL,
  `Volume` smallint(6) NOT NULL DEFAULT 350,
  `Hb` decimal(4,1) DEFAULT NULL,
  `TekananDarah` varchar(10) DEFAULT NULL,
  `BeratBadan` decimal(5,1) DEFAULT NULL,
  `Petugas` varchar(30) DEFAULT NULL,
  `Status` tinyint(1) NOT NULL DEFAULT 1,
  `Keterangan` text DEFAULT NULL,
  PRIMARY KEY (`NoTrans`),
  KEY `idx_tgl` (`Tgl`),
  KEY `idx_pendonor` (`KodePendonor`),
  KEY `idx_kantong` (`NoKantong`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE `stokkantong` (
  `NoKantong` varchar(20) NOT NULL,
  `NoTrans` varchar(20) DEFAULT NULL,
  `GolDarah` varchar(2) NOT NULL,
  `Rhesus` enum('+','-') NOT NULL DEFAULT '+',
  `Produk` enum('WB','PRC','TC','FFP','LP') NOT NULL DEFAULT 'WB',
  `Volume` smallint(6) NOT NULL,
  `TglAmbil` datetime NOT NULL,
  `TglKadaluwarsa` date NOT NULL,
  `Status` char(1) NOT NULL DEFAULT 'S' COMMENT 'S siap, K keluar, R reaktif, E kedaluwarsa',
  `Lokasi` varchar(30) DEFAULT NULL,
  PRIMARY KEY (`NoKantong`),
  KEY `idx_stok` (`GolDarah`,`Rhesus`,`Produk`,`Status`),
  KEY `idx_trans` (`NoTrans`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE `hasilelisa` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `NoKantong` varchar(20) NOT NULL,
  `TglPeriksa` datetime NOT NULL,
  `HIV` tinyint(1) NOT NULL DEFAULT 0,
  `HBsAg` tinyint(1) NOT NULL DEFAULT 0,
  `HCV` tinyint(1) NOT NULL DEFAULT 0,
  `Sifilis` tinyint(1) NOT NULL DEFAULT 0,
  `OD_HIV` decimal(6,3) DEFAULT NULL,
  `Metode` varchar(20) NOT NULL DEFAULT 'ELISA',
  `Petugas` varchar(30) DEFAULT NULL,
  `Catatan` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_kantong` (`NoKantong`)
) ENGINE=MyISAM DEFAULT CHARSET=latin1 COMMENT='hasil uji saring IMLTD';

CREATE TABLE `user_log` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `waktu` datetime NOT NULL,
  `user` varchar(30) NOT NULL,
  `modul` varchar(30) DEFAULT NULL,
  `aksi` text DEFAULT NULL,
  `ip` varchar(45) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_waktu` (`waktu`)
) ENGINE=MyISAM DEFAULT CHARSET=latin1;

CREATE TABLE `tmp_import` (
  `baris` int(11) NOT NULL,
  `isi` text DEFAULT NULL,
  PRIMARY KEY (`baris`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

"#;

/// Routines, trigger, view and event of `pmi`, created after the data.
const PMI_CODE: &str = r#"
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `sp_stok_golongan`(IN p_gol VARCHAR(2))
    READS SQL DATA
    COMMENT 'stok kantong siap per golongan; NULL = semua'
BEGIN
  -- a comment with a ; semicolon and 'quotes'
  DECLARE v_hari DATE DEFAULT '2026-12-31';
  SELECT `GolDarah`, `Rhesus`, `Produk`, COUNT(*) AS `jumlah`
    FROM `stokkantong`
   WHERE `Status` = 'S'
     AND `TglKadaluwarsa` >= v_hari - INTERVAL 400 DAY
     AND (p_gol IS NULL OR `GolDarah` = p_gol)
   GROUP BY `GolDarah`, `Rhesus`, `Produk`
   ORDER BY `GolDarah`, `Rhesus`, `Produk`;
END ;;
CREATE DEFINER=`root`@`localhost` FUNCTION `fn_umur`(p_tgl DATE, p_pada DATE) RETURNS int(11)
    DETERMINISTIC
    NO SQL
BEGIN
  IF p_tgl IS NULL OR p_tgl = '0000-00-00' THEN
    RETURN NULL;
  END IF;
  RETURN TIMESTAMPDIFF(YEAR, p_tgl, p_pada);
END ;;
CREATE DEFINER=`root`@`localhost` TRIGGER `trg_htransaksi_ai` AFTER INSERT ON `htransaksi`
FOR EACH ROW
BEGIN
  UPDATE `pendonor` SET `JumlahDonor` = `JumlahDonor` + 1 WHERE `Kode` = NEW.`KodePendonor`;
  INSERT INTO `user_log` (`waktu`, `user`, `modul`, `aksi`, `ip`)
  VALUES (NEW.`Tgl`, COALESCE(NEW.`Petugas`, 'sistem'), 'transaksi',
          CONCAT('donor baru; kantong "', COALESCE(NEW.`NoKantong`, '-'), '"'), NULL);
END ;;
CREATE DEFINER=`root`@`localhost` EVENT `ev_bersih_log`
    ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 02:00:00'
    ON COMPLETION PRESERVE DISABLE
    COMMENT 'hapus log lama (nonaktif)'
DO DELETE FROM `user_log` WHERE `waktu` < '2015-01-01 00:00:00' ;;
DELIMITER ;

CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v_donor_aktif` AS
SELECT p.`Kode`, p.`Nama`, p.`GolDarah`, p.`Rhesus`,
       MAX(h.`Tgl`) AS `TerakhirDonor`, COUNT(*) AS `JumlahTransaksi`
  FROM `pendonor` p JOIN `htransaksi` h ON h.`KodePendonor` = p.`Kode`
 WHERE h.`Status` = 1
 GROUP BY p.`Kode`, p.`Nama`, p.`GolDarah`, p.`Rhesus`
HAVING MAX(h.`Tgl`) >= '2025-01-01';

"#;

const SMS_DDL: &str = r#"-- ---------------------------------------------------------------- sms
DROP DATABASE IF EXISTS `sms`;
CREATE DATABASE `sms` CHARACTER SET latin1 COLLATE latin1_swedish_ci;
USE `sms`;

CREATE TABLE `outbox` (
  `ID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `DestinationNumber` varchar(20) NOT NULL DEFAULT '',
  `TextDecoded` text NOT NULL,
  `SendingDateTime` datetime NOT NULL,
  `CreatorID` varchar(50) NOT NULL DEFAULT '',
  `Status` enum('SendingOK','SendingError','Reserved') NOT NULL DEFAULT 'Reserved',
  PRIMARY KEY (`ID`),
  KEY `outbox_date` (`SendingDateTime`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

CREATE TABLE `inbox` (
  `ID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `SenderNumber` varchar(20) NOT NULL DEFAULT '',
  `TextDecoded` text NOT NULL,
  `ReceivingDateTime` datetime NOT NULL,
  `Processed` enum('false','true') NOT NULL DEFAULT 'false',
  PRIMARY KEY (`ID`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;

"#;

const WAGW_DDL: &str = r#"-- ---------------------------------------------------------------- wagw
DROP DATABASE IF EXISTS `wagw`;
CREATE DATABASE `wagw` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
USE `wagw`;

CREATE TABLE `kontak` (
  `nomor` varchar(20) NOT NULL,
  `nama` varchar(100) NOT NULL,
  `dibuat` timestamp NOT NULL DEFAULT current_timestamp(),
  PRIMARY KEY (`nomor`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE `pesan` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `nomor` varchar(20) NOT NULL,
  `arah` enum('masuk','keluar') NOT NULL,
  `isi` text NOT NULL,
  `waktu` datetime(3) NOT NULL,
  `status` tinyint(4) NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `idx_nomor_waktu` (`nomor`,`waktu`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(scale_mb: u64, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_sql(&TestDbSpec { scale_mb, seed }, &mut out).expect("writing to a Vec");
        out
    }

    /// Reads one MariaDB single-quoted string literal (backslash escapes, `''`) from the start
    /// of `s`; returns its value and the rest.
    fn parse_literal(s: &[u8]) -> (Vec<u8>, &[u8]) {
        assert_eq!(s.first(), Some(&b'\''), "a literal starts with a quote");
        let mut v = Vec::new();
        let mut i = 1;
        loop {
            match s[i] {
                b'\\' => {
                    v.push(match s[i + 1] {
                        b'0' => 0,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'Z' => 0x1a,
                        c => c,
                    });
                    i += 2;
                }
                b'\'' if s.get(i + 1) == Some(&b'\'') => {
                    v.push(b'\'');
                    i += 2;
                }
                b'\'' => return (v, &s[i + 1..]),
                c => {
                    v.push(c);
                    i += 1;
                }
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(1, 42);
        let b = generate(1, 42);
        assert!(a == b, "same spec must give the same bytes");
        let c = generate(1, 43);
        assert!(a != c, "another seed must give other data");
    }

    #[test]
    fn escaper_round_trips_every_tricky_text() {
        let mut all: Vec<&str> = TRICKY.to_vec();
        all.extend_from_slice(WA_TEXTS);
        all.push(KNOWN_DONOR_NAME);
        all.push("\\'\\\\''\"\0\n\r\u{1a}),(;");
        for s in all {
            let mut buf = vec![b'\''];
            push_escaped(&mut buf, s.as_bytes());
            buf.extend_from_slice(b"'),(");
            let (value, rest) = parse_literal(&buf);
            assert_eq!(value, s.as_bytes(), "round trip of {s:?}");
            assert_eq!(rest, b"),(", "the literal of {s:?} ends where it should");
            // No raw byte that the mariadb client or a line-based reader could trip on.
            let inner = &buf[1..buf.len() - 4];
            assert!(
                !inner.iter().any(|&b| matches!(b, 0 | b'\n' | b'\r' | 0x1a)),
                "raw control byte left in {s:?}"
            );
        }
    }

    #[test]
    fn output_is_utf8_and_holds_what_tests_rely_on() {
        let sql = generate(0, 7);
        let text = std::str::from_utf8(&sql).expect("the SQL file is UTF-8");
        assert!(text.starts_with("-- "));
        assert!(text.contains("\nSET NAMES utf8mb4;\n"));
        for needle in [
            "CREATE DATABASE `pmi` CHARACTER SET latin1",
            "CREATE DATABASE `sms`",
            "CREATE DATABASE `wagw`",
            "ENGINE=MyISAM",
            "DEFINER=`root`@`localhost` PROCEDURE `sp_stok_golongan`",
            "TRIGGER `trg_htransaksi_ai`",
            "VIEW `v_donor_aktif`",
            "DELIMITER ;;",
            KNOWN_DONOR_NAME,
            "Müller",
            "\\'",
            "\\\"",
            "\\\\",
            "),(",
            "\\n",
            "X'FFD8FFE000275C220A0D1A00",
            "'0000-00-00'",
            "🙏",
        ] {
            assert!(text.contains(needle), "output lacks {needle:?}");
        }
        // The ASCII part of the known name appears in no other name.
        assert_eq!(text.matches("Wijayakusuma").count(), 2, "pendonor and sms");
        // Every value outside wagw fits latin1.
        let wagw =
            text.find("-- ---------------------------------------------------------------- wagw");
        let wagw = wagw.expect("wagw section");
        assert!(text[..wagw].chars().all(|c| u32::from(c) < 256));
    }

    #[test]
    fn statements_stay_within_bounds() {
        let sql = generate(3, 1);
        let text = std::str::from_utf8(&sql).expect("UTF-8");
        let mut big = 0;
        for line in text.lines().filter(|l| l.starts_with("INSERT INTO")) {
            assert!(line.len() < STMT_TARGET + 64 * 1024, "statement too long");
            assert!(line.ends_with(");"));
            if line.len() >= STMT_TARGET {
                big += 1;
            }
        }
        assert!(big >= 3, "3 MiB of data gives several full statements");
    }

    #[test]
    fn scale_grows_output() {
        let small = generate(0, 5).len();
        let large = generate(8, 5).len();
        // Photos are about 2/3 of the data and hex in the SQL: 8 MiB more data is about 11 MiB
        // more text.
        assert!(small < 4 * 1024 * 1024, "scale 0 is small: {small}");
        assert!(
            large > small + 8 * 1024 * 1024,
            "scale 8 adds data: {small} -> {large}"
        );
        assert!(
            donor_count(&TestDbSpec {
                scale_mb: 0,
                seed: 0
            }) >= 300
        );
    }

    #[test]
    fn dates_round_trip() {
        for days in [-1, 0, 1, 10_957, 16_436, 20_819, 24_106] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let mut buf = Vec::new();
        push_datetime(&mut buf, days_from_civil(2026, 2, 28) * 86_400 + 3_661);
        assert_eq!(buf, b"2026-02-28 01:01:01");
        let mut buf = Vec::new();
        push_digits(&mut buf, -42, 1);
        assert_eq!(buf, b"-42");
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(0);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[r.below(4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
        let mut buf = [0u8; 13];
        r.fill(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
    }
}
