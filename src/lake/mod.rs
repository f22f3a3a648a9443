//! The lake (SPEC §3.3) as the engine uses it. Its layout, manifest, table schemas and read
//! library are the `chatter-lake` crate (re-exported here, no timely in it, so the brief and
//! other readers build without the engine); the snapshot writer and the conversions of live
//! state to rows are here, beside the engine they read.

pub use chatter_lake::*;

pub mod live;
pub mod writer;

use dataflows::model::{Entity, Progress};
use dataflows::velocity::ActiveAlert;
use serde::{Deserialize, Serialize};

/// `state.json`: what a restore needs besides the table rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub params: dataflows::Params,
    /// Entity ids by dense key (keys are never reused, so this includes removed entities).
    pub entity_ids: Vec<String>,
    pub catalog: Vec<Entity>,
    pub progress: Progress,
    /// Event time per source (absent in snapshots of older versions: rebuilt from the
    /// sources' next records).
    #[serde(default)]
    pub clock: dataflows::event_time::EventClock,
    pub evict_cut_ms: Option<i64>,
    /// Alerts that currently hold: (entity id, window start, figures last emitted).
    pub active: Vec<(String, i64, ActiveAlert)>,
    /// Windows whose alert decision waits for the watermark: (window start, entity id).
    pub pending: Vec<(i64, String)>,
    pub event_counts: [u64; 3],
    pub sealed_total: u64,
}
