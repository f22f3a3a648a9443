//! The timely worker loop for the Kafka source.
//!
//! Every worker (of every process) reads the partitions it owns ([`super::owner`]) with its own
//! consumer, from the positions of the lake's newest snapshot. Epochs are cut by processing
//! time (`kafka.epoch_interval`); at most two are in flight, so a slow worker holds the others
//! back instead of letting input pile up. Worker 0 also reads the catalog topic (bootstrapped
//! to its end before any comment, then kept up to date), produces alert events and window
//! stats, requests snapshots, and commits the snapshot's positions to the consumer group.
//!
//! Workers coordinate through a small second dataflow that broadcasts [`Signal`]s: a stop
//! request (SIGTERM in any process), "my partitions are at their end" (bounded runs), consumer
//! lag (catch-up), and worker 0's decision of the last epoch.

use super::{owner, provenance, source_id, KafkaSettings, Sinks};
use crate::decode::{decode_comment, decode_entity, DecodeLimits, Reason};
use crate::health::Phase;
use crate::lake::tables::DeadLetterRecord;
use crate::lake::{KafkaPosition, Sources};
use crate::runtime::{
    advance, finish_before, record_finished, resume_from, Outputs, RunControl, RunSettings,
    Snapshots, WorkerResult,
};
use crate::sink::{now_ms, AlertJson, WindowJson};
use anyhow::Result;
use dataflows::extract::MatcherCache;
use dataflows::model::{CommentEvent, EntityEvent, Position, Positioned};
use dataflows::{Control, Graph, Hooks};
use hdrhistogram::Histogram;
use rdkafka::consumer::Consumer;
use rdkafka::Message;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::core::{Input, Inspect};
use timely::dataflow::operators::vec::Broadcast;

/// Messages between workers (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Signal {
    StopRequested,
    /// A bounded run's worker has read all its partitions to their end offsets.
    Done(usize),
    /// A worker's backlog for an epoch (see [`Backlog`]): worker, epoch, records.
    Lag(usize, u64, u64),
    /// Worker 0's decision: nobody reads past this epoch.
    StopAt(u64),
}

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
}

impl Part {
    fn new(topic: String, next: Option<i64>, end: i64) -> Part {
        Part {
            topic,
            next,
            end,
            last_read: Instant::now(),
            idle: false,
        }
    }

    /// Records waiting: the high watermark (from the statistics, or the end offset at start
    /// until they arrive) minus the next offset to read.
    fn lag(&self, consumer: &super::KafkaConsumer, partition: i32) -> u64 {
        let high = consumer
            .context()
            .high(&self.topic, partition)
            .map_or(self.end, |high| high.max(self.end));
        (high - self.next.unwrap_or(0)).max(0) as u64
    }
}

/// Per-partition event time (SPEC §2.4): a partition with records waiting and none read
/// holds the watermark back (pending); one caught up and quiet for `idle_timeout`, or at its
/// end in a bounded run, is left out of it (idle) until its next record. Marks go out on the
/// control input at the current epoch, an idle mark only for a partition that read nothing
/// in it.
fn mark_partitions(
    graph: &mut Graph,
    parts: &mut BTreeMap<(usize, i32), Part>,
    consumer: &super::KafkaConsumer,
    kafka: &KafkaSettings,
    assigned: Option<&[(usize, i32)]>,
) {
    if let Some(assigned) = assigned {
        for key in assigned {
            if let Some(part) = parts.get(key) {
                if part.lag(consumer, key.1) > 0 {
                    graph
                        .control
                        .send(Control::SourcePending(source_id(key.0, key.1)));
                }
            }
        }
        return;
    }
    for ((t, p), part) in parts.iter_mut() {
        if part.idle {
            continue;
        }
        let at_end = kafka.bounded && part.next.unwrap_or(0) >= part.end;
        let quiet = part.last_read.elapsed() >= kafka.idle_timeout && part.lag(consumer, *p) == 0;
        if at_end || quiet {
            part.idle = true;
            graph.control.send(Control::SourceIdle(source_id(*t, *p)));
        }
    }
}

/// Per-worker Kafka state shared with the lake hook (which asks for positions by epoch).
type PositionLog = Rc<RefCell<BTreeMap<u64, Vec<KafkaPosition>>>>;

