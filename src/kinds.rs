/*!
Typed failure kinds (DESIGN.md §2: decisions are made on kinds, never on the text of a message).

A copy's failure carries a [`CopyFailure`] from the writer up to the run, the catalog (its stable
`as_str` name), the agent and the panel; a run's failure carries a [`RunFailure`]. The sentence a
person reads stays beside the kind, in the engine's words; the panel and the LEDs pick their words
and their colour from the kind alone.
*/

use std::fmt;

/// Why one copy on one target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyFailure {
    /// The disk (or its quota) is full.
    Full,
    /// The disk or its folder went away (pulled out, unmounted, device gone).
    Gone,
    /// The disk accepted no bytes (or its fsync/read-back made no progress) for `stall_timeout`.
    NotAnswering,
    /// The file system is read-only.
    ReadOnly,
    /// The disk returned an input/output error.
    #[serde(rename = "io_error")]
    Io,
    /// The bytes read back from the device differ from what was written.
    Mismatch,
    /// The run was aborted (the source failed, the agent stopped); nothing was kept.
    Aborted,
    /// The copy was not written because the policy forbids it (e.g. no encryption recipient for
    /// a role that requires encryption, a disk that is not enrolled).
    Policy,
    /// Anything else (permission denied, an unexpected error); the sentence says what.
    Other,
}

impl CopyFailure {
    /// Every kind, for tables and tests.
    pub const ALL: [CopyFailure; 9] = [
        CopyFailure::Full,
        CopyFailure::Gone,
        CopyFailure::NotAnswering,
        CopyFailure::ReadOnly,
        CopyFailure::Io,
        CopyFailure::Mismatch,
        CopyFailure::Aborted,
        CopyFailure::Policy,
        CopyFailure::Other,
    ];

    /// The stable name (catalog column, JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            CopyFailure::Full => "full",
            CopyFailure::Gone => "gone",
            CopyFailure::NotAnswering => "not_answering",
            CopyFailure::ReadOnly => "read_only",
            CopyFailure::Io => "io_error",
            CopyFailure::Mismatch => "mismatch",
            CopyFailure::Aborted => "aborted",
            CopyFailure::Policy => "policy",
            CopyFailure::Other => "other",
        }
    }

    /// The kind with this stable name.
    pub fn parse(s: &str) -> Option<CopyFailure> {
        CopyFailure::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an I/O error's errno.
    pub fn of_io(e: &std::io::Error) -> CopyFailure {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => CopyFailure::Full,
            Some(libc::EROFS) => CopyFailure::ReadOnly,
            Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::ENOTCONN) => {
                CopyFailure::Gone
            }
            Some(libc::EIO) => CopyFailure::Io,
            _ => CopyFailure::Other,
        }
    }

    /// Whether the disk behind this failure may still be held by the kernel (a thread stuck in
    /// it): the disk is not safe to pull until it is gone.
    pub fn disk_not_safe(self) -> bool {
        self == CopyFailure::NotAnswering
    }
}

impl fmt::Display for CopyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed copy: its kind and the sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyError {
    pub kind: CopyFailure,
    pub message: String,
}

