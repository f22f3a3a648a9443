//! Connectors: the transports that read comments (`file`; Kafka lives in `crate::kafka`), and
//! the one seam between them and the runtime's worker loop (feldera's `InputReader` /
//! `InputConsumer` split): a [`CommentSource`] reads records and hands them, as bytes in an
//! [`Envelope`], to a [`Feed`], which decodes them on the one decode path, dead-letters what
//! fails (file, DLQ topic and lake alike) and sends the rest into the graph.
//!
//! Identity is typed: a record's [`Position`] carries a source key that only
//! [`SourceTable`] assigns and reads back, and every dead letter names its [`Provenance`].

use crate::decode::{
    decode_comment_envelope, decode_entity_envelope, DecodeLimits, Envelope, Provenance, Reason,
    Rejected,
};
use crate::lake::tables::DeadLetterRecord;
use crate::lake::writer::LakeShared;
use crate::lake::{KafkaPosition, Manifest, SourcePositions};
use crate::sink::{now_ms, DeadLetters};
use anyhow::Result;

pub mod file;
use dataflows::model::{Position, Positioned};
use dataflows::{Control, Graph};

/// What the source keys of a run's positions stand for.
#[derive(Debug, Clone)]
pub enum SourceTable {
    /// Key 0 is the catalog file, key `1 + i` the i-th input.
    Files {
        catalog: Option<String>,
        inputs: Vec<String>,
    },
    /// Key `t * KAFKA_TOPIC_STRIDE + p`: topic 0 is the catalog topic, 1.. the comment topics.
    Kafka {
        catalog: Option<String>,
        topics: Vec<String>,
    },
}

/// Partitions per topic a Kafka source key can tell apart.
pub const KAFKA_TOPIC_STRIDE: u32 = 100_000;
/// The source key of comments restored from a snapshot.
pub const RESTORED: u32 = u32::MAX;

impl SourceTable {
    /// The key of the `index`-th file input.
    pub fn file_key(index: usize) -> u32 {
        1 + index as u32
    }

    /// The key of the catalog file.
    pub const CATALOG_FILE: u32 = 0;

    /// The key of partition `partition` of topic `topic` (0: the catalog topic, 1..: the
    /// comment topics in order).
    pub fn kafka_key(topic: usize, partition: i32) -> u32 {
        topic as u32 * KAFKA_TOPIC_STRIDE + partition as u32
    }

    /// Where the record at `position` came from.
    pub fn provenance(&self, position: Position) -> Provenance {
        if position.source == RESTORED {
            return Provenance::Restored;
        }
        match self {
            SourceTable::Files { catalog, inputs } => {
                let input = match position.source {
                    Self::CATALOG_FILE => catalog.clone(),
                    key => inputs.get(key as usize - 1).cloned(),
                };
                Provenance::File {
                    input: input.unwrap_or_default(),
                    line: position.offset,
                }
            }
            SourceTable::Kafka { catalog, topics } => {
                let topic = (position.source / KAFKA_TOPIC_STRIDE) as usize;
                let topic = match topic {
                    0 => catalog.clone(),
                    t => topics.get(t - 1).cloned(),
                };
                Provenance::Kafka {
                    topic: topic.unwrap_or_default(),
                    partition: (position.source % KAFKA_TOPIC_STRIDE) as i32,
                    offset: position.offset as i64,
                }
            }
        }
    }
}

/// Where a source stands at the end of an epoch, for the snapshot of that epoch.
#[derive(Debug, Clone)]
pub enum Positions {
    /// Every worker reads every file (worker 0's positions are the whole input's).
    Files(SourcePositions),
    /// This worker's topic-partitions (each worker stages its own for the snapshot).
    Kafka(Vec<KafkaPosition>),
}

/// What reading one epoch did.
#[derive(Debug, Clone, Copy, Default)]
pub struct EpochRead {
    /// Records read (valid or not).
    pub records: u64,
    /// The source has nothing more to read (a bounded run may end once every worker is).
    pub done: bool,
}

/// One source (a file input, a topic-partition) as the status view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// `file:PATH` or `kafka:TOPIC:PARTITION`.
    pub source: String,
    /// Records read by this run (valid or not).
    pub records: u64,
    /// Records waiting (Kafka: the high watermark less the position; None for files).
    pub lag: Option<u64>,
}

