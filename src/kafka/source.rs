//! The Kafka source (a [`CommentSource`]): each worker (of every process) reads the partitions
//! it owns ([`super::owner`]) with its own consumer, from the positions of the lake's newest
//! snapshot; epochs are cut by processing time (`kafka.epoch_interval`). Worker 0 also reads
//! the catalog topic: bootstrapped to its end before any comment, then kept up to date.
//!
//! Delivery: positions are committed to the consumer group only after the snapshot that
//! holds them is published (exactly-once into the lake; the group's offsets are for lag tools).

use super::{owner, KafkaConsumer, KafkaSettings};
use crate::connectors::{CommentSource, EpochRead, Feed, Positions, SourceStats, SourceTable};
use crate::decode::{Envelope, Provenance};
use crate::lake::{KafkaPosition, Manifest};
use anyhow::Result;
use dataflows::model::Position;
use rdkafka::consumer::Consumer;
use rdkafka::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A bounded run's partition is at its end once it reached the end offset it had at start and
/// nothing more arrived for this long (some brokers, tansu among them, report a high
/// watermark that trails the last batch).
const SETTLE: Duration = Duration::from_secs(1);

/// One partition a worker reads.
struct Part {
    topic: String,
    /// The next offset to read (None: from the beginning, nothing read yet).
    next: Option<i64>,
    /// A bounded run's end offset (the high watermark at start).
    end: i64,
    /// When a record of it was last read (or it was assigned).
    last_read: Instant,
    /// Whether the graph was told it is idle (and nothing was read since).
    idle: bool,
    /// Records read by this run.
    records: u64,
}

impl Part {
    /// Records waiting: the high watermark (from the statistics, or the end offset at start
    /// until they arrive) minus the next offset to read.
    fn lag(&self, consumer: &KafkaConsumer, partition: i32) -> u64 {
        let high = consumer
            .context()
            .high(&self.topic, partition)
            .map_or(self.end, |high| high.max(self.end));
        (high - self.next.unwrap_or(0)).max(0) as u64
    }
}

/// Worker 0's catalog topic: its consumer, and where each partition stands.
struct Catalog {
    topic: String,
    consumer: KafkaConsumer,
    /// Partition → (resume offset, high watermark at start).
    ends: BTreeMap<i32, (Option<i64>, i64)>,
    /// Partition → next offset to read.
    positions: BTreeMap<i32, i64>,
}

/// One worker's Kafka reader.
pub struct KafkaSource {
    kafka: KafkaSettings,
    index: usize,
    peers: usize,
    consumer: KafkaConsumer,
    /// (topic index from 1, partition) → its state.
    parts: BTreeMap<(usize, i32), Part>,
    resume: HashMap<(String, i32), i64>,
    catalog: Option<Catalog>,
    /// Partitions assigned and not yet marked for the event-time clock.
    assigned: Vec<(usize, i32)>,
    last_message: Instant,
    last_metadata: Instant,
    since_step: usize,
}

impl KafkaSource {
    /// Connects worker `index` of `peers`, assigns its partitions at the positions of
    /// `resume` (a snapshot's), and on worker 0 the catalog topic.
    pub fn new(
        kafka: &KafkaSettings,
        (index, peers): (usize, usize),
        resume: &[KafkaPosition],
    ) -> Result<KafkaSource> {
        let resume: HashMap<(String, i32), i64> = resume
            .iter()
            .map(|k| ((k.topic.clone(), k.partition), k.offset))
            .collect();
        let consumer = kafka.consumer(&format!("chatter-{index}"))?;
        let counts = kafka.wait_for_topics(&consumer, &kafka.topics, None)?;
        let mut source = KafkaSource {
            kafka: kafka.clone(),
            index,
            peers,
            consumer,
            parts: BTreeMap::new(),
            resume,
            catalog: None,
            assigned: Vec::new(),
            last_message: Instant::now(),
            last_metadata: Instant::now(),
            since_step: 0,
        };
        let mut added = Vec::new();
        source.add_parts(&counts, &mut added)?;
        source.assign()?;
        source.assigned = added;
        if let (Some(topic), 0) = (&kafka.entities_topic, index) {
            source.catalog = Some(source.open_catalog(topic)?);
        }
        tracing::info!(
            worker = index,
            partitions = ?source.parts.keys().collect::<Vec<_>>(),
            "reading Kafka"
        );
        Ok(source)
    }

