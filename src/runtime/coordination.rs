//! How the workers of every process agree, through a small second timely dataflow that
//! broadcasts [`Signal`]s (not process-local atomics, so a cluster agrees as one process does):
//! a stop request (SIGTERM in any process), "my input is at its end", each worker's backlog
//! per epoch (catch-up), and worker 0's decision of the last epoch.
//!
//! Signals are sent at the epoch they are about. Before a worker reads epoch `e + 2` it waits
//! until every worker's signals of epoch `e` have arrived ([`Signals::wait_through`]), so a
//! decision worker 0 takes at the end of epoch `e` ("stop after `e + 1`") reaches every worker
//! before any of them reads past `e + 1`: all stop at the same epoch, and with the file
//! source's line-count epochs, at the same line.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;
use timely::dataflow::operators::core::{Input, Inspect, Probe};
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::{InputHandle, ProbeHandle};

/// Messages between workers (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    StopRequested,
    /// A worker's input is at its end (files read, or a bounded run's end offsets reached).
    Done(usize),
    /// A worker's backlog for an epoch (see [`Backlog`]): worker, epoch, records.
    Lag(usize, u64, u64),
    /// Worker 0's decision: nobody reads past this epoch.
    StopAt(u64),
    /// A worker's source failed: the run stops (a stop request goes with it).
    Failed(usize),
}

/// One worker's end of the signal dataflow.
pub struct Signals {
    input: Option<InputHandle<u64, timely::container::CapacityContainerBuilder<Vec<Signal>>>>,
    probe: ProbeHandle<u64>,
    received: Rc<RefCell<Vec<Signal>>>,
}

impl Signals {
    /// Builds the signal dataflow on this worker (every worker must, in the same order).
    pub fn new(worker: &mut timely::worker::Worker) -> Signals {
        let received: Rc<RefCell<Vec<Signal>>> = Rc::default();
        let sink = received.clone();
        let probe = ProbeHandle::new();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, stream) = scope.new_input::<Vec<Signal>>();
            stream
                .broadcast()
                .inspect(move |signal| sink.borrow_mut().push(signal.clone()))
                .probe_with(&probe);
            handle
        });
        Signals {
            input: Some(input),
            probe,
            received,
        }
    }

    /// Sends a signal at the current epoch.
    pub fn send(&mut self, signal: Signal) {
        if let Some(input) = self.input.as_mut() {
            input.send(signal);
        }
    }

    /// Ends epoch `epoch` of signals: what was sent goes out, and the next ones are at
    /// `epoch + 1`.
    pub fn close_epoch(&mut self, epoch: u64) {
        if let Some(input) = self.input.as_mut() {
            input.advance_to(epoch + 1);
            input.flush();
        }
    }

    /// Steps the worker until every worker's signals of epochs up to `epoch` have arrived, or
    /// `give_up` says to stop waiting (a failed peer never sends its own).
    pub fn wait_through(
        &self,
        worker: &mut timely::worker::Worker,
        epoch: u64,
        give_up: impl Fn() -> bool,
    ) -> bool {
        while self.probe.less_equal(&epoch) {
            if give_up() {
                return false;
            }
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        true
    }

    /// The signals received so far (taken).
    pub fn take(&self) -> Vec<Signal> {
        std::mem::take(&mut *self.received.borrow_mut())
    }

    /// Worker 0: moves the backlog reports received so far into `backlog`; the other signals
    /// stay for the epoch's decisions.
    pub fn take_backlog_reports(&self, backlog: &mut Backlog) {
        self.received.borrow_mut().retain(|signal| match signal {
            Signal::Lag(worker, epoch, records) => {
                backlog.report(*worker, *epoch, *records);
                false
            }
            _ => true,
        });
    }

    /// Closes the signal input on this worker (at the end of the run).
    pub fn close(&mut self) {
        self.input = None;
    }
}

/// A worker's view of the coordination: a stop asked for, who is done or failed, the decided
/// last epoch. Everything in it only grows (a stop request is never forgotten, the first
/// decision holds).
#[derive(Debug, Default)]
pub struct Agreement {
    pub stop_requested: bool,
    pub done: BTreeSet<usize>,
    /// Workers whose source failed (the run stops; see [`Signal::Failed`]).
    pub failed: BTreeSet<usize>,
    pub stop_at: Option<u64>,
}

impl Agreement {
    /// Applies the signals received (worker 0 takes the backlog reports before).
    pub fn hear(&mut self, signals: Vec<Signal>) {
        for signal in signals {
            match signal {
                Signal::StopRequested => self.stop_requested = true,
                Signal::Done(worker) => {
                    self.done.insert(worker);
                }
                Signal::Failed(worker) => {
                    self.failed.insert(worker);
                }
                Signal::Lag(..) => {}
                Signal::StopAt(at) => {
                    self.stop_at.get_or_insert(at);
                }
            }
        }
    }
}

/// Catch-up, by epoch. Every worker reports, each epoch, the records that waited at its
/// start (at least what it then read). An epoch's backlog is the sum of the workers'
/// reports, and an alert event is judged by the epoch that decided it. So the alerts of a
/// backlog read in one quick burst, or decided at the end of a bounded run, are catch-up
/// however fast the reading was.
pub struct Backlog {
    peers: usize,
    /// Worker → epoch → records waiting (only changes are kept).
    reports: BTreeMap<usize, BTreeMap<u64, u64>>,
    /// Worker → the newest epoch it reported.
    latest: BTreeMap<usize, u64>,
}

impl Backlog {
    pub fn new(peers: usize) -> Self {
        Backlog {
            peers,
            reports: BTreeMap::new(),
            latest: BTreeMap::new(),
        }
    }

    pub fn report(&mut self, worker: usize, epoch: u64, records: u64) {
        let reports = self.reports.entry(worker).or_default();
        if reports.values().next_back() != Some(&records) {
            reports.insert(epoch, records);
        }
        let latest = self.latest.entry(worker).or_default();
        *latest = (*latest).max(epoch);
    }

    /// The newest epoch every worker reported (None before that).
    pub fn through(&self) -> Option<u64> {
        if self.latest.len() < self.peers {
            return None;
        }
        self.latest.values().min().copied()
    }

    /// The backlog of `epoch`.
    pub fn at(&self, epoch: u64) -> u64 {
        self.reports
            .values()
            .filter_map(|reports| reports.range(..=epoch).next_back().map(|(_, r)| *r))
            .sum()
    }

    /// Forgets reports no epoch at or after `epoch` needs.
    pub fn prune_before(&mut self, epoch: u64) {
        for reports in self.reports.values_mut() {
            if let Some((&keep, _)) = reports.range(..=epoch).next_back() {
                *reports = reports.split_off(&keep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_first_stop_decision_holds_and_nothing_is_forgotten() {
        let mut agreement = Agreement::default();
        agreement.hear(vec![Signal::Done(1), Signal::StopAt(7), Signal::StopAt(9)]);
        assert_eq!(agreement.stop_at, Some(7));
        assert!(!agreement.stop_requested);
        agreement.hear(vec![
            Signal::StopRequested,
            Signal::Done(0),
            Signal::Failed(1),
        ]);
        agreement.hear(vec![]);
        assert!(agreement.stop_requested, "a stop request is kept");
        assert_eq!(agreement.done.len(), 2);
        assert!(agreement.failed.contains(&1));
        assert_eq!(agreement.stop_at, Some(7));
    }
}
