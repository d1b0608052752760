/*!
The daemon's state and the vocabulary of its event loop: the events that come in (clock ticks,
button presses, disks, finished jobs, control-socket requests) and the actions that go out (start a
job, check a disk, eject, reply, notify). Plain data: the decisions are in [`super::step`].
*/

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backup::writer::Target;
use crate::config::{Config, Role, SourceKind};
use crate::disks::device::{BlockDev, DiskEvent};
use crate::disks::DiskView;

/// Monotonic time since the daemon started, in milliseconds (negative: before the start).
pub type Mono = i64;

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A button gesture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Press {
    Short,
    Long,
}

/// Who is waiting for a reply on the control socket.
pub type ReplyId = u64;

/// A control-socket request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    Status,
    Backup {
        #[serde(default)]
        sources: Vec<String>,
    },
    Eject {
        #[serde(default)]
        disk: Option<String>,
    },
    Press {
        #[serde(default)]
        long: bool,
    },
}

impl Request {
    /// Whether the request can change anything (an audit event); `status` only reads.
    pub fn changes_state(&self) -> bool {
        match self {
            Request::Status => false,
            Request::Backup { .. } | Request::Eject { .. } | Request::Press { .. } => true,
        }
    }
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: message.into(),
            data: None,
        }
    }
    pub fn err(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            message: message.into(),
            data: None,
        }
    }
}

/// How one source's run in a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceResult {
    pub source: String,
    pub ok: bool,
    pub reason: Option<String>,
    pub copies_ok: u32,
    pub copies_total: u32,
    /// A manual-role copy was written and verified.
    pub manual_copy: bool,
    /// The failure was the database not answering.
    pub db_unreachable: bool,
    /// The failure's kind (what the panel and the LEDs decide on).
    pub failure: Option<crate::kinds::RunFailure>,
    /// Bytes stored (for progress estimates next time).
    pub bytes_stored: Option<u64>,
    /// Roots of targets that stopped answering during the run (their writers were given up):
    /// such a disk is not safe to pull until it is gone.
    pub stuck: Vec<std::path::PathBuf>,
}

/// What starts a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobTrigger {
    Schedule,
    Button,
    Request,
}

/// A backup job: some sources onto some targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    pub id: u64,
    pub sources: Vec<String>,
    pub trigger: JobTrigger,
    pub targets: Vec<Target>,
    /// After the job, eject every manual-role disk (the button's promise).
    pub eject_manual_after: bool,
    /// A control-socket client waiting for the result.
    pub reply: Option<ReplyId>,
}

/// Progress of the running job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub source: String,
    pub bytes: u64,
    pub rate_bytes_per_s: u64,
    /// The previous run's size, for a progress fraction.
    pub expected_bytes: Option<u64>,
}

/// Everything that reaches the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The clock: monotonic and wall time, and whether the wall clock is synchronised.
    Tick {
        mono: Mono,
        wall: DateTime<Utc>,
        synced: bool,
    },
    Button(Press),
    Disk(DiskEvent),
    /// A disk was looked at (and, when enrolled, mounted read-write).
    DiskChecked(DiskView),
    /// Checking a disk failed.
    DiskCheckFailed {
        devnode: PathBuf,
        reason: String,
    },
    JobProgress(Progress),
    JobFinished {
        id: u64,
        results: Vec<SourceResult>,
    },
    Ejected {
        devnode: PathBuf,
        result: Result<(), crate::disks::EjectError>,
    },
    Request {
        request: Request,
        reply: ReplyId,
    },
    /// The restore test ended.
    RestoreTestFinished {
        /// `false`: there was nothing to test yet (no backup); not a failure.
        tested: bool,
        passed: bool,
        summary: String,
    },
    /// What the records say: audit entries of this process not written yet, and whether a key's
    /// custody check is due (`Some(None)`: never confirmed; `Some(Some(days))`: the oldest).
    Records {
        audit_pending: usize,
        key_check_overdue: Option<Option<i64>>,
    },
    /// A scrub pass ended (or was stopped).
    ScrubFinished {
        /// Every copy was checked.
        complete: bool,
        /// (disk label, data file) of each copy that went bad.
        bad: Vec<(String, String)>,
        /// (disk label, source, good copies) below the floor of five.
        low: Vec<(String, String, usize)>,
    },
    /// An off-site pass ended: each store that failed (name, kind, sentence), and when the newest
    /// remote copy was verified.
    OffsiteFinished {
        problems: OffsiteProblems,
        last_verified: Option<DateTime<Utc>>,
    },
    /// SIGTERM or SIGINT.
    Stop,
}

