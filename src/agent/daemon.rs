/*!
The event loop of `run`: owns the [`State`], feeds it events from every source (clock ticks,
udev, the control socket, the button, signals, finished jobs) and carries out the actions that
[`step`] returns, with threads for the slow ones (backups, disk checks, ejects, alerts). The
front panel is redrawn from the state after every event.
*/

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::control::{self, Incoming};
use super::sd::Notifier;
use super::state::*;
use super::step::{status_line, step};
use crate::backup::pipeline::Hooks;
use crate::catalog::Catalog;
use crate::config::{Config, Role};
use crate::disks::{device, mount, Disks};
use crate::jobs::backup_run::{self as run, Trigger};
use crate::kinds::RunFailure;

/// How `run` was started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Use the simulated panel (PNG files, LED JSON) whatever the config says.
    pub sim: bool,
    /// Scheduling runs this many times faster than real time (demos and tests).
    pub clock_speed: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sim: false,
            clock_speed: 1.0,
        }
    }
}

/// What reaches the loop.
pub enum Input {
    Event(Event),
    Control(Incoming),
}

/// The scheduling clock: real time, or real time sped up.
struct Clock {
    start: Instant,
    start_wall: DateTime<Utc>,
    speed: f64,
}

impl Clock {
    fn mono(&self) -> Mono {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as Mono
    }

    fn wall(&self) -> DateTime<Utc> {
        if self.speed == 1.0 {
            Utc::now()
        } else {
            self.start_wall + chrono::Duration::milliseconds(self.mono())
        }
    }
}

struct Job {
    cancel: Arc<AtomicBool>,
    join: JoinHandle<()>,
}

/// The front panel as the loop sees it.
pub trait PanelPort {
    /// Redraw from the state (called after every event; only changes are flushed).
    fn show(&mut self, state: &State);
    /// A button press or other user action: wake a dimmed display.
    fn wake(&mut self) {}
}

/// No panel at all (`[panel] kind = "none"`).
pub struct NoPanel;

impl PanelPort for NoPanel {
    fn show(&mut self, _state: &State) {}
}

struct Daemon {
    cfg: Arc<Config>,
    state: State,
    tx: Sender<Input>,
    rx: Receiver<Input>,
    replies: HashMap<ReplyId, Sender<Response>>,
    next_reply: ReplyId,
    job: Option<Job>,
    clock: Clock,
    sd: Notifier,
    exit: bool,
    panel: Box<dyn PanelPort>,
    catalog: Catalog,
    /// The background passes' (scrub, off-site) two flags: `background_pause` is set while a
    /// backup job runs (they wait), `background_stop` at shutdown (they stop).
    background_pause: Arc<AtomicBool>,
    background_stop: Arc<AtomicBool>,
    /// The last [`Event::Records`] sent, and when the key checks were last read.
    records: (usize, Option<Option<i64>>),
    key_checks_read: Option<Instant>,
    /// The Prometheus metrics, when `[metrics]` asks for them.
    metrics: Option<MetricsPort>,
}

/// The metrics as the loop drives them: a new snapshot after every job or disk change, and at
/// least every [`METRICS_EVERY`].
struct MetricsPort {
    exporter: super::metrics::Exporter,
    dirty: bool,
    last: Option<Instant>,
}

/// The metrics are refreshed at least this often.
const METRICS_EVERY: Duration = Duration::from_secs(60);

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One off-site pass (its own thread): the stores that failed, and when the newest remote copy
/// was verified. Another pass holding the lock (a `simdondar-backup offsite push`) is no failure.
fn offsite_pass(
    cfg: &Config,
    roots: &[std::path::PathBuf],
    stop: &AtomicBool,
    pause: &AtomicBool,
) -> (super::state::OffsiteProblems, Option<DateTime<Utc>>) {
    let problems = match crate::jobs::offsite::pass(cfg, roots, stop, pause) {
        Ok(outcomes) => outcomes
            .into_iter()
            .filter_map(|o| Some((o.name, o.failure?, o.message.unwrap_or_default())))
            .collect(),
        Err(busy) => {
            log::info!("off-site: {busy}");
            Vec::new()
        }
    };
    let last = Catalog::open(&cfg.state_dir).ok().and_then(|c| {
        cfg.offsite
            .iter()
            .filter_map(|o| c.last_offsite_verified(&o.name).ok().flatten())
            .filter_map(|t| parse_time(&t))
            .max()
    });
    (problems, last)
}

