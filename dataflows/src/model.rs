//! The records that flow through the graph: comments, entities, mentions, window stats, alerts.
//!
//! Times are integers: event times are Unix epoch milliseconds (`*_at_ms`), and the dataflow's
//! logical time [`Time`] is the ingestion epoch (a batch number), totally ordered.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The dataflow's logical time: the ingestion epoch. Inputs are sealed epoch by epoch; every
/// output at epoch `t` reflects all input of epochs `<= t`.
pub type Time = u64;

/// Where an input record came from: `source` indexes the runtime's table of inputs (a file, or
/// a Kafka topic-partition), `offset` is the line number or Kafka offset inside it. Sorting by
/// position gives arrival order for all records of one id (an id always lives in one source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Index into the runtime's input table.
    pub source: u32,
    /// Line number (files, 1-based) or offset (Kafka).
    pub offset: u64,
}

/// A comment as decoded from the input (SPEC §1.1). Unknown fields are dropped by the decoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub source: Option<String>,
    pub channel: Option<String>,
    pub thread_id: Option<String>,
    pub parent_id: Option<String>,
    pub author: Option<String>,
    pub text: String,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub score: Option<i64>,
}

/// One change to the comment collection, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommentEvent {
    /// Insert, or replace the version with the same id (an edit).
    Upsert(Comment),
    /// Remove the comment and everything derived from it.
    Delete {
        id: String,
        deleted_at_ms: Option<i64>,
    },
    /// A comment restored from a snapshot, with what was derived from it when it first
    /// arrived (never re-analysed, never refused, not counted as an insert).
    Restore(Box<RestoredComment>),
}

/// A live comment as a snapshot recorded it (see [`CommentEvent::Restore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredComment {
    pub comment: Comment,
    /// The entities matched when the comment arrived.
    pub entity_ids: Vec<String>,
    pub sentiment_e4: i32,
    /// ISO 639-3 code and the confidence's `f32` bits.
    pub language: Option<(String, u32)>,
    /// Already evicted from live state when the snapshot was taken: kept only so that its
    /// lake partition (still open) can be rewritten whole.
    pub evicted: bool,
}

impl CommentEvent {
    /// The comment id the event is about.
    pub fn id(&self) -> &str {
        match self {
            CommentEvent::Upsert(comment) => &comment.id,
            CommentEvent::Delete { id, .. } => id,
            CommentEvent::Restore(restored) => &restored.comment.id,
        }
    }
}

/// An entity of the catalog (SPEC §1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub symbols: Vec<String>,
    /// Free-form attributes, kept as JSON text per key so the record stays `Ord`-free and cheap.
    pub attributes: BTreeMap<String, String>,
}

/// One change to the entity catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityEvent {
    Upsert(Entity),
    Delete { id: String },
}

impl EntityEvent {
    /// The entity id the event is about.
    pub fn id(&self) -> &str {
        match self {
            EntityEvent::Upsert(entity) => &entity.id,
            EntityEvent::Delete { id } => id,
        }
    }
}

/// An input record with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positioned<E> {
    pub position: Position,
    pub event: E,
}

/// Dense entity key: assigned in catalog arrival order, identical on every worker, never reused.
pub type EntityKey = u32;

/// What the velocity path needs to know of an entity; joined onto window rows so that renames
/// update every output that carries the name. Shared: every window row of an entity carries
/// its label, and cloning one is a reference count, not three strings (read the fields
/// through `Deref`: `label.name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityLabel(std::sync::Arc<LabelFields>);

/// The fields of an [`EntityLabel`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelFields {
    pub id: String,
    pub name: String,
    pub kind: String,
}

impl EntityLabel {
    pub fn new(id: String, name: String, kind: String) -> EntityLabel {
        EntityLabel(std::sync::Arc::new(LabelFields { id, name, kind }))
    }
}

impl std::ops::Deref for EntityLabel {
    type Target = LabelFields;
    fn deref(&self) -> &LabelFields {
        &self.0
    }
}

impl Serialize for EntityLabel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EntityLabel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        LabelFields::deserialize(deserializer)
            .map(|fields| EntityLabel(std::sync::Arc::new(fields)))
    }
}

/// Aggregates of one (entity, window), all integers so that they are exact, orderable and
/// identical for any worker count; the floats of SPEC §2.3 are derived by [`WindowStat`] methods.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct WindowCounts {
    /// Live comments that mention the entity in the window.
    pub mentions: u64,
    /// Distinct non-null authors among them.
    pub authors: u64,
    /// Sum of comment sentiment in units of 1e-4.
    pub sentiment_sum_e4: i64,
}

