//! The runtime: one worker loop ([`driver`]) that drives any comment source — the file
//! source (`crate::connectors::file`) and the Kafka source (`crate::kafka::source`) plug in
//! through one trait, [`crate::connectors::CommentSource`] — with one drain/emit path ([`emit`]), one snapshot path
//! ([`snapshots`]), one way to agree across processes ([`coordination`]) and a published
//! status other threads read ([`status`]).
//!
//! [`run`] sets a run up (signals, the lake, outputs, the timely workers), waits for the
//! workers and sums up what they did. The caller starts the HTTP server on the run's
//! [`RunHandle`] first, so the runtime knows nothing of HTTP.

pub mod alert_log;
pub mod coordination;
pub mod driver;
pub mod emit;
pub mod snapshots;
pub mod status;

use crate::connectors::file::{FileSource, InputSpec};
use crate::error::Error;
use crate::health::{Health, Phase};
use crate::kafka::source::KafkaSource;
use crate::settings::RunSettings;
use crate::sink::DeadLetters;
use anyhow::{anyhow, Context};
use dataflows::enrich::IngestCounters;
use dataflows::extract::MatcherCache;
use driver::{RunControl, WorkerContext, WorkerError, WorkerResult};
use emit::Outputs;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use status::StatusBoard;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use alert_log::{AlertLog, ALERT_LOG_CAPACITY};
pub use status::{peak_rss_bytes, resident_bytes, AlertView, Status, WINDOW_VIEW_MS};

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Records read (lines of the file inputs, or Kafka messages).
    pub lines: u64,
    pub entities: u64,
    pub counters: IngestCounters,
    pub dead_letters: std::collections::BTreeMap<&'static str, u64>,
    pub windows: u64,
    pub alerts: [u64; 3],
    pub watermark_ms: i64,
    pub elapsed: Duration,
    /// Peak resident memory of the process in bytes (Linux; None elsewhere).
    pub peak_rss_bytes: Option<u64>,
    /// Per-epoch processing time (µs): from an epoch's start to the graph finishing it.
    pub epoch_micros: Option<Histogram<u64>>,
    /// The snapshot the run restored from, and how long restoring took.
    pub restored_from: Option<(u64, Duration)>,
    /// Snapshots published, and the last one's manifest.
    pub snapshots: u64,
    pub last_snapshot: Option<crate::lake::Manifest>,
    /// The run stopped on SIGTERM/SIGINT before the end of its input.
    pub interrupted: bool,
    /// Kafka: alert events kept out of the alerts topic during catch-up (they are in the lake).
    pub suppressed: u64,
    /// Kafka: messages the brokers acknowledged, and messages that could not be delivered.
    pub delivered: u64,
    pub delivery_failures: u64,
}

impl RunSummary {
    /// The one-line summary printed at the end of a run.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let lake = match (&self.restored_from, &self.last_snapshot) {
            (None, None) => String::new(),
            (restored, last) => format!(
                "{}{}",
                restored.map_or(String::new(), |(id, took)| format!(
                    "; restored snapshot {id} ({} comments) in {:.2} s",
                    self.counters.restored,
                    took.as_secs_f64()
                )),
                last.as_ref().map_or(String::new(), |m| format!(
                    "; lake: {} snapshot(s), current = {} (frontier {}, {} comments, {} mentions, {} window rows, {} alert events)",
                    self.snapshots,
                    m.id,
                    m.frontier,
                    m.tables.get("comments").map_or(0, |t| t.rows),
                    m.tables.get("mentions").map_or(0, |t| t.rows),
                    m.tables.get("entity_windows").map_or(0, |t| t.rows),
                    m.tables.get("alerts").map_or(0, |t| t.rows),
                ))
            ),
        };
        let dead: u64 = self.dead_letters.values().sum();
        let reasons = self
            .dead_letters
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{}read {} records in {:.2} s ({:.0}/s): {} inserts, {} edits, {} deletes; {} dead letters{}; {} windows; alerts: {} fired, {} updated, {} retracted; watermark {}{}",
            if self.interrupted { "interrupted: " } else { "" },
            self.lines,
            secs,
            self.lines as f64 / secs,
            self.counters.inserts,
            self.counters.edits,
            self.counters.deletes,
            dead,
            if reasons.is_empty() { String::new() } else { format!(" ({reasons})") },
            self.windows,
            self.alerts[0],
            self.alerts[1],
            self.alerts[2],
            dataflows::format_rfc3339_ms(self.watermark_ms),
            lake,
        )
    }

    /// Adds one worker's result.
    fn add(&mut self, result: WorkerResult) {
        let c = &mut self.counters;
        let r = &result.counters;
        c.inserts += r.inserts;
        c.edits += r.edits;
        c.deletes += r.deletes;
        c.deletes_unknown += r.deletes_unknown;
        c.refused += r.refused;
        c.evicted += r.evicted;
        c.restored += r.restored;
        c.catalog_changes = c.catalog_changes.max(r.catalog_changes);
        self.lines += result.records;
        self.entities = self.entities.max(result.entities);
        self.interrupted |= result.interrupted;
        if let Some((windows, alerts, watermark)) = result.table {
            self.windows = windows;
            self.alerts = alerts;
            self.watermark_ms = watermark;
        }
        if result.epoch_micros.is_some() {
            self.epoch_micros = result.epoch_micros;
        }
        self.snapshots += result.snapshots;
        self.suppressed += result.suppressed;
        if result.last_snapshot.is_some() {
            self.last_snapshot = result.last_snapshot;
        }
    }
}

