//! The JSON types of the API (docs/api.md), with their OpenAPI schemas: the document at
//! `/api/openapi.json` is generated from these, so it cannot drift from the answers.

use crate::lake::tables::{AlertRecord, WindowRecord};
use dataflows::format_rfc3339_ms;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What an answer was computed from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AsOf {
    /// The published frontier (epoch) of the live view.
    pub frontier: u64,
    /// The event-time watermark of the live view (null before any event).
    pub watermark: Option<String>,
    /// The lake snapshot read for history (null when none was read).
    pub snapshot: Option<u64>,
}

/// An alert event (SPEC §3.1).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertEvent {
    /// Its place in this run's stream (`id:` of the SSE stream); absent for events read
    /// from the lake only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    pub alert_id: String,
    /// `fired`, `updated` or `retracted`.
    pub kind: String,
    pub rule: String,
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    pub mentions: i64,
    pub authors: i64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub z: f64,
    pub ratio: f64,
    pub sentiment_mean: f64,
    pub as_of: String,
    pub emitted_at: String,
    pub provisional: bool,
}

impl AlertEvent {
    pub fn new(record: &AlertRecord, sequence: Option<u64>) -> AlertEvent {
        AlertEvent {
            sequence,
            alert_id: record.alert_id.clone(),
            kind: record.kind.clone(),
            rule: record
                .alert_id
                .split('/')
                .next()
                .unwrap_or("velocity")
                .to_string(),
            entity_id: record.entity_id.clone(),
            entity_name: record.entity_name.clone(),
            window_start: format_rfc3339_ms(record.window_start_ms),
            window_end: format_rfc3339_ms(record.window_end_ms),
            mentions: record.mentions,
            authors: record.authors,
            baseline_mean: record.baseline_mean,
            baseline_std: record.baseline_std,
            z: record.z,
            ratio: record.ratio,
            sentiment_mean: record.sentiment_mean,
            as_of: format_rfc3339_ms(record.as_of_ms),
            emitted_at: format_rfc3339_ms(record.emitted_at_ms),
            provisional: record.provisional,
        }
    }
}

/// A window row (the `entity_windows` table of SPEC §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WindowRow {
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    pub mentions: i64,
    pub authors: i64,
    pub sentiment_mean: f64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub z: f64,
    pub ratio: f64,
    pub alert: bool,
}