/// What the catalog remembers, for the schedule and the reminders.
fn history(cfg: &Config, catalog: &Catalog) -> History {
    let mut h = History::default();
    for s in &cfg.sources {
        if let Ok((last, ok)) = catalog.last_runs(&s.name) {
            if let Some(t) = last.and_then(|r| parse_time(&r.started_at)) {
                h.last_run.insert(s.name.clone(), t);
            }
            if let Some(t) = ok.and_then(|r| r.finished_at.and_then(|f| parse_time(&f))) {
                h.last_ok.insert(s.name.clone(), t);
            }
        }
    }
    h.last_restore_test = catalog
        .last_restore_test()
        .ok()
        .flatten()
        .and_then(|t| Some((parse_time(&t.tested_at)?, t.passed)));
    let scrub = crate::backup::scrub::Progress::load(&cfg.state_dir);
    h.last_scrub = scrub
        .last_finished
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
    h.scrub_unfinished = scrub.pass_started.is_some();
    h.last_offsite_verified = cfg
        .offsite
        .iter()
        .filter_map(|o| catalog.last_offsite_verified(&o.name).ok().flatten())
        .filter_map(|t| parse_time(&t))
        .max();
    h.last_manual_copy = catalog
        .last_manual_copy()
        .ok()
        .flatten()
        .and_then(|t| parse_time(&t));
    h
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(cfg: Config, opts: Options) -> Result<(), String> {
    let cfg = Arc::new(cfg);
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cfg.runtime_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.runtime_dir.display()))?;
    let socket = control::socket_path(&cfg.runtime_dir);
    if control::daemon_running(&socket) {
        return Err(format!(
            "another simdondar-backup daemon is running ({} answers); stop it first",
            socket.display()
        ));
    }
    // A daemon killed earlier may have left mounts behind: they are ours, remove them (15 s each
    // at most, well inside systemd's start timeout).
    cleanup_mounts_within(&cfg, Duration::from_secs(15));
    run::recover_interrupted(&cfg, &catalog);
    let hist = history(&cfg, &catalog);
    audit_start(&cfg, &catalog);

    let (tx, rx) = channel::<Input>();
    let (ctx, crx) = channel::<Incoming>();
    control::serve(
        &control::socket_path(&cfg.runtime_dir),
        cfg.agent.socket_group.as_deref(),
        ctx,
    )
    .map_err(|e| format!("cannot open the control socket: {e}"))?;
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for inc in crx {
                if tx.send(Input::Control(inc)).is_err() {
                    return;
                }
            }
        });
    }
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| format!("cannot handle signals: {e}"))?;
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.send(Input::Event(Event::Stop));
            }
        });
    }
    let watcher = if device::udev_running() {
        let tx = tx.clone();
        match device::watch(tx, |e| Input::Event(Event::Disk(e))) {
            Ok(w) => Some(w),
            Err(e) => {
                log::warn!("cannot follow udev ({e}): disks will not be detected");
                None
            }
        }
    } else {
        log::warn!("udev is not running: disks will not be detected (start systemd-udevd)");
        None
    };

    let (panel, panel_problems) = super::panel_port::make(&cfg, opts.sim, tx.clone());
    let mut state = State::new(&cfg, &hist, cfg.agent.schedule_offset);
    state.panel_problems = panel_problems;
    let metrics = start_metrics(&cfg, &mut state);
    let mut d = Daemon {
        state,
        cfg: cfg.clone(),
        tx,
        rx,
        replies: HashMap::new(),
        next_reply: 1,
        job: None,
        clock: Clock {
            start: Instant::now(),
            start_wall: Utc::now(),
            speed: if opts.clock_speed > 0.0 {
                opts.clock_speed
            } else {
                1.0
            },
        },
        sd: Notifier::from_env(),
        exit: false,
        records: (0, None),
        key_checks_read: None,
        metrics,
        panel,
        catalog,
        background_pause: Arc::new(AtomicBool::new(false)),
        background_stop: Arc::new(AtomicBool::new(false)),
    };
    log::info!(
        "simdondar-backup {} running: {} source(s), control socket {}",
        env!("CARGO_PKG_VERSION"),
        cfg.sources.len(),
        control::socket_path(&cfg.runtime_dir).display()
    );
    d.tick();
    d.sd.ready();
    d.event_loop();
    d.shutdown();
    drop(watcher);
    Ok(())
}