pub(crate) fn run_worker(
    worker: &mut timely::worker::Worker,
    settings: &RunSettings,
    kafka: &KafkaSettings,
    sinks: &Arc<Sinks>,
    cache: MatcherCache,
    outputs: &Outputs<'_>,
    control: RunControl,
) -> Result<WorkerResult> {
    let index = worker.index();
    let peers = worker.peers();
    let params = settings.params.clone();
    let lake = control.lake.as_ref();
    let plan = lake.and_then(|l| l.plan.clone());
    let log: PositionLog = Rc::default();
    let mut hooks = Hooks::default();
    if let Some(lake) = lake {
        let log = log.clone();
        let positions = Box::new(move |epoch: u64| {
            let mut log = log.borrow_mut();
            let found = log
                .range(..=epoch)
                .next_back()
                .map(|(e, p)| (*e, p.clone()));
            match found {
                Some((at, positions)) => {
                    // Older entries are no longer needed.
                    *log = log.split_off(&at);
                    positions
                }
                None => Vec::new(),
            }
        });
        // The dead letters a snapshot records must be in the DLQ topic before it is published.
        let dlq = sinks.clone();
        let flush = Box::new(move || dlq.flush());
        hooks.ingest = Some(lake.shared.ingest_hook(index, Some(positions), Some(flush)));
        if index == 0 {
            let restored = plan.as_ref().map(|p| p.table_lake_state()).transpose()?;
            let rewrite = plan.as_ref().is_some_and(|p| p.rewrites_open_days(peers));
            hooks.table = Some(lake.shared.table_hook(restored, rewrite));
        }
    }
    let mut graph =
        worker.dataflow::<u64, _, _>(|scope| dataflows::build(scope, &params, cache, hooks));
    let signals: Rc<RefCell<Vec<Signal>>> = Rc::default();
    let mut signal_input = {
        let signals = signals.clone();
        worker.dataflow::<u64, _, _>(move |scope| {
            let (handle, stream) = scope.new_input::<Vec<Signal>>();
            stream
                .broadcast()
                .inspect(move |signal| signals.borrow_mut().push(signal.clone()));
            handle
        })
    };
    let limits = DecodeLimits::now(settings.max_record_bytes);
    let lake_shared = lake.map(|l| l.shared.as_ref());

    // Positions to resume from.
    let resume: HashMap<(String, i32), i64> = plan
        .as_ref()
        .map(|p| {
            p.snapshot
                .manifest
                .sources
                .kafka
                .iter()
                .map(|k| ((k.topic.clone(), k.partition), k.offset))
                .collect()
        })
        .unwrap_or_default();
    let consumer = kafka.consumer(&format!("chatter-{index}"))?;
    let counts = kafka.wait_for_topics(&consumer, &kafka.topics, None)?;
    let mut parts: BTreeMap<(usize, i32), Part> = BTreeMap::new();
    // Adds the partitions of `counts` this worker owns and does not read yet (to `added`).
    let add_parts = |parts: &mut BTreeMap<(usize, i32), Part>,
                     counts: &[i32],
                     added: &mut Vec<(usize, i32)>|
     -> Result<()> {
        for (t, (topic, count)) in kafka.topics.iter().zip(counts).enumerate() {
            for p in 0..*count {
                if owner(t, p, peers) != index || parts.contains_key(&(t + 1, p)) {
                    continue;
                }
                let next = resume.get(&(topic.clone(), p)).copied();
                let high = kafka.high_watermark(&consumer, topic, p)?;
                parts.insert((t + 1, p), Part::new(topic.clone(), next, high));
                added.push((t + 1, p));
            }
        }
        Ok(())
    };
    let mut assigned = Vec::new();
    add_parts(&mut parts, &counts, &mut assigned)?;
    let assign =
        |consumer: &super::KafkaConsumer, parts: &BTreeMap<(usize, i32), Part>| -> Result<()> {
            let list: Vec<(String, i32, Option<i64>)> = parts
                .iter()
                .map(|((_, p), part)| (part.topic.clone(), *p, part.next))
                .collect();
            consumer.assign(&super::assignment(&list)?)?;
            Ok(())
        };
    assign(&consumer, &parts)?;
    // The catalog topic: worker 0 reads every partition.
    let catalog = match (&kafka.entities_topic, index) {
        (Some(topic), 0) => {
            let consumer = kafka.consumer("chatter-catalog")?;
            let count = kafka.wait_for_topics(&consumer, std::slice::from_ref(topic), None)?[0];
            let mut ends = BTreeMap::new();
            let mut list = Vec::new();
            for p in 0..count {
                let next = resume.get(&(topic.clone(), p)).copied();
                let high = kafka.high_watermark(&consumer, topic, p)?;
                ends.insert(p, (next, high));
                list.push((topic.clone(), p, next));
            }
            consumer.assign(&super::assignment(&list)?)?;
            Some((topic.clone(), consumer, ends))
        }
        _ => None,
    };
    tracing::info!(
        worker = index,
        partitions = ?parts.keys().collect::<Vec<_>>(),
        "reading Kafka"
    );

    let epoch_base = match &plan {
        Some(plan) => {
            resume_from(worker, &mut graph, plan, peers, false, &control)?;
            plan.snapshot.manifest.frontier
        }
        None => 0,
    };
    let mut epoch = epoch_base + 1;
    advance(worker, &mut graph, epoch, &control)?;
    mark_partitions(&mut graph, &mut parts, &consumer, kafka, Some(&assigned));
    let mut entities = 0u64;
    let mut catalog_positions: BTreeMap<i32, i64> = BTreeMap::new();
    // Catalog bootstrap: the whole topic as of now, in the first epoch, before any comment.
    let mut catalog = catalog;
    if let Some((topic, consumer, ends)) = catalog.as_mut() {
        let mut pending: BTreeSet<i32> = ends
            .iter()
            .filter(|(_, (next, high))| next.unwrap_or(0) < *high)
            .map(|(p, _)| *p)
            .collect();
        for (p, (next, _)) in ends.iter() {
            if let Some(next) = next {
                catalog_positions.insert(*p, *next);
            }
        }
        // The wait is for progress: a broker that is down for longer than connect_timeout
        // while the catalog loads fails the start, like one that is down at start.
        let mut deadline = Instant::now() + kafka.connect_timeout;
        while !pending.is_empty() {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "could not read the catalog topic {topic:?} to its end: no message for kafka.connect_timeout ({:?}){}",
                    kafka.connect_timeout,
                    consumer.context().last_error().map_or(String::new(), |e| format!("; last client error: {e}"))
                );
            }
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, topic, "catalog consumer error");
                    continue;
                }
            };
            deadline = Instant::now() + kafka.connect_timeout;
            let (partition, offset) = (message.partition(), message.offset());
            catalog_positions.insert(partition, offset + 1);
            if offset + 1 >= ends.get(&partition).map_or(0, |e| e.1) {
                pending.remove(&partition);
            }
            if let Some(event) = catalog_event(&message, &limits, outputs, lake_shared, epoch) {
                entities += 1;
                graph.control.send(Control::Entity(Positioned {
                    position: Position {
                        source: source_id(0, partition),
                        offset: offset as u64,
                    },
                    event,
                }));
            }
        }
        tracing::info!(entities, topic, "catalog loaded");
    }
    let mut snapshots = Snapshots::new(plan.as_deref(), peers);
    let mut next_id = lake.map_or(1, |l| l.next_id);
    let mut last_snapshot = Instant::now();
    let mut histogram = Histogram::<u64>::new(3).ok();
    let mut pending_epochs: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut records = 0u64;
    let mut stop_at: Option<u64> = None;
    let mut stop_sent = false;
    let mut done_sent = false;
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut backlog = Backlog::new(peers);
    let mut my_backlog = 0u64;
    let mut last_metadata = Instant::now();
    let mut emitter = Emitter {
        index,
        settings,
        kafka,
        sinks,
        outputs,
        velocity: Velocity::default(),
        suppressed: 0,
    };
    let mut interrupted = false;
    let mut bounded_end = false;
    // Bounded runs: a partition is at its end when it reached the end offset it had at start
    // and nothing more arrived for a moment (some brokers, tansu among them, report a high
    // watermark that trails the last batch).
    let mut last_message = Instant::now();
    let mut since_step = 0usize;
    const SETTLE: Duration = Duration::from_secs(1);
    let at_end = |parts: &BTreeMap<(usize, i32), Part>, last_message: Instant| {
        parts.values().all(|p| p.next.unwrap_or(0) >= p.end) && last_message.elapsed() >= SETTLE
    };
    loop {
        // One epoch of reading.
        let epoch_started = Instant::now();
        let mut epoch_max = i64::MIN;
        let waiting = lag(&consumer, &parts);
        let records_before = records;
        let until = epoch_started + kafka.epoch_interval;
        while stop_at.is_none() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            if kafka.bounded && at_end(&parts, last_message) {
                break;
            }
            // The graph works on earlier epochs while this one is read: step it whenever
            // Kafka has nothing for a moment and every 1,024 records, and hand out the alert
            // events it finished (lower latency than waiting for the epoch boundary).
            if since_step >= 1024 {
                since_step = 0;
                worker.step();
                if index == 0 {
                    take_backlog_reports(&signals, &mut backlog);
                    emitter.drain(&graph, &backlog, false);
                }
            }
            let Some(message) = consumer.poll((until - now).min(Duration::from_millis(2))) else {
                since_step = 1024;
                continue;
            };
            since_step += 1;
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(worker = index, %error, "Kafka consumer error");
                    continue;
                }
            };
            // The loop's clock read (before the poll): one read per message.
            last_message = now;
            let partition = message.partition();
            let Some(t) = kafka.topics.iter().position(|t| t == message.topic()) else {
                continue;
            };
            let offset = message.offset();
            if let Some(part) = parts.get_mut(&(t + 1, partition)) {
                part.next = Some(offset + 1);
                part.last_read = now;
                part.idle = false;
            }
            records += 1;
            if let Some(event) = comment_event(&message, &limits, outputs, lake_shared, epoch) {
                if let CommentEvent::Upsert(comment) = &event {
                    epoch_max = epoch_max.max(comment.created_at_ms);
                }
                graph.comments.send(Positioned {
                    position: Position {
                        source: source_id(t + 1, partition),
                        offset: offset as u64,
                    },
                    event,
                });
            }
        }
        // Catalog updates (worker 0).
        if let Some((_, consumer, _)) = catalog.as_ref() {
            while let Some(Ok(message)) = consumer.poll(Duration::ZERO) {
                let (partition, offset) = (message.partition(), message.offset());
                catalog_positions.insert(partition, offset + 1);
                if let Some(event) = catalog_event(&message, &limits, outputs, lake_shared, epoch) {
                    entities += 1;
                    graph.control.send(Control::Entity(Positioned {
                        position: Position {
                            source: source_id(0, partition),
                            offset: offset as u64,
                        },
                        event,
                    }));
                }
            }
        }
        tracing::trace!(
            worker = index,
            epoch,
            max_created_ms = epoch_max,
            at_ms = now_ms(),
            "epoch read"
        );
        // Positions as of the end of this epoch.
        let mut positions: Vec<KafkaPosition> = parts
            .iter()
            .filter_map(|((_, p), part)| {
                part.next.map(|offset| KafkaPosition {
                    topic: part.topic.clone(),
                    partition: *p,
                    offset,
                })
            })
            .collect();
        if let Some((topic, _, _)) = catalog.as_ref() {
            positions.extend(catalog_positions.iter().map(|(p, offset)| KafkaPosition {
                topic: topic.clone(),
                partition: *p,
                offset: *offset,
            }));
        }
        log.borrow_mut().insert(epoch, positions);

        // Signals out.
        if control.stop.load(Ordering::SeqCst) && !stop_sent {
            control.health.phase(Phase::Stopping, None);
            signal_input.send(Signal::StopRequested);
            stop_sent = true;
        }
        if kafka.bounded && !done_sent && at_end(&parts, last_message) {
            signal_input.send(Signal::Done(index));
            done_sent = true;
            tracing::info!(
                worker = index,
                records,
                positions = ?parts.iter().map(|(k, p)| (k.1, p.next, p.end)).collect::<Vec<_>>(),
                "read every assigned partition to its end"
            );
        }
        mark_partitions(&mut graph, &mut parts, &consumer, kafka, None);
        control
            .health
            .source(index, consumer.context().brokers_down());
        // This epoch's backlog: what waited at its start, and at least what it read (a high
        // watermark can trail the last batch). In a bounded run, an epoch that reads nothing
        // from an empty backlog keeps the previous value: the end-of-input flush decides
        // alerts that come from that input. In an unbounded run a quiet epoch counts as 0, so
        // a worker whose partitions went quiet after a burst does not hold the others in
        // catch-up.
        let read = records - records_before;
        if read > 0 || waiting > 0 || !kafka.bounded {
            my_backlog = waiting.max(read);
        }
        if index == 0 {
            backlog.report(index, epoch, my_backlog);
        } else {
            signal_input.send(Signal::Lag(index, epoch, my_backlog));
        }
        signal_input.flush();
        // Signals in.
        if index == 0 {
            take_backlog_reports(&signals, &mut backlog);
        }
        let mut stop_requested = false;
        for signal in signals.borrow_mut().drain(..) {
            match signal {
                Signal::StopRequested => stop_requested = true,
                Signal::Done(w) => {
                    done.insert(w);
                }
                // Worker 0 took them above; the others have no use for them.
                Signal::Lag(..) => {}
                Signal::StopAt(at) => {
                    stop_at.get_or_insert(at);
                }
            }
        }
        // Worker 0 decides: the last epoch, the final flush, snapshots.
        if index == 0 && stop_at.is_none() {
            let all_done = kafka.bounded && done.len() == peers;
            if stop_requested || all_done {
                if all_done {
                    graph.control.send(Control::Flush);
                    bounded_end = true;
                } else {
                    interrupted = true;
                }
                stop_at = Some(epoch);
                signal_input.send(Signal::StopAt(epoch));
                signal_input.flush();
            }
            let due = stop_at.is_some()
                || last_snapshot.elapsed() >= lake.map_or(Duration::MAX, |l| l.interval);
            if lake.is_some() && due {
                snapshots.request(
                    &mut graph,
                    next_id,
                    epoch,
                    Sources {
                        batch_records: 0,
                        global_line: 0,
                        files: Vec::new(),
                        end_of_input: bounded_end,
                        kafka: Vec::new(),
                    },
                );
                next_id += 1;
                last_snapshot = Instant::now();
            }
        }
        if stop_at.is_some_and(|at| epoch >= at) {
            break;
        }
        pending_epochs.push_back((epoch, epoch_started));
        epoch += 1;
        advance(worker, &mut graph, epoch, &control)?;
        if index == 0 {
            crate::lake::crash_point("epoch");
            take_backlog_reports(&signals, &mut backlog);
        }
        emitter.drain(&graph, &backlog, false);
        if index == 0 {
            let table = graph.table.borrow();
            let oldest = table.events.first().map_or(u64::MAX, |event| event.time);
            backlog.prune_before(table.progress.time.min(oldest));
        }
        record_finished(&graph, &mut pending_epochs, histogram.as_mut());
        if let Some(lake) = lake.filter(|_| index == 0) {
            publish(
                &mut snapshots,
                &graph,
                lake,
                peers,
                &control,
                (&mut emitter, &backlog),
                &consumer,
            );
        }
        // New partitions (not in bounded runs: their end is fixed at start).
        if !kafka.bounded && last_metadata.elapsed() >= kafka.metadata_refresh {
            last_metadata = Instant::now();
            // One attempt (a broker that is down is asked again at the next refresh).
            if let Ok(counts) = kafka.partition_counts(&consumer, &kafka.topics) {
                let mut added = Vec::new();
                if let Err(error) = add_parts(&mut parts, &counts, &mut added) {
                    tracing::warn!(worker = index, %error, "cannot add the new partitions yet; retrying at the next metadata refresh");
                }
                if !added.is_empty() {
                    tracing::info!(
                        worker = index,
                        ?added,
                        "new partitions; reading them from the beginning"
                    );
                    assign(&consumer, &parts)?;
                    mark_partitions(&mut graph, &mut parts, &consumer, kafka, Some(&added));
                }
            }
        }
    }
    // Close: every worker moves past the last epoch and the graph drains.
    pending_epochs.push_back((epoch, Instant::now()));
    epoch += 1;
    advance(worker, &mut graph, epoch, &control)?;
    finish_before(worker, &graph, epoch, &control)?;
    drop(signal_input);
    record_finished(&graph, &mut pending_epochs, histogram.as_mut());
    // The end: every event goes, judged by the reports received.
    if index == 0 {
        take_backlog_reports(&signals, &mut backlog);
    }
    emitter.drain(&graph, &backlog, true);
    sinks.flush();
    if let Some(lake) = lake.filter(|_| index == 0) {
        publish(
            &mut snapshots,
            &graph,
            lake,
            peers,
            &control,
            (&mut emitter, &backlog),
            &consumer,
        );
    }
    let suppressed = emitter.suppressed;
    if suppressed > 0 {
        tracing::info!(
            suppressed,
            "alert events kept out of the alerts topic during catch-up (they are in the lake)"
        );
    }
    if let Some(error) = snapshots.error.take() {
        return Err(error);
    }
    let counters = graph.ingest.borrow().counters;
    let table = crate::runtime::table_summary(&graph, index);
    Ok(WorkerResult {
        counters,
        lines: records,
        entities,
        table,
        epoch_micros: if index == 0 { histogram } else { None },
        snapshots: snapshots.published,
        last_snapshot: snapshots.last,
        interrupted,
        suppressed,
    })
}