/// Why the panel shows what it shows (transient screens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Overlay {
    SafeToRemove {
        labels: Vec<String>,
    },
    /// A disk that is not enrolled was plugged in; `why`: it cannot be used even by enrolling
    /// it as it is.
    UnknownDisk {
        label: String,
        why: Option<crate::kinds::DiskUnusable>,
    },
    /// A backup started by a person failed: the engine's reason (shown in the panel's language
    /// with what to do, by `panel::texts::backup_failed_info`).
    BackupFailed {
        reason: String,
        failure: Option<crate::kinds::RunFailure>,
        /// How it was started: the advice on trying again follows it.
        started: crate::panel::texts::StartedBy,
    },
    /// A safe eject failed: the disk must not be pulled yet.
    EjectFailed {
        reason: String,
        failure: crate::kinds::EjectFailure,
    },
}

/// A short message on the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// A press started a manual backup.
    ManualStarted,
    /// A press during a scheduled run: one manual backup follows it.
    ManualQueued,
    /// A press while a manual backup already waits: acknowledged, it stays one.
    ManualAlreadyQueued,
    /// A press (or a long press) while a manual backup runs.
    BackupAlreadyRunning,
    NothingToEject,
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    StartJob(JobSpec),
    /// Look at a disk; mount it read-write when enrolled.
    CheckDisk(BlockDev),
    /// Unmount (and power down) these disks.
    Eject {
        devnodes: Vec<PathBuf>,
    },
    /// Remove mounts whose device is gone.
    CleanStale,
    /// Restore the newest backups into a throw-away MariaDB and compare row counts.
    RestoreTest {
        roots: Vec<PathBuf>,
    },
    /// Re-verify every copy on these disks (root, label).
    Scrub {
        disks: Vec<(PathBuf, String)>,
    },
    /// One pass over the off-site stores, taking backups from these disks.
    Offsite {
        roots: Vec<PathBuf>,
    },
    /// Stop the running job (the agent is stopping).
    CancelJob,
    Reply {
        to: ReplyId,
        response: Response,
    },
    /// Tell the outside world (webhook, mail): a failure, or the recovery from one.
    Notify {
        recovered: bool,
        text: String,
    },
    /// Leave the loop (after the job ended and disks were unmounted).
    Exit,
}

/// A source as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceState {
    pub name: String,
    pub is_database: bool,
    pub interval: Duration,
    /// When the next scheduled run is due (monotonic).
    pub due: Option<Mono>,
    /// The last run's wall-clock start.
    pub last_run: Option<DateTime<Utc>>,
    /// When the last successful scheduled run ended (monotonic; negative = before start).
    pub last_auto_ok: Option<Mono>,
    pub last_result: Option<SourceResult>,
    pub last_finished: Option<DateTime<Utc>>,
}

/// A disk the daemon knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskEntry {
    pub dev: BlockDev,
    /// Set once checked.
    pub view: Option<DiskView>,
    pub phase: DiskPhase,
}

impl DiskEntry {
    /// The name a person sees for the disk: its label, or its kernel name (`sdb1`) before it is
    /// checked or when it has no label.
    pub fn shown_label(&self) -> String {
        match &self.view {
            Some(v) => v.shown_label(),
            None => self.dev.sysname.clone(),
        }
    }

    /// Whether an eject can be asked for: mounted and ready, or an earlier eject failed (the
    /// device was still in use) and may be tried again.
    pub fn ejectable(&self) -> bool {
        match &self.phase {
            DiskPhase::Ready => true,
            DiskPhase::Failed(_) => self.view.as_ref().is_some_and(|v| v.mounted_at.is_some()),
            _ => false,
        }
    }
}

/// Where a disk is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskPhase {
    Checking,
    /// Not enrolled: never written.
    Unknown,
    /// Enrolled and mounted read-write.
    Ready,
    Ejecting,
    SafeToRemove,
    Failed(String),
    /// The disk stopped answering (a write, a look or an eject gave up on it; its FUSE driver was
    /// cut off): never written again, not safe to pull until it is gone.
    NotAnswering(String),
}

