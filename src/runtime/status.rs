//! What other threads read of a run (feldera's `controller.status()`): one immutable
//! [`Status`] that worker 0 publishes after epochs (an `Arc` swapped under a lock held only for
//! the swap), so the HTTP server, the progress bar and the summary never touch the dataflow.
//!
//! A published status is consistent: its counters, watermark, frontier and data views are
//! read from worker 0's state between steps, when the window table holds whole epochs only
//! (its operator applies an epoch at once), and they never go back. The per-source records
//! and dead letters are this process's, reported by its workers between epochs (so they may
//! be a little newer than the frontier). In a cluster only the process of worker 0 (which
//! holds the window table) publishes; the others' status stays at its default.

use super::emit::Emitter;
use super::snapshots::Snapshots;
use crate::connectors::SourceStats;
use crate::health::{Health, Phase};
use crate::lake::tables::{AlertRecord, WindowRecord};
use crate::sink::DeadLetters;
use dataflows::model::Entity;
use dataflows::Graph;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Window rows kept in the live view: those starting at most this long before the watermark.
pub const WINDOW_VIEW_MS: i64 = 6 * 3600 * 1000;
/// How often worker 0 rebuilds the status (the last one of a run is always published).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// One snapshot, as the status shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSummary {
    pub id: u64,
    pub frontier: u64,
    /// Wall-clock time it was published (RFC 3339).
    pub created_at: String,
    pub bytes: u64,
    /// Writing it: the workers' parts, and worker 0's publishing.
    pub seconds: f64,
}

/// Epoch latency (from an epoch's start to the graph finishing it), in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    pub epochs: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// State sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSizes {
    /// Live comments over this process's workers.
    pub live_comments: u64,
    /// Live (not yet sealed) window rows.
    pub window_rows: u64,
    /// Resident memory of the process (Linux).
    pub resident_bytes: Option<u64>,
}

/// An alert event as handed out, with when.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    /// A sequence number over the run's alert events, from 1.
    pub sequence: u64,
    pub record: AlertRecord,
}

/// Everything a reader sees of the run at one published frontier.
#[derive(Debug, Clone)]
pub struct Status {
    /// Counts the statuses published (0: none yet), so readers can tell one from the next.
    pub version: u64,
    pub phase: Option<Phase>,
    /// Every output reflects all input of epochs up to this one.
    pub frontier: u64,
    pub watermark_ms: i64,
    pub max_event_ms: i64,
    pub horizon_ms: i64,
    /// Records read per source (file input or topic-partition), with their backlog.
    pub sources: Vec<SourceStats>,
    pub dead_letters: BTreeMap<&'static str, u64>,
    /// Alert events by kind: fired, updated, retracted.
    pub alerts: [u64; 3],
    /// Alert events kept out of the alerts topic during catch-up (`kafka.catch_up_lag`,
    /// `kafka.alert_horizon`): in the lake and the alerts file only.
    pub alerts_suppressed: u64,
    pub epoch_latency: LatencySummary,
    /// The whole epoch-latency histogram (microseconds), for metrics with buckets.
    pub epoch_histogram: Option<Arc<Histogram<u64>>>,
    pub last_snapshot: Option<SnapshotSummary>,
    pub state: StateSizes,
    /// Live window rows of the last [`WINDOW_VIEW_MS`] by entity id, oldest first.
    pub windows: Arc<BTreeMap<String, Vec<WindowRecord>>>,
    /// The newest alert events handed out, oldest first.
    pub recent_alerts: Arc<Vec<AlertView>>,
    /// The entity catalog in force (worker 0's copy; shared while it does not change).
    pub catalog: Arc<BTreeMap<String, Entity>>,
    pub uptime_seconds: f64,
}

impl Default for Status {
    /// Before the first epoch: nothing read, no event time.
    fn default() -> Self {
        Status {
            version: 0,
            phase: None,
            frontier: 0,
            watermark_ms: i64::MIN,
            max_event_ms: i64::MIN,
            horizon_ms: i64::MIN,
            sources: Vec::new(),
            dead_letters: BTreeMap::new(),
            alerts: [0; 3],
            alerts_suppressed: 0,
            epoch_latency: LatencySummary::default(),
            epoch_histogram: None,
            last_snapshot: None,
            state: StateSizes::default(),
            windows: Arc::default(),
            recent_alerts: Arc::default(),
            catalog: Arc::default(),
            uptime_seconds: 0.0,
        }
    }
}

impl Status {
    /// Records read over all sources.
    pub fn records(&self) -> u64 {
        self.sources.iter().map(|s| s.records).sum()
    }
}

/// What one worker reports between epochs.
#[derive(Debug, Clone, Default)]
struct WorkerReport {
    sources: Vec<SourceStats>,
    live_comments: u64,
}

/// The published status and what the workers report for it.
pub struct StatusBoard {
    started: Instant,
    current: RwLock<Arc<Status>>,
    workers: Mutex<BTreeMap<usize, WorkerReport>>,
    published_at: Mutex<Option<Instant>>,
    /// What the published catalog was copied at: (catalog changes, restored, entities).
    catalog_version: Mutex<(u64, u64, usize)>,
    health: Arc<Health>,
    dead_letters: DeadLetters,
}