/// Publishes the snapshots the graph has finished: first every output they cover is
/// acknowledged by the brokers (alerts at-least-once), then the consumer group gets the
/// positions.
fn publish(
    snapshots: &mut Snapshots,
    graph: &Graph,
    lake: &crate::runtime::LakeRun,
    peers: usize,
    control: &RunControl,
    (emitter, backlog): (&mut Emitter<'_>, &Backlog),
    consumer: &super::KafkaConsumer,
) {
    if !snapshots.ready(graph) {
        return;
    }
    // Every alert event of the epochs the snapshot covers goes out before it is published
    // (at-least-once), also those still waiting for a worker's backlog report: they are
    // judged by the reports received.
    emitter.drain(graph, backlog, true);
    emitter.sinks.flush();
    let before = snapshots.published;
    snapshots.publish_ready(graph, lake, peers, &control.stop);
    if snapshots.published > before {
        if let Some(manifest) = &snapshots.last {
            super::commit(consumer, &manifest.sources.kafka);
        }
    }
}

/// A comment topic message → event, or a dead letter (None).
fn comment_event(
    message: &rdkafka::message::BorrowedMessage<'_>,
    limits: &DecodeLimits,
    outputs: &Outputs<'_>,
    lake: Option<&crate::lake::writer::LakeShared>,
    epoch: u64,
) -> Option<CommentEvent> {
    let delete = |id| CommentEvent::Delete {
        id,
        deleted_at_ms: None,
    };
    decode_message(message, outputs, lake, epoch, delete, |bytes| {
        decode_comment(bytes, limits)
    })
}

/// A catalog topic message → event, or a dead letter (None).
fn catalog_event(
    message: &rdkafka::message::BorrowedMessage<'_>,
    limits: &DecodeLimits,
    outputs: &Outputs<'_>,
    lake: Option<&crate::lake::writer::LakeShared>,
    epoch: u64,
) -> Option<EntityEvent> {
    let delete = |id| EntityEvent::Delete { id };
    decode_message(message, outputs, lake, epoch, delete, |bytes| {
        decode_entity(bytes, limits)
    })
}

/// A message → event: a tombstone deletes the id its key names, a value is decoded; what
/// fails becomes a dead letter (None).
fn decode_message<E>(
    message: &rdkafka::message::BorrowedMessage<'_>,
    outputs: &Outputs<'_>,
    lake: Option<&crate::lake::writer::LakeShared>,
    epoch: u64,
    delete: impl FnOnce(String) -> E,
    decode: impl FnOnce(&[u8]) -> std::result::Result<E, crate::decode::Rejection>,
) -> Option<E> {
    let (reason, detail, raw) = match message.payload() {
        None => match tombstone_id(message.key()) {
            Ok(id) => return Some(delete(id)),
            Err(detail) => (
                Reason::InvalidKey,
                detail,
                message.key().unwrap_or_default(),
            ),
        },
        Some(bytes) => match decode(bytes) {
            Ok(event) => return Some(event),
            Err(rejection) => (rejection.reason, rejection.detail, bytes),
        },
    };
    let source = provenance(message.topic(), message.partition(), message.offset());
    dead_letter(outputs, lake, epoch, source, reason, &detail, raw);
    None
}

/// The id a tombstone's key names.
fn tombstone_id(key: Option<&[u8]>) -> std::result::Result<String, String> {
    let key =
        key.ok_or_else(|| "a tombstone (null value) without a key: nothing to delete".to_string())?;
    let id =
        std::str::from_utf8(key).map_err(|e| format!("the tombstone's key is not UTF-8: {e}"))?;
    if id.is_empty() || id.len() > 256 {
        return Err(format!(
            "the tombstone's key is {} bytes: an id has 1 to 256",
            id.len()
        ));
    }
    Ok(id.to_string())
}

fn dead_letter(
    outputs: &Outputs<'_>,
    lake: Option<&crate::lake::writer::LakeShared>,
    epoch: u64,
    source: String,
    reason: Reason,
    detail: &str,
    raw: &[u8],
) {
    outputs
        .dead_letters
        .write(source.clone(), reason, detail, raw);
    if let Some(lake) = lake {
        lake.dead_letter(
            outputs.worker,
            epoch,
            DeadLetterRecord {
                received_at_ms: now_ms(),
                source,
                reason: reason.code(),
                error: detail.to_string(),
                raw: raw.to_vec(),
            },
        );
    }
}

/// Hands out what the graph finished (see [`drain`]) and counts the alerts held back.
struct Emitter<'a> {
    index: usize,
    settings: &'a RunSettings,
    kafka: &'a KafkaSettings,
    sinks: &'a Sinks,
    outputs: &'a Outputs<'a>,
    velocity: Velocity,
    suppressed: u64,
}