/// The daemon's whole state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub tz: chrono_tz::Tz,
    pub offset: Duration,
    pub manual_reminder: Duration,
    /// Static directory targets from the config.
    pub static_targets: Vec<Target>,
    /// Which block devices are candidates.
    pub disk_match: crate::config::DiskMatch,
    /// FAT data files are split at this size.
    pub fat_split_size: u64,
    /// Copies for manual disks must be encrypted but no recipient is configured.
    pub encryption_missing: bool,
    /// Control-socket clients waiting for ejects to finish.
    /// Clients waiting for ejects: their disks, and when they are answered at the latest.
    pub eject_waiters: Vec<(ReplyId, Vec<PathBuf>, Mono)>,
    pub now: Mono,
    pub wall: DateTime<Utc>,
    pub clock_synced: bool,
    pub started: bool,
    pub sources: Vec<SourceState>,
    pub running: Option<RunningJob>,
    pub queue: VecDeque<QueuedJob>,
    pub disks: BTreeMap<PathBuf, DiskEntry>,
    /// When the newest verified manual copy was made (wall clock).
    pub last_manual_copy: Option<DateTime<Utc>>,
    pub overlay: Option<(Overlay, Mono)>,
    pub notice: Option<(Notice, Mono)>,
    pub next_job_id: u64,
    pub stopping: bool,
    /// Whether the last notification said "failing".
    pub notified_failing: bool,
    /// Disks to eject when the running job ends (the button's promise).
    pub eject_after_job: bool,
    /// Front-panel parts that could not be started (shown in `status`, amber LED).
    pub panel_problems: Vec<String>,
    /// The newest restore test: when, and whether it passed.
    pub last_restore_test: Option<(DateTime<Utc>, bool)>,
    /// What the newest restore test found, when it failed.
    pub restore_test_problem: Option<String>,
    /// How often to run the restore test (`None`: never).
    pub restore_test_every: Option<Duration>,
    /// When the next restore test is due.
    pub restore_test_due: Option<Mono>,
    /// A restore test is running.
    pub restore_testing: bool,
    /// How often to scrub (`None`: never).
    pub scrub_every: Option<Duration>,
    /// When the next scrub pass is due.
    pub scrub_due: Option<Mono>,
    /// A scrub pass is running.
    pub scrubbing: bool,
    pub last_scrub: Option<DateTime<Utc>>,
    pub scrub_unfinished: bool,
    /// Copies the last scrub found bad (disk label, data file): amber until the next pass.
    pub scrub_bad: Vec<(String, String)>,
    /// Sources below five good copies on a disk (label, source, good): red until backups bring
    /// them back up or the next pass finds enough.
    pub scrub_low: Vec<(String, String, usize)>,
    /// Audit entries kept in memory because the catalog refused them (amber until written).
    pub audit_pending: usize,
    /// A recipient whose key custody check is due (amber), see [`Event::Records`].
    pub key_check_overdue: Option<Option<i64>>,
    /// The metrics listener could not be opened (shown by `status`; the daemon runs on).
    pub metrics_problem: Option<String>,
    /// `[[offsite]]` stores are configured.
    pub offsite_enabled: bool,
    /// When the next off-site pass is due.
    pub offsite_due: Option<Mono>,
    /// An off-site pass is running.
    pub offsite_running: bool,
    /// A backup finished during the pass: another pass soon after it.
    pub offsite_again: bool,
    /// The stores the last pass failed on (name, kind, sentence): amber.
    pub offsite_problems: OffsiteProblems,
    /// When the newest remote copy was verified (any store).
    pub offsite_last_verified: Option<DateTime<Utc>>,
}

/// The off-site stores a pass failed on: (name, kind, sentence).
pub type OffsiteProblems = Vec<(String, crate::kinds::OffsiteFailure, String)>;

/// The job being run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningJob {
    pub id: u64,
    pub sources: Vec<String>,
    pub trigger: JobTrigger,
    pub started: Mono,
    pub progress: Option<Progress>,
    pub eject_manual_after: bool,
    /// What is being written (disk labels or folder names), for the panel.
    pub target_labels: Vec<String>,
    #[serde(skip)]
    pub reply: Option<ReplyId>,
}

/// A job waiting for the running one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedJob {
    pub sources: Vec<String>,
    pub trigger: JobTrigger,
    pub eject_manual_after: bool,
    #[serde(skip)]
    pub reply: Option<ReplyId>,
}

/// How long transient screens and notices stay.
pub const OVERLAY_MS: Mono = 30_000;
pub const NOTICE_MS: Mono = 5_000;
/// A client waiting for an eject is answered by then at the latest: the ejects' one deadline
/// ([`crate::disks::RELEASE_WAIT`]) and 5 s for their results to arrive. Disks still ejecting
/// then are named as still busy.
pub const EJECT_ANSWER_MS: Mono = crate::disks::RELEASE_WAIT.as_millis() as Mono + 5_000;

/// What the daemon needs from the catalog at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Per source: the last run's wall-clock start.
    pub last_run: BTreeMap<String, DateTime<Utc>>,
    /// Per source: the end of the last successful scheduled (or any) run.
    pub last_ok: BTreeMap<String, DateTime<Utc>>,
    /// The newest verified manual-role copy.
    pub last_manual_copy: Option<DateTime<Utc>>,
    /// The newest restore test.
    pub last_restore_test: Option<(DateTime<Utc>, bool)>,
    /// The end of the last complete scrub pass.
    pub last_scrub: Option<DateTime<Utc>>,
    /// A scrub pass was stopped part-way (it goes on soon after a start).
    pub scrub_unfinished: bool,
    /// When the newest off-site copy was verified (any store).
    pub last_offsite_verified: Option<DateTime<Utc>>,
}

