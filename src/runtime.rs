//! The timely worker loop for the file source: read, decode, feed epochs, advance the
//! watermark, drain alerts and dead letters, report progress and a summary.
//!
//! Every worker scans every comment input and decodes the lines whose global line number
//! falls to it (`line % workers == index`); stdin is read by worker 0 alone. A batch of
//! `batch_records` lines is one epoch (so results do not depend on the worker count), and at
//! most two epochs are in flight. The catalog file is loaded by worker 0 as epoch 0. At the
//! end of input a flush makes every window seen final, so its alerts are emitted.

use crate::decode::{decode_comment, decode_entity, DecodeLimits, Reason};
use crate::health::{Health, Phase};
use crate::lake::tables::DeadLetterRecord;
use crate::lake::writer::{LakeShared, RestorePlan};
use crate::lake::{FilePosition, Lake, Snapshot, Sources};
use crate::sink::{file_source, now_ms, AlertJson, DeadLetters, WindowJson};
use crate::source::{InputSpec, Line, LineReader};
use anyhow::{anyhow, Context, Result};
use dataflows::enrich::IngestCounters;
use dataflows::extract::MatcherCache;
use dataflows::model::{Position, Positioned};
use dataflows::velocity::TableState;
use dataflows::{Control, Graph, Hooks, Params};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a run needs, validated.
#[derive(Clone)]
pub struct RunSettings {
    pub inputs: Vec<InputSpec>,
    pub entities: Option<PathBuf>,
    pub params: Params,
    pub workers: usize,
    pub batch_records: u64,
    pub max_record_bytes: usize,
    pub show_progress: bool,
    /// Where to write the `entity_windows` rows (JSON Lines) as they become final.
    pub windows_out: Option<PathBuf>,
    /// The lake (snapshots and checkpoint), if any.
    pub lake: Option<LakeSettings>,
    /// Read Kafka topics instead of files.
    pub kafka: Option<crate::kafka::KafkaSettings>,
    /// This process's place in a timely cluster (None: one process).
    pub cluster: Option<Cluster>,
    /// Serve /healthz and /readyz on this host:port.
    pub http: Option<String>,
}

/// `--processes N --process I --hosts FILE`.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
}

/// Where and how often to snapshot.
#[derive(Clone, Debug)]
pub struct LakeSettings {
    pub root: PathBuf,
    pub keep: usize,
    /// Processing time between snapshots.
    pub interval: Duration,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
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
    /// Per-epoch processing time (µs): from sending an epoch to the graph finishing it.
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
}

/// Sends epoch `epoch` on its way and waits until at most one epoch is unfinished.
pub(crate) fn advance(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    epoch: u64,
    control: &RunControl,
) -> Result<()> {
    // A failed peer never sends its end of input or its signals (a bounded Kafka run would
    // wait for them forever), so every epoch starts with a look at the flag.
    if control.failed.load(Ordering::SeqCst) {
        return Err(PeerFailed.into());
    }
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    graph.comments.flush();
    graph.control.flush();
    finish_before(worker, graph, epoch.saturating_sub(1), control)
}