impl CopyError {
    pub fn new(kind: CopyFailure, message: impl Into<String>) -> CopyError {
        CopyError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CopyError {}

/// Why a run failed, as the panel, the LEDs and the alerts decide on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunFailure {
    /// The database server did not answer.
    DatabaseUnreachable,
    /// The database refused the backup user's login.
    LoginRefused,
    /// A configured database does not exist.
    NoSuchDatabase,
    /// The backup user lacks a privilege the dump needs.
    MissingGrant,
    /// A program the source needs is not installed.
    ToolMissing,
    /// The source produced no bytes for `stall_timeout` (or waited on a lock too long).
    SourceStalled,
    /// The source's output was incomplete or the tool failed.
    SourceFailed,
    /// Copies failed; the kind of the first failed copy says how.
    Copy(CopyFailure),
    /// The agent stopped during the run.
    Cancelled,
    /// Another run of the same source holds its lock.
    Busy,
    /// A job thread panicked (a bug); the run was recorded failed.
    Crashed,
    /// No target to write to.
    NoTargets,
    /// Anything else; the sentence says what.
    Other,
}

impl RunFailure {
    /// The stable name (catalog column, JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            RunFailure::DatabaseUnreachable => "database_unreachable",
            RunFailure::LoginRefused => "login_refused",
            RunFailure::NoSuchDatabase => "no_such_database",
            RunFailure::MissingGrant => "missing_grant",
            RunFailure::ToolMissing => "tool_missing",
            RunFailure::SourceStalled => "source_stalled",
            RunFailure::SourceFailed => "source_failed",
            RunFailure::Copy(k) => match k {
                CopyFailure::Full => "copy_full",
                CopyFailure::Gone => "copy_gone",
                CopyFailure::NotAnswering => "copy_not_answering",
                CopyFailure::ReadOnly => "copy_read_only",
                CopyFailure::Io => "copy_io_error",
                CopyFailure::Mismatch => "copy_mismatch",
                CopyFailure::Aborted => "copy_aborted",
                CopyFailure::Policy => "copy_policy",
                CopyFailure::Other => "copy_other",
            },
            RunFailure::Cancelled => "cancelled",
            RunFailure::Busy => "busy",
            RunFailure::Crashed => "crashed",
            RunFailure::NoTargets => "no_targets",
            RunFailure::Other => "other",
        }
    }

    /// The kind with this stable name.
    pub fn parse(s: &str) -> Option<RunFailure> {
        let fixed = [
            RunFailure::DatabaseUnreachable,
            RunFailure::LoginRefused,
            RunFailure::NoSuchDatabase,
            RunFailure::MissingGrant,
            RunFailure::ToolMissing,
            RunFailure::SourceStalled,
            RunFailure::SourceFailed,
            RunFailure::Cancelled,
            RunFailure::Busy,
            RunFailure::Crashed,
            RunFailure::NoTargets,
            RunFailure::Other,
        ];
        fixed
            .into_iter()
            .chain(CopyFailure::ALL.into_iter().map(RunFailure::Copy))
            .find(|k| k.as_str() == s)
    }
}

/// Why a safe eject failed (what the panel's error screen decides on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EjectFailure {
    /// Another program still holds the device open.
    InUse,
    /// The disk did not answer while its writes were flushed; it was cut off.
    NotAnswering,
    /// Whether the device is still held could not be checked.
    Unknown,
    /// The unmount failed, even lazily, or the mount is still there.
    StillMounted,
}

/// Why a disk that is not enrolled cannot be used at all, not even enrolled as it is (what the
/// panel's screen for a plugged-in disk decides on). A file system its driver reports as damaged
/// is not among them: that disk is unreadable, and may be a backup disk (`DiskView::unreadable`);
/// a FUSE helper that says only "failed" (exfat-fuse, fusefat) gives `CannotOpen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskUnusable {
    /// Its file system is one the appliance does not write (an installer stick's iso9660, a
    /// Mac's HFS+, swap): it would have to be formatted first.
    NotSupported,
    /// It could not be mounted or its top folder not opened, for a reason other than damage (a
    /// missing driver, the mount point); the sentence beside it says which.
    CannotOpen,
    /// The system has it mounted elsewhere (never touched).
    InUse,
    /// It carries an enrollment marker that cannot be used (garbage, too large, unknown role).
    BadMarker,
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an off-site upload or a remote check failed (issue 16, docs/offsite.md). Off-site failures
/// are amber on the panel, never red: the local backups are whole whatever the store does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsiteFailure {
    /// The store could not be reached (name lookup, connection refused, no route, proxy).
    Unreachable,
    /// The connection dropped or made no progress for `stall_timeout` in the middle of a
    /// transfer; the upload resumes from its last finished part.
    Dropped,
    /// The store's TLS certificate is not trusted (set `ca_file`) or TLS failed.
    Tls,
    /// The store refused the access key (unknown key, wrong secret, no right on the bucket).
    Credentials,
    /// The appliance's clock is too far from the store's to sign requests (no NTP yet).
    ClockSkew,
    /// The bucket does not exist.
    NoBucket,
    /// The bucket's quota (or the store) is full.
    Full,
    /// What the store holds or received differs from the local copy (a part's checksum, the
    /// object's size or ETag, a sampled read-back).
    Mismatch,
    /// The local copy to send could not be read, staged or encrypted.
    Local,
    /// The copy would leave unencrypted: refused.
    Policy,
    /// Anything else the store answered; the sentence says what.
    Other,
}