    fn open_catalog(&self, topic: &str) -> Result<Catalog> {
        let kafka = &self.kafka;
        let consumer = kafka.consumer("chatter-catalog")?;
        let count = kafka.wait_for_topics(&consumer, &[topic.to_string()], None)?[0];
        let (mut ends, mut list, mut positions) = (BTreeMap::new(), Vec::new(), BTreeMap::new());
        for p in 0..count {
            let next = self.resume.get(&(topic.to_string(), p)).copied();
            let high = kafka.high_watermark(&consumer, topic, p)?;
            ends.insert(p, (next, high));
            list.push((topic.to_string(), p, next));
            if let Some(next) = next {
                positions.insert(p, next);
            }
        }
        consumer.assign(&super::assignment(&list)?)?;
        Ok(Catalog {
            topic: topic.to_string(),
            consumer,
            ends,
            positions,
        })
    }

    /// Adds the partitions of `counts` this worker owns and does not read yet (to `added`).
    fn add_parts(&mut self, counts: &[i32], added: &mut Vec<(usize, i32)>) -> Result<()> {
        for (t, (topic, count)) in self.kafka.topics.iter().zip(counts).enumerate() {
            for p in 0..*count {
                if owner(t, p, self.peers) != self.index || self.parts.contains_key(&(t + 1, p)) {
                    continue;
                }
                let next = self.resume.get(&(topic.clone(), p)).copied();
                let end = self.kafka.high_watermark(&self.consumer, topic, p)?;
                let part = Part {
                    topic: topic.clone(),
                    next,
                    end,
                    last_read: Instant::now(),
                    idle: false,
                    records: 0,
                };
                self.parts.insert((t + 1, p), part);
                added.push((t + 1, p));
            }
        }
        Ok(())
    }

    fn assign(&self) -> Result<()> {
        let list: Vec<(String, i32, Option<i64>)> = self
            .parts
            .iter()
            .map(|((_, p), part)| (part.topic.clone(), *p, part.next))
            .collect();
        self.consumer.assign(&super::assignment(&list)?)?;
        Ok(())
    }

    fn at_end(&self) -> bool {
        self.parts.values().all(|p| p.next.unwrap_or(0) >= p.end)
            && self.last_message.elapsed() >= SETTLE
    }

    /// Per-partition event time (SPEC §2.4): a partition assigned with records waiting holds
    /// the watermark back until it reads one (pending); one caught up and quiet for
    /// `kafka.idle_timeout`, or at its end in a bounded run, is left out of it (idle) until
    /// its next record. An idle mark goes out only for a partition that read nothing in the
    /// epoch.
    /// Pending marks for the partitions assigned since the last call (with records waiting).
    fn mark_pending(&mut self, feed: &mut Feed<'_>) {
        for key in std::mem::take(&mut self.assigned) {
            if self
                .parts
                .get(&key)
                .is_some_and(|part| part.lag(&self.consumer, key.1) > 0)
            {
                feed.pending(SourceTable::kafka_key(key.0, key.1));
            }
        }
    }

    fn mark_partitions(&mut self, feed: &mut Feed<'_>) {
        self.mark_pending(feed);
        for ((t, p), part) in self.parts.iter_mut() {
            if part.idle {
                continue;
            }
            let at_end = self.kafka.bounded && part.next.unwrap_or(0) >= part.end;
            let quiet = part.last_read.elapsed() >= self.kafka.idle_timeout
                && part.lag(&self.consumer, *p) == 0;
            if at_end || quiet {
                part.idle = true;
                feed.idle(SourceTable::kafka_key(*t, *p));
            }
        }
    }
}