/// The offset of scheduled runs after the slot boundary (e.g. 2 minutes past the hour).
pub const DEFAULT_OFFSET: Duration = Duration::from_secs(120);

impl State {
    /// The state at start, before the first tick.
    pub fn new(cfg: &Config, history: &History, offset: Duration) -> State {
        State {
            tz: cfg.timezone,
            offset,
            manual_reminder: cfg.schedule.manual_reminder,
            static_targets: cfg
                .targets
                .iter()
                .map(|t| Target::dir(t.path.clone(), t.role))
                .collect(),
            disk_match: cfg.disks.match_,
            fat_split_size: cfg.disks.fat_split_size,
            encryption_missing: cfg.encryption.require_for.contains(&Role::Manual)
                && cfg.encryption.recipients.is_empty(),
            eject_waiters: Vec::new(),
            now: 0,
            wall: DateTime::<Utc>::UNIX_EPOCH,
            clock_synced: false,
            started: false,
            sources: cfg
                .sources
                .iter()
                .map(|s| SourceState {
                    name: s.name.clone(),
                    is_database: matches!(s.kind, SourceKind::Mysql(_)),
                    interval: s.interval,
                    due: None,
                    last_run: history.last_run.get(&s.name).copied(),
                    last_auto_ok: None,
                    last_result: None,
                    last_finished: history.last_ok.get(&s.name).copied(),
                })
                .collect(),
            running: None,
            queue: VecDeque::new(),
            disks: BTreeMap::new(),
            last_manual_copy: history.last_manual_copy,
            overlay: None,
            notice: None,
            next_job_id: 1,
            stopping: false,
            notified_failing: false,
            eject_after_job: false,
            panel_problems: Vec::new(),
            last_restore_test: history.last_restore_test,
            restore_test_problem: None,
            restore_test_every: cfg.schedule.restore_test,
            restore_test_due: None,
            restore_testing: false,
            scrub_every: cfg.schedule.scrub,
            scrub_due: None,
            scrubbing: false,
            last_scrub: history.last_scrub,
            scrub_unfinished: history.scrub_unfinished,
            scrub_bad: Vec::new(),
            scrub_low: Vec::new(),
            audit_pending: 0,
            key_check_overdue: None,
            metrics_problem: None,
            offsite_enabled: !cfg.offsite.is_empty(),
            offsite_due: None,
            offsite_running: false,
            offsite_again: false,
            offsite_problems: Vec::new(),
            offsite_last_verified: history.last_offsite_verified,
        }
    }

    /// Targets for a job: static targets (of the allowed roles) and mounted enrolled disks.
    pub fn targets(&self, roles: &[Role]) -> Vec<Target> {
        let mut v: Vec<Target> = self
            .static_targets
            .iter()
            .filter(|t| roles.contains(&t.role))
            .cloned()
            .collect();
        for d in self.disks.values() {
            if d.phase != DiskPhase::Ready {
                continue;
            }
            let Some(view) = &d.view else { continue };
            let (Some(role), Some(point)) = (view.role, &view.mounted_at) else {
                continue;
            };
            if roles.contains(&role) {
                v.push(Target {
                    root: point.clone(),
                    role,
                    split_size: (view.fs_type.as_deref() == Some("vfat"))
                        .then_some(self.fat_split_size),
                    disk: Some(Box::new(crate::backup::writer::DiskName {
                        label: view.label.clone(),
                        uuid: view.uuid.clone(),
                    })),
                });
            }
        }
        v
    }

    /// A stable name for a target (the fleet's metrics): the disk's label, or the folder's name
    /// (a disk without a label is mounted under its UUID, which stays across plugs).
    pub fn target_label(&self, root: &std::path::Path) -> String {
        self.view_mounted_at(root)
            .map(|v| v.label.clone())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| folder_name(root))
    }

    /// The name the panel shows for a target, the same as on its disk screens: the disk's label,
    /// or its kernel name (sdf1) when it has none; a configured folder by the folder's name.
    pub fn shown_target_label(&self, root: &std::path::Path) -> String {
        self.view_mounted_at(root)
            .map(|v| v.shown_label())
            .unwrap_or_else(|| folder_name(root))
    }

    fn view_mounted_at(&self, root: &std::path::Path) -> Option<&DiskView> {
        self.disks.values().find_map(|d| {
            d.view
                .as_ref()
                .filter(|v| v.mounted_at.as_deref() == Some(root))
        })
    }

    /// Mounted manual-role disks.
    pub fn manual_disks(&self) -> Vec<PathBuf> {
        self.disks
            .iter()
            .filter(|(_, d)| {
                d.ejectable() && d.view.as_ref().and_then(|v| v.role) == Some(Role::Manual)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// A configured folder's name (or the whole path when it has no last component).
fn folder_name(root: &std::path::Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| root.display().to_string())
}