impl Emitter<'_> {
    /// Drains the graph; an alert event is catch-up when the backlog of the epoch that decided
    /// it was above `catch_up_lag`. Events wait until every worker reported its backlog for
    /// their epoch, unless `last`.
    fn drain(&mut self, graph: &Graph, backlog: &Backlog, last: bool) {
        let threshold = self.kafka.catch_up_lag;
        let catching_up = |epoch: u64| backlog.at(epoch) > threshold;
        let through = if last {
            Some(u64::MAX)
        } else {
            backlog.through()
        };
        self.suppressed += drain(
            graph,
            self.index,
            self.settings,
            self.kafka,
            self.sinks,
            self.outputs,
            &mut self.velocity,
            through,
            catching_up,
        );
    }
}

/// The consumer lag in records of a worker's partitions (see [`Part::lag`]).
fn lag(consumer: &super::KafkaConsumer, parts: &BTreeMap<(usize, i32), Part>) -> u64 {
    parts
        .iter()
        .map(|((_, p), part)| part.lag(consumer, *p))
        .sum()
}

/// Worker 0: moves the backlog reports received so far into `backlog` (the other signals
/// stay for the epoch's signal handling).
fn take_backlog_reports(signals: &RefCell<Vec<Signal>>, backlog: &mut Backlog) {
    signals.borrow_mut().retain(|signal| match signal {
        Signal::Lag(worker, epoch, records) => {
            backlog.report(*worker, *epoch, *records);
            false
        }
        _ => true,
    });
}