impl OffsiteFailure {
    /// Every kind, for tables and tests.
    pub const ALL: [OffsiteFailure; 11] = [
        OffsiteFailure::Unreachable,
        OffsiteFailure::Dropped,
        OffsiteFailure::Tls,
        OffsiteFailure::Credentials,
        OffsiteFailure::ClockSkew,
        OffsiteFailure::NoBucket,
        OffsiteFailure::Full,
        OffsiteFailure::Mismatch,
        OffsiteFailure::Local,
        OffsiteFailure::Policy,
        OffsiteFailure::Other,
    ];

    /// The stable name (catalog column, JSON, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            OffsiteFailure::Unreachable => "unreachable",
            OffsiteFailure::Dropped => "dropped",
            OffsiteFailure::Tls => "tls",
            OffsiteFailure::Credentials => "credentials",
            OffsiteFailure::ClockSkew => "clock_skew",
            OffsiteFailure::NoBucket => "no_bucket",
            OffsiteFailure::Full => "full",
            OffsiteFailure::Mismatch => "mismatch",
            OffsiteFailure::Local => "local",
            OffsiteFailure::Policy => "policy",
            OffsiteFailure::Other => "other",
        }
    }

    /// The kind with this stable name.
    pub fn parse(s: &str) -> Option<OffsiteFailure> {
        OffsiteFailure::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether trying again soon may succeed without anyone acting (the link, the store's
    /// availability, NTP setting the clock, a part sent again); the others need a person (key,
    /// bucket, quota, certificate, the local copy, policy).
    pub fn transient(self) -> bool {
        matches!(
            self,
            OffsiteFailure::Unreachable
                | OffsiteFailure::Dropped
                | OffsiteFailure::ClockSkew
                | OffsiteFailure::Mismatch
                | OffsiteFailure::Other
        )
    }
}

impl fmt::Display for OffsiteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed off-site step: its kind and the sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsiteError {
    pub kind: OffsiteFailure,
    pub message: String,
}

impl OffsiteError {
    pub fn new(kind: OffsiteFailure, message: impl Into<String>) -> OffsiteError {
        OffsiteError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for OffsiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OffsiteError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for k in CopyFailure::ALL {
            assert_eq!(CopyFailure::parse(k.as_str()), Some(k));
            assert!(seen.insert(k.as_str()));
            let r = RunFailure::Copy(k);
            assert_eq!(RunFailure::parse(r.as_str()), Some(r));
            assert!(seen.insert(r.as_str()));
        }
        for r in [
            RunFailure::DatabaseUnreachable,
            RunFailure::SourceStalled,
            RunFailure::Crashed,
        ] {
            assert_eq!(RunFailure::parse(r.as_str()), Some(r));
        }
        assert_eq!(CopyFailure::parse("nonsense"), None);
        // JSON says the same names as the catalog.
        for k in CopyFailure::ALL {
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
    }

    #[test]
    fn offsite_names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for k in OffsiteFailure::ALL {
            assert_eq!(OffsiteFailure::parse(k.as_str()), Some(k));
            assert!(seen.insert(k.as_str()), "{k} twice");
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!(!OffsiteFailure::Credentials.transient());
        assert!(OffsiteFailure::Dropped.transient());
    }

    #[test]
    fn errno_kinds() {
        let k = |n| CopyFailure::of_io(&std::io::Error::from_raw_os_error(n));
        assert_eq!(k(libc::ENOSPC), CopyFailure::Full);
        assert_eq!(k(libc::EROFS), CopyFailure::ReadOnly);
        assert_eq!(k(libc::ENODEV), CopyFailure::Gone);
        assert_eq!(k(libc::EIO), CopyFailure::Io);
        assert_eq!(k(libc::EACCES), CopyFailure::Other);
    }
}