/// The metrics exporter and listener, when configured. A listener that cannot bind is an error in
/// the log and in `status`; the daemon and the textfile go on.
fn start_metrics(cfg: &Config, state: &mut State) -> Option<MetricsPort> {
    let m = &cfg.metrics;
    if m.textfile.is_none() && m.listen.is_none() {
        return None;
    }
    let exporter = super::metrics::Exporter::start(m.textfile.clone());
    if let Some(addr) = m.listen {
        match super::metrics::serve::start(addr, exporter.latest.clone()) {
            Ok(bound) => log::info!("metrics: serving http://{bound}/metrics"),
            Err(e) => {
                log::error!("{e}");
                state.metrics_problem = Some(e.to_string());
            }
        }
    }
    Some(MetricsPort {
        exporter,
        dirty: true,
        last: None,
    })
}

/// Records the start, and a configuration change since the last start (by the file's SHA-256).
fn audit_start(cfg: &Config, catalog: &Catalog) {
    use sha2::{Digest, Sha256};
    let sha = std::fs::read(&cfg.path)
        .map(|b| crate::util::hex(&Sha256::digest(&b)))
        .unwrap_or_default();
    let last = catalog.audit_entries().ok().and_then(|rows| {
        rows.into_iter()
            .rev()
            .find(|r| r.kind == "agent-start")
            .and_then(|r| {
                serde_json::from_str::<serde_json::Value>(&r.detail)
                    .ok()
                    .and_then(|v| v["config_sha256"].as_str().map(String::from))
            })
    });
    if last.as_deref().is_some_and(|l| l != sha) {
        crate::audit::record(
            catalog,
            "daemon",
            "config-change",
            &serde_json::json!({ "file": cfg.path.display().to_string(), "from": last, "to": sha }),
        );
    }
    crate::audit::record(
        catalog,
        "daemon",
        "agent-start",
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "config": cfg.path.display().to_string(),
            "config_sha256": sha,
        }),
    );
}

/// The agent's own mounts (enrolled disks and looks), innermost first.
fn our_mounts(cfg: &Config) -> Vec<PathBuf> {
    let dirs = [cfg.runtime_dir.join("disks"), cfg.runtime_dir.join("probe")];
    mount::mounts()
        .into_iter()
        .rev()
        .filter(|m| dirs.iter().any(|d| m.mount_point.starts_with(d)))
        .map(|m| m.mount_point)
        .collect()
}

/// Unmounts the agent's mounts, each waited for at most `limit`: a wedged mount must not keep
/// the daemon from starting or from stopping within its unit's timeout.
fn cleanup_mounts_within(cfg: &Config, limit: Duration) {
    for point in our_mounts(cfg) {
        match Disks::new(cfg).unmount_within(&point, limit) {
            Ok(_) => log::warn!("unmounted {}", point.display()),
            Err(e) => log::warn!("{e}"),
        }
        let _ = std::fs::remove_dir(&point);
    }
}

impl Daemon {
    fn tick(&mut self) {
        let synced = crate::clock::is_synchronized().unwrap_or(false);
        let e = Event::Tick {
            mono: self.clock.mono(),
            wall: self.clock.wall(),
            synced,
        };
        self.dispatch(e);
        self.check_records();
        self.refresh_metrics();
    }

    /// A new metrics snapshot for the exporter when something changed or a minute passed. The
    /// catalog reads are a few indexed queries; free space is measured by the exporter's thread.
    fn refresh_metrics(&mut self) {
        let Some(m) = &mut self.metrics else { return };
        if !m.dirty && m.last.is_some_and(|t| t.elapsed() < METRICS_EVERY) {
            return;
        }
        let snap = super::metrics::gather(&self.cfg, &self.state, &self.catalog, Utc::now());
        m.dirty = !m.exporter.offer(snap);
        m.last = Some(Instant::now());
    }