/// Catch-up, by epoch. Every worker reports, each epoch, the records that waited at its
/// start (see the worker loop for quiet epochs). An epoch's backlog is the sum of the
/// workers' reports, and an alert event is judged by the epoch that decided it. So the alerts
/// of a backlog read in one quick burst, or decided at the end of a bounded run, are catch-up
/// however fast the reading was.
struct Backlog {
    peers: usize,
    /// Worker → epoch → records waiting (only changes are kept).
    reports: BTreeMap<usize, BTreeMap<u64, u64>>,
    /// Worker → the newest epoch it reported.
    latest: BTreeMap<usize, u64>,
}

impl Backlog {
    fn new(peers: usize) -> Self {
        Backlog {
            peers,
            reports: BTreeMap::new(),
            latest: BTreeMap::new(),
        }
    }

    fn report(&mut self, worker: usize, epoch: u64, records: u64) {
        let reports = self.reports.entry(worker).or_default();
        if reports.values().next_back() != Some(&records) {
            reports.insert(epoch, records);
        }
        let latest = self.latest.entry(worker).or_default();
        *latest = (*latest).max(epoch);
    }

    /// The newest epoch every worker reported (None before that).
    fn through(&self) -> Option<u64> {
        if self.latest.len() < self.peers {
            return None;
        }
        self.latest.values().min().copied()
    }

