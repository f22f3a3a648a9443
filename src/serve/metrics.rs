//! `/metrics`: the OpenMetrics text exposition (which Prometheus scrapes natively), built at
//! scrape time from the published status — so it changes per epoch, never per record — plus
//! the server's own request metrics. Labels are bounded: sources, reasons, kinds, phases,
//! route templates and status codes; never an entity id. docs/api.md lists every metric.

use crate::health::Phase;
use crate::runtime::{RunHandle, Status};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// How long an exposition is reused.
const REUSE_FOR: std::time::Duration = std::time::Duration::from_millis(100);

/// Upper bounds (seconds) of the latency histograms.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub status: String,
}

/// The server's own metrics, and the registry that also reads the status.
pub struct Metrics {
    registry: Registry,
    /// The last exposition and when it was made: scrapes within [`REUSE_FOR`] share it.
    last: std::sync::Mutex<Option<(Instant, Arc<String>)>>,
    pub requests: Family<HttpLabels, Counter>,
    pub durations: Family<HttpLabels, Histogram>,
    pub sse_clients: Gauge,
    pub sse_dropped: Counter,
    pub rate_limited: Counter,
}

impl Metrics {
    pub fn new(run: RunHandle, memory_limit: Option<u64>) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let durations = Family::<HttpLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        let (sse_clients, sse_dropped, rate_limited) =
            (Gauge::default(), Counter::default(), Counter::default());
        registry.register(
            "chatter_http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        registry.register(
            "chatter_http_request_duration_seconds",
            "Time to answer an HTTP request (the alert stream: to its headers)",
            durations.clone(),
        );
        registry.register(
            "chatter_sse_clients",
            "Connected alert-stream clients",
            sse_clients.clone(),
        );
        registry.register(
            "chatter_sse_dropped",
            "Alert-stream clients dropped for not reading",
            sse_dropped.clone(),
        );
        registry.register(
            "chatter_rate_limited",
            "Requests answered 429 (http.rate_limit)",
            rate_limited.clone(),
        );
        registry.register(
            "chatter_errors",
            "ERROR log events, by kind (docs/api.md lists the kinds; the log line says what failed)",
            crate::logging::errors().clone(),
        );
        registry.register_collector(Box::new(StatusCollector {
            run,
            memory_limit: memory_limit.or_else(cgroup_memory_limit),
        }));
        Metrics {
            registry,
            last: std::sync::Mutex::new(None),
            requests,
            durations,
            sse_clients,
            sse_dropped,
            rate_limited,
        }
    }

    /// The exposition now (or of less than [`REUSE_FOR`] ago: a flood of scrapes costs one
    /// encoding per interval; Prometheus scrapes every few seconds).
    pub fn render(&self) -> Arc<String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, text)) = last.as_ref().filter(|(at, _)| at.elapsed() < REUSE_FOR) {
            return text.clone();
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "cannot encode the metrics");
        }
        let text = Arc::new(text);
        *last = Some((Instant::now(), text.clone()));
        text
    }
}

/// Counts and times every answer, by its route template (unknown paths: `unmatched`).
pub async fn record(
    State(shared): State<Arc<super::Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = HttpLabels {
        route,
        status: response.status().as_u16().to_string(),
    };
    let metrics = &shared.metrics;
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .durations
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `/metrics`.
pub async fn metrics(State(shared): State<Arc<super::Shared>>) -> Response {
    let mut response = Response::new(shared.metrics.render().as_str().to_owned().into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    response
}

/// The run's metrics, read from the published status at each scrape.
struct StatusCollector {
    run: RunHandle,
    memory_limit: Option<u64>,
}

impl std::fmt::Debug for StatusCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusCollector")
    }
}

type Labels = Vec<(&'static str, String)>;

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn gauges(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(Labels, f64)],
) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter family (`name` without `_total`).
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(Labels, u64)],
) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in values {
        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for StatusCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let status = self.run.status.current();
        let readiness = self.run.health.readiness();
        let version = vec![("version", env!("CARGO_PKG_VERSION").to_string())];
        gauges(
            &mut e,
            "chatter_build_info",
            "The running build",
            &[(version, 1.0)],
        )?;
        let up = (readiness.phase != Phase::Finished) as u8 as f64;
        gauge(&mut e, "chatter_up", "1 while the run is not finished", up)?;
        let ready = readiness.ready as u8 as f64;
        gauge(&mut e, "chatter_ready", "1 when /readyz answers 200", ready)?;
        let phases: Vec<(Labels, f64)> = Phase::ALL
            .iter()
            .map(|p| {
                let value = (*p == readiness.phase) as u8 as f64;
                (vec![("phase", p.as_str().to_string())], value)
            })
            .collect();
        gauges(
            &mut e,
            "chatter_phase",
            "The run's phase (1 = current)",
            &phases,
        )?;
        let uptime = readiness.uptime_seconds;
        gauge(
            &mut e,
            "chatter_uptime_seconds",
            "Seconds since start",
            uptime,
        )?;
        self.encode_flow(&mut e, &status)?;
        self.encode_state(&mut e, &status)?;
        encode_process(&mut e)
    }
}