    /// Audit entries not written yet (every tick, in memory) and key checks due (the catalog,
    /// once a minute): an [`Event::Records`] when either changed.
    fn check_records(&mut self) {
        let pending = crate::audit::pending(&self.catalog);
        let mut key = self.records.1;
        if self
            .key_checks_read
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.key_checks_read = Some(Instant::now());
            key = if self.cfg.encryption.recipients.is_empty() {
                None
            } else {
                match crate::keycheck::status(
                    &self.catalog,
                    &self.cfg.encryption.recipients,
                    self.clock.wall(),
                ) {
                    Ok(s) => crate::keycheck::overdue(&s),
                    Err(e) => {
                        log::error!("key check: {e}");
                        key
                    }
                }
            };
        }
        if (pending, key) != self.records {
            self.records = (pending, key);
            self.dispatch(Event::Records {
                audit_pending: pending,
                key_check_overdue: key,
            });
        }
    }

    fn event_loop(&mut self) {
        let tick = Duration::from_millis(200);
        let mut last_tick = Instant::now();
        while !self.exit {
            match self.rx.recv_timeout(tick) {
                Ok(Input::Event(e)) => self.dispatch(e),
                Ok(Input::Control(inc)) => {
                    let id = self.next_reply;
                    self.next_reply += 1;
                    self.replies.insert(id, inc.reply);
                    // A monitoring poll is not an event: it must not write the SD card each time.
                    if inc.request.changes_state() {
                        crate::audit::record(
                            &self.catalog,
                            &format!("uid:{}", inc.uid),
                            "control",
                            &inc.request,
                        );
                    }
                    self.dispatch(Event::Request {
                        request: inc.request,
                        reply: id,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                self.tick();
            }
            self.sd.alive(&status_line(&self.state));
            self.panel.show(&self.state);
        }
    }

    fn dispatch(&mut self, e: Event) {
        if let Some(m) = &mut self.metrics {
            // A job ended or a disk came, went or changed: the metrics say so at the next tick.
            m.dirty |= matches!(
                e,
                Event::JobFinished { .. }
                    | Event::RestoreTestFinished { .. }
                    | Event::ScrubFinished { .. }
                    | Event::OffsiteFinished { .. }
                    | Event::DiskChecked(_)
                    | Event::DiskCheckFailed { .. }
                    | Event::Ejected { .. }
                    | Event::Disk(_)
            );
        }
        match &e {
            Event::Button(p) => {
                self.panel.wake();
                crate::audit::record(&self.catalog, "button", "button", p)
            }
            Event::Request {
                request: Request::Press { long },
                ..
            } => {
                self.panel.wake();
                crate::audit::record(
                    &self.catalog,
                    "control",
                    "button",
                    &serde_json::json!({ "simulated": true, "long": long }),
                )
            }
            Event::Ejected { devnode, result } => crate::audit::record(
                &self.catalog,
                "daemon",
                "disk-eject",
                &serde_json::json!({ "device": devnode.display().to_string(), "ok": result.is_ok(), "error": result.as_ref().err().map(|e| e.message.as_str()), "failure": result.as_ref().err().map(|e| e.kind) }),
            ),
            Event::DiskChecked(v) if v.role.is_some() => crate::audit::record(
                &self.catalog,
                "daemon",
                "disk-attach",
                &serde_json::json!({ "device": v.devnode.display().to_string(), "label": v.label, "role": v.role, "id": v.id }),
            ),
            _ => {}
        }
        for a in step(&mut self.state, e) {
            self.execute(a);
        }
    }

    fn send(tx: &Sender<Input>, e: Event) {
        let _ = tx.send(Input::Event(e));
    }

    fn execute(&mut self, a: Action) {
        match a {
            Action::StartJob(spec) => self.start_job(spec),
            Action::CheckDisk(dev) => {
                let cfg = self.cfg.clone();
                let tx = self.tx.clone();
                let limit = check_limit(cfg.agent.stall_timeout);
                std::thread::spawn(move || {
                    let devnode = dev.devnode.clone();
                    let e = check_bounded(limit, devnode, move || {
                        let disks = Disks::new(&cfg);
                        let view = disks.inspect(&dev);
                        if view.role.is_some() {
                            match disks.attach(&dev) {
                                Ok(a) => Event::DiskChecked(a.view),
                                // Damaged (its checker could not repair it): unreadable, amber.
                                Err(crate::disks::Refused {
                                    unreadable: Some(view),
                                    ..
                                }) => Event::DiskChecked(*view),
                                Err(r) => Event::DiskCheckFailed {
                                    devnode: dev.devnode.clone(),
                                    reason: r.reason,
                                },
                            }
                        } else {
                            Event::DiskChecked(view)
                        }
                    });
                    Daemon::send(&tx, e);
                });
            }
            Action::Eject { devnodes } => {
                let work: Vec<(PathBuf, Option<PathBuf>, device::BlockDev)> = devnodes
                    .iter()
                    .filter_map(|d| self.state.disks.get(d))
                    .map(|e| {
                        (
                            e.dev.devnode.clone(),
                            e.view.as_ref().and_then(|v| v.mounted_at.clone()),
                            e.dev.clone(),
                        )
                    })
                    .collect();
                let cfg = self.cfg.clone();
                let tx = self.tx.clone();
                // Every disk at once, under one deadline (issue 18).
                let deadline = std::time::Instant::now() + crate::disks::RELEASE_WAIT;
                std::thread::spawn(move || {
                    let disks = Disks::new(&cfg);
                    let mut mounted = Vec::new();
                    for (devnode, point, dev) in work {
                        match point {
                            Some(p) => mounted.push((p, Some(dev))),
                            None => Daemon::send(
                                &tx,
                                Event::Ejected {
                                    devnode,
                                    result: Ok(()),
                                },
                            ),
                        }
                    }
                    disks.eject_all(&mounted, true, deadline, |i, result| {
                        let (point, dev) = &mounted[i];
                        let Some(devnode) = dev.as_ref().map(|d| d.devnode.clone()) else {
                            return;
                        };
                        let result = result.map(|e| {
                            if e.lazy {
                                log::warn!("{}: only a lazy unmount worked", point.display());
                            }
                        });
                        Daemon::send(&tx, Event::Ejected { devnode, result });
                    });
                });
            }
            Action::RestoreTest { roots } => {
                let cfg = self.cfg.clone();
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    let (tested, passed, summary) =
                        crate::jobs::restore_test::scheduled(&cfg, &roots);
                    Daemon::send(
                        &tx,
                        Event::RestoreTestFinished {
                            tested,
                            passed,
                            summary,
                        },
                    );
                });
            }
            Action::Scrub { disks } => {
                let cfg = self.cfg.clone();
                let tx = self.tx.clone();
                let (pause, stop) = (self.background_pause.clone(), self.background_stop.clone());
                std::thread::spawn(move || {
                    let found = crate::jobs::scrub::pass(&cfg, disks, &pause, &stop);
                    Daemon::send(
                        &tx,
                        Event::ScrubFinished {
                            complete: found.complete,
                            bad: found.bad,
                            low: found.low,
                        },
                    );
                });
            }
            Action::Offsite { roots } => {
                let cfg = self.cfg.clone();
                let tx = self.tx.clone();
                let (pause, stop) = (self.background_pause.clone(), self.background_stop.clone());
                std::thread::spawn(move || {
                    let (problems, last_verified) = offsite_pass(&cfg, &roots, &stop, &pause);
                    Daemon::send(
                        &tx,
                        Event::OffsiteFinished {
                            problems,
                            last_verified,
                        },
                    );
                });
            }
            Action::CleanStale => {
                for p in Disks::new(&self.cfg).clean_stale() {
                    log::warn!("removed the stale mount {}", p.display());
                }
            }
            Action::CancelJob => {
                if let Some(j) = &self.job {
                    j.cancel.store(true, Ordering::Relaxed);
                }
            }
            Action::Reply { to, response } => {
                if let Some(r) = self.replies.remove(&to) {
                    let _ = r.send(response);
                }
            }
            Action::Notify { recovered, text } => {
                if recovered {
                    log::info!("{text}");
                } else {
                    log::error!("{text}");
                }
                let n = self.cfg.notify.clone();
                if n.webhook.is_some() || n.smtp_relay.is_some() {
                    std::thread::spawn(move || {
                        for p in super::alerts::deliver(&n, recovered, &text) {
                            log::warn!("notification failed: {p}");
                        }
                    });
                }
            }
            Action::Exit => self.exit = true,
        }
    }

    fn start_job(&mut self, spec: JobSpec) {
        let cfg = self.cfg.clone();
        let tx = self.tx.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let cancel2 = cancel.clone();
        let trigger = match spec.trigger {
            JobTrigger::Schedule => Trigger::Schedule,
            JobTrigger::Button => Trigger::Button,
            JobTrigger::Request => Trigger::Cli,
        };
        self.background_pause.store(true, Ordering::Relaxed);
        let pause = self.background_pause.clone();
        let join = std::thread::spawn(move || {
            let (id, sources) = (spec.id, spec.sources.clone());
            let results = caught(&sources, || run_job(&cfg, &spec, trigger, &cancel2, &tx));
            pause.store(false, Ordering::Relaxed);
            Daemon::send(&tx, Event::JobFinished { id, results });
        });
        self.job = Some(Job { cancel, join });
    }

    fn shutdown(&mut self) {
        self.sd.stopping();
        self.background_stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.job.take() {
            j.cancel.store(true, Ordering::Relaxed);
            // systemd's TimeoutStopSec is 90 s: 45 s for the job, then its disks are cut off.
            let deadline = Instant::now() + Duration::from_secs(45);
            while !j.join.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if !j.join.is_finished() {
                log::error!(
                    "the backup job did not stop within 45 s: its disks are cut off so that it can"
                );
                crate::disks::stuck::release_all(&our_mounts(&self.cfg));
            }
        }
        cleanup_mounts_within(&self.cfg, Duration::from_secs(15));
        let _ = std::fs::remove_file(control::socket_path(&self.cfg.runtime_dir));
        crate::audit::record(
            &self.catalog,
            "daemon",
            "agent-stop",
            &serde_json::json!({}),
        );
        log::info!("stopped");
    }
}

