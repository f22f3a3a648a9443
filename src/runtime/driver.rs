//! The one worker loop (feldera's `CircuitThread::run`): whatever the source, every worker of
//! every process runs the same epochs — read one ([`CommentSource::read_epoch`]), signal, let
//! worker 0 decide (stop, end of input, snapshot), advance the graph, emit what it finished,
//! publish what is final — and closes the same way.
//!
//! At most two epochs are in flight: a worker waits before epoch `e + 1` until the whole graph
//! has finished epoch `e - 1`, so a slow worker holds the others back instead of letting input
//! pile up. How workers agree is in [`super::coordination`].

use super::coordination::{Agreement, Backlog, Signal, Signals};
use super::emit::{Drain, Emitter, Outputs};
use super::snapshots::{resume_from, LakeRun, Snapshots};
use super::status::StatusBoard;
use crate::connectors::{CommentSource, DeadLetterPath, EpochRead, Feed, Positions, SourceTable};
use crate::decode::DecodeLimits;
use crate::health::{Health, Phase};
use crate::lake::{KafkaPosition, SourcePositions, Sources};
use crate::settings::RunSettings;
use crate::sink::DeadLetters;
use anyhow::Result;
use dataflows::enrich::IngestCounters;
use dataflows::extract::MatcherCache;
use dataflows::{Control, Graph, Hooks};
use hdrhistogram::Histogram;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lake and shutdown coordination shared by the workers of this process.
pub struct RunControl {
    pub lake: Option<LakeRun>,
    /// Set by SIGTERM / SIGINT in this process.
    pub stop: Arc<AtomicBool>,
    pub restore_time: Arc<Mutex<Option<Duration>>>,
    /// Set when a worker of this process failed: the others stop instead of waiting for it.
    pub failed: Arc<AtomicBool>,
    /// What /readyz reports.
    pub health: Arc<Health>,
    /// What other threads read of the run.
    pub status: Arc<StatusBoard>,
}

/// What a worker shares with the others of its process.
pub struct WorkerContext<'a> {
    pub settings: &'a RunSettings,
    pub outputs: &'a Outputs,
    pub dead_letters: &'a DeadLetters,
    pub table: &'a SourceTable,
    pub cache: MatcherCache,
}

/// The error of a worker that stopped because a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("stopped: another worker of this process failed")]
    PeerFailed,
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

/// Per-worker result.
pub struct WorkerResult {
    pub counters: IngestCounters,
    pub records: u64,
    pub entities: u64,
    /// Worker 0: window rows, alert events by kind, watermark.
    pub table: Option<(u64, [u64; 3], i64)>,
    pub epoch_micros: Option<Histogram<u64>>,
    pub snapshots: u64,
    pub last_snapshot: Option<crate::lake::Manifest>,
    pub interrupted: bool,
    /// Alert events kept out of the alerts topic during catch-up.
    pub suppressed: u64,
}

/// Sends epoch `epoch` on its way and waits until at most one epoch is unfinished.
pub fn advance(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    epoch: u64,
    control: &RunControl,
) -> Result<(), WorkerError> {
    // A failed peer never sends its end of input or its signals, so every epoch starts with a
    // look at the flag.
    if control.failed.load(Ordering::SeqCst) {
        return Err(WorkerError::PeerFailed);
    }
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    graph.comments.flush();
    graph.control.flush();
    finish_before(worker, graph, epoch.saturating_sub(1), control)
}