    /// The backlog of `epoch`.
    fn at(&self, epoch: u64) -> u64 {
        self.reports
            .values()
            .filter_map(|reports| reports.range(..=epoch).next_back().map(|(_, r)| *r))
            .sum()
    }

    /// Forgets reports no epoch at or after `epoch` needs.
    fn prune_before(&mut self, epoch: u64) {
        for reports in self.reports.values_mut() {
            if let Some((&keep, _)) = reports.range(..=epoch).next_back() {
                *reports = reports.split_off(&keep);
            }
        }
    }
}

/// What the window-stats topic was last sent, to send only changes.
#[derive(Default)]
struct Velocity {
    last: HashMap<(String, i64), Vec<u8>>,
    sent_at: Option<Instant>,
}

/// Refusals to dead letters; (worker 0) alert events to the alerts topic (unless catching up
/// and old) and changed window rows to the window-stats topic. Returns the alert events kept
/// out of the topic.
#[allow(clippy::too_many_arguments)]
fn drain(
    graph: &Graph,
    index: usize,
    settings: &RunSettings,
    kafka: &KafkaSettings,
    sinks: &Sinks,
    outputs: &Outputs<'_>,
    velocity: &mut Velocity,
    through: Option<u64>,
    catching_up: impl Fn(u64) -> bool,
) -> u64 {
    for refusal in graph.refusals.borrow_mut().drain(..) {
        let source = refusal_source(kafka, refusal.position);
        let raw = crate::sink::input_json(&refusal.event);
        outputs
            .dead_letters
            .write(source, Reason::BeyondRetention, &refusal.detail, &raw);
    }
    if index != 0 {
        return 0;
    }
    let mut table = graph.table.borrow_mut();
    let sealed = std::mem::take(&mut table.sealed);
    let now = now_ms();
    let mut suppressed = 0;
    // Events are in decision order, so by epoch.
    let ready = through.map_or(0, |through| {
        table.events.partition_point(|event| event.time <= through)
    });
    if ready > 0 {
        let window_ms = settings.params.window_ms;
        if let Ok(mut out) = outputs.alerts.lock() {
            for event in table.events.drain(..ready) {
                let json = AlertJson::new(&event, now);
                outputs.write_line(&mut **out, &json);
                let window_end = event.window_start_ms.saturating_add(window_ms);
                if catching_up(event.time)
                    && window_end < now.saturating_sub(kafka.alert_horizon_ms)
                {
                    suppressed += 1;
                    continue;
                }
                if let Ok(bytes) = serde_json::to_vec(&json) {
                    tracing::trace!(
                        window_start_ms = event.window_start_ms,
                        at_ms = now,
                        "alert produced"
                    );
                    sinks.alert(&event.alert_id(), &bytes);
                }
            }
        }
    }
    if kafka.velocity_topic.is_some() {
        let due = velocity
            .sent_at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
            || !sealed.is_empty();
        if due {
            velocity.sent_at = Some(Instant::now());
            let params = &settings.params;
            let mut seen: BTreeSet<(String, i64)> = BTreeSet::new();
            for ((_, window), (label, stat)) in table.live.iter() {
                let row = WindowJson::new(label, *window, params.window_ms, stat, params);
                let key = (label.id.clone(), *window);
                let bytes = serde_json::to_vec(&row).unwrap_or_default();
                if velocity.last.get(&key) != Some(&bytes) {
                    sinks.window(&window_key(&key), Some(&bytes));
                    velocity.last.insert(key.clone(), bytes);
                }
                seen.insert(key);
            }
            for ((_, window), (label, stat)) in sealed.iter() {
                let row = WindowJson::new(label, *window, params.window_ms, stat, params);
                let key = (label.id.clone(), *window);
                let bytes = serde_json::to_vec(&row).unwrap_or_default();
                if velocity.last.remove(&key).as_ref() != Some(&bytes) {
                    sinks.window(&window_key(&key), Some(&bytes));
                }
            }
            // Rows that were live and are neither live nor sealed now vanished (deletes).
            let gone: Vec<(String, i64)> = velocity
                .last
                .keys()
                .filter(|key| !seen.contains(*key))
                .cloned()
                .collect();
            for key in gone {
                velocity.last.remove(&key);
                sinks.window(&window_key(&key), None);
            }
        }
    }
    suppressed
}