/// Steps the graph until it has finished every epoch before `epoch`. Fails instead of waiting
/// forever when a peer worker failed (its part of the graph will never finish).
pub(crate) fn finish_before(
    worker: &mut timely::worker::Worker,
    graph: &Graph,
    epoch: u64,
    control: &RunControl,
) -> Result<()> {
    while graph.probe.less_than(&epoch) {
        if control.failed.load(Ordering::SeqCst) {
            return Err(PeerFailed.into());
        }
        // Park (up to 1 ms) when there is nothing to do rather than spin: a waiting worker
        // leaves the core to the others, and to the broker when it shares the machine.
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    Ok(())
}

/// Per-worker result.
pub(crate) struct WorkerResult {
    pub(crate) counters: IngestCounters,
    pub(crate) lines: u64,
    pub(crate) entities: u64,
    pub(crate) table: Option<(u64, [u64; 3], i64)>,
    pub(crate) epoch_micros: Option<Histogram<u64>>,
    pub(crate) snapshots: u64,
    pub(crate) last_snapshot: Option<crate::lake::Manifest>,
    pub(crate) interrupted: bool,
    /// Alert events kept out of the alerts topic during catch-up.
    pub(crate) suppressed: u64,
}

/// The lake side of a run: the writer, and the snapshot to resume from.
#[derive(Clone)]
pub(crate) struct LakeRun {
    pub(crate) shared: Arc<LakeShared>,
    pub(crate) plan: Option<Arc<RestorePlan>>,
    pub(crate) interval: Duration,
    pub(crate) next_id: u64,
}

/// Opens the lake and finds the snapshot to resume from; checks that it fits this run.
pub(crate) fn open_lake(settings: &RunSettings, lake: &LakeSettings) -> Result<LakeRun> {
    let usage = |e: anyhow::Error| anyhow::Error::new(crate::cli::UsageError(e));
    let opened = match &settings.cluster {
        // Process 0 of a cluster writes the lake; the others stage their parts in it (a
        // directory all processes share) and wait for process 0 to create it.
        Some(cluster) if cluster.process != 0 => {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match Lake::open_existing(&lake.root) {
                    Ok(lake) => break lake,
                    Err(error) if Instant::now() > deadline => return Err(usage(error)),
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        _ => Lake::open_or_create(&lake.root).map_err(usage)?,
    };
    let next_id = opened.snapshot_ids()?.last().map_or(1, |id| id + 1);
    let plan = match opened.newest_valid()? {
        None => None,
        Some(snapshot) => {
            let state = snapshot.state()?;
            if state.params != settings.params {
                return Err(usage(anyhow!(
                    "the lake {} was written with other windows/alerts/extract settings than this run's: resume with the config that wrote it, or use a new --lake directory",
                    lake.root.display()
                )));
            }
            let recorded: Vec<&str> = snapshot
                .manifest
                .sources
                .files
                .iter()
                .map(|f| f.input.as_str())
                .collect();
            let given: Vec<String> = settings.inputs.iter().map(InputSpec::name).collect();
            // The same inputs in the same order; more may be appended (they are read after).
            let same = |a: &str, b: &str| {
                a == b
                    || matches!(
                        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                        (Ok(x), Ok(y)) if x == y
                    )
            };
            let matches = recorded.len() <= given.len()
                && recorded.iter().zip(&given).all(|(a, b)| same(a, b));
            if !matches {
                return Err(usage(anyhow!(
                    "the lake {} was written from the inputs {:?}, this run reads {:?}: resume with the same inputs in the same order (new ones may follow them), or use a new --lake directory",
                    lake.root.display(),
                    recorded,
                    given
                )));
            }
            // A crash between publishing a snapshot and moving `current` leaves `current`
            // one behind: repair it.
            opened.point_current(snapshot.manifest.id)?;
            Some(Arc::new(RestorePlan { snapshot, state }))
        }
    };
    let names = settings.clone();
    let provenance: crate::lake::writer::ProvenanceFn = match &settings.kafka {
        Some(kafka) => {
            let kafka = kafka.clone();
            Arc::new(move |source, offset| {
                crate::kafka::run::refusal_source(&kafka, Position { source, offset })
            })
        }
        None => Arc::new(move |source, offset| file_source(&source_name(&names, source), offset)),
    };
    let shared = Arc::new(LakeShared::new(
        opened,
        lake.keep,
        settings.params.clone(),
        provenance,
    ));
    Ok(LakeRun {
        shared,
        plan,
        interval: lake.interval,
        next_id,
    })
}

/// Runs the pipeline over the file source.
pub fn run(
    settings: RunSettings,
    alerts_out: Box<dyn Write + Send>,
    dead_letters: DeadLetters,
) -> Result<RunSummary> {
    // Kafka workers report every 500 ms; one silent for 10 s is blocked.
    let heartbeat = settings.kafka.as_ref().map(|_| Duration::from_secs(10));
    let health = Arc::new(Health::new(settings.workers.max(1), heartbeat));
    if let Some(listen) = &settings.http {
        crate::http::serve(listen, health.clone())
            .map_err(|e| anyhow::Error::new(crate::cli::UsageError(e)))?;
    }
    let result = run_with(settings, alerts_out, dead_letters, &health);
    health.phase(Phase::Finished, None);
    result
}

fn run_with(
    settings: RunSettings,
    alerts_out: Box<dyn Write + Send>,
    dead_letters: DeadLetters,
    health: &Arc<Health>,
) -> Result<RunSummary> {
    let windows_out: Arc<Mutex<Option<Box<dyn Write + Send>>>> =
        Arc::new(Mutex::new(match &settings.windows_out {
            Some(path) => Some(crate::sink::open_output(path)?),
            None => None,
        }));
    let total_bytes: u64 = settings
        .inputs
        .iter()
        .map(|input| input.check("input"))
        .sum::<Result<u64>>()?;
    if let Some(entities) = &settings.entities {
        InputSpec::File(entities.clone()).check("entities file")?;
    }
    // SIGTERM / SIGINT: stop reading at the next epoch boundary, snapshot, exit 0. A second
    // SIGINT exits at once. Installed before the lake is locked, so a lock seen means a
    // SIGTERM is handled.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("cannot install a signal handler")?;
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install a signal handler")?;
    }
    let lake = settings
        .lake
        .as_ref()
        .map(|lake| open_lake(&settings, lake))
        .transpose()?;
    let restored_from = lake
        .as_ref()
        .and_then(|l| l.plan.as_ref())
        .map(|p| p.snapshot.manifest.id);
    if let Some(plan) = lake.as_ref().and_then(|l| l.plan.as_ref()) {
        let manifest = &plan.snapshot.manifest;
        eprintln!(
            "chatter: resuming from snapshot {} in {} (watermark {}, {} comments; input at line {})",
            manifest.id,
            plan.snapshot.dir.display(),
            manifest.watermark,
            manifest.tables.get("comments").map_or(0, |t| t.rows),
            manifest.sources.global_line
        );
    }
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    let failed = Arc::new(AtomicBool::new(false));
    let bytes_read = Arc::new(AtomicU64::new(0));
    let progress = if settings.show_progress && total_bytes > 0 {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let alerts_out = Arc::new(Mutex::new(alerts_out));
    let alert_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let restore_time: Arc<Mutex<Option<Duration>>> = Arc::default();
    let cache = MatcherCache::default();
    let workers = settings.workers.max(1);
    let sinks = match &settings.kafka {
        Some(kafka) => {
            // The brokers answer and the input topics exist (or a clear error, within
            // kafka.connect_timeout), before anything else talks to them.
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
                    .map_err(|e| anyhow!("{e:#} (or set kafka.entities_topic = \"\" to run without a catalog topic)"))?;
            }
            let sinks = crate::kafka::Sinks::new(kafka)?;
            sinks.ensure_topics()?;
            Some(Arc::new(sinks))
        }
        None => None,
    };
    let dead_letters = match &sinks {
        Some(sinks) => {
            let sinks = sinks.clone();
            dead_letters.forward_to(Arc::new(
                move |source: &str, reason, error: &str, raw: &[u8]| {
                    sinks.dead_letter(source, reason, error, raw)
                },
            ))
        }
        None => dead_letters,
    };
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
    let shared = (
        settings.clone(),
        cache,
        dead_letters.clone(),
        alerts_out.clone(),
        alert_error.clone(),
        bytes_read.clone(),
        progress.clone(),
        windows_out.clone(),
        (lake, stop, stop_at, restore_time.clone(), failed),
        (sinks.clone(), health.clone()),
    );
    // A cluster: say what is awaited, keep timely's join messages out of stdout (where alert
    // events may go), and turn a lost peer into one clear error.
    let joined = Arc::new(AtomicBool::new(settings.cluster.is_none()));
    let aside = settings.cluster.as_ref().map(|cluster| {
        eprintln!(
            "chatter: process {} of {}: joining the cluster ({}); this waits until every process has started",
            cluster.process,
            cluster.hosts.len(),
            cluster.hosts.join(", ")
        );
        exit_on_lost_peer();
        StdoutAside::new()
    });
    let joined_worker = joined.clone();
    let guards = timely::execute(timely_config, move |worker| {
        // Workers start once stdout is back (see above).
        while !joined_worker.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (
            settings,
            cache,
            dead_letters,
            alerts_out,
            alert_error,
            bytes_read,
            progress,
            windows,
            (lake, stop, stop_at, restore_time, failed),
            (sinks, health),
        ) = shared.clone();
        let outputs = Outputs {
            dead_letters: &dead_letters,
            alerts: &alerts_out,
            alert_error: &alert_error,
            windows: &windows,
            worker: worker.index(),
        };
        let control = RunControl {
            lake,
            stop,
            stop_at,
            restore_time,
            failed: failed.clone(),
            health,
        };
        // A worker that fails (or panics) tells its peers, which stop waiting for it.
        let _on_panic = FailOnPanic(failed.clone());
        let result = if let (Some(kafka), Some(sinks)) = (&settings.kafka, &sinks) {
            crate::kafka::run::run_worker(worker, &settings, kafka, sinks, cache, &outputs, control)
        } else {
            run_worker(
                worker,
                &settings,
                cache,
                &outputs,
                &bytes_read,
                progress.as_ref(),
                control,
            )
        };
        if result.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        result
    });
    // Also on an error: a worker thread that was started must not wait forever.
    drop(aside);
    joined.store(true, Ordering::Release);
    let guards =
        guards.map_err(|error| anyhow!("cannot start {workers} timely worker(s): {error}"))?;
    if let Some(cluster) = &settings.cluster {
        eprintln!(
            "chatter: process {} of {}: the cluster is complete",
            cluster.process,
            cluster.hosts.len()
        );
    }
    let mut summary = RunSummary::default();
    let mut failure: Option<anyhow::Error> = None;
    for result in guards.join() {
        let result = match result.map_err(|error| anyhow!("a worker failed: {error}")) {
            Ok(Ok(result)) => result,
            Ok(Err(error)) | Err(error) => {
                // Report the failure itself, not the peers that stopped because of it.
                if failure
                    .as_ref()
                    .is_none_or(|f| f.downcast_ref::<PeerFailed>().is_some())
                {
                    failure = Some(error);
                }
                continue;
            }
        };
        let c = &mut summary.counters;
        c.inserts += result.counters.inserts;
        c.edits += result.counters.edits;
        c.deletes += result.counters.deletes;
        c.deletes_unknown += result.counters.deletes_unknown;
        c.refused += result.counters.refused;
        c.evicted += result.counters.evicted;
        c.restored += result.counters.restored;
        c.catalog_changes = c.catalog_changes.max(result.counters.catalog_changes);
        // File inputs: every worker scans every line; Kafka: each reads its partitions.
        summary.lines = if settings.kafka.is_some() {
            summary.lines + result.lines
        } else {
            summary.lines.max(result.lines)
        };
        summary.entities = summary.entities.max(result.entities);
        summary.interrupted |= result.interrupted;
        if let Some((windows, alerts, watermark)) = result.table {
            summary.windows = windows;
            summary.alerts = alerts;
            summary.watermark_ms = watermark;
        }
        if result.epoch_micros.is_some() {
            summary.epoch_micros = result.epoch_micros;
        }
        summary.snapshots += result.snapshots;
        summary.suppressed += result.suppressed;
        if result.last_snapshot.is_some() {
            summary.last_snapshot = result.last_snapshot;
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    summary.elapsed = started.elapsed();
    summary.peak_rss_bytes = peak_rss_bytes();
    summary.restored_from = restored_from.map(|id| {
        let took = restore_time
            .lock()
            .ok()
            .and_then(|t| *t)
            .unwrap_or_default();
        (id, took)
    });
    {
        let mut out = alerts_out
            .lock()
            .map_err(|_| anyhow!("alert writer poisoned"))?;
        out.flush().context("cannot flush alert events")?;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if let Some(error) = alert_error.lock().ok().and_then(|mut e| e.take()) {
        anyhow::bail!("writing alert events failed: {error}");
    }
    if let Some(out) = windows_out
        .lock()
        .map_err(|_| anyhow!("window writer poisoned"))?
        .as_mut()
    {
        out.flush().context("cannot flush window rows")?;
    }
    if let Some(error) = alert_error.lock().ok().and_then(|mut e| e.take()) {
        anyhow::bail!("writing outputs failed: {error}");
    }
    dead_letters.finish()?;
    summary.dead_letters = dead_letters.counts();
    if let Some(sinks) = &sinks {
        sinks.flush();
        summary.delivered = sinks.context().delivered.load(Ordering::Relaxed);
        summary.delivery_failures = sinks.context().failed.load(Ordering::Relaxed);
        if summary.delivery_failures > 0 {
            anyhow::bail!(
                "{} message(s) could not be delivered to Kafka (last: {}): check the topics exist and the producer's permissions",
                summary.delivery_failures,
                sinks.last_error().unwrap_or_default()
            );
        }
    }
    Ok(summary)
}

/// Lake and shutdown coordination shared by the workers of this process.
pub(crate) struct RunControl {
    pub(crate) lake: Option<LakeRun>,
    /// Set by SIGTERM / SIGINT.
    pub(crate) stop: Arc<AtomicBool>,
    /// The last epoch to read (u64::MAX: all); set by worker 0 after a stop signal.
    pub(crate) stop_at: Arc<AtomicU64>,
    pub(crate) restore_time: Arc<Mutex<Option<Duration>>>,
    /// Set when a worker of this process failed: the others stop instead of waiting for it.
    pub(crate) failed: Arc<AtomicBool>,
    /// What /readyz reports.
    pub(crate) health: Arc<Health>,
}

/// The error of a worker that stopped because a peer failed.
#[derive(Debug)]
pub(crate) struct PeerFailed;

impl std::fmt::Display for PeerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: another worker of this process failed")
    }
}

impl std::error::Error for PeerFailed {}

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

/// In a cluster, a peer process that dies (or a broken connection) makes timely panic in its
/// network threads, and every worker after it. Instead: one line that says what happened and
/// what to do, and exit code 1 (like SIGKILL, this leaves the lake at its last snapshot).
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
            eprintln!(
                "chatter: error: lost the connection to another process of the cluster ({cause}); \
                 this process stops as well. Restart every process: they resume from the lake's \
                 last snapshot"
            );
            std::process::exit(1);
        }
        previous(info);
    }));
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