/// Steps the graph until it has finished every epoch before `epoch`. Fails instead of waiting
/// forever when a peer worker failed (its part of the graph will never finish).
pub fn finish_before(
    worker: &mut timely::worker::Worker,
    graph: &Graph,
    epoch: u64,
    control: &RunControl,
) -> Result<(), WorkerError> {
    while graph.probe.less_than(&epoch) {
        if control.failed.load(Ordering::SeqCst) {
            return Err(WorkerError::PeerFailed);
        }
        // Park (up to 1 ms) when there is nothing to do rather than spin: a waiting worker
        // leaves the core to the others, and to the broker when it shares the machine.
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    Ok(())
}

/// Records how long each finished epoch took, from its start to the graph finishing it.
fn record_finished(
    graph: &Graph,
    pending: &mut VecDeque<(u64, Instant)>,
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

/// A worker's Kafka positions by epoch, shared with the lake hook (which asks for the
/// positions as of a snapshot's epoch).
type PositionLog = Rc<RefCell<BTreeMap<u64, Vec<KafkaPosition>>>>;

/// The lake hooks of this worker (None without a lake).
fn hooks(
    index: usize,
    peers: usize,
    lake: Option<&LakeRun>,
    log: &PositionLog,
    outputs: &Outputs,
) -> Result<Hooks> {
    let mut hooks = Hooks::default();
    let Some(lake) = lake else { return Ok(hooks) };
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
    let flush: Option<Box<dyn FnMut()>> = outputs.sinks.clone().map(|sinks| {
        let flush: Box<dyn FnMut()> = Box::new(move || sinks.flush());
        flush
    });
    hooks.ingest = Some(lake.shared.ingest_hook(index, Some(positions), flush));
    if index == 0 {
        let plan = lake.plan.as_ref();
        let restored = plan.map(|p| p.table_lake_state()).transpose()?;
        let rewrite = plan.is_some_and(|p| p.rewrites_open_days(peers));
        hooks.table = Some(lake.shared.table_hook(restored, rewrite));
    }
    Ok(hooks)
}

/// This epoch's backlog report: what waited at its start, and at least what it read (a high
/// watermark can trail the last batch). In a bounded run, an epoch that reads nothing from an
/// empty backlog keeps the previous value: the end-of-input flush decides alerts that come
/// from that input. In an unbounded run a quiet epoch counts as 0, so a worker whose
/// partitions went quiet after a burst does not hold the others in catch-up.
fn backlog_report(previous: u64, waiting: u64, read: u64, bounded: bool) -> u64 {
    if read > 0 || waiting > 0 || !bounded {
        waiting.max(read)
    } else {
        previous
    }
}

/// Runs one worker over `source` to the end of the run.
pub fn drive(
    worker: &mut timely::worker::Worker,
    context: &WorkerContext<'_>,
    source: &mut dyn CommentSource,
    control: &RunControl,
) -> Result<WorkerResult, WorkerError> {
    let (index, peers) = (worker.index(), worker.peers());
    let settings = context.settings;
    let lake = control.lake.as_ref();
    let plan = lake.and_then(|l| l.plan.clone());
    let log: PositionLog = Rc::default();
    let hooks = hooks(index, peers, lake, &log, context.outputs)?;
    let params = settings.params.clone();
    let cache = context.cache.clone();
    let mut graph =
        worker.dataflow::<u64, _, _>(|scope| dataflows::build(scope, &params, cache, hooks));
    let mut signals = Signals::new(worker);
    let limits = DecodeLimits::now(settings.max_record_bytes);
    let dead = DeadLetterPath {
        dead_letters: context.dead_letters,
        lake: lake.map(|l| l.shared.as_ref()),
    };
    let mut emitter = Emitter::new(index, settings, context.outputs, context.table, &dead);
    let mut backlog = Backlog::new(peers);
    // Resume: the snapshot's comments go back in at its frontier epoch; reading continues
    // after its positions.
    let epoch_base = match &plan {
        Some(plan) => {
            resume_from(worker, &mut graph, plan, peers, control)?;
            plan.snapshot.manifest.frontier
        }
        None => 0,
    };
    let mut epoch = epoch_base + 1;
    advance(worker, &mut graph, epoch, control)?;

    // A Feed for the source, whose steps hand out what the graph finished.
    macro_rules! with_feed {
        (|$feed:ident| $body:expr) => {{
            let at = epoch;
            let mut on_step = |graph: &Graph| {
                if index == 0 {
                    signals.take_backlog_reports(&mut backlog);
                }
                emitter.drain(graph, &backlog, at, Drain::Ready);
            };
            let mut $feed = Feed {
                worker: &mut *worker,
                graph: &mut graph,
                dead: &dead,
                limits: &limits,
                epoch: at,
                on_step: &mut on_step,
            };
            $body
        }};
    }

    let mut entities = 0u64;
    if index == 0 {
        entities += with_feed!(|feed| source.load_catalog(&mut feed))?;
    }
    with_feed!(|feed| source.start(&mut feed))?;
    control.health.source(index, source.problem());

    let mut snapshots = Snapshots::new(plan.as_deref(), peers);
    let mut next_id = lake.map_or(1, |l| l.next_id);
    let mut last_snapshot = Instant::now();
    let mut histogram = Histogram::<u64>::new(3).ok();
    let mut pending_epochs: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut agreement = Agreement::default();
    let (mut stop_sent, mut done_sent, mut interrupted, mut bounded_end) =
        (false, false, false, false);
    let mut records = 0u64;
    let mut my_backlog = 0u64;
    let mut file_positions: Option<SourcePositions> = None;
    let failed = || control.failed.load(Ordering::SeqCst);
    loop {
        // Every worker's signals of epoch - 2 are in before this epoch is read (see
        // `coordination`): a stop decided at the end of epoch - 2 is known here.
        if epoch >= epoch_base + 3 && !signals.wait_through(worker, epoch - 2, failed) {
            return Err(WorkerError::PeerFailed);
        }
        let epoch_started = Instant::now();
        let waiting = source.backlog();
        let read: EpochRead = with_feed!(|feed| source.read_epoch(&mut feed))?;
        records += read.records;
        entities += with_feed!(|feed| source.end_epoch(&mut feed))?;
        match source.positions() {
            Positions::Kafka(positions) => {
                log.borrow_mut().insert(epoch, positions);
            }
            Positions::Files(positions) => file_positions = Some(positions),
        }

        // Signals out.
        if control.stop.load(Ordering::SeqCst) && !stop_sent {
            control.health.phase(Phase::Stopping, None);
            signals.send(Signal::StopRequested);
            stop_sent = true;
        }
        let newly_done = read.done && !done_sent;
        if newly_done {
            signals.send(Signal::Done(index));
            done_sent = true;
            tracing::info!(worker = index, records, "read the input to its end");
        }
        my_backlog = backlog_report(my_backlog, waiting, read.records, source.bounded());
        if index == 0 {
            backlog.report(index, epoch, my_backlog);
        } else {
            signals.send(Signal::Lag(index, epoch, my_backlog));
        }
        control.health.source(index, source.problem());
        // A worker at the end of its input learns, before deciding, whether every other
        // worker is too: every worker's signals of the epoch before are in (so a file run
        // ends at the same epoch on every run, whatever the timing).
        if done_sent && !newly_done && !signals.wait_through(worker, epoch - 1, failed) {
            return Err(WorkerError::PeerFailed);
        }
        if index == 0 {
            signals.take_backlog_reports(&mut backlog);
        }
        let heard = agreement.hear(signals.take());

        // Worker 0 decides: the last epoch, the final flush, snapshots.
        if index == 0 && agreement.stop_at.is_none() {
            let all_done = source.bounded() && agreement.done.len() == peers;
            let decided = if all_done {
                graph.control.send(Control::Flush);
                bounded_end = true;
                Some(epoch)
            } else if heard.stop_requested || control.stop.load(Ordering::SeqCst) {
                // Everyone reads one more epoch (whose signals of this epoch they see before
                // reading the one after), then stops.
                interrupted = true;
                Some(epoch + 1)
            } else {
                None
            };
            if let Some(at) = decided {
                agreement.stop_at = Some(at);
                signals.send(Signal::StopAt(at));
            }
        }
        signals.close_epoch(epoch);
        if let Some(lake) = lake.filter(|_| index == 0) {
            let last = agreement.stop_at == Some(epoch);
            // A file run resumed at the end of its input that read nothing adds no snapshot
            // (worker 0 scans every line, so its position is the run's).
            let nothing_new = plan.as_ref().is_some_and(|p| {
                let recorded = &p.snapshot.manifest.sources;
                recorded.end_of_input
                    && matches!(&file_positions, Some(SourcePositions::Files { global_line, .. })
                        if *global_line == recorded.global_line())
            });
            let due = if last {
                !nothing_new
            } else {
                last_snapshot.elapsed() >= lake.interval
            };
            if due {
                // Kafka positions come from every worker's stage (see `hooks`).
                let positions = file_positions
                    .clone()
                    .unwrap_or(SourcePositions::Kafka(Vec::new()));
                let sources = Sources {
                    end_of_input: bounded_end,
                    positions,
                };
                snapshots.request(&mut graph, next_id, epoch, sources);
                next_id += 1;
                last_snapshot = Instant::now();
            }
        }
        if agreement.stop_at.is_some_and(|at| epoch >= at) {
            break;
        }
        pending_epochs.push_back((epoch, epoch_started));
        epoch += 1;
        advance(worker, &mut graph, epoch, control)?;
        if index == 0 {
            crate::lake::crash_point("epoch");
            signals.take_backlog_reports(&mut backlog);
        }
        emitter.drain(&graph, &backlog, epoch, Drain::Ready);
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
                control,
                &mut emitter,
                &backlog,
            );
            if let Some(manifest) = snapshots.take_published() {
                source.published(&manifest);
            }
        }
        with_feed!(|feed| source.maintain(&mut feed))?;
        control.status.worker(index, &graph, source.stats());
        if index == 0 {
            let status = &control.status;
            status.publish(&graph, &emitter, &snapshots, histogram.as_ref(), false);
        }
    }

    // Close: every worker moves past its last epoch and the graph drains.
    pending_epochs.push_back((epoch, Instant::now()));
    epoch += 1;
    advance(worker, &mut graph, epoch, control)?;
    finish_before(worker, &graph, epoch, control)?;
    signals.close();
    record_finished(&graph, &mut pending_epochs, histogram.as_mut());
    if index == 0 {
        signals.take_backlog_reports(&mut backlog);
    }
    // The end: every event goes, judged by the reports received; every live row is written.
    emitter.drain(&graph, &backlog, epoch, Drain::Last);
    if let Some(sinks) = &context.outputs.sinks {
        sinks.flush();
    }
    if let Some(lake) = lake.filter(|_| index == 0) {
        publish(
            &mut snapshots,
            &graph,
            lake,
            peers,
            control,
            &mut emitter,
            &backlog,
        );
        if let Some(manifest) = snapshots.take_published() {
            source.published(&manifest);
        }
    }
    control.status.worker(index, &graph, source.stats());
    if index == 0 {
        let status = &control.status;
        status.publish(&graph, &emitter, &snapshots, histogram.as_ref(), true);
    }
    let suppressed = emitter.suppressed;
    if suppressed > 0 {
        tracing::info!(
            suppressed,
            "alert events kept out of the alerts topic during catch-up (they are in the lake)"
        );
    }
    if let Some(error) = snapshots.error.take() {
        return Err(error.into());
    }
    let counters = graph.ingest.borrow().counters;
    // The process ends after this: freeing millions of live comments one by one would only
    // delay the exit (about 0.3 s per 2M), so the map is let go without dropping it.
    std::mem::forget(std::mem::take(&mut graph.ingest.borrow_mut().comments));
    let table = (index == 0).then(|| {
        let table = graph.table.borrow();
        (
            table.live.len() as u64 + table.sealed_total,
            table.event_counts,
            table.progress.watermark_ms,
        )
    });
    Ok(WorkerResult {
        counters,
        records,
        entities,
        table,
        epoch_micros: if index == 0 { histogram } else { None },
        snapshots: snapshots.published,
        last_snapshot: snapshots.last.clone(),
        interrupted,
        suppressed,
    })
}