/// A message of a comment topic into the feed (`now`: when it was read).
fn comment_message(
    topics: &[String],
    parts: &mut BTreeMap<(usize, i32), Part>,
    now: Instant,
    feed: &mut Feed<'_>,
    message: &rdkafka::message::BorrowedMessage<'_>,
) {
    let partition = message.partition();
    let Some(t) = topics.iter().position(|t| t == message.topic()) else {
        return;
    };
    let offset = message.offset();
    if let Some(part) = parts.get_mut(&(t + 1, partition)) {
        part.next = Some(offset + 1);
        part.last_read = now;
        part.idle = false;
        part.records += 1;
    }
    let position = Position {
        source: SourceTable::kafka_key(t + 1, partition),
        offset: offset as u64,
    };
    feed.comment(position, || provenance(message), envelope(message));
}

/// Where a message came from.
fn provenance(message: &rdkafka::message::BorrowedMessage<'_>) -> Provenance {
    Provenance::Kafka {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
    }
}

/// A message as the decoder takes it: its key, and its value or none (a tombstone).
fn envelope<'a>(message: &'a rdkafka::message::BorrowedMessage<'_>) -> Envelope<'a> {
    Envelope::Message {
        key: message.key(),
        value: message.payload(),
    }
}

/// A catalog message into the feed (`positions`: the catalog partitions' next offsets); true
/// when it was a valid entity event.
fn catalog_message(
    positions: &mut BTreeMap<i32, i64>,
    feed: &mut Feed<'_>,
    message: &rdkafka::message::BorrowedMessage<'_>,
) -> bool {
    let (partition, offset) = (message.partition(), message.offset());
    positions.insert(partition, offset + 1);
    let position = Position {
        source: SourceTable::kafka_key(0, partition),
        offset: offset as u64,
    };
    feed.entity(position, || provenance(message), envelope(message))
}

