//! chatter's incremental logic, free of IO, clocks and threads: one function, [`build`], wires
//! the whole graph from input handles to output state.
//!
//! ```text
//! comments ──exchange(id)──┐
//!                          ├─ ingest (upsert, as-of tagging, NLP, watermark, retention) ─┬─ mentions
//! catalog ─┬─ broadcast ───┘                                                            ├─ labels
//! batch event times ┘                                                                   ├─ refusals
//!                                                                                       └─ progress
//! mentions ─exchange(entity)─┐
//!                             ├─ window_rows (counts, baselines, labels) ─exchange(0)─ materialize
//! labels ───exchange(entity)─┘                    (table, seals, alerts) ← progress ─┘
//! ```

pub mod enrich;
pub mod event_time;
pub mod extract;
pub mod model;
mod stash;
pub mod velocity;
pub mod windows;

pub use enrich::Control;
use enrich::{IngestOut, IngestState};
use extract::{ExtractConfig, MatcherCache};
use model::{AlertRule, CommentEvent, Positioned, Refusal, Time};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::{Concat, Input, Inspect, Probe};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::{Broadcast, Map, Partition};
use timely::dataflow::{InputHandle, ProbeHandle, Scope, StreamVec};
use timely::progress::operate::FrontierInterest;
use velocity::WindowTable;

/// The semantics parameters of SPEC §2 (all validated by the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Tumbling window size W in ms (> 0).
    pub window_ms: i64,
    /// Number of previous windows K in the baseline (≥ 1).
    pub baseline_windows: u32,
    /// How far the watermark trails the newest event time.
    pub allowed_lateness_ms: i64,
    /// How far the retention horizon trails the watermark.
    pub retention_ms: i64,
    /// Alert thresholds.
    pub rule: AlertRule,
    /// Fire provisional alerts before a window is final.
    pub provisional_alerts: bool,
    /// Extraction policy.
    pub extract: ExtractConfig,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            window_ms: 5 * 60 * 1000,
            baseline_windows: 12,
            allowed_lateness_ms: 60 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            rule: AlertRule::default(),
            provisional_alerts: false,
            extract: ExtractConfig::default(),
        }
    }
}

/// Input handle for one kind of record.
pub type Handle<D> = InputHandle<Time, CapacityContainerBuilder<Vec<D>>>;

/// What [`build`] returns to the worker that drives it.
pub struct Graph {
    /// Comment events; any worker may send any event (the graph routes by id).
    pub comments: Handle<Positioned<CommentEvent>>,
    /// Catalog events (`Control::Entity`) and end-of-input flushes (`Control::Flush`); send
    /// each on one worker only (the graph broadcasts them).
    pub control: Handle<Control>,
    /// Passes an epoch when the whole graph has finished it.
    pub probe: ProbeHandle<Time>,
    /// This worker's live comments, catalog and counters.
    pub ingest: Rc<RefCell<IngestState>>,
    /// The window table and alert events (filled on worker 0 only).
    pub table: Rc<RefCell<WindowTable>>,
    /// Records refused by this worker (beyond retention), to be dead-lettered.
    pub refusals: Rc<RefCell<Vec<Refusal>>>,
}

/// Callbacks for snapshots (see [`Control::Snapshot`]); the lake writer lives outside this
/// IO-free crate. With hooks given, the ingest state and the table track what the lake needs.
#[derive(Default)]
pub struct Hooks {
    pub ingest: Option<enrich::IngestHook>,
    pub table: Option<velocity::TableHook>,
}