/// Publishes the snapshots the graph has finished: first every output they cover is out and
/// acknowledged (alerts at-least-once: also those still waiting for a worker's backlog report,
/// judged by the reports received), then the snapshot.
fn publish(
    snapshots: &mut Snapshots,
    graph: &Graph,
    lake: &LakeRun,
    peers: usize,
    control: &RunControl,
    emitter: &mut Emitter<'_>,
    backlog: &Backlog,
) {
    if !snapshots.ready(graph) {
        return;
    }
    emitter.drain(
        graph,
        backlog,
        graph.ingest.borrow().progress.time,
        Drain::Snapshot,
    );
    if let Some(sinks) = &emitter.outputs.sinks {
        sinks.flush();
    }
    snapshots.publish_ready(graph, lake, peers, &control.stop);
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
                let health = Arc::new(Health::new(2, None));
                let dead_letters = DeadLetters::new(Box::new(std::io::sink()));
                let control = RunControl {
                    lake: None,
                    stop: Arc::default(),
                    restore_time: Arc::default(),
                    failed: failed.clone(),
                    status: Arc::new(StatusBoard::new(health.clone(), dead_letters)),
                    health,
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
                    return Err(WorkerError::Failed(anyhow::anyhow!("worker 1 failed")));
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
        assert!(
            matches!(results[0], Err(WorkerError::PeerFailed)),
            "worker 0 reports the failure: {:?}",
            results[0]
        );
    }

    #[test]
    fn backlog_reports_keep_a_bounded_run_in_catch_up_over_quiet_epochs() {
        assert_eq!(backlog_report(0, 700, 10, true), 700);
        assert_eq!(
            backlog_report(0, 0, 900, true),
            900,
            "at least what it read"
        );
        assert_eq!(
            backlog_report(900, 0, 0, true),
            900,
            "bounded: a quiet epoch keeps it"
        );
        assert_eq!(
            backlog_report(900, 0, 0, false),
            0,
            "unbounded: a quiet epoch is 0"
        );
    }
}