/// A run under way: what other threads (the HTTP server) may read of it.
#[derive(Clone)]
pub struct RunHandle {
    pub health: Arc<Health>,
    pub status: Arc<StatusBoard>,
    /// Alert events as they are handed out (the alert stream's buffer).
    pub alerts: Arc<AlertLog>,
}

impl RunHandle {
    /// The handle of a run with these settings, before it starts.
    pub fn new(settings: &RunSettings, dead_letters: &DeadLetters) -> RunHandle {
        // Kafka workers report every epoch (100 ms by default); one silent for 10 s is
        // blocked.
        let heartbeat = settings.kafka.as_ref().map(|_| Duration::from_secs(10));
        let health = Arc::new(Health::new(settings.workers.max(1), heartbeat));
        RunHandle {
            status: Arc::new(StatusBoard::new(health.clone(), dead_letters.clone())),
            health,
            alerts: Arc::default(),
        }
    }
}

/// Runs the pipeline (see the module docs), publishing through `handle`.
pub fn run(
    settings: RunSettings,
    alerts_out: Box<dyn Write + Send>,
    dead_letters: DeadLetters,
    handle: &RunHandle,
) -> Result<RunSummary, Error> {
    let result = run_with(settings, alerts_out, dead_letters, handle);
    handle.health.phase(Phase::Finished, None);
    result
}