/// Builds the whole graph in `scope`.
pub fn build(scope: Scope<'_, Time>, params: &Params, cache: MatcherCache, hooks: Hooks) -> Graph {
    let (comments_handle, comments) = scope.new_input::<Vec<Positioned<CommentEvent>>>();
    let (control_handle, control_input) = scope.new_input::<Vec<Control>>();

    // The newest event time per source of every batch, from wherever it was read, to every
    // worker (event time is kept per source: see `event_time`).
    let (comments, event_times) = event_times(comments);
    let control = control_input.concat(event_times).broadcast();

    let mut ingest_state = IngestState::default();
    ingest_state.lake = hooks.ingest.is_some().then(Default::default);
    let ingest_state = Rc::new(RefCell::new(ingest_state));
    let outputs = enrich::ingest(
        comments,
        control,
        params.clone(),
        cache,
        ingest_state.clone(),
        hooks.ingest,
    )
    .partition(4, |out| (out.route(), out));
    let mut outputs = outputs.into_iter();
    let (Some(mentions), Some(labels), Some(refused), Some(progress)) = (
        outputs.next(),
        outputs.next(),
        outputs.next(),
        outputs.next(),
    ) else {
        unreachable!("partition(4) yields four streams")
    };
    let mentions = mentions.flat_map(|out| match out {
        IngestOut::Mention(update) => Some(update),
        _ => None,
    });
    let labels = labels.flat_map(|out| match out {
        IngestOut::Label(update) => Some(update),
        _ => None,
    });
    let progress = progress.flat_map(|out| match out {
        IngestOut::Progress(progress) => Some(progress),
        _ => None,
    });
    let refusals = Rc::new(RefCell::new(Vec::new()));
    let refusals_sink = refusals.clone();
    let refused = refused
        .flat_map(|out| match out {
            IngestOut::Refusal(refusal) => Some(refusal),
            _ => None,
        })
        .inspect(move |refusal| refusals_sink.borrow_mut().push(refusal.clone()));

    let rows = windows::window_rows(mentions, labels, params.window_ms, params.baseline_windows);
    let mut table = WindowTable::default();
    table.lake = hooks.table.is_some().then(Default::default);
    let table = Rc::new(RefCell::new(table));
    let done = velocity::materialize(rows, progress, params.clone(), table.clone(), hooks.table);

    let probe = ProbeHandle::new();
    done.probe_with(&probe);
    refused.probe_with(&probe);

    Graph {
        comments: comments_handle,
        control: control_handle,
        probe,
        ingest: ingest_state,
        table,
        refusals,
    }
}

/// Passes the comments through (moved, not cloned as a second reader of the stream would
/// get them) and reports the newest event time per source of every batch.
fn event_times<'scope>(
    comments: StreamVec<'scope, Time, Positioned<CommentEvent>>,
) -> (
    StreamVec<'scope, Time, Positioned<CommentEvent>>,
    StreamVec<'scope, Time, Control>,
) {
    let mut builder = OperatorBuilder::new("EventTimes".to_owned(), comments.scope());
    let mut input = builder.new_input(comments, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (mut passed, passed_stream) = builder.new_output::<Vec<Positioned<CommentEvent>>>();
    let (mut times, times_stream) = builder.new_output::<Vec<Control>>();
    builder.build(move |_| {
        let mut newest: BTreeMap<u32, i64> = BTreeMap::new();
        move |_frontiers| {
            let mut passed = passed.activate();
            let mut times = times.activate();
            input.for_each_stamp(|cap, batches| {
                for batch in batches {
                    for event in batch.iter() {
                        if let CommentEvent::Upsert(comment) = &event.event {
                            let at = newest.entry(event.position.source).or_insert(i64::MIN);
                            *at = (*at).max(comment.created_at_ms);
                        }
                    }
                    passed.give(&cap, batch);
                }
                let mut reports: Vec<Control> = std::mem::take(&mut newest)
                    .into_iter()
                    .map(|(source, at_ms)| Control::EventTime { source, at_ms })
                    .collect();
                if !reports.is_empty() {
                    times.give(&cap, &mut reports);
                }
            });
        }
    });
    (passed_stream, times_stream)
}

/// Start of the tumbling window (aligned to the Unix epoch) that contains `at_ms`.
pub fn floor_window(at_ms: i64, window_ms: i64) -> i64 {
    at_ms.div_euclid(window_ms) * window_ms
}

pub use calendar::{civil_from_days, days_from_civil, format_rfc3339_ms};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_the_epoch() {
        assert_eq!(floor_window(1_611_842_591_000, 300_000), 1_611_842_400_000);
        assert_eq!(floor_window(-1, 300_000), -300_000);
        assert_eq!(floor_window(300_000, 300_000), 300_000);
    }
}