/// The writers shared by the workers.
pub(crate) struct Outputs<'a> {
    pub(crate) dead_letters: &'a DeadLetters,
    pub(crate) alerts: &'a Mutex<Box<dyn Write + Send>>,
    pub(crate) alert_error: &'a Mutex<Option<String>>,
    pub(crate) windows: &'a Mutex<Option<Box<dyn Write + Send>>>,
    /// The (global) index of the worker these are for.
    pub(crate) worker: usize,
}

impl Outputs<'_> {
    /// Writes one JSON line; the first failure is kept and fails the run at the end (the
    /// pipeline does not stop for it).
    pub(crate) fn write_line(&self, out: &mut dyn Write, value: &impl serde::Serialize) {
        let result = serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(error) = result {
            if let Ok(mut slot) = self.alert_error.lock() {
                slot.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// A snapshot requested and not yet published.
struct PendingSnapshot {
    id: u64,
    epoch: u64,
    sources: Sources,
}

/// Worker 0's snapshot bookkeeping.
pub(crate) struct Snapshots {
    pending: std::collections::VecDeque<PendingSnapshot>,
    pub(crate) previous: Option<Snapshot>,
    pub(crate) full_rewrite_from: Option<i64>,
    pub(crate) published: u64,
    pub(crate) last: Option<crate::lake::Manifest>,
    pub(crate) error: Option<anyhow::Error>,
}

impl Snapshots {
    pub(crate) fn new(plan: Option<&RestorePlan>, peers: usize) -> Snapshots {
        Snapshots {
            pending: Default::default(),
            previous: plan.map(|p| p.snapshot.clone()),
            full_rewrite_from: plan
                .filter(|p| p.rewrites_open_days(peers))
                .map(|p| p.first_open_day()),
            published: 0,
            last: None,
            error: None,
        }
    }

    /// Whether a requested snapshot's epoch is finished (it can be published).
    pub(crate) fn ready(&self, graph: &Graph) -> bool {
        self.pending
            .front()
            .is_some_and(|next| !graph.probe.less_equal(&next.epoch))
    }

    /// Asks for snapshot `id` of epoch `epoch` (sent on the control input, still open at it),
    /// unless a snapshot already failed (the run is stopping with that error).
    pub(crate) fn request(&mut self, graph: &mut Graph, id: u64, epoch: u64, sources: Sources) {
        if self.error.is_some() {
            return;
        }
        graph.control.send(Control::Snapshot(id));
        self.pending
            .push_back(PendingSnapshot { id, epoch, sources });
    }

    /// Publishes every requested snapshot whose epoch the whole graph has finished.
    pub(crate) fn publish_ready(
        &mut self,
        graph: &Graph,
        lake: &LakeRun,
        peers: usize,
        stop: &AtomicBool,
    ) {
        while let Some(next) = self.pending.front() {
            if graph.probe.less_equal(&next.epoch) {
                break;
            }
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            if self.error.is_some() {
                continue;
            }
            let result = lake.shared.finalize(crate::lake::writer::Publish {
                id: next.id,
                frontier: next.epoch,
                sources: next.sources,
                workers: peers,
                previous: self.previous.as_ref(),
                full_rewrite_from: self.full_rewrite_from,
            });
            match result {
                Ok(manifest) => {
                    tracing::info!(
                        id = manifest.id,
                        frontier = manifest.frontier,
                        "snapshot published"
                    );
                    self.full_rewrite_from = None;
                    self.published += 1;
                    self.previous = Some(Snapshot {
                        dir: lake
                            .shared
                            .lake
                            .snapshots_dir()
                            .join(crate::lake::snapshot_name(manifest.id)),
                        manifest: manifest.clone(),
                    });
                    self.last = Some(manifest);
                }
                Err(error) => {
                    eprintln!("chatter: error: {error:#}");
                    // Stop at the next epoch boundary; the run fails with this error.
                    stop.store(true, Ordering::SeqCst);
                    self.error = Some(error);
                }
            }
        }
    }
}

/// Sends the comments of a snapshot back into the graph (this worker's share of its files).
pub(crate) fn restore_into(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    plan: &RestorePlan,
    index: usize,
    peers: usize,
    all_files: bool,
) -> Result<()> {
    let state = &plan.state;
    graph.ingest.borrow_mut().restore(
        state.entity_ids.clone(),
        state.catalog.clone(),
        state.progress,
        state.clock.clone(),
        state.evict_cut_ms,
        plan.rewrites_open_days(peers),
    );
    let key_of: std::collections::HashMap<&str, u32> = state
        .entity_ids
        .iter()
        .enumerate()
        .map(|(key, id)| (id.as_str(), key as u32))
        .collect();
    if index == 0 {
        let key = |id: &String| key_of.get(id.as_str()).copied().unwrap_or(u32::MAX);
        graph.table.borrow_mut().restore_state(TableState {
            progress: state.progress,
            active: state
                .active
                .iter()
                .map(|(id, window, alert)| ((key(id), *window), alert.clone()))
                .collect(),
            pending: state.pending.iter().map(|(w, id)| (*w, key(id))).collect(),
            event_counts: state.event_counts,
            sealed_total: state.sealed_total,
        });
    }
    let epoch = plan.snapshot.manifest.frontier;
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    if index == 0 {
        // Every worker must process the restore epoch itself (republish the catalog's labels,
        // report progress), even one that restores no comment: a control message at it does,
        // and this one changes nothing.
        graph.control.send(Control::Tick);
    }
    let window_ms = plan.state.params.window_ms;
    let horizon = state.progress.horizon_ms;
    let mut offset = 0u64;
    for (n, path) in plan.comment_files().iter().enumerate() {
        let mine = if all_files {
            index == 0
        } else {
            n % peers == index
        };
        if !mine {
            continue;
        }
        crate::lake::tables::for_each_comment(path, |mut restored| {
            let created = restored.comment.created_at_ms;
            let window = dataflows::floor_window(created, window_ms);
            let live = state.evict_cut_ms.is_none_or(|cut| window >= cut);
            if !live {
                let day = dataflows::enrich::day_of(created);
                if day.saturating_add(dataflows::enrich::DAY_MS) <= horizon {
                    return;
                }
                restored.evicted = true;
            }
            offset += 1;
            graph.comments.send(Positioned {
                position: Position {
                    source: u32::MAX,
                    offset,
                },
                event: dataflows::model::CommentEvent::Restore(Box::new(restored)),
            });
            // Let the graph take what was sent, so the rows do not pile up in channels.
            if offset.is_multiple_of(16 * 1024) {
                graph.comments.flush();
                worker.step();
            }
        })?;
    }
    if index == 0 {
        crate::lake::crash_point("restore");
    }
    Ok(())
}

/// Restores a snapshot into the graph and waits until the graph has taken it.
pub(crate) fn resume_from(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    plan: &RestorePlan,
    peers: usize,
    all_files: bool,
    control: &RunControl,
) -> Result<()> {
    let index = worker.index();
    let started = Instant::now();
    restore_into(worker, graph, plan, index, peers, all_files)?;
    let read = started.elapsed();
    let resumed = plan.snapshot.manifest.frontier + 1;
    advance(worker, graph, resumed, control)?;
    finish_before(worker, graph, resumed, control)?;
    if !plan.rewrites_open_days(peers) {
        // The restore epoch re-derived the rows the snapshot already holds.
        if let Some(lake) = graph.table.borrow_mut().lake.as_mut() {
            lake.dirty_days.clear();
        }
    }
    tracing::info!(
        worker = index,
        read_seconds = read.as_secs_f64(),
        total_seconds = started.elapsed().as_secs_f64(),
        "restored"
    );
    if index == 0 {
        if let Ok(mut slot) = control.restore_time.lock() {
            *slot = Some(started.elapsed());
        }
    }
    Ok(())
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    settings: &RunSettings,
    cache: MatcherCache,
    outputs: &Outputs<'_>,
    bytes_read: &Arc<AtomicU64>,
    progress: Option<&ProgressBar>,
    control: RunControl,
) -> Result<WorkerResult> {
    let dead_letters = outputs.dead_letters;
    let index = worker.index();
    let peers = worker.peers();
    let params = settings.params.clone();
    let lake = control.lake.as_ref();
    let plan = lake.and_then(|l| l.plan.clone());
    let mut hooks = Hooks::default();
    if let Some(lake) = lake {
        hooks.ingest = Some(lake.shared.ingest_hook(index, None, None));
        if index == 0 {
            let restored = plan.as_ref().map(|p| p.table_lake_state()).transpose()?;
            let rewrite = plan.as_ref().is_some_and(|p| p.rewrites_open_days(peers));
            hooks.table = Some(lake.shared.table_hook(restored, rewrite));
        }
    }
    let mut graph =
        worker.dataflow::<u64, _, _>(|scope| dataflows::build(scope, &params, cache, hooks));
    let limits = DecodeLimits::now(settings.max_record_bytes);
    let lake_shared = lake.map(|l| l.shared.as_ref());
    let reads_everything = settings.inputs.contains(&InputSpec::Stdin);
    let mut entities = 0u64;
    // Resume: the snapshot's comments go back in at its frontier epoch; reading continues
    // after its positions, with the same epoch boundaries an uninterrupted run has.
    let (epoch_base, lines_base) = match &plan {
        Some(plan) => {
            resume_from(worker, &mut graph, plan, peers, reads_everything, &control)?;
            (
                plan.snapshot.manifest.frontier,
                plan.snapshot.manifest.sources.global_line,
            )
        }
        None => (0, 0),
    };
    // Epoch 0: the catalog, read by worker 0 (a resumed run has it from the snapshot).
    if let (0, Some(path), None) = (index, &settings.entities, &plan) {
        let spec = InputSpec::File(path.clone());
        let name = spec.name();
        let mut reader = LineReader::open(&spec, Arc::default())?;
        while let Some((line_number, line)) = reader.next_line() {
            let decoded = decode_line(
                line,
                &name,
                line_number,
                dead_letters,
                (lake_shared, index, 0),
                |bytes| decode_entity(bytes, &limits),
            );
            if let Some(event) = decoded {
                entities += 1;
                graph.control.send(Control::Entity(Positioned {
                    position: Position {
                        source: 0,
                        offset: line_number,
                    },
                    event,
                }));
            }
        }
    }
    let mut snapshots = Snapshots::new(plan.as_deref(), peers);
    // Stdin can be read once: with stdin among the inputs, worker 0 reads and decodes every
    // input and the others only run their share of the graph (comments are routed by id).
    if reads_everything && index != 0 {
        // Dropping an input handle closes that input on this worker.
        drop(std::mem::replace(
            &mut graph.comments,
            dataflows::Handle::new(),
        ));
        drop(std::mem::replace(
            &mut graph.control,
            dataflows::Handle::new(),
        ));
        while !graph.probe.done() {
            worker.step();
            drain(&graph, index, settings, outputs, false);
        }
        return Ok(WorkerResult {
            counters: graph.ingest.borrow().counters,
            lines: 0,
            entities,
            table: None,
            epoch_micros: None,
            snapshots: 0,
            last_snapshot: None,
            interrupted: false,
            suppressed: 0,
        });
    }
    let mut epoch = epoch_base + 1;
    advance(worker, &mut graph, epoch, &control)?;
    control.health.source(index, None);
    let mut histogram = Histogram::<u64>::new(3).ok();
    let mut epoch_started = Instant::now();
    let mut pending_epochs: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut global_line = lines_base;
    let resume: Vec<FilePosition> = plan
        .as_ref()
        .map(|p| p.snapshot.manifest.sources.files.clone())
        .unwrap_or_default();
    let fresh_position = |spec: &InputSpec| FilePosition {
        input: spec.name(),
        line: 0,
        byte_offset: 0,
        complete: false,
    };
    let mut positions: Vec<FilePosition> = settings
        .inputs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            resume
                .get(i)
                .cloned()
                .unwrap_or_else(|| fresh_position(spec))
        })
        .collect();
    let mut next_id = lake.map_or(1, |l| l.next_id);
    let mut last_snapshot = Instant::now();
    let mut interrupted = false;
    let is_writer = index == 0 && lake.is_some();
    'inputs: for (input_index, spec) in settings.inputs.iter().enumerate() {
        if positions[input_index].complete {
            continue;
        }
        let name = spec.name();
        let counter = if index == 0 {
            bytes_read.clone()
        } else {
            Arc::default()
        };
        let mut reader = LineReader::open(spec, counter)?;
        let start = &positions[input_index];
        if start.byte_offset > 0 || start.line > 0 {
            reader
                .skip(start.byte_offset, start.line)
                .with_context(|| format!("cannot resume input {name}"))?;
        }
        loop {
            // Where this line starts: the resume position of a snapshot cut before it.
            let before = reader.position();
            let Some((line_number, line)) = reader.next_line() else {
                break;
            };
            global_line += 1;
            let line_epoch =
                epoch_base + 1 + (global_line - lines_base - 1) / settings.batch_records;
            if line_epoch > epoch {
                if is_writer {
                    let due = control.stop_at.load(Ordering::SeqCst) == epoch
                        || last_snapshot.elapsed() >= lake.map_or(Duration::MAX, |l| l.interval);
                    if due {
                        let (lines, bytes) = before;
                        let mut files = positions.clone();
                        files[input_index].line = lines;
                        files[input_index].byte_offset = bytes;
                        snapshots.request(
                            &mut graph,
                            next_id,
                            epoch,
                            Sources {
                                batch_records: settings.batch_records,
                                global_line: global_line - 1,
                                files,
                                end_of_input: false,
                                kafka: Vec::new(),
                            },
                        );
                        next_id += 1;
                        last_snapshot = Instant::now();
                    }
                }
                if index == 0
                    && control.stop.load(Ordering::SeqCst)
                    && control.stop_at.load(Ordering::SeqCst) == u64::MAX
                {
                    control.stop_at.store(epoch + 1, Ordering::SeqCst);
                }
                pending_epochs.push_back((epoch, epoch_started));
                epoch_started = Instant::now();
                epoch = line_epoch;
                advance(worker, &mut graph, epoch, &control)?;
                if index == 0 {
                    crate::lake::crash_point("epoch");
                }
                drain(&graph, index, settings, outputs, false);
                record_finished(&graph, &mut pending_epochs, histogram.as_mut());
                if let Some(lake) = lake.filter(|_| index == 0) {
                    snapshots.publish_ready(&graph, lake, peers, &control.stop);
                }
                if let Some(bar) = progress.filter(|_| index == 0) {
                    bar.set_position(bytes_read.load(Ordering::Relaxed));
                }
                if line_epoch > control.stop_at.load(Ordering::SeqCst) {
                    interrupted = true;
                    break 'inputs;
                }
            }
            if !reads_everything && global_line % peers as u64 != index as u64 {
                continue;
            }
            let decoded = decode_line(
                line,
                &name,
                line_number,
                dead_letters,
                (lake_shared, index, epoch),
                |bytes| decode_comment(bytes, &limits),
            );
            if let Some(event) = decoded {
                graph.comments.send(Positioned {
                    position: Position {
                        source: 1 + input_index as u32,
                        offset: line_number,
                    },
                    event,
                });
            }
        }
        let (lines, bytes) = reader.position();
        positions[input_index] = FilePosition {
            input: name,
            line: lines,
            byte_offset: bytes,
            complete: true,
        };
        // A file read to its end leaves the event-time minimum (SPEC §2.4), at the epoch of
        // its last line (a line-count boundary, so the same on every run).
        if index == 0 {
            graph
                .control
                .send(Control::SourceIdle(1 + input_index as u32));
        }
    }
    if !interrupted {
        // End of input: a final watermark over everything seen, and a snapshot of it (unless
        // this run resumed at the end of its input and read nothing new).
        let nothing_new = plan
            .as_ref()
            .is_some_and(|p| p.snapshot.manifest.sources.end_of_input && global_line == lines_base);
        if index == 0 {
            graph.control.send(Control::Flush);
        }
        if is_writer && !nothing_new {
            snapshots.request(
                &mut graph,
                next_id,
                epoch,
                Sources {
                    batch_records: settings.batch_records,
                    global_line,
                    files: positions.clone(),
                    end_of_input: true,
                    kafka: Vec::new(),
                },
            );
        }
    }
    pending_epochs.push_back((epoch, epoch_started));
    epoch += 1;
    advance(worker, &mut graph, epoch, &control)?;
    finish_before(worker, &graph, epoch, &control)?;
    record_finished(&graph, &mut pending_epochs, histogram.as_mut());
    drain(&graph, index, settings, outputs, true);
    if let Some(lake) = lake.filter(|_| index == 0) {
        snapshots.publish_ready(&graph, lake, peers, &control.stop);
    }
    if let Some(error) = snapshots.error.take() {
        return Err(error);
    }
    let counters = graph.ingest.borrow().counters;
    // The process ends after this: freeing millions of live comments one by one would only
    // delay the exit (about 0.3 s per 2M), so the map is let go without dropping it.
    std::mem::forget(std::mem::take(&mut graph.ingest.borrow_mut().comments));
    let table = table_summary(&graph, index);
    Ok(WorkerResult {
        counters,
        lines: global_line - lines_base,
        entities,
        table,
        epoch_micros: if index == 0 { histogram } else { None },
        snapshots: snapshots.published,
        last_snapshot: snapshots.last,
        interrupted,
        suppressed: 0,
    })
}