/// One job: each source in turn onto the job's targets.
fn run_job(
    cfg: &Config,
    spec: &JobSpec,
    trigger: Trigger,
    cancel: &AtomicBool,
    tx: &Sender<Input>,
) -> Vec<SourceResult> {
    let catalog = match Catalog::open(&cfg.state_dir) {
        Ok(c) => c,
        Err(e) => {
            return spec
                .sources
                .iter()
                .map(|s| failed(s, e.to_string(), RunFailure::Other))
                .collect()
        }
    };
    let mut out = Vec::new();
    for name in &spec.sources {
        if cancel.load(Ordering::Relaxed) {
            out.push(failed(
                name,
                "stopped: the agent was shut down before this source ran".into(),
                RunFailure::Cancelled,
            ));
            continue;
        }
        let Some(source) = cfg.source(name) else {
            out.push(failed(
                name,
                format!("no source named {name}"),
                RunFailure::Other,
            ));
            continue;
        };
        let expected = catalog.last_stream_bytes(name).ok().flatten();
        let started = Instant::now();
        let last_sent = Mutex::new(Instant::now() - Duration::from_secs(1));
        let progress = |bytes: u64| {
            let Ok(mut last) = last_sent.lock() else {
                return;
            };
            if last.elapsed() >= Duration::from_millis(500) {
                *last = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                Daemon::send(
                    tx,
                    Event::JobProgress(Progress {
                        source: name.clone(),
                        bytes,
                        rate_bytes_per_s: (bytes as f64 / secs) as u64,
                        expected_bytes: expected,
                    }),
                );
            }
        };
        let hooks = Hooks {
            cancel: Some(cancel),
            progress: Some(&progress),
        };
        match run::run_backup_with(cfg, source, &spec.targets, trigger, &catalog, &hooks) {
            Ok(r) => {
                let reason = r.reason.clone();
                out.push(SourceResult {
                    source: name.clone(),
                    ok: r.ok,
                    db_unreachable: r.failure == Some(RunFailure::DatabaseUnreachable),
                    failure: r.failure,
                    reason,
                    copies_ok: r.copies.iter().filter(|c| c.result.is_ok()).count() as u32,
                    copies_total: r.copies.len() as u32,
                    manual_copy: r
                        .copies
                        .iter()
                        .any(|c| c.result.is_ok() && c.target.role == Role::Manual),
                    bytes_stored: r.manifest.as_ref().map(|m| m.bytes_stored),
                    stuck: release_stuck(&r),
                });
            }
            Err(e) => out.push(failed(name, e.to_string(), e.kind())),
        }
    }
    out
}