/// A window row: its own counts and the sums over the K previous windows (empty = 0).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct WindowStat {
    pub counts: WindowCounts,
    /// Number of baseline windows K.
    pub baseline_windows: u32,
    /// Sum of mentions over the K previous windows.
    pub baseline_sum: u64,
    /// Sum of squared mentions over the K previous windows.
    pub baseline_sum_sq: u64,
}

impl WindowStat {
    /// Mean comment sentiment in the window.
    pub fn sentiment_mean(&self) -> f64 {
        if self.counts.mentions == 0 {
            0.0
        } else {
            self.counts.sentiment_sum_e4 as f64 / 1e4 / self.counts.mentions as f64
        }
    }

    /// Mean mentions over the K previous windows.
    pub fn baseline_mean(&self) -> f64 {
        if self.baseline_windows == 0 {
            0.0
        } else {
            self.baseline_sum as f64 / self.baseline_windows as f64
        }
    }

    /// Population standard deviation over the K previous windows, from exact integer moments.
    pub fn baseline_std(&self) -> f64 {
        if self.baseline_windows == 0 {
            return 0.0;
        }
        let k = u128::from(self.baseline_windows);
        let sum = u128::from(self.baseline_sum);
        let numerator = k * u128::from(self.baseline_sum_sq) - sum * sum;
        (numerator as f64).sqrt() / self.baseline_windows as f64
    }

    /// `(mentions − baseline_mean) / max(baseline_std, 1)`.
    pub fn z(&self) -> f64 {
        (self.counts.mentions as f64 - self.baseline_mean()) / self.baseline_std().max(1.0)
    }

    /// `(mentions + 1) / (baseline_mean + 1)`.
    pub fn ratio(&self) -> f64 {
        (self.counts.mentions as f64 + 1.0) / (self.baseline_mean() + 1.0)
    }
}

/// The alert rule's thresholds (SPEC §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub min_mentions: u64,
    pub z_threshold: f64,
    pub ratio_threshold: f64,
}

impl Default for AlertRule {
    fn default() -> Self {
        AlertRule {
            min_mentions: 10,
            z_threshold: 3.0,
            ratio_threshold: 2.0,
        }
    }
}

impl AlertRule {
    /// Whether the alert holds for a window with these stats.
    pub fn holds(&self, stat: &WindowStat) -> bool {
        stat.counts.mentions >= self.min_mentions
            && stat.z() >= self.z_threshold
            && stat.ratio() >= self.ratio_threshold
    }
}

/// One row of the `entity_windows` table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowRow {
    pub label: EntityLabel,
    pub window_start_ms: i64,
    pub stat: WindowStat,
}

/// Alert transitions (SPEC §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Fired,
    Updated,
    Retracted,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Fired => "fired",
            AlertKind::Updated => "updated",
            AlertKind::Retracted => "retracted",
        }
    }
}

/// An alert event as decided by the dataflow; the runtime adds the wall-clock `emitted_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub kind: AlertKind,
    pub label: EntityLabel,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub stat: WindowStat,
    /// The event-time watermark at which the event was decided.
    pub as_of_ms: i64,
    /// Fired before the window was final (low-latency mode).
    pub provisional: bool,
    /// The epoch at which it was decided.
    pub time: Time,
}

impl AlertEvent {
    /// `velocity/{entity_id}/{window_start}`: the Kafka key consumers dedupe by.
    pub fn alert_id(&self) -> String {
        format!(
            "velocity/{}/{}",
            self.label.id,
            crate::format_rfc3339_ms(self.window_start_ms)
        )
    }
}

/// Why the dataflow refused a record (the decoder has its own reasons for bad bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RefusalReason {
    /// The change is older than the retention horizon (SPEC §2.4).
    BeyondRetention,
}

impl RefusalReason {
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::BeyondRetention => "beyond_retention",
        }
    }
}

/// A record the dataflow refused, with enough to dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub position: Position,
    pub reason: RefusalReason,
    pub detail: String,
    pub event: CommentEvent,
}

/// Event-time progress after an epoch: what is final and what is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub time: Time,
    /// Newest `created_at` seen so far on any source (i64::MIN before any).
    pub max_event_ms: i64,
    /// The event time of the input (the minimum over its active sources, see
    /// [`crate::event_time`]) less the allowed lateness, never moving back: windows ending at
    /// or before it are final.
    pub watermark_ms: i64,
    /// `watermark − retention`: changes before it are refused, windows ending at or before it sealed.
    pub horizon_ms: i64,
    /// Set when a snapshot was requested for this epoch (its id).
    pub snapshot: Option<u64>,
}

impl Default for Progress {
    /// Before any input: nothing final, nothing sealed.
    fn default() -> Self {
        Progress {
            time: 0,
            max_event_ms: i64::MIN,
            watermark_ms: i64::MIN,
            horizon_ms: i64::MIN,
            snapshot: None,
        }
    }
}
