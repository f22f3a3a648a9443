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
    /// The worker's source failed; the run stopped with every worker at an agreed epoch (the
    /// others are not made to fail: worker 0 still publishes the last snapshot).
    #[error("{0:#}")]
    SourceFailed(anyhow::Error, Option<u64>),
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
    let lake = control.lake.as_ref();
    let dead = DeadLetterPath {
        dead_letters: context.dead_letters,
        lake: lake.map(|l| l.shared.as_ref()),
    };
    let mut run = WorkerLoop::start(worker, context, control, &dead)?;
    if run.index == 0 {
        run.entities += run.with_feed(worker, |feed| source.load_catalog(feed))?;
    }
    run.with_feed(worker, |feed| source.start(feed))?;
    control.health.source(run.index, source.problem());
    loop {
        // Every worker's signals of epoch - 2 are in before this epoch is read (see
        // `coordination`): a stop decided at the end of epoch - 2 is known here.
        let epoch = run.epoch;
        if epoch >= run.epoch_base + 3
            && !run.signals.wait_through(worker, epoch - 2, || run.failed())
        {
            return Err(WorkerError::PeerFailed);
        }
        // A stop decided while this worker went on (it was not at its end, so it did not
        // wait for the others' signals): nothing past the agreed epoch is read.
        run.hear();
        if run.agreement.stop_at.is_some_and(|at| epoch > at) {
            break;
        }
        let started = Instant::now();
        let waiting = source.backlog();
        let read = match run.source_error {
            Some(_) => Ok(EpochRead::default()),
            None => run.with_feed(worker, |feed| source.read_epoch(feed)),
        };
        let read = run.unless_failed(read).unwrap_or_default();
        run.records += read.records;
        let entities = match run.source_error {
            Some(_) => Ok(0),
            None => run.with_feed(worker, |feed| source.end_epoch(feed)),
        };
        run.entities += run.unless_failed(entities).unwrap_or_default();
        match source.positions() {
            Positions::Kafka(positions) => {
                run.log.borrow_mut().insert(epoch, positions);
            }
            Positions::Files(positions) => run.file_positions = Some(positions),
        }
        run.signal(worker, source, read, waiting)?;
        run.request_snapshot();
        if run.agreement.stop_at.is_some_and(|at| epoch >= at) {
            break;
        }
        run.pending_epochs.push_back((epoch, started));
        run.next_epoch(worker, source)?;
    }
    run.close(worker, source)
}

/// One worker's state over a run (see [`drive`]).
struct WorkerLoop<'a> {
    index: usize,
    peers: usize,
    context: &'a WorkerContext<'a>,
    control: &'a RunControl,
    dead: &'a DeadLetterPath<'a>,
    graph: Graph,
    signals: Signals,
    limits: DecodeLimits,
    emitter: Emitter<'a>,
    backlog: Backlog,
    log: PositionLog,
    epoch_base: u64,
    /// The epoch being read.
    epoch: u64,
    snapshots: Snapshots,
    next_id: u64,
    last_snapshot: Instant,
    histogram: Option<Histogram<u64>>,
    pending_epochs: VecDeque<(u64, Instant)>,
    agreement: Agreement,
    stop_sent: bool,
    failure_sent: bool,
    done_sent: bool,
    interrupted: bool,
    bounded_end: bool,
    records: u64,
    entities: u64,
    my_backlog: u64,
    file_positions: Option<SourcePositions>,
    /// The source failed: the run stops (every worker, at an agreed epoch) with a final
    /// snapshot of what was processed, then fails with this error.
    source_error: Option<anyhow::Error>,
}