/// Worker 0's window count, alert event counts and watermark, for the summary.
pub(crate) fn table_summary(graph: &Graph, index: usize) -> Option<(u64, [u64; 3], i64)> {
    (index == 0).then(|| {
        let table = graph.table.borrow();
        (
            table.live.len() as u64 + table.sealed_total,
            table.event_counts,
            table.progress.watermark_ms,
        )
    })
}

/// Decodes one input line: the event, or None for a blank line or after dead-lettering it
/// (a line the input broke off inside is `truncated_input`).
pub(crate) fn decode_line<E>(
    line: Line<'_>,
    name: &str,
    line_number: u64,
    dead_letters: &DeadLetters,
    (lake, worker, epoch): (Option<&LakeShared>, usize, u64),
    decode: impl FnOnce(&[u8]) -> Result<E, crate::decode::Rejection>,
) -> Option<E> {
    let source = || file_source(name, line_number);
    let dead = |reason: Reason, detail: &str, bytes: &[u8]| {
        dead_letters.write(source(), reason, detail, bytes);
        if let Some(lake) = lake {
            lake.dead_letter(
                worker,
                epoch,
                DeadLetterRecord {
                    received_at_ms: crate::sink::now_ms(),
                    source: source(),
                    reason: reason.code(),
                    error: detail.to_string(),
                    raw: bytes.to_vec(),
                },
            );
        }
    };
    match line {
        Line::Broken(bytes, error) => {
            let detail = format!("input ended inside a record: {error}");
            dead(Reason::TruncatedInput, &detail, bytes);
            tracing::warn!(input = %name, line = line_number, %error, "input truncated; continuing with the next input");
            None
        }
        Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
        Line::Complete(bytes) => match decode(bytes) {
            Ok(event) => Some(event),
            Err(rejection) => {
                dead(rejection.reason, &rejection.detail, bytes);
                None
            }
        },
    }
}

