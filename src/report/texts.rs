/*!
Every text of the reports, the disk index and the handover receipt, in Bahasa Indonesia (the
default) and English, in one place.

Written for the people who print, read and sign these pages at a UTD PMI: the Administrator, IT
Support, the head of the unit and an auditor checking the SOP (UTDP-SIM-L2-003). Plain words,
the terms they already use ("backup", "disk", "database", "restore"), dates as `dd-mm-yyyy`.
Templates name their blanks (`{date}`) and are filled by [`fill`]; a blank without a value stays
visible, so a missing argument shows up in review instead of vanishing.
*/

use crate::config::Language;

/// The SOP this appliance implements.
pub const SOP_CODE: &str = "UTDP-SIM-L2-003";

/// The fixed texts of one language.
#[derive(Debug)]
pub struct Texts {
    /// The line above every title.
    pub org: &'static str,
    /// A disk without a readable label: `{id}` is its file-system UUID.
    pub disk_unnamed: &'static str,
    /// `lang` attribute of the HTML pages.
    pub html_lang: &'static str,
    /// Printed page numbers: "Halaman 1 dari 2".
    pub page_word: &'static str,
    pub page_of: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    /// Abbreviated weekday names, Sunday first.
    pub weekdays: [&'static str; 7],
    /// Full weekday names, Sunday first.
    pub weekdays_long: [&'static str; 7],
    /// The SOP's name with its code.
    pub sop: &'static str,
    /// Footer: `{tool}`, `{host}`.
    pub generated_by: &'static str,
    /// `{anchor}`: the newest audit entry when the page was written (`#id · hash`).
    pub audit_anchor: &'static str,
    pub unknown_host: &'static str,
    /// Signature blocks.
    pub sig_name: &'static str,
    pub sig_position: &'static str,
    pub sig_signature: &'static str,
    pub sig_date: &'static str,
    /// Disk roles.
    pub role_auto: &'static str,
    pub role_manual: &'static str,
    /// What started a backup.
    pub trigger_schedule: &'static str,
    pub trigger_button: &'static str,
    pub trigger_cli: &'static str,
    /// A span of time: `{d}` days, `{h}` hours.
    pub span_days_hours: &'static str,
    pub span_days: &'static str,
    pub span_hours: &'static str,
    /// A limit in days: `{d}`.
    pub limit_days: &'static str,

    // ---- the SOP report ----
    pub report_title: &'static str,
    /// `{sop}`
    pub report_subtitle: &'static str,
    pub unit: &'static str,
    pub period: &'static str,
    /// `{from}`, `{to}`, `{n}`
    pub period_value: &'static str,
    pub generated: &'static str,
    pub timezone: &'static str,
    pub records_since: &'static str,
    pub records_none: &'static str,
    /// `{limit}`
    pub summary_ok: &'static str,
    /// `{n}`
    pub summary_gaps: &'static str,
    /// Totals line under the summary: `{auto}`, `{manual}`, `{copies}`, `{verify}`, `{restore}`.
    pub summary_totals: &'static str,
    pub col_date: &'static str,
    pub col_auto: &'static str,
    pub col_manual: &'static str,
    pub col_other: &'static str,
    pub col_copies: &'static str,
    pub col_verify: &'static str,
    pub col_restore: &'static str,
    pub col_notes: &'static str,
    pub sub_ok_failed: &'static str,
    pub sub_pass_fail: &'static str,
    pub totals: &'static str,
    /// `{n}`: the totals row's last cell.
    pub gaps_count: &'static str,
    pub day_today: &'static str,
    pub day_future: &'static str,
    pub note_no_verified: &'static str,
    /// `{sources}`
    pub note_source_unverified: &'static str,
    /// `{last}`
    pub note_manual_overdue: &'static str,
    /// `{start}`
    pub note_manual_never: &'static str,
    pub legend: &'static str,
    pub gaps_title: &'static str,
    /// `{limit}`
    pub gaps_intro: &'static str,
    pub gaps_none: &'static str,
    /// `{date}`
    pub gap_day_none: &'static str,
    /// `{date}`, `{sources}`
    pub gap_day_sources: &'static str,
    /// `{span}`, `{from}`, `{to}`, `{limit}`
    pub gap_manual: &'static str,
    /// `{span}`, `{from}`, `{to}`, `{limit}`: no manual copy since `from` up to the report.
    pub gap_manual_open: &'static str,
    /// `{start}`: the period start, when no manual copy was ever recorded before it.
    pub gap_manual_from_start: &'static str,
    pub disks_title: &'static str,
    pub col_disk: &'static str,
    pub col_role: &'static str,
    pub col_copies_ok: &'static str,
    pub col_copies_failed: &'static str,
    pub disks_none: &'static str,
    pub failures_title: &'static str,
    pub col_time: &'static str,
    pub col_kind: &'static str,
    pub col_subject: &'static str,
    pub col_detail: &'static str,
    pub kind_backup: &'static str,
    pub kind_verify: &'static str,
    pub kind_restore: &'static str,
    pub failures_none: &'static str,
    pub keys_title: &'static str,
    pub keys_none: &'static str,
    pub csv_key_checks: &'static str,
    /// `{n}`
    pub failures_more: &'static str,
    /// `{n}`
    pub undated_note: &'static str,
    pub checked_by: &'static str,
    // CSV columns of the report.
    pub csv_auto_ok: &'static str,
    pub csv_auto_failed: &'static str,
    pub csv_manual_ok: &'static str,
    pub csv_manual_failed: &'static str,
    pub csv_other_ok: &'static str,
    pub csv_other_failed: &'static str,
    pub csv_copies_ok: &'static str,
    pub csv_copies_failed: &'static str,
    /// `{disk}`
    pub csv_disk_ok: &'static str,
    /// `{disk}`
    pub csv_disk_failed: &'static str,
    pub csv_verify_ok: &'static str,
    pub csv_verify_failed: &'static str,
    pub csv_restore_pass: &'static str,
    pub csv_restore_fail: &'static str,
    pub csv_verified: &'static str,
    pub csv_gaps: &'static str,
    pub csv_not_yet: &'static str,

    // ---- the disk index ----
    pub index_title: &'static str,
    /// The monthly SOP reports on the disk (heading, a closed month, the running month).
    pub index_reports: &'static str,
    pub index_report_closed: &'static str,
    pub index_report_running: &'static str,
    pub index_disk: &'static str,
    pub index_disk_id: &'static str,
    pub index_updated: &'static str,
    /// `{n}`, `{size}`
    pub index_count: &'static str,
    /// Label of the count line.
    pub index_contents: &'static str,
    /// Heading of the list of backups.
    pub index_list: &'static str,
    pub index_none: &'static str,
    pub col_datetime: &'static str,
    pub col_source: &'static str,
    pub col_files: &'static str,
    pub col_size: &'static str,
    pub col_encrypted: &'static str,
    pub col_folder: &'static str,
    pub col_started_iso: &'static str,
    pub col_kind_src: &'static str,
    pub col_size_bytes: &'static str,
    pub col_trigger: &'static str,
    pub col_databases: &'static str,
    pub col_host: &'static str,
    pub col_note: &'static str,
    /// `{reason}`
    pub index_unreadable: &'static str,
    /// A backup whose manifest is good but whose data is not complete: `{reason}`.
    pub index_not_counted: &'static str,
    pub restore_title: &'static str,
    pub restore_intro: &'static str,
    pub restore_with_tool: &'static str,
    pub restore_without_tool: &'static str,
    pub restore_key_note: &'static str,
    pub restore_parts_note: &'static str,
    pub restore_more: &'static str,
    /// Placeholders in the restore commands: the age key file, the folder to unpack into.
    pub key_file: &'static str,
    pub restore_dir: &'static str,

    // ---- the handover receipt ----
    pub receipt_title: &'static str,
    /// `{sop}`
    pub receipt_subtitle: &'static str,
    pub receipt_number: &'static str,
    pub receipt_intro: &'static str,
    pub r_datetime: &'static str,
    pub r_unit: &'static str,
    pub r_disk: &'static str,
    pub r_label: &'static str,
    pub r_disk_id: &'static str,
    pub r_role: &'static str,
    pub r_source: &'static str,
    pub r_databases: &'static str,
    pub r_encryption: &'static str,
    pub r_total: &'static str,
    pub r_sha_all: &'static str,
    pub r_not_encrypted: &'static str,
    pub r_encrypted_for: &'static str,
    pub r_warn_clear: &'static str,
    pub r_files: &'static str,
    pub r_col_no: &'static str,
    pub r_col_name: &'static str,
    pub r_col_size: &'static str,
    pub r_col_sha: &'static str,
    /// `{sidecar}`
    pub r_check_hint: &'static str,
    pub r_handover_title: &'static str,
    pub r_giver: &'static str,
    pub r_giver_role: &'static str,
    pub r_receiver: &'static str,
    pub r_receiver_role: &'static str,
    pub r_archive: &'static str,
    pub r_none: &'static str,
    /// After an exact byte count: "1.288.490.189 byte".
    pub bytes_word: &'static str,
}

/// Bahasa Indonesia.
pub const ID: Texts = Texts {
    org: "Unit Transfusi Darah PMI \u{b7} SIMDONDAR",
    disk_unnamed: "disk {id}",
    html_lang: "id",
    page_word: "Halaman",
    page_of: "dari",
    yes: "ya",
    no: "tidak",
    weekdays: ["Min", "Sen", "Sel", "Rab", "Kam", "Jum", "Sab"],
    weekdays_long: ["Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"],
    sop: "SOP Backup Data SIMDONDAR (UTDP-SIM-L2-003)",
    generated_by: "Dokumen ini dibuat otomatis oleh {tool} di {host}",
    audit_anchor: "jejak audit saat ditulis: entri {anchor}",
    unknown_host: "(nama host tidak diketahui)",
    sig_name: "Nama",
    sig_position: "Jabatan",
    sig_signature: "Tanda tangan",
    sig_date: "Tanggal",
    role_auto: "otomatis",
    role_manual: "manual",
    trigger_schedule: "terjadwal",
    trigger_button: "tombol",
    trigger_cli: "perintah",
    span_days_hours: "{d} hari {h} jam",
    span_days: "{d} hari",
    span_hours: "{h} jam",
    limit_days: "{d} hari",

    report_title: "Laporan Backup Data SIMDONDAR",
    report_subtitle: "Pelaporan menurut {sop}",
    unit: "Unit (server backup)",
    period: "Periode",
    period_value: "{from} s.d. {to} ({n} hari)",
    generated: "Dibuat",
    timezone: "Zona waktu",
    records_since: "Tercatat sejak",
    records_none: "belum ada catatan backup",
    summary_ok: "Tidak ada kesenjangan: setiap hari ada backup yang terverifikasi, dan jarak antar-backup manual tidak pernah lebih dari {limit}.",
    summary_gaps: "Ditemukan {n} kesenjangan. Rinciannya ada di bagian \u{201c}Kesenjangan\u{201d} dan di kolom terakhir tabel harian.",
    summary_totals: "Dalam periode ini: {auto} backup otomatis, {manual} backup manual, {copies} salinan ke disk, {verify} verifikasi ulang, {restore} uji restore.",
    col_date: "Tanggal",
    col_auto: "Backup otomatis",
    col_manual: "Backup manual",
    col_other: "Backup lain",
    col_copies: "Salinan per disk",
    col_verify: "Verifikasi ulang",
    col_restore: "Uji restore",
    col_notes: "Kesenjangan / catatan",
    sub_ok_failed: "berhasil / gagal",
    sub_pass_fail: "lulus / gagal",
    totals: "Jumlah",
    gaps_count: "{n} kesenjangan",
    day_today: "hari ini, belum selesai",
    day_future: "belum berlangsung",
    note_no_verified: "Tidak ada backup terverifikasi",
    note_source_unverified: "Tidak ada backup terverifikasi untuk sumber {sources}",
    note_manual_overdue: "Backup manual terlambat (terakhir {last})",
    note_manual_never: "Backup manual terlambat (tidak ada sejak {start})",
    legend: "Angka \u{201c}3 / 1\u{201d} berarti 3 berhasil dan 1 gagal. Backup terverifikasi: salinan yang setelah ditulis dibaca ulang dari disk dan cocok dengan SHA-256-nya. Verifikasi ulang: salinan yang tersimpan dibaca lagi kemudian dan dicocokkan dengan SHA-256-nya (verify). Backup lain: backup dari perintah (bukan jadwal) tanpa salinan ke disk manual.",
    gaps_title: "Kesenjangan",
    gaps_intro: "Hari tanpa backup terverifikasi dan jarak antar-backup manual yang lebih dari {limit} (SOP: backup manual minimal 3 hari sekali).",
    gaps_none: "Tidak ada kesenjangan dalam periode ini.",
    gap_day_none: "{date}: tidak ada backup terverifikasi sama sekali.",
    gap_day_sources: "{date}: tidak ada backup terverifikasi untuk sumber {sources}.",
    gap_manual: "Jarak antar-backup manual {span} ({from} s.d. {to}), melebihi batas {limit}.",
    gap_manual_open: "Tidak ada backup manual baru selama {span} ({from} s.d. {to}), melebihi batas {limit}.",
    gap_manual_from_start: "awal periode {start} (sebelumnya tidak tercatat backup manual)",
    disks_title: "Salinan per disk selama periode",
    col_disk: "Disk / folder tujuan",
    col_role: "Peran",
    col_copies_ok: "Berhasil",
    col_copies_failed: "Gagal",
    disks_none: "Tidak ada salinan dalam periode ini.",
    failures_title: "Rincian kegagalan",
    col_time: "Waktu",
    col_kind: "Jenis",
    col_subject: "Sumber / file",
    col_detail: "Keterangan",
    kind_backup: "backup",
    kind_verify: "verifikasi ulang",
    kind_restore: "uji restore",
    failures_none: "Tidak ada kegagalan dalam periode ini.",
    keys_title: "Pemeriksaan kunci enkripsi (dikonfirmasi pemegangnya)",
    keys_none: "Tidak ada kunci yang dikonfirmasi dalam periode ini (wajib paling lambat setiap 90 hari).",
    csv_key_checks: "Kunci dikonfirmasi",
    failures_more: "\u{2026} dan {n} kegagalan lain (lihat CSV atau katalog).",
    undated_note: "{n} catatan dengan waktu yang tidak terbaca tidak dapat dimasukkan ke tabel harian.",
    checked_by: "Diperiksa oleh",
    csv_auto_ok: "Otomatis berhasil",
    csv_auto_failed: "Otomatis gagal",
    csv_manual_ok: "Manual berhasil",
    csv_manual_failed: "Manual gagal",
    csv_other_ok: "Lain berhasil",
    csv_other_failed: "Lain gagal",
    csv_copies_ok: "Salinan berhasil",
    csv_copies_failed: "Salinan gagal",
    csv_disk_ok: "Salinan berhasil: {disk}",
    csv_disk_failed: "Salinan gagal: {disk}",
    csv_verify_ok: "Verifikasi berhasil",
    csv_verify_failed: "Verifikasi gagal",
    csv_restore_pass: "Uji restore lulus",
    csv_restore_fail: "Uji restore gagal",
    csv_verified: "Ada backup terverifikasi",
    csv_gaps: "Kesenjangan",
    csv_not_yet: "belum",

    index_title: "Daftar Isi Disk Backup SIMDONDAR",
    index_reports: "Laporan bulanan (Pelaporan SOP)",
    index_report_closed: "bulan ditutup, tidak berubah lagi",
    index_report_running: "bulan berjalan, diperbarui setiap backup",
    index_disk: "Disk",
    index_disk_id: "ID disk",
    index_updated: "Diperbarui",
    index_count: "{n} backup, seluruhnya {size}",
    index_contents: "Isi",
    index_list: "Daftar backup",
    index_none: "Belum ada backup di disk ini.",
    col_datetime: "Tanggal & waktu",
    col_source: "Sumber",
    col_files: "File",
    col_size: "Ukuran",
    col_encrypted: "Enkripsi",
    col_folder: "Folder",
    col_started_iso: "Mulai (ISO 8601)",
    col_kind_src: "Jenis sumber",
    col_size_bytes: "Ukuran (byte)",
    col_trigger: "Pemicu",
    col_databases: "Database",
    col_host: "Host",
    col_note: "Catatan",
    index_unreadable: "manifest tidak terbaca: {reason}",
    index_not_counted: "TIDAK DIHITUNG sebagai backup: {reason}",
    restore_title: "Cara restore",
    restore_intro: "Contoh untuk backup terbaru tiap sumber. Jalankan dari folder teratas disk ini (folder yang berisi SIMDONDAR-BACKUP).",
    restore_with_tool: "Dengan simdondar-backup:",
    restore_without_tool: "Tanpa simdondar-backup (Linux apa pun dengan sha256sum, zstd, age dan klien mariadb):",
    restore_key_note: "Backup terenkripsi hanya bisa dibuka dengan file kunci age (identity) yang disimpan IT Support. Kunci itu tidak ada di appliance dan tidak ada di disk ini.",
    restore_parts_note: "Backup yang dipecah menjadi beberapa file (.part000, .part001, \u{2026}) digabung dengan cat sesuai urutan.",
    restore_more: "Panduan lengkap: docs/restore.md.",
    key_file: "kunci-age.txt",
    restore_dir: "folder-tujuan",

    receipt_title: "Tanda Terima Salinan Backup SIMDONDAR",
    receipt_subtitle: "Backup manual ke media di luar server \u{2014} {sop}, bagian Pelaporan",
    receipt_number: "Nomor",
    receipt_intro: "Salinan backup data SIMDONDAR di bawah ini diserahkan oleh Administrator kepada IT Support untuk diarsipkan, sesuai SOP UTDP-SIM-L2-003 bagian Pelaporan.",
    r_datetime: "Tanggal & waktu backup",
    r_unit: "Unit (server backup)",
    r_disk: "Media (disk)",
    r_label: "Label",
    r_disk_id: "ID disk",
    r_role: "Peran",
    r_source: "Sumber data",
    r_databases: "Database",
    r_encryption: "Enkripsi",
    r_total: "Ukuran seluruhnya",
    r_sha_all: "SHA-256 seluruh data",
    r_not_encrypted: "tidak terenkripsi",
    r_encrypted_for: "terenkripsi (age) untuk kunci publik:",
    r_warn_clear: "Perhatian: salinan ini TIDAK terenkripsi dan berisi data kesehatan pendonor (UU 27/2022). Simpan di lemari terkunci dan jangan dibawa keluar gedung.",
    r_files: "Daftar file",
    r_col_no: "No.",
    r_col_name: "Nama file",
    r_col_size: "Ukuran",
    r_col_sha: "SHA-256",
    r_check_hint: "Pemeriksaan keutuhan: di folder backup, perintah \u{201c}sha256sum -c {sidecar}\u{201d} harus menjawab OK untuk setiap file.",
    r_handover_title: "Serah terima",
    r_giver: "Yang menyerahkan",
    r_giver_role: "Administrator",
    r_receiver: "Yang menerima",
    r_receiver_role: "IT Support",
    r_archive: "Lokasi arsip",
    r_none: "\u{2014}",
    bytes_word: "byte",
};

/// English.
pub const EN: Texts = Texts {
    org: "PMI Blood Transfusion Unit \u{b7} SIMDONDAR",
    disk_unnamed: "disk {id}",
    html_lang: "en",
    page_word: "Page",
    page_of: "of",
    yes: "yes",
    no: "no",
    weekdays: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
    weekdays_long: [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ],
    sop: "SIMDONDAR Data Backup SOP (UTDP-SIM-L2-003)",
    generated_by: "Generated by {tool} on {host}",
    audit_anchor: "audit log when written: entry {anchor}",
    unknown_host: "(host name unknown)",
    sig_name: "Name",
    sig_position: "Position",
    sig_signature: "Signature",
    sig_date: "Date",
    role_auto: "automatic",
    role_manual: "manual",
    trigger_schedule: "schedule",
    trigger_button: "button",
    trigger_cli: "command",
    span_days_hours: "{d} days {h} hours",
    span_days: "{d} days",
    span_hours: "{h} hours",
    limit_days: "{d} days",

    report_title: "SIMDONDAR Data Backup Report",
    report_subtitle: "Reporting under the {sop}",
    unit: "Unit (backup host)",
    period: "Period",
    period_value: "{from} to {to} ({n} days)",
    generated: "Generated",
    timezone: "Time zone",
    records_since: "Records since",
    records_none: "no backup recorded yet",
    summary_ok: "No gaps: every day has a verified backup, and manual copies were never more than {limit} apart.",
    summary_gaps: "{n} gap(s) found. They are listed under \u{201c}Gaps\u{201d} and in the last column of the daily table.",
    summary_totals: "In this period: {auto} automatic backups, {manual} manual backups, {copies} copies to disks, {verify} re-checks, {restore} restore tests.",
    col_date: "Date",
    col_auto: "Auto backups",
    col_manual: "Manual backups",
    col_other: "Other backups",
    col_copies: "Copies per disk",
    col_verify: "Re-checks",
    col_restore: "Restore tests",
    col_notes: "Gaps / notes",
    sub_ok_failed: "ok / failed",
    sub_pass_fail: "pass / fail",
    totals: "Total",
    gaps_count: "{n} gap(s)",
    day_today: "today, not over yet",
    day_future: "not yet",
    note_no_verified: "No verified backup",
    note_source_unverified: "No verified backup of source {sources}",
    note_manual_overdue: "Manual copy overdue (last {last})",
    note_manual_never: "Manual copy overdue (none since {start})",
    legend: "\u{201c}3 / 1\u{201d} means 3 succeeded and 1 failed. Verified backup: a copy read back from the disk after writing and matching its SHA-256. Re-check: a stored copy read again later and compared with its SHA-256 (verify). Other backups: backups started by command (not the schedule) without a copy on a manual disk.",
    gaps_title: "Gaps",
    gaps_intro: "Days without a verified backup, and manual copies more than {limit} apart (SOP: a manual backup at least every 3 days).",
    gaps_none: "No gaps in this period.",
    gap_day_none: "{date}: no verified backup at all.",
    gap_day_sources: "{date}: no verified backup of source {sources}.",
    gap_manual: "Manual copies {span} apart ({from} to {to}), more than {limit}.",
    gap_manual_open: "No new manual copy for {span} ({from} to {to}), more than {limit}.",
    gap_manual_from_start: "the start of the period, {start} (no manual copy recorded before)",
    disks_title: "Copies per disk in the period",
    col_disk: "Disk / target folder",
    col_role: "Role",
    col_copies_ok: "Succeeded",
    col_copies_failed: "Failed",
    disks_none: "No copies in this period.",
    failures_title: "Failure details",
    col_time: "Time",
    col_kind: "Kind",
    col_subject: "Source / file",
    col_detail: "Details",
    kind_backup: "backup",
    kind_verify: "re-check",
    kind_restore: "restore test",
    failures_none: "No failures in this period.",
    keys_title: "Encryption key checks (confirmed by their holders)",
    keys_none: "No key was confirmed in this period (required at least every 90 days).",
    csv_key_checks: "Keys confirmed",
    failures_more: "\u{2026} and {n} more failures (see the CSV or the catalog).",
    undated_note: "{n} record(s) with an unreadable time could not be placed in the daily table.",
    checked_by: "Checked by",
    csv_auto_ok: "Automatic ok",
    csv_auto_failed: "Automatic failed",
    csv_manual_ok: "Manual ok",
    csv_manual_failed: "Manual failed",
    csv_other_ok: "Other ok",
    csv_other_failed: "Other failed",
    csv_copies_ok: "Copies ok",
    csv_copies_failed: "Copies failed",
    csv_disk_ok: "Copies ok: {disk}",
    csv_disk_failed: "Copies failed: {disk}",
    csv_verify_ok: "Verifications ok",
    csv_verify_failed: "Verifications failed",
    csv_restore_pass: "Restore tests passed",
    csv_restore_fail: "Restore tests failed",
    csv_verified: "Verified backup",
    csv_gaps: "Gaps",
    csv_not_yet: "not yet",

    index_title: "SIMDONDAR Backup Disk Contents",
    index_reports: "Monthly reports (SOP Pelaporan)",
    index_report_closed: "closed month, never changed again",
    index_report_running: "running month, updated after each backup",
    index_disk: "Disk",
    index_disk_id: "Disk id",
    index_updated: "Updated",
    index_count: "{n} backups, {size} in all",
    index_contents: "Contents",
    index_list: "Backups",
    index_none: "No backup on this disk yet.",
    col_datetime: "Date & time",
    col_source: "Source",
    col_files: "File",
    col_size: "Size",
    col_encrypted: "Encrypted",
    col_folder: "Folder",
    col_started_iso: "Started (ISO 8601)",
    col_kind_src: "Source kind",
    col_size_bytes: "Size (bytes)",
    col_trigger: "Trigger",
    col_databases: "Databases",
    col_host: "Host",
    col_note: "Note",
    index_unreadable: "manifest unreadable: {reason}",
    index_not_counted: "NOT COUNTED as a backup: {reason}",
    restore_title: "How to restore",
    restore_intro: "Examples for the newest backup of each source. Run them from the top folder of this disk (the one holding SIMDONDAR-BACKUP).",
    restore_with_tool: "With simdondar-backup:",
    restore_without_tool: "Without simdondar-backup (any Linux with sha256sum, zstd, age and the mariadb client):",
    restore_key_note: "Encrypted backups open only with the age key file (identity) kept by IT Support. That key is neither on the appliance nor on this disk.",
    restore_parts_note: "A backup split into several files (.part000, .part001, \u{2026}) is joined with cat in that order.",
    restore_more: "Full guide: docs/restore.md.",
    key_file: "age-key.txt",
    restore_dir: "target-folder",

    receipt_title: "SIMDONDAR Backup Handover Receipt",
    receipt_subtitle: "Manual backup onto media outside the server \u{2014} {sop}, Reporting",
    receipt_number: "Number",
    receipt_intro: "The SIMDONDAR backup copy below is handed over by the Administrator to IT Support for archiving, as the SOP UTDP-SIM-L2-003 (Reporting) requires.",
    r_datetime: "Backup date & time",
    r_unit: "Unit (backup host)",
    r_disk: "Medium (disk)",
    r_label: "Label",
    r_disk_id: "Disk id",
    r_role: "Role",
    r_source: "Data source",
    r_databases: "Databases",
    r_encryption: "Encryption",
    r_total: "Total size",
    r_sha_all: "SHA-256 of all data",
    r_not_encrypted: "not encrypted",
    r_encrypted_for: "encrypted (age) to the public key:",
    r_warn_clear: "Warning: this copy is NOT encrypted and holds donors' health data (UU 27/2022). Keep it in a locked cabinet and do not take it out of the building.",
    r_files: "Files",
    r_col_no: "No.",
    r_col_name: "File name",
    r_col_size: "Size",
    r_col_sha: "SHA-256",
    r_check_hint: "Integrity check: in the backup folder, \u{201c}sha256sum -c {sidecar}\u{201d} must answer OK for every file.",
    r_handover_title: "Handover",
    r_giver: "Handed over by",
    r_giver_role: "Administrator",
    r_receiver: "Received by",
    r_receiver_role: "IT Support",
    r_archive: "Archive location",
    r_none: "\u{2014}",
    bytes_word: "bytes",
};

/// The texts of a language.
pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Id => &ID,
        Language::En => &EN,
    }
}