impl From<&WindowRecord> for WindowRow {
    fn from(w: &WindowRecord) -> WindowRow {
        WindowRow {
            entity_id: w.entity_id.clone(),
            entity_name: w.entity_name.clone(),
            window_start: format_rfc3339_ms(w.window_start_ms),
            window_end: format_rfc3339_ms(w.window_end_ms),
            mentions: w.mentions,
            authors: w.authors,
            sentiment_mean: w.sentiment_mean,
            baseline_mean: w.baseline_mean,
            baseline_std: w.baseline_std,
            z: w.z,
            ratio: w.ratio,
            alert: w.alert,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// `file:PATH` or `kafka:TOPIC:PARTITION`.
    pub source: String,
    pub records: u64,
    /// Records waiting (Kafka); null for files.
    pub lag_records: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyView {
    pub epochs: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: u64,
    pub frontier: u64,
    pub created_at: String,
    pub bytes: u64,
    pub seconds: f64,
    /// Wall-clock seconds since it was published.
    pub age_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StateView {
    pub live_comments: u64,
    pub window_rows: u64,
    pub resident_bytes: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParamsView {
    pub window_seconds: f64,
    pub baseline_windows: u32,
    pub min_mentions: u64,
    pub z_threshold: f64,
    pub ratio_threshold: f64,
}

/// One sample of the lag trend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    pub at: String,
    pub records: u64,
    pub lag_records: u64,
    pub watermark_lag_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertCounts {
    pub fired: u64,
    pub updated: u64,
    pub retracted: u64,
}

/// `GET /api/v1/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// starting, connecting, running, stopping or finished.
    pub phase: String,
    pub ready: bool,
    pub reason: Option<String>,
    pub uptime_seconds: f64,
    pub frontier: u64,
    pub watermark: Option<String>,
    pub max_event_time: Option<String>,
    pub horizon: Option<String>,
    pub watermark_lag_seconds: Option<f64>,
    pub records: u64,
    pub records_per_second: f64,
    pub lag_records: u64,
    pub sources: Vec<SourceView>,
    pub dead_letters: BTreeMap<String, u64>,
    pub dead_letters_total: u64,
    pub alerts: AlertCounts,
    pub epoch_latency_ms: LatencyView,
    pub last_snapshot: Option<SnapshotView>,
    pub state: StateView,
    pub params: ParamsView,
    pub trend: Vec<TrendPoint>,
    pub as_of: AsOf,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sparkline {
    pub start: String,
    pub step_seconds: f64,
    pub mentions: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopEntity {
    pub entity_id: String,
    pub entity_name: String,
    pub mentions: i64,
    pub authors: i64,
    pub peak_z: f64,
    pub peak_ratio: f64,
    pub peak_window_start: String,
    pub alert_windows: u64,
    pub sparkline: Sparkline,
}

/// `GET /api/v1/entities/top`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopEntities {
    /// The range's start (null: unbounded).
    pub from: Option<String>,
    /// The range's end (null: unbounded).
    pub to: Option<String>,
    pub by: String,
    pub entities: Vec<TopEntity>,
    pub next_cursor: Option<String>,
    pub as_of: AsOf,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityInfo {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub aliases: Vec<String>,
    pub symbols: Vec<String>,
    /// Free-form attributes from the catalog, as JSON values.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// `GET /api/v1/entities/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityView {
    /// The catalog's entry (null when the catalog no longer has it).
    pub entity: Option<EntityInfo>,
    pub latest_window: Option<WindowRow>,
    pub as_of: AsOf,
}

/// `GET /api/v1/entities/{id}/windows`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowsPage {
    pub entity_id: String,
    pub windows: Vec<WindowRow>,
    pub next_cursor: Option<String>,
    pub as_of: AsOf,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsPage {
    pub alerts: Vec<AlertEvent>,
    pub next_cursor: Option<String>,
    pub as_of: AsOf,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineWindow {
    pub window_start: String,
    pub mentions: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Baseline {
    /// The K windows before the alert's, oldest first (empty ones as 0).
    pub windows: Vec<BaselineWindow>,
    pub mean: f64,
    pub std: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceComment {
    pub id: String,
    pub author: Option<String>,
    pub channel: Option<String>,
    pub created_at: String,
    pub score: Option<i64>,
    pub sentiment: f64,
    /// The comment's text, as it was written (render it as text).
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorCount {
    pub author: String,
    pub comments: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelCount {
    pub channel: String,
    pub comments: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoMention {
    pub entity_id: String,
    pub entity_name: String,
    pub comments: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Evidence {
    pub snapshot: u64,
    /// Comments of the window that mention the entity.
    pub comments_total: u64,
    /// A sample, highest score first.
    pub comments: Vec<EvidenceComment>,
    pub authors: Vec<AuthorCount>,
    pub channels: Vec<ChannelCount>,
    pub co_mentioned: Vec<CoMention>,
}

/// `GET /api/v1/alerts/{alert_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    pub alert_id: String,
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    /// `active` or `retracted` (its newest event).
    pub state: String,
    /// Every event of its lifecycle, oldest first.
    pub events: Vec<AlertEvent>,
    /// Its window row now (null when the window no longer has mentions).
    pub window: Option<WindowRow>,
    pub baseline: Baseline,
    pub evidence: Option<Evidence>,
    /// Why `evidence` is null, when it is.
    pub evidence_note: Option<String>,
    pub as_of: AsOf,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotEntry {
    pub id: u64,
    pub frontier: u64,
    pub created_at: String,
    pub watermark: Option<String>,
    pub rows: BTreeMap<String, u64>,
}

/// `GET /api/v1/snapshots`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotsPage {
    /// Whether this run writes a lake.
    pub lake: bool,
    pub current: Option<u64>,
    pub snapshots: Vec<SnapshotEntry>,
    pub next_cursor: Option<String>,
    pub as_of: AsOf,
}