fn window_key((entity, window): &(String, i64)) -> String {
    format!("{entity}/{}", dataflows::format_rfc3339_ms(*window))
}

/// Provenance of a record the dataflow refused (its position names topic and partition).
pub(crate) fn refusal_source(kafka: &KafkaSettings, position: Position) -> String {
    let topic_index = (position.source / 100_000) as usize;
    let partition = (position.source % 100_000) as i32;
    let topic = match topic_index {
        0 => kafka.entities_topic.clone().unwrap_or_default(),
        t => kafka.topics.get(t - 1).cloned().unwrap_or_default(),
    };
    provenance(&topic, partition, position.offset as i64)
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn backlog_sums_the_latest_report_of_every_worker_at_or_before_an_epoch() {
        let mut backlog = Backlog::new(2);
        backlog.report(0, 0, 700);
        assert_eq!(backlog.through(), None, "worker 1 has not reported");
        backlog.report(1, 0, 300);
        backlog.report(0, 1, 0);
        assert_eq!(backlog.through(), Some(0));
        assert_eq!(backlog.at(0), 1000);
        // Epoch 1: worker 1's report for it is still on its way; its epoch-0 value counts.
        assert_eq!(backlog.at(1), 300);
        backlog.report(1, 1, 0);
        backlog.report(1, 2, 0);
        assert_eq!(backlog.through(), Some(1));
        assert_eq!(backlog.at(1), 0);
        assert_eq!(backlog.at(7), 0);
        // Pruning keeps what epochs from 1 on need, and forgets epoch 0.
        backlog.prune_before(1);
        assert_eq!(backlog.at(1), 0);
        assert_eq!(backlog.at(0), 0);
    }
}