/// Fills the named blanks of a template: `fill("{a} and {b}", &[("a", "x"), ("b", "y")])`.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match values.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl Texts {
    /// A role word as stored (`auto`, `manual`) in this language; anything else as given.
    pub fn role<'a>(&self, role: &'a str) -> &'a str {
        match role {
            "auto" => self.role_auto,
            "manual" => self.role_manual,
            other => other,
        }
    }

    /// A trigger word as stored (`schedule`, `button`, `cli`) in this language.
    pub fn trigger<'a>(&self, trigger: &'a str) -> &'a str {
        match trigger {
            "schedule" => self.trigger_schedule,
            "button" => self.trigger_button,
            "cli" => self.trigger_cli,
            other => other,
        }
    }

    /// `yes` or `no`.
    pub fn yes_no(&self, b: bool) -> &'static str {
        if b {
            self.yes
        } else {
            self.no
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_named_blanks_and_keeps_unknown_ones() {
        assert_eq!(fill("{a} dan {b}", &[("a", "x"), ("b", "y")]), "x dan y");
        assert_eq!(fill("{a} {missing}", &[("a", "x")]), "x {missing}");
        assert_eq!(fill("tanpa kurung {", &[]), "tanpa kurung {");
        // A value is never itself expanded.
        assert_eq!(fill("{a}", &[("a", "{b}"), ("b", "no")]), "{b}");
    }

    #[test]
    fn every_template_blank_is_one_the_code_fills() {
        let known = [
            "tool", "host", "d", "h", "sop", "from", "to", "n", "limit", "auto", "manual",
            "copies", "verify", "restore", "sources", "last", "start", "date", "span", "disk",
            "id", "size", "reason", "sidecar", "anchor",
        ];
        for t in [&ID, &EN] {
            let dbg = format!("{t:?}");
            let mut rest = dbg.as_str();
            while let Some(i) = rest.find('{') {
                let after = &rest[i + 1..];
                let end = after.find('}').unwrap_or(0);
                let key = &after[..end];
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase()) {
                    assert!(known.contains(&key), "unknown blank {{{key}}}");
                }
                rest = &after[end.min(after.len())..];
            }
        }
    }
}