/// Records how long each finished epoch took, from its first line to the graph finishing it.
pub(crate) fn record_finished(
    graph: &Graph,
    pending: &mut std::collections::VecDeque<(u64, Instant)>,
    histogram: Option<&mut Histogram<u64>>,
) {
    let Some(histogram) = histogram else { return };
    while let Some((epoch, started)) = pending.front().copied() {
        if graph.probe.less_equal(&epoch) {
            break;
        }
        pending.pop_front();
        let _ = histogram.record(started.elapsed().as_micros() as u64);
    }
}

/// Moves refusals to the dead letters and (worker 0) alert events to the alert output and
/// sealed window rows to the window output (all live rows too when `last`).
fn drain(graph: &Graph, index: usize, settings: &RunSettings, outputs: &Outputs<'_>, last: bool) {
    for refusal in graph.refusals.borrow_mut().drain(..) {
        let name = source_name(settings, refusal.position.source);
        let raw = crate::sink::input_json(&refusal.event);
        outputs.dead_letters.write(
            file_source(&name, refusal.position.offset),
            Reason::BeyondRetention,
            &refusal.detail,
            &raw,
        );
    }
    if index != 0 {
        return;
    }
    let mut table = graph.table.borrow_mut();
    let sealed = std::mem::take(&mut table.sealed);
    if let Ok(mut guard) = outputs.windows.lock() {
        if let Some(out) = guard.as_mut() {
            let live = if last {
                table.live.clone()
            } else {
                Default::default()
            };
            for ((_, window), (label, stat)) in sealed.iter().chain(live.iter()) {
                let row = WindowJson::new(
                    label,
                    *window,
                    settings.params.window_ms,
                    stat,
                    &settings.params,
                );
                outputs.write_line(&mut **out, &row);
            }
        }
    }
    if table.events.is_empty() {
        return;
    }
    let emitted_at = now_ms();
    let Ok(mut out) = outputs.alerts.lock() else {
        return;
    };
    for event in table.events.drain(..) {
        outputs.write_line(&mut **out, &AlertJson::new(&event, emitted_at));
    }
}