impl CommentSource for KafkaSource {
    /// The whole catalog topic as of now, in the first epoch, before any comment. The wait is
    /// for progress: a broker down for longer than `connect_timeout` while the catalog loads
    /// fails the start, like one that is down at start.
    fn load_catalog(&mut self, feed: &mut Feed<'_>) -> Result<u64> {
        let connect_timeout = self.kafka.connect_timeout;
        let Some(catalog) = self.catalog.as_mut() else {
            return Ok(0);
        };
        let mut pending: BTreeSet<i32> = catalog
            .ends
            .iter()
            .filter(|(_, (next, high))| next.unwrap_or(0) < *high)
            .map(|(p, _)| *p)
            .collect();
        let mut entities = 0;
        let mut deadline = Instant::now() + connect_timeout;
        while !pending.is_empty() {
            if Instant::now() > deadline {
                let last = catalog.consumer.context().last_error();
                anyhow::bail!(
                    "could not read the catalog topic {:?} to its end: no message for kafka.connect_timeout ({connect_timeout:?}){}",
                    catalog.topic,
                    last.map_or(String::new(), |e| format!("; last client error: {e}"))
                );
            }
            let Some(message) = catalog.consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, topic = catalog.topic, "catalog consumer error");
                    continue;
                }
            };
            deadline = Instant::now() + connect_timeout;
            let (partition, offset) = (message.partition(), message.offset());
            if offset + 1 >= catalog.ends.get(&partition).map_or(0, |e| e.1) {
                pending.remove(&partition);
            }
            entities += u64::from(catalog_message(&mut catalog.positions, feed, &message));
        }
        tracing::info!(entities, topic = catalog.topic, "catalog loaded");
        Ok(entities)
    }

    fn start(&mut self, feed: &mut Feed<'_>) -> Result<()> {
        // Reading starts now (after the restore and the catalog load): the end-of-input settle
        // time and the idle timeout count from here.
        let now = Instant::now();
        self.last_message = now;
        for part in self.parts.values_mut() {
            part.last_read = now;
        }
        self.mark_pending(feed);
        Ok(())
    }

    fn backlog(&mut self) -> u64 {
        self.parts
            .iter()
            .map(|((_, p), part)| part.lag(&self.consumer, *p))
            .sum()
    }

    fn bounded(&self) -> bool {
        self.kafka.bounded
    }

    /// Reads until `kafka.epoch_interval` has passed or `kafka.epoch_max_records` were read (a
    /// bounded run: or every partition is at its end). The graph works on earlier epochs meanwhile: it steps whenever Kafka has
    /// nothing for a moment and every 1,024 records, and hands out the alert events it
    /// finished (lower latency than waiting for the epoch boundary).
    fn read_epoch(&mut self, feed: &mut Feed<'_>) -> Result<EpochRead> {
        let started = Instant::now();
        let until = started + self.kafka.epoch_interval;
        let mut read = EpochRead::default();
        loop {
            let now = Instant::now();
            let full = read.records >= self.kafka.epoch_max_records;
            if full || now >= until || (self.kafka.bounded && self.at_end()) {
                break;
            }
            if self.since_step >= 1024 {
                self.since_step = 0;
                feed.step();
            }
            let polled = self
                .consumer
                .poll((until - now).min(Duration::from_millis(2)));
            let Some(message) = polled else {
                self.since_step = 1024;
                continue;
            };
            self.since_step += 1;
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(worker = self.index, %error, "Kafka consumer error");
                    continue;
                }
            };
            // The loop's clock read (before the poll): one read per message.
            self.last_message = now;
            read.records += 1;
            comment_message(&self.kafka.topics, &mut self.parts, now, feed, &message);
        }
        read.done = self.kafka.bounded && self.at_end();
        Ok(read)
    }

    fn end_epoch(&mut self, feed: &mut Feed<'_>) -> Result<u64> {
        let mut entities = 0;
        if let Some(catalog) = self.catalog.as_mut() {
            while let Some(Ok(message)) = catalog.consumer.poll(Duration::ZERO) {
                entities += u64::from(catalog_message(&mut catalog.positions, feed, &message));
            }
        }
        self.mark_partitions(feed);
        Ok(entities)
    }

    fn positions(&self) -> Positions {
        let mut positions: Vec<KafkaPosition> = self
            .parts
            .iter()
            .filter_map(|((_, p), part)| {
                part.next.map(|offset| KafkaPosition {
                    topic: part.topic.clone(),
                    partition: *p,
                    offset,
                })
            })
            .collect();
        if let Some(catalog) = &self.catalog {
            positions.extend(catalog.positions.iter().map(|(p, offset)| KafkaPosition {
                topic: catalog.topic.clone(),
                partition: *p,
                offset: *offset,
            }));
        }
        Positions::Kafka(positions)
    }

    fn problem(&self) -> Option<String> {
        self.consumer.context().brokers_down()
    }

    fn stats(&self) -> Vec<SourceStats> {
        self.parts
            .iter()
            .map(|((_, p), part)| SourceStats {
                source: format!("kafka:{}:{p}", part.topic),
                records: part.records,
                lag: Some(part.lag(&self.consumer, *p)),
            })
            .collect()
    }

    fn published(&mut self, manifest: &Manifest) {
        super::commit(&self.consumer, manifest.sources.kafka());
    }

    /// New partitions (not in bounded runs: their end is fixed at start), read from their
    /// beginning. One attempt per refresh (a broker that is down is asked again at the next).
    fn maintain(&mut self, feed: &mut Feed<'_>) -> Result<()> {
        if self.kafka.bounded || self.last_metadata.elapsed() < self.kafka.metadata_refresh {
            return Ok(());
        }
        self.last_metadata = Instant::now();
        let Ok(counts) = self
            .kafka
            .partition_counts(&self.consumer, &self.kafka.topics)
        else {
            return Ok(());
        };
        let mut added = Vec::new();
        if let Err(error) = self.add_parts(&counts, &mut added) {
            tracing::warn!(worker = self.index, %error, "cannot add the new partitions yet; retrying at the next metadata refresh");
        }
        if !added.is_empty() {
            tracing::info!(
                worker = self.index,
                ?added,
                "new partitions; reading them from the beginning"
            );
            self.assign()?;
            self.assigned = added;
            // Idle marks wait for the epoch's end (they apply after its records).
            self.mark_pending(feed);
        }
        Ok(())
    }
}
