//! The validated settings of a run, compiled from the config file and the command line
//! (`cli`) and read by the runtime, the connectors and offline tools alike.

use crate::connectors::file::InputSpec;
use crate::kafka::KafkaSettings;
use dataflows::Params;
use std::path::PathBuf;
use std::time::Duration;

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
    pub kafka: Option<KafkaSettings>,
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