/// Runs a job's body; a panic in it (a bug) becomes a failed run of each of its sources with a
/// reason that says so, so the daemon hears the job end and scheduling goes on.
fn caught(sources: &[String], body: impl FnOnce() -> Vec<SourceResult>) -> Vec<SourceResult> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(results) => results,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            log::error!("the backup job crashed: {what}");
            sources
                .iter()
                .map(|name| {
                    failed(
                        name,
                        format!(
                            "the backup job crashed (a bug: please report it with the journal of simdondar-backup): {what}; nothing of this run is counted, the next scheduled run goes ahead"
                        ),
                        RunFailure::Crashed,
                    )
                })
                .collect()
        }
    }
}

/// Frees every target of a run that stopped answering (aborts a hung FUSE driver) so that no
/// thread of the agent waits on it any more; returns their roots.
fn release_stuck(report: &run::RunReport) -> Vec<PathBuf> {
    let roots = report.not_answering();
    crate::disks::stuck::release_all(&roots);
    roots
}

fn failed(name: &str, reason: String, kind: RunFailure) -> SourceResult {
    SourceResult {
        source: name.to_string(),
        ok: false,
        db_unreachable: kind == RunFailure::DatabaseUnreachable,
        failure: Some(kind),
        reason: Some(reason),
        copies_ok: 0,
        copies_total: 0,
        manual_copy: false,
        bytes_stored: None,
        stuck: Vec::new(),
    }
}