impl StatusCollector {
    fn encode_flow(&self, e: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
        let records: Vec<(Labels, u64)> = (status.sources.iter())
            .map(|s| (vec![("source", s.source.clone())], s.records))
            .collect();
        let help = "Records read, valid or not, by source";
        counters(e, "chatter_records", help, &records)?;
        let dead: Vec<(Labels, u64)> = (status.dead_letters.iter())
            .map(|(reason, n)| (vec![("reason", reason.to_string())], *n))
            .collect();
        counters(e, "chatter_dead_letters", "Dead letters by reason", &dead)?;
        let alerts: Vec<(Labels, u64)> = crate::lake::read::ALERT_KINDS
            .iter()
            .zip(status.alerts)
            .map(|(kind, n)| (vec![("kind", kind.to_string())], n))
            .collect();
        counters(
            e,
            "chatter_alerts",
            "Alert events decided, by kind",
            &alerts,
        )?;
        let metric = e.encode_descriptor(
            "chatter_alerts_suppressed",
            "Alert events kept out of the alerts topic during catch-up (in the lake only)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(status.alerts_suppressed).encode(metric)?;
        let frontier = status.frontier as f64;
        gauge(
            e,
            "chatter_frontier",
            "Last epoch whose outputs are final",
            frontier,
        )?;
        if status.watermark_ms > i64::MIN {
            let at = status.watermark_ms as f64 / 1000.0;
            let help = "The event-time watermark (Unix seconds)";
            gauge(e, "chatter_watermark_timestamp_seconds", help, at)?;
            let lag = now_seconds() - at;
            let help = "Wall-clock time minus the event-time watermark";
            gauge(e, "chatter_watermark_lag_seconds", help, lag)?;
        }
        let lags: Vec<(Labels, f64)> = (status.sources.iter())
            .filter_map(|s| {
                let rest = s.source.strip_prefix("kafka:")?;
                let (topic, partition) = rest.rsplit_once(':')?;
                let labels = vec![
                    ("topic", topic.to_string()),
                    ("partition", partition.into()),
                ];
                Some((labels, s.lag? as f64))
            })
            .collect();
        let help = "Kafka records waiting, by topic-partition";
        gauges(e, "chatter_consumer_lag_records", help, &lags)?;
        let total: u64 = status.sources.iter().filter_map(|s| s.lag).sum();
        let help = "Records waiting over all sources (0 for files)";
        gauge(e, "chatter_lag_records", help, total as f64)?;
        self.encode_epochs(e, status)
    }

    fn encode_epochs(&self, e: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
        let Some(histogram) = &status.epoch_histogram else {
            return Ok(());
        };
        let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
        let mut below = 0;
        for bound in BUCKETS {
            let cumulative = histogram.count_between(0, (bound * 1e6) as u64);
            buckets.push((bound, cumulative.saturating_sub(below)));
            below = cumulative.max(below);
        }
        buckets.push((f64::INFINITY, histogram.len().saturating_sub(below)));
        let sum = histogram.mean() * histogram.len() as f64 / 1e6;
        let metric = e.encode_descriptor(
            "chatter_epoch_duration_seconds",
            "An epoch's time from its start to the graph finishing it",
            None,
            MetricType::Histogram,
        )?;
        let mut metric = metric;
        metric.encode_histogram::<NoLabelSet>(sum, histogram.len(), &buckets, None)
    }

    fn encode_state(&self, e: &mut DescriptorEncoder, status: &Status) -> std::fmt::Result {
        if let Some(snapshot) = &status.last_snapshot {
            let help = "Writing the last snapshot (seconds)";
            gauge(
                e,
                "chatter_snapshot_duration_seconds",
                help,
                snapshot.seconds,
            )?;
            let help = "Size of the last snapshot's files";
            gauge(e, "chatter_snapshot_bytes", help, snapshot.bytes as f64)?;
            if let Ok(at) = time::OffsetDateTime::parse(
                &snapshot.created_at,
                &time::format_description::well_known::Rfc3339,
            ) {
                let help = "When the last snapshot was published (Unix seconds)";
                let at = at.unix_timestamp_nanos() as f64 / 1e9;
                gauge(
                    e,
                    "chatter_snapshot_last_success_timestamp_seconds",
                    help,
                    at,
                )?;
            }
            let help = "Id of the last snapshot";
            gauge(e, "chatter_snapshot_id", help, snapshot.id as f64)?;
        }
        let state = &status.state;
        let help = "Live comments in the dataflow";
        gauge(
            e,
            "chatter_state_live_comments",
            help,
            state.live_comments as f64,
        )?;
        let help = "Live (not sealed) window rows";
        gauge(
            e,
            "chatter_state_window_rows",
            help,
            state.window_rows as f64,
        )?;
        if let Some(limit) = self.memory_limit {
            let help = "The memory limit (http.memory_limit, else the cgroup's memory.max)";
            gauge(e, "chatter_memory_limit_bytes", help, limit as f64)?;
        }
        Ok(())
    }
}

fn encode_process(e: &mut DescriptorEncoder) -> std::fmt::Result {
    if let Some(rss) = crate::runtime::resident_bytes() {
        let help = "Resident memory size in bytes";
        gauge(e, "process_resident_memory_bytes", help, rss as f64)?;
    }
    if let Some((cpu, start)) = process_times() {
        let metric = e.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(cpu).encode(metric)?;
        let help = "Start time of the process since the Unix epoch in seconds";
        gauge(e, "process_start_time_seconds", help, start)?;
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let help = "Number of open file descriptors";
        gauge(e, "process_open_fds", help, fds.count() as f64)?;
    }
    Ok(())
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// (CPU seconds, start time) from /proc (Linux; clock ticks of 100 Hz, as on every Linux
/// build Prometheus's own client supports).
fn process_times() -> Option<(f64, f64)> {
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let cpu = (ticks(11)? + ticks(12)?) / TICKS;
    let started_ticks = ticks(19)?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let start = now_seconds() - uptime + started_ticks / TICKS;
    Some((cpu, start))
}

/// The cgroup v2 memory limit, when there is one.
fn cgroup_memory_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    text.trim().parse().ok()
}