impl StatusBoard {
    pub fn new(health: Arc<Health>, dead_letters: DeadLetters) -> StatusBoard {
        StatusBoard {
            started: Instant::now(),
            current: RwLock::new(Arc::new(Status::default())),
            workers: Mutex::new(BTreeMap::new()),
            published_at: Mutex::new(None),
            catalog_version: Mutex::new((0, 0, 0)),
            health,
            dead_letters,
        }
    }

    /// The newest published status (cheap: a clone of an `Arc`).
    pub fn current(&self) -> Arc<Status> {
        match self.current.read() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Worker `index` reports its sources and state size (any worker, between epochs).
    pub fn worker(&self, index: usize, graph: &Graph, sources: Vec<SourceStats>) {
        let live_comments = graph.ingest.borrow().comments.len() as u64;
        if let Ok(mut workers) = self.workers.lock() {
            workers.insert(
                index,
                WorkerReport {
                    sources,
                    live_comments,
                },
            );
        }
    }

    /// Worker 0 publishes a new status (at most every [`PUBLISH_EVERY`], unless `force`).
    pub fn publish(
        &self,
        graph: &Graph,
        emitter: &Emitter<'_>,
        snapshots: &Snapshots,
        histogram: Option<&Histogram<u64>>,
        force: bool,
    ) {
        if let Ok(mut at) = self.published_at.lock() {
            if !force && at.is_some_and(|at| at.elapsed() < PUBLISH_EVERY) {
                return;
            }
            *at = Some(Instant::now());
        }
        let previous = self.current();
        let status = self.build(graph, emitter, snapshots, histogram, &previous);
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(status);
        }
    }

    fn build(
        &self,
        graph: &Graph,
        emitter: &Emitter<'_>,
        snapshots: &Snapshots,
        histogram: Option<&Histogram<u64>>,
        previous: &Status,
    ) -> Status {
        let table = graph.table.borrow();
        let progress = table.progress;
        let params = &emitter.settings.params;
        let from = progress.watermark_ms.saturating_sub(WINDOW_VIEW_MS);
        let mut windows: BTreeMap<String, Vec<WindowRecord>> = BTreeMap::new();
        for ((_, window), (label, stat)) in table.live.iter() {
            if *window >= from {
                let row = crate::lake::live::window_record(label, *window, stat, params);
                windows.entry(label.id.clone()).or_default().push(row);
            }
        }
        for rows in windows.values_mut() {
            rows.sort_by_key(|row| row.window_start_ms);
        }
        let (mut sources, mut live_comments) = (Vec::new(), 0);
        if let Ok(workers) = self.workers.lock() {
            for report in workers.values() {
                sources.extend(report.sources.iter().cloned());
                live_comments += report.live_comments;
            }
        }
        sources.sort_by(|a, b| a.source.cmp(&b.source));
        // The recent alerts change only when events were handed out: share the old list then.
        let sequence = emitter.handed_out;
        let recent_alerts = if previous
            .recent_alerts
            .last()
            .is_some_and(|last| last.sequence == sequence)
        {
            previous.recent_alerts.clone()
        } else {
            let first = sequence + 1 - emitter.recent.len() as u64;
            let views = emitter
                .recent
                .iter()
                .zip(first..)
                .map(|((event, at), n)| AlertView {
                    sequence: n,
                    record: crate::lake::live::alert_record(event, *at),
                });
            Arc::new(views.collect())
        };
        Status {
            version: previous.version + 1,
            phase: Some(self.health.readiness().phase),
            frontier: progress.time,
            watermark_ms: progress.watermark_ms,
            max_event_ms: progress.max_event_ms,
            horizon_ms: progress.horizon_ms,
            sources,
            dead_letters: self.dead_letters.counts(),
            alerts: table.event_counts,
            alerts_suppressed: emitter.suppressed,
            epoch_latency: histogram.map(latency).unwrap_or_default(),
            epoch_histogram: histogram.map(|h| Arc::new(h.clone())),
            last_snapshot: snapshots.last.as_ref().map(|m| SnapshotSummary {
                id: m.id,
                frontier: m.frontier,
                created_at: m.created_at.clone(),
                bytes: m.files.iter().map(|f| f.bytes).sum(),
                seconds: m.stats.parts_seconds + m.stats.publish_seconds,
            }),
            state: StateSizes {
                live_comments,
                window_rows: table.live.len() as u64,
                resident_bytes: resident_bytes(),
            },
            windows: Arc::new(windows),
            recent_alerts,
            catalog: self.catalog(graph, previous),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

impl StatusBoard {
    /// Worker 0's catalog: the previous copy while it has not changed since.
    fn catalog(&self, graph: &Graph, previous: &Status) -> Arc<BTreeMap<String, Entity>> {
        let ingest = graph.ingest.borrow();
        let counters = &ingest.counters;
        let version = (
            counters.catalog_changes,
            counters.restored,
            ingest.catalog.len(),
        );
        let Ok(mut copied) = self.catalog_version.lock() else {
            return Arc::new(ingest.catalog.clone());
        };
        if *copied == version && (version.2 == 0 || !previous.catalog.is_empty()) {
            return previous.catalog.clone();
        }
        *copied = version;
        Arc::new(ingest.catalog.clone())
    }
}

fn latency(histogram: &Histogram<u64>) -> LatencySummary {
    let ms = |micros: u64| micros as f64 / 1000.0;
    LatencySummary {
        epochs: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.5)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}

/// Resident set size of this process now (`VmRSS` in /proc/self/status), Linux only.
pub fn resident_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident set size of this process (`VmHWM`), Linux only.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|kib| kib * 1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