fn source_name(settings: &RunSettings, source: u32) -> String {
    match source {
        0 => settings
            .entities
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        n => settings
            .inputs
            .get(n as usize - 1)
            .map(InputSpec::name)
            .unwrap_or_default(),
    }
}

/// Peak resident set size of this process (`VmHWM` in /proc/self/status), Linux only.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker that fails must not leave its peers waiting forever for its part of the graph
    /// (a hung process instead of an error and a non-zero exit).
    #[test]
    fn a_failed_worker_stops_its_peers_instead_of_hanging_them() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let failed = Arc::new(AtomicBool::new(false));
            let guards = timely::execute(timely::Config::process(2), move |worker| {
                let control = RunControl {
                    lake: None,
                    stop: Arc::default(),
                    stop_at: Arc::default(),
                    restore_time: Arc::default(),
                    failed: failed.clone(),
                    health: Arc::new(Health::new(2, None)),
                };
                let mut graph = worker.dataflow::<u64, _, _>(|scope| {
                    dataflows::build(
                        scope,
                        &dataflows::Params::default(),
                        MatcherCache::default(),
                        Default::default(),
                    )
                });
                if worker.index() == 1 {
                    failed.store(true, Ordering::SeqCst);
                    return Err(anyhow!("worker 1 failed"));
                }
                // Worker 0 reads epoch after epoch, as a Kafka run does while it waits for
                // every worker's "done": it must learn of the failure and stop.
                for epoch in 1..=20_000 {
                    advance(worker, &mut graph, epoch, &control)?;
                }
                Ok(())
            })
            .unwrap();
            let results: Vec<_> = guards.join().into_iter().map(|r| r.unwrap()).collect();
            let _ = done.send(results);
        });
        let results = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("worker 0 still waits for the failed worker after 60 s");
        let error = results[0]
            .as_ref()
            .expect_err("worker 0 reports the failure");
        assert!(error.downcast_ref::<PeerFailed>().is_some(), "{error}");
    }
}