/// How long a disk's check (mounts, the marker, free space, the enrolment's read-write mount) may
/// take in all: three stall timeouts, at least two minutes, and the time a dirty FAT32 or exFAT
/// volume's repair may take before that mount.
fn check_limit(stall_timeout: Duration) -> Duration {
    (stall_timeout * 3).max(Duration::from_secs(120)) + crate::disks::fsck::CHECK_LIMIT
}

/// Runs a disk's check, but never waits longer than `limit` for it: a mount that hangs (the lab
/// saw a disk that had stopped answering come back while the kernel still held its earlier,
/// stuck mount, and its check never ended) makes the check fail with words IT Support can act
/// on, instead of "checking" for ever. The hung call is left behind on its own thread.
fn check_bounded(
    limit: Duration,
    devnode: PathBuf,
    check: impl FnOnce() -> Event + Send + 'static,
) -> Event {
    match crate::bounded::within(limit, "check a disk", check) {
        Ok(e) => e,
        Err(_) => Event::DiskCheckFailed {
            reason: format!(
                "{} did not answer within {} s while it was mounted and read; unplug it, check it on a PC, and plug it back in",
                devnode.display(),
                limit.as_secs()
            ),
            devnode,
        },
    }
}

#[cfg(test)]
mod caught_tests {
    use super::*;

    #[test]
    fn a_panic_in_a_job_becomes_a_failed_run_of_each_source() {
        let sources = vec!["pmi".to_string(), "files".to_string()];
        let results = caught(&sources, || panic!("index out of bounds"));
        assert_eq!(results.len(), 2);
        for (r, name) in results.iter().zip(&sources) {
            assert_eq!(&r.source, name);
            assert!(!r.ok);
            assert_eq!(r.failure, Some(RunFailure::Crashed));
            let reason = r.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("index out of bounds"), "{reason}");
            assert!(reason.contains("crashed"), "{reason}");
        }
        let fine = caught(&sources, Vec::new);
        assert!(fine.is_empty());
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;

    #[test]
    fn a_disk_check_that_hangs_fails_at_its_limit_in_words() {
        let started = Instant::now();
        let e = check_bounded(
            Duration::from_millis(200),
            PathBuf::from("/dev/sdz"),
            || {
                std::thread::sleep(Duration::from_secs(600));
                Event::DiskCheckFailed {
                    devnode: PathBuf::from("/dev/sdz"),
                    reason: "never".into(),
                }
            },
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        let Event::DiskCheckFailed { devnode, reason } = e else {
            panic!("a hung check must end as a failed check");
        };
        assert_eq!(devnode, PathBuf::from("/dev/sdz"));
        assert!(
            reason.contains("/dev/sdz did not answer within 0 s"),
            "{reason}"
        );
        assert!(reason.contains("unplug it"), "{reason}");

        // A check that ends in time is passed on as it is.
        let ok = check_bounded(Duration::from_secs(30), PathBuf::from("/dev/sdy"), || {
            Event::DiskCheckFailed {
                devnode: PathBuf::from("/dev/sdy"),
                reason: "no file system".into(),
            }
        });
        assert!(matches!(ok, Event::DiskCheckFailed { reason, .. } if reason == "no file system"));

        // Three stall timeouts, never under two minutes, and the time a dirty FAT's repair may
        // take (the daemon must not give up on a disk whose checker is still within its limit).
        let repair = crate::disks::fsck::CHECK_LIMIT;
        assert_eq!(
            check_limit(Duration::from_secs(20)),
            Duration::from_secs(120) + repair
        );
        assert_eq!(
            check_limit(Duration::from_secs(60)),
            Duration::from_secs(180) + repair
        );
    }
}