/// One worker's reader of comments (and, on worker 0, of the catalog).
pub trait CommentSource {
    /// Worker 0, in the first epoch, before any comment: the catalog as of now (a resumed run
    /// has it from the snapshot). Returns the entities read.
    fn load_catalog(&mut self, feed: &mut Feed<'_>) -> Result<u64>;
    /// Once, in the first epoch (after a restore): marks for the event-time clock.
    fn start(&mut self, feed: &mut Feed<'_>) -> Result<()>;
    /// Records waiting at the start of an epoch (catch-up, SPEC §3.1).
    fn backlog(&mut self) -> u64;
    /// Whether the input ends (files; a bounded Kafka run): the run ends once every worker's
    /// source is done.
    fn bounded(&self) -> bool;
    /// Reads the current epoch up to its cut (files: a line count; Kafka: time). The source
    /// calls [`Feed::step`] now and then, so the graph works while it reads.
    fn read_epoch(&mut self, feed: &mut Feed<'_>) -> Result<EpochRead>;
    /// After reading, still in the epoch: catalog updates, idle marks. Returns entities read.
    fn end_epoch(&mut self, feed: &mut Feed<'_>) -> Result<u64>;
    /// Where the source stands now (the end of the epoch just read).
    fn positions(&self) -> Positions;
    /// Why the source does not work now (None: it does), for `/readyz`.
    fn problem(&self) -> Option<String>;
    /// Records read and waiting per source, for the status view.
    fn stats(&self) -> Vec<SourceStats>;
    /// Between epochs: a snapshot was published (Kafka commits its positions to the group).
    fn published(&mut self, manifest: &Manifest);
    /// Between epochs, in the next epoch: periodic work (Kafka looks for new partitions).
    fn maintain(&mut self, feed: &mut Feed<'_>) -> Result<()>;
}

/// Where dead letters go: the file (and through it the DLQ topic) and the lake.
pub struct DeadLetterPath<'a> {
    pub dead_letters: &'a DeadLetters,
    pub lake: Option<&'a LakeShared>,
}

impl DeadLetterPath<'_> {
    /// Writes one dead letter everywhere it belongs.
    pub fn write(
        &self,
        worker: usize,
        epoch: u64,
        provenance: &Provenance,
        reason: Reason,
        detail: &str,
        raw: &[u8],
    ) {
        self.dead_letters.write(provenance, reason, detail, raw);
        if let Some(lake) = self.lake {
            lake.dead_letter(
                worker,
                epoch,
                DeadLetterRecord {
                    received_at_ms: now_ms(),
                    source: provenance.to_string(),
                    reason: reason.code(),
                    error: detail.to_string(),
                    raw: raw.to_vec(),
                },
            );
        }
    }
}

/// The dead-letter detail of a record skipped for its size. It starts with the words of an
/// `oversize` rejection of a record held whole and adds `truncated` (the raw bytes are the
/// first `kept`), the full length and the digest; `chatter replay` leaves such letters out.
pub fn oversize_detail(length: u64, limit: usize, kept: usize, sha256: &[u8]) -> String {
    format!(
        "record is {length} bytes, the limit is {limit} (input.max_record_bytes); {TRUNCATED_MARK} to the first {kept} bytes; sha256 {}",
        chatter_lake::tables::hex(sha256)
    )
}

/// Marks a dead letter whose raw bytes are only the start of the record.
const TRUNCATED_MARK: &str = "truncated";

/// Whether a dead letter's raw bytes are only the start of its record ([`oversize_detail`]).
pub fn is_truncated(reason: &str, detail: &str) -> bool {
    reason == Reason::Oversize.code()
        && detail.contains(&format!("; {TRUNCATED_MARK} to the first "))
}

/// What a source hands records to: the graph's inputs behind the one decode path.
pub struct Feed<'a> {
    pub(crate) worker: &'a mut timely::worker::Worker,
    pub(crate) graph: &'a mut Graph,
    pub(crate) dead: &'a DeadLetterPath<'a>,
    pub(crate) limits: &'a DecodeLimits,
    /// The epoch records go into.
    pub(crate) epoch: u64,
    /// Called after every [`Feed::step`] (worker 0 hands out the alerts the graph finished).
    pub(crate) on_step: &'a mut dyn FnMut(&Graph),
}

impl Feed<'_> {
    /// The index of this worker among all workers of all processes.
    pub fn worker_index(&self) -> usize {
        self.worker.index()
    }

    /// All workers of all processes.
    pub fn peers(&self) -> usize {
        self.worker.peers()
    }

    /// Decodes a comment record; sends it into the graph, or dead-letters it. Returns whether
    /// it was valid.
    pub fn comment(
        &mut self,
        position: Position,
        provenance: impl FnOnce() -> Provenance,
        envelope: Envelope<'_>,
    ) -> bool {
        match decode_comment_envelope(envelope, self.limits) {
            Ok(event) => {
                self.graph.comments.send(Positioned { position, event });
                true
            }
            Err(rejected) => self.reject(&provenance(), &rejected),
        }
    }

    /// Decodes a catalog record; sends it into the graph (every worker gets it), or
    /// dead-letters it. Returns whether it was valid.
    pub fn entity(
        &mut self,
        position: Position,
        provenance: impl FnOnce() -> Provenance,
        envelope: Envelope<'_>,
    ) -> bool {
        match decode_entity_envelope(envelope, self.limits) {
            Ok(event) => {
                let entity = Positioned { position, event };
                self.graph.control.send(Control::Entity(entity));
                true
            }
            Err(rejected) => self.reject(&provenance(), &rejected),
        }
    }

    /// A rejected record's dead letter; false (it was not valid).
    fn reject(&mut self, provenance: &Provenance, rejected: &Rejected<'_>) -> bool {
        let r = &rejected.rejection;
        let index = self.worker.index();
        let dead = self.dead;
        dead.write(
            index,
            self.epoch,
            provenance,
            r.reason,
            &r.detail,
            rejected.raw,
        );
        false
    }

    /// A record the input broke off inside (a truncated gzip stream): a dead letter.
    pub fn truncated(&mut self, provenance: &Provenance, bytes: &[u8], error: &str) {
        let detail = format!("input ended inside a record: {error}");
        let index = self.worker.index();
        let reason = Reason::TruncatedInput;
        self.dead
            .write(index, self.epoch, provenance, reason, &detail, bytes);
    }

    /// A record longer than `input.max_record_bytes`, skipped unread past its first
    /// `head.len()` bytes: an `oversize` dead letter marked truncated, holding that head, the
    /// full length and the sha256 of the whole record.
    pub fn oversize(&mut self, provenance: &Provenance, head: &[u8], length: u64, sha256: &[u8]) {
        let detail = oversize_detail(length, self.limits.max_record_bytes, head.len(), sha256);
        let index = self.worker.index();
        self.dead.write(
            index,
            self.epoch,
            provenance,
            Reason::Oversize,
            &detail,
            head,
        );
    }

    /// The event-time clock leaves `source` out until its next record (SPEC §2.4).
    pub fn idle(&mut self, source: u32) {
        self.graph.control.send(Control::SourceIdle(source));
    }

    /// `source` has records waiting: it holds the event-time minimum until it reads one.
    pub fn pending(&mut self, source: u32) {
        self.graph.control.send(Control::SourcePending(source));
    }

    /// Lets the graph work on earlier epochs (and hands out what it finished).
    pub fn step(&mut self) {
        self.graph.comments.flush();
        self.worker.step();
        (self.on_step)(self.graph);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_keys_read_back_as_typed_provenance() {
        let files = SourceTable::Files {
            catalog: Some("entities.jsonl".into()),
            inputs: vec!["a.jsonl".into(), "b.jsonl.gz".into()],
        };
        let at = |source, offset| Position { source, offset };
        assert_eq!(
            files
                .provenance(at(SourceTable::file_key(1), 9))
                .to_string(),
            "file:b.jsonl.gz:9"
        );
        assert_eq!(
            files
                .provenance(at(SourceTable::CATALOG_FILE, 2))
                .to_string(),
            "file:entities.jsonl:2"
        );
        let kafka = SourceTable::Kafka {
            catalog: Some("entities".into()),
            topics: vec!["comments".into(), "more".into()],
        };
        assert_eq!(
            kafka.provenance(at(SourceTable::kafka_key(2, 7), 41)),
            Provenance::Kafka {
                topic: "more".into(),
                partition: 7,
                offset: 41
            }
        );
        assert_eq!(
            kafka
                .provenance(at(SourceTable::kafka_key(0, 3), 5))
                .to_string(),
            "kafka:entities:3:5"
        );
        assert_eq!(kafka.provenance(at(RESTORED, 1)), Provenance::Restored);
    }
}