impl<'a> WorkerLoop<'a> {
    /// Builds the graph and the signal dataflow, restores the lake's snapshot (if any) and
    /// opens the first epoch.
    fn start(
        worker: &mut timely::worker::Worker,
        context: &'a WorkerContext<'a>,
        control: &'a RunControl,
        dead: &'a DeadLetterPath<'a>,
    ) -> Result<WorkerLoop<'a>, WorkerError> {
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
        let signals = Signals::new(worker);
        // Resume: the snapshot's comments go back in at its frontier epoch; reading
        // continues after its positions.
        let epoch_base = match &plan {
            Some(plan) => {
                resume_from(worker, &mut graph, plan, peers, control)?;
                plan.snapshot.manifest.frontier
            }
            None => 0,
        };
        advance(worker, &mut graph, epoch_base + 1, control)?;
        Ok(WorkerLoop {
            index,
            peers,
            context,
            control,
            dead,
            graph,
            signals,
            limits: DecodeLimits::now(settings.max_record_bytes),
            emitter: Emitter::new(index, settings, context.outputs, context.table, dead),
            backlog: Backlog::new(peers),
            log,
            epoch_base,
            epoch: epoch_base + 1,
            snapshots: Snapshots::new(plan.as_deref(), peers),
            next_id: lake.map_or(1, |l| l.next_id),
            last_snapshot: Instant::now(),
            histogram: Histogram::<u64>::new(3).ok(),
            pending_epochs: VecDeque::new(),
            agreement: Agreement::default(),
            stop_sent: false,
            failure_sent: false,
            done_sent: false,
            interrupted: false,
            bounded_end: false,
            records: 0,
            entities: 0,
            my_backlog: 0,
            file_positions: None,
            source_error: None,
        })
    }

    /// A source call's result; a failure is kept, and asks every worker to stop (as SIGTERM
    /// does, so the run ends with a snapshot of what was processed).
    fn unless_failed<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                crate::logging::fail(
                    "worker",
                    &format!(
                        "worker {}: {error:#}; stopping after a last snapshot",
                        self.index
                    ),
                );
                self.control.stop.store(true, Ordering::SeqCst);
                self.source_error.get_or_insert(error);
                None
            }
        }
    }

    fn failed(&self) -> bool {
        self.control.failed.load(Ordering::SeqCst)
    }

    /// Runs `f` with a [`Feed`] into the current epoch, whose steps hand out what the graph
    /// finished.
    fn with_feed<R>(
        &mut self,
        worker: &mut timely::worker::Worker,
        f: impl FnOnce(&mut Feed<'_>) -> R,
    ) -> R {
        let (at, index) = (self.epoch, self.index);
        let (signals, backlog, emitter) = (&self.signals, &mut self.backlog, &mut self.emitter);
        let mut on_step = |graph: &Graph| {
            if index == 0 {
                signals.take_backlog_reports(backlog);
            }
            emitter.drain(graph, backlog, Drain::Ready);
        };
        let mut feed = Feed {
            worker,
            graph: &mut self.graph,
            dead: self.dead,
            limits: &self.limits,
            epoch: at,
            on_step: &mut on_step,
        };
        f(&mut feed)
    }

    /// The end of reading an epoch: signals out (stop asked, input done, backlog), signals in,
    /// and worker 0's decision of the last epoch.
    fn signal(
        &mut self,
        worker: &mut timely::worker::Worker,
        source: &dyn CommentSource,
        read: EpochRead,
        waiting: u64,
    ) -> Result<(), WorkerError> {
        let (index, epoch, control) = (self.index, self.epoch, self.control);
        if control.stop.load(Ordering::SeqCst) && !self.stop_sent {
            control.health.phase(Phase::Stopping, None);
            self.signals.send(Signal::StopRequested);
            self.stop_sent = true;
        }
        if self.source_error.is_some() && !self.failure_sent {
            self.signals.send(Signal::Failed(index));
            self.failure_sent = true;
        }
        let newly_done = read.done && !self.done_sent;
        if newly_done {
            self.signals.send(Signal::Done(index));
            self.done_sent = true;
            tracing::info!(
                worker = index,
                records = self.records,
                "read the input to its end"
            );
        }
        self.my_backlog = backlog_report(self.my_backlog, waiting, read.records, source.bounded());
        if index == 0 {
            self.backlog.report(index, epoch, self.my_backlog);
        } else {
            self.signals
                .send(Signal::Lag(index, epoch, self.my_backlog));
        }
        control.health.source(index, source.problem());
        // A worker at the end of its input learns, before deciding, whether every other
        // worker is too: every worker's signals of the epoch before are in (so a file run
        // ends at the same epoch on every run, whatever the timing).
        let failed = || control.failed.load(Ordering::SeqCst);
        if self.done_sent && !newly_done && !self.signals.wait_through(worker, epoch - 1, failed) {
            return Err(WorkerError::PeerFailed);
        }
        self.hear();
        if index == 0 && self.agreement.stop_at.is_none() {
            self.decide(source);
        }
        self.signals.close_epoch(epoch);
        Ok(())
    }

    /// Takes in the signals received so far (worker 0: the backlog reports first).
    fn hear(&mut self) {
        if self.index == 0 {
            self.signals.take_backlog_reports(&mut self.backlog);
        }
        self.agreement.hear(self.signals.take());
    }

    /// Worker 0 decides the last epoch: this one when every worker's input is done (with the
    /// final flush), or the next one when a stop was asked for (everyone reads one more
    /// epoch, whose signals of this epoch they see before reading the one after).
    fn decide(&mut self, source: &dyn CommentSource) {
        let stop_requested = self.agreement.stop_requested;
        let all_done = source.bounded() && self.agreement.done.len() == self.peers;
        let decided = if all_done {
            self.graph.control.send(Control::Flush);
            self.bounded_end = true;
            Some(self.epoch)
        } else if stop_requested || self.control.stop.load(Ordering::SeqCst) {
            self.interrupted = true;
            Some(self.epoch + 1)
        } else {
            None
        };
        if let Some(at) = decided {
            self.agreement.stop_at = Some(at);
            self.signals.send(Signal::StopAt(at));
        }
    }

    /// Worker 0 asks for a snapshot of this epoch when one is due: every snapshot interval,
    /// at the last epoch, and early when this process holds over
    /// [`DEAD_LETTERS_HELD_BYTES`](crate::lake::writer::DEAD_LETTERS_HELD_BYTES) of dead
    /// letters for the lake (a flood of bad input: the snapshot writes them out).
    fn request_snapshot(&mut self) {
        let Some(lake) = self.control.lake.as_ref().filter(|_| self.index == 0) else {
            return;
        };
        let last = self.agreement.stop_at == Some(self.epoch);
        // A file run resumed at the end of its input that read nothing adds no snapshot
        // (worker 0 scans every line, so its position is the run's).
        let plan = lake.plan.as_ref();
        let nothing_new = plan.is_some_and(|p| {
            let recorded = &p.snapshot.manifest.sources;
            recorded.end_of_input
                && matches!(&self.file_positions, Some(SourcePositions::Files { global_line, .. })
                    if *global_line == recorded.global_line())
        });
        // The file source's positions are worker 0's (every worker reads every file): when
        // another worker's read failed, they do not say what that worker took in, so the lake
        // stays at its last snapshot and a restart resumes from there.
        let others_failed = self.file_positions.is_some()
            && self.agreement.failed.iter().any(|worker| *worker != 0);
        let due = if last {
            !nothing_new && !others_failed
        } else {
            self.last_snapshot.elapsed() >= lake.interval
                || (!self.snapshots.in_flight()
                    && lake.shared.held_dead_letter_bytes()
                        >= crate::lake::writer::DEAD_LETTERS_HELD_BYTES)
        };
        if !due {
            return;
        }
        // Kafka positions come from every worker's stage (see `hooks`).
        let positions = self
            .file_positions
            .clone()
            .unwrap_or(SourcePositions::Kafka(Vec::new()));
        let sources = Sources {
            end_of_input: self.bounded_end,
            positions,
        };
        self.snapshots
            .request(&mut self.graph, self.next_id, self.epoch, sources);
        self.next_id += 1;
        self.last_snapshot = Instant::now();
    }

    /// Moves to the next epoch: advances the graph, hands out what it finished, publishes
    /// snapshots and the status, and lets the source do its periodic work.
    fn next_epoch(
        &mut self,
        worker: &mut timely::worker::Worker,
        source: &mut dyn CommentSource,
    ) -> Result<(), WorkerError> {
        self.epoch += 1;
        advance(worker, &mut self.graph, self.epoch, self.control)?;
        if self.index == 0 {
            crate::lake::crash_point("epoch");
            self.signals.take_backlog_reports(&mut self.backlog);
        }
        let (graph, backlog) = (&self.graph, &self.backlog);
        self.emitter.drain(graph, backlog, Drain::Ready);
        if self.index == 0 {
            let table = self.graph.table.borrow();
            let oldest = table.events.first().map_or(u64::MAX, |event| event.time);
            self.backlog.prune_before(table.progress.time.min(oldest));
        }
        record_finished(
            &self.graph,
            &mut self.pending_epochs,
            self.histogram.as_mut(),
        );
        self.publish(source, false);
        if self.source_error.is_none() {
            let maintained = self.with_feed(worker, |feed| source.maintain(feed));
            self.unless_failed(maintained);
        }
        Ok(())
    }

    /// Worker 0: publishes the snapshots the graph finished; every worker: reports to the
    /// status board, and worker 0 publishes the status (always when `last`).
    fn publish(&mut self, source: &mut dyn CommentSource, last: bool) {
        if let Some(lake) = self.control.lake.as_ref().filter(|_| self.index == 0) {
            let control = self.control;
            let (graph, backlog) = (&self.graph, &self.backlog);
            publish(
                &mut self.snapshots,
                graph,
                lake,
                self.peers,
                control,
                &mut self.emitter,
                backlog,
            );
            if let Some(manifest) = self.snapshots.take_published() {
                source.published(&manifest);
            }
        }
        let status = &self.control.status;
        status.worker(self.index, &self.graph, source.stats());
        if self.index == 0 {
            let histogram = self.histogram.as_ref();
            status.publish(&self.graph, &self.emitter, &self.snapshots, histogram, last);
        }
    }

    /// Close: every worker moves past its last epoch, the graph drains, every alert event
    /// goes (judged by the reports received), every live window row is written, and the last
    /// snapshot and status are published.
    fn close(
        mut self,
        worker: &mut timely::worker::Worker,
        source: &mut dyn CommentSource,
    ) -> Result<WorkerResult, WorkerError> {
        self.pending_epochs.push_back((self.epoch, Instant::now()));
        self.epoch += 1;
        advance(worker, &mut self.graph, self.epoch, self.control)?;
        finish_before(worker, &self.graph, self.epoch, self.control)?;
        self.signals.close();
        record_finished(
            &self.graph,
            &mut self.pending_epochs,
            self.histogram.as_mut(),
        );
        if self.index == 0 {
            self.signals.take_backlog_reports(&mut self.backlog);
        }
        let (graph, backlog) = (&self.graph, &self.backlog);
        self.emitter.drain(graph, backlog, Drain::Last);
        if let Some(sinks) = &self.context.outputs.sinks {
            sinks.flush();
        }
        self.publish(source, true);
        let suppressed = self.emitter.suppressed;
        if suppressed > 0 {
            tracing::info!(
                suppressed,
                "alert events kept out of the alerts topic during catch-up (they are in the lake)"
            );
        }
        if let Some(error) = self.snapshots.error.take() {
            return Err(error.into());
        }
        if let Some(error) = self.source_error.take() {
            let last_snapshot = self.snapshots.last.as_ref().map(|m| m.id);
            return Err(WorkerError::SourceFailed(error, last_snapshot));
        }
        let counters = self.graph.ingest.borrow().counters;
        // The process ends after this: freeing millions of live comments one by one would
        // only delay the exit (about 0.3 s per 2M), so the map is let go without dropping it.
        std::mem::forget(std::mem::take(&mut self.graph.ingest.borrow_mut().comments));
        let table = (self.index == 0).then(|| {
            let table = self.graph.table.borrow();
            (
                table.live.len() as u64 + table.sealed_total,
                table.event_counts,
                table.progress.watermark_ms,
            )
        });
        // Done: a peer process that exits from here on is no failure (see `runtime`).
        super::worker_finished();
        Ok(WorkerResult {
            counters,
            records: self.records,
            entities: self.entities,
            table,
            epoch_micros: if self.index == 0 {
                self.histogram.take()
            } else {
                None
            },
            snapshots: self.snapshots.published,
            last_snapshot: self.snapshots.last.clone(),
            interrupted: self.interrupted,
            suppressed,
        })
    }
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
    emitter.drain(graph, backlog, Drain::Snapshot);
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