/// The progress bar over the file inputs' bytes (None when not shown).
fn progress_bar(settings: &RunSettings, total_bytes: u64) -> Option<ProgressBar> {
    if !settings.show_progress || total_bytes == 0 || settings.kafka.is_some() {
        return None;
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// The progress bar's message, from the published status (records, alerts, watermark),
/// until dropped.
struct ProgressMessages(Arc<AtomicBool>);

impl ProgressMessages {
    fn start(bar: ProgressBar, status: Arc<StatusBoard>) -> ProgressMessages {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let now = status.current();
                if now.watermark_ms > i64::MIN {
                    bar.set_message(format!(
                        "{} records, {} alerts fired, watermark {}",
                        now.records(),
                        now.alerts[0],
                        dataflows::format_rfc3339_ms(now.watermark_ms)
                    ));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        ProgressMessages(done)
    }
}

impl Drop for ProgressMessages {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// SIGTERM / SIGINT: stop reading at an epoch boundary, snapshot, exit 0. A second signal
/// exits at once (130). Installed before the lake is locked, so a lock seen means a SIGTERM
/// is handled.
fn stop_on_signals() -> Result<Arc<AtomicBool>, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("cannot install a signal handler")?;
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install a signal handler")?;
    }
    Ok(stop)
}

/// The Kafka output topics, once the brokers answer and the input topics exist (or a clear
/// error, within kafka.connect_timeout), before anything else talks to them.
fn kafka_sinks(
    settings: &RunSettings,
    health: &Health,
) -> Result<Option<Arc<crate::kafka::Sinks>>, Error> {
    let Some(kafka) = &settings.kafka else {
        return Ok(None);
    };
    let consumer = kafka.consumer("chatter-check")?;
    health.phase(
        Phase::Connecting,
        Some(format!("connecting to the Kafka brokers {}", kafka.brokers)),
    );
    kafka.wait_for_topics(&consumer, &kafka.topics, Some(health))?;
    health.phase(Phase::Starting, None);
    if let Some(topic) = &kafka.entities_topic {
        kafka
            .wait_for_topics(&consumer, std::slice::from_ref(topic), None)
            .map_err(|e| {
                anyhow!("{e:#} (or set kafka.entities_topic = \"\" to run without a catalog topic)")
            })?;
    }
    let sinks = crate::kafka::Sinks::new(kafka)?;
    sinks.ensure_topics()?;
    Ok(Some(Arc::new(sinks)))
}

fn run_with(
    settings: RunSettings,
    alerts_out: Box<dyn Write + Send>,
    dead_letters: DeadLetters,
    handle: &RunHandle,
) -> Result<RunSummary, Error> {
    let windows_out = match &settings.windows_out {
        Some(path) => Some(crate::sink::open_output(path)?),
        None => None,
    };
    let total_bytes = settings
        .inputs
        .iter()
        .map(|input| input.check("input"))
        .sum::<anyhow::Result<u64>>()
        .map_err(Error::Usage)?;
    if let Some(entities) = &settings.entities {
        InputSpec::File(entities.clone())
            .check("entities file")
            .map_err(Error::Usage)?;
    }
    let stop = stop_on_signals()?;
    handle.health.watch_stop(stop.clone());
    let lake = settings
        .lake
        .as_ref()
        .map(|lake| snapshots::open_lake(&settings, lake))
        .transpose()?;
    let plan = lake.as_ref().and_then(|l| l.plan.clone());
    if let Some(plan) = &plan {
        let manifest = &plan.snapshot.manifest;
        crate::say!(
            "resuming from snapshot {} in {} (watermark {}, {} comments; input at line {})",
            manifest.id,
            plan.snapshot.dir.display(),
            manifest.watermark,
            manifest.tables.get("comments").map_or(0, |t| t.rows),
            manifest.sources.global_line()
        );
    }
    let started = Instant::now();
    let sinks = kafka_sinks(&settings, &handle.health).map_err(|error| {
        if handle.health.stop_requested() {
            Error::Stopped("stopped (SIGTERM/SIGINT) while connecting to the Kafka brokers: nothing was read or written".into())
        } else {
            error
        }
    })?;
    let dead_letters = match &sinks {
        Some(sinks) => {
            let sinks = sinks.clone();
            dead_letters.forward_to(Arc::new(move |source, reason, error, raw| {
                sinks.dead_letter(source, reason, error, raw)
            }))
        }
        None => dead_letters,
    };
    let outputs = Arc::new(Outputs {
        alerts: Mutex::new(alerts_out),
        windows: Mutex::new(windows_out),
        error: Mutex::new(None),
        sinks: sinks.clone(),
        alert_log: handle.alerts.clone(),
    });
    let progress = progress_bar(&settings, total_bytes);
    let _messages = progress
        .clone()
        .map(|bar| ProgressMessages::start(bar, handle.status.clone()));
    let shared = Shared {
        settings: settings.clone(),
        outputs: outputs.clone(),
        dead_letters: dead_letters.clone(),
        table: snapshots::source_table(&settings),
        cache: MatcherCache::default(),
        lake,
        stop,
        restore_time: Arc::default(),
        failed: Arc::default(),
        handle: handle.clone(),
        progress: progress.clone(),
        bytes_read: Arc::default(),
    };
    let restore_time = shared.restore_time.clone();
    let results = execute(&settings, shared)?;
    let mut summary = RunSummary::default();
    let mut failure: Option<WorkerError> = None;
    for result in results {
        match result {
            Ok(result) => summary.add(result),
            // Report the failure itself, not the peers that stopped because of it.
            Err(error) => {
                let rank = |e: &WorkerError| match e {
                    WorkerError::PeerFailed => 0,
                    WorkerError::SourceFailed(..) => 1,
                    WorkerError::Failed(_) => 2,
                };
                if failure.as_ref().is_none_or(|f| rank(f) < rank(&error)) {
                    failure = Some(error);
                }
            }
        }
    }
    if let Some(WorkerError::SourceFailed(error, published)) = failure {
        // The run stopped at an agreed epoch; what the lake kept is worker 0's to say.
        let last = summary.last_snapshot.as_ref().map(|m| m.id).or(published);
        let kept = match last {
            Some(id) => format!("the lake holds what was processed (snapshot {id})"),
            None => {
                "no snapshot was taken by this run (a restart resumes from the lake's last one)"
                    .into()
            }
        };
        failure = Some(WorkerError::Failed(
            error.context(format!("the input failed and the run stopped; {kept}")),
        ));
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    summary.elapsed = started.elapsed();
    summary.peak_rss_bytes = peak_rss_bytes();
    summary.restored_from = plan.as_ref().map(|p| {
        let took = restore_time.lock().ok().and_then(|t| *t);
        (p.snapshot.manifest.id, took.unwrap_or_default())
    });
    finish(summary, failure, &outputs, &dead_letters)
}

/// Flushes the outputs and turns the first failure (a worker's, or a write's) into the run's
/// error.
fn finish(
    mut summary: RunSummary,
    failure: Option<WorkerError>,
    outputs: &Outputs,
    dead_letters: &DeadLetters,
) -> Result<RunSummary, Error> {
    if let Ok(mut out) = outputs.alerts.lock() {
        out.flush().context("cannot flush alert events")?;
    }
    if let Some(error) = failure {
        return Err(Error::Failed(anyhow!("{error}")));
    }
    if let Ok(mut guard) = outputs.windows.lock() {
        if let Some(out) = guard.as_mut() {
            out.flush().context("cannot flush window rows")?;
        }
    }
    if let Some(error) = outputs.error.lock().ok().and_then(|mut e| e.take()) {
        return Err(Error::Failed(anyhow!("writing outputs failed: {error}")));
    }
    dead_letters.finish()?;
    summary.dead_letters = dead_letters.counts();
    if let Some(sinks) = &outputs.sinks {
        sinks.flush();
        summary.delivered = sinks.context().delivered.load(Ordering::Relaxed);
        summary.delivery_failures = sinks.context().failed.load(Ordering::Relaxed);
        if summary.delivery_failures > 0 {
            return Err(Error::Failed(anyhow!(
                "{} message(s) could not be delivered to Kafka (last: {}): check the topics exist and the producer's permissions",
                summary.delivery_failures,
                sinks.last_error().unwrap_or_default()
            )));
        }
    }
    Ok(summary)
}

/// What every worker thread of the process gets.
#[derive(Clone)]
struct Shared {
    settings: RunSettings,
    outputs: Arc<Outputs>,
    dead_letters: DeadLetters,
    table: crate::connectors::SourceTable,
    cache: MatcherCache,
    lake: Option<snapshots::LakeRun>,
    stop: Arc<AtomicBool>,
    restore_time: Arc<Mutex<Option<Duration>>>,
    failed: Arc<AtomicBool>,
    handle: RunHandle,
    progress: Option<ProgressBar>,
    bytes_read: Arc<AtomicU64>,
}

/// One worker thread: its source, then the driver.
fn worker_main(
    worker: &mut timely::worker::Worker,
    shared: &Shared,
) -> Result<WorkerResult, WorkerError> {
    let (index, peers) = (worker.index(), worker.peers());
    let settings = &shared.settings;
    let control = RunControl {
        lake: shared.lake.clone(),
        stop: shared.stop.clone(),
        restore_time: shared.restore_time.clone(),
        failed: shared.failed.clone(),
        health: shared.handle.health.clone(),
        status: shared.handle.status.clone(),
    };
    let context = WorkerContext {
        settings,
        outputs: &shared.outputs,
        dead_letters: &shared.dead_letters,
        table: &shared.table,
        cache: shared.cache.clone(),
    };
    let plan = shared.lake.as_ref().and_then(|l| l.plan.as_ref());
    let resume = plan.map(|p| (&p.snapshot.manifest.sources, p.snapshot.manifest.frontier));
    let mut source: Box<dyn crate::connectors::CommentSource> = match &settings.kafka {
        Some(kafka) => {
            let positions = resume.map_or(&[][..], |(s, _)| s.kafka());
            Box::new(KafkaSource::new(kafka, (index, peers), positions)?)
        }
        None => Box::new(FileSource::new(
            &settings.inputs,
            settings.entities.clone(),
            settings.batch_records,
            (index, peers),
            resume,
            shared.bytes_read.clone(),
            shared.progress.clone().filter(|_| index == 0),
        )),
    };
    driver::drive(worker, &context, source.as_mut(), &control)
}

/// Starts the timely workers (of this process of the cluster) and waits for them.
fn execute(
    settings: &RunSettings,
    shared: Shared,
) -> Result<Vec<Result<WorkerResult, WorkerError>>, Error> {
    let workers = settings.workers.max(1);
    let timely_config = match &settings.cluster {
        None => timely::Config::process(workers),
        Some(cluster) => timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads: workers,
                process: cluster.process,
                addresses: cluster.hosts.clone(),
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        },
    };
    // A cluster: say what is awaited, keep timely's join messages out of stdout (where alert
    // events may go), and turn a lost peer into one clear error.
    let joined = Arc::new(AtomicBool::new(settings.cluster.is_none()));
    let aside = settings.cluster.as_ref().map(|cluster| {
        crate::say!(
            "process {} of {}: joining the cluster ({}); this waits until every process has started",
            cluster.process,
            cluster.hosts.len(),
            cluster.hosts.join(", ")
        );
        exit_on_lost_peer();
        exit_on_stop_while_joining(shared.stop.clone(), joined.clone());
        StdoutAside::new()
    });
    let joined_worker = joined.clone();
    WORKERS.store(workers, Ordering::SeqCst);
    let guards = timely::execute(timely_config, move |worker| {
        // Workers start once stdout is back (see above).
        while !joined_worker.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A worker that fails (or panics) tells its peers, which stop waiting for it.
        let _on_panic = FailOnPanic(shared.failed.clone());
        let result = worker_main(worker, &shared);
        // (A failed source stopped the run at an agreed epoch: its peers finish normally.)
        if matches!(
            result,
            Err(WorkerError::Failed(_) | WorkerError::PeerFailed)
        ) {
            shared.failed.store(true, Ordering::SeqCst);
        }
        result
    });
    // Also on an error: a worker thread that was started must not wait forever.
    drop(aside);
    joined.store(true, Ordering::Release);
    let guards =
        guards.map_err(|error| anyhow!("cannot start {workers} timely worker(s): {error}"))?;
    if let Some(cluster) = &settings.cluster {
        crate::say!(
            "process {} of {}: the cluster is complete",
            cluster.process,
            cluster.hosts.len()
        );
    }
    Ok(guards
        .join()
        .into_iter()
        .map(|result| {
            result
                .map_err(|error| WorkerError::Failed(anyhow!("a worker failed: {error}")))
                .and_then(|r| r)
        })
        .collect())
}

/// Points stdout at stderr while it lives: timely prints its progress in joining a cluster
/// ("awaiting connections …", "error connecting to worker …; retrying") to stdout, which may
/// be the alert events' JSON Lines.
struct StdoutAside(Option<std::os::fd::OwnedFd>);

impl StdoutAside {
    fn new() -> Self {
        use std::os::fd::AsFd;
        let _ = std::io::stdout().flush();
        let saved = std::io::stdout().as_fd().try_clone_to_owned().ok();
        match saved {
            Some(saved) if rustix::stdio::dup2_stdout(std::io::stderr().as_fd()).is_ok() => {
                StdoutAside(Some(saved))
            }
            _ => StdoutAside(None),
        }
    }
}

impl Drop for StdoutAside {
    fn drop(&mut self) {
        if let Some(saved) = self.0.take() {
            let _ = std::io::stdout().flush();
            let _ = rustix::stdio::dup2_stdout(&saved);
        }
    }
}

/// This process's workers, and how many of them finished their run without an error.
static WORKERS: AtomicUsize = AtomicUsize::new(usize::MAX);
static WORKERS_DONE: AtomicUsize = AtomicUsize::new(0);

/// A worker of this process finished its run (its last snapshot is published, its outputs
/// are out): called just before it drops its dataflows.
pub(crate) fn worker_finished() {
    WORKERS_DONE.fetch_add(1, Ordering::SeqCst);
}

/// In a cluster, a peer process that dies (or a broken connection) makes timely panic in its
/// network threads, and every worker after it. Instead: one line that says what happened and
/// what to do, and exit code 1 (like SIGKILL, this leaves the lake at its last snapshot).
/// Once every worker of this process has finished its run, a peer that exits first (and
/// resets the connection while timely tears down) is no failure: exit 0.
fn exit_on_lost_peer() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(cause) = message.strip_prefix("timely communication error: ") {
            if WORKERS_DONE.load(Ordering::SeqCst) >= WORKERS.load(Ordering::SeqCst) {
                tracing::info!(cause, "a peer process closed its connection after the run");
                std::process::exit(0);
            }
            crate::logging::fail(
                "cluster",
                &format!(
                    "lost the connection to another process of the cluster ({cause}); \
                 this process stops as well. Restart every process: they resume from the lake's \
                 last snapshot"
                ),
            );
            std::process::exit(1);
        }
        previous(info);
    }));
}

/// A cluster waits for every process to join, however long; SIGTERM / SIGINT meanwhile ends
/// this process at once, cleanly (no worker has started, nothing was written; the lake's lock
/// is an advisory lock, released with the process).
fn exit_on_stop_while_joining(stop: Arc<AtomicBool>, joined: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !joined.load(Ordering::Acquire) {
            if stop.load(Ordering::SeqCst) {
                crate::say!(
                    "stopped (SIGTERM/SIGINT) while joining the cluster: nothing was read or written"
                );
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// Sets the flag when the worker thread unwinds.
struct FailOnPanic(Arc<AtomicBool>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}
