//! Windows, baselines and alerts (SPEC §2.3, §2.4, §3.1).
//!
//! The rows themselves (counts, baselines, labels) come from [`crate::windows::window_rows`].
//! - [`materialize`]: a single-worker operator that keeps the `entity_windows` table, seals rows
//!   behind the retention horizon (they never change again, even when their inputs are evicted),
//!   and turns changes of the alert condition into `fired` / `updated` / `retracted` events once a
//!   window is final by the watermark (or at once, provisionally, in low-latency mode).

use crate::enrich::MentionKey;
use crate::model::{AlertEvent, AlertKind, EntityKey, EntityLabel, Progress, Time, WindowStat};
use crate::Params;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// A window row keyed by (entity, window): the label and the stats.
pub type Row = (MentionKey, (EntityLabel, WindowStat));

/// An alert that currently holds, with the figures last emitted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActiveAlert {
    pub label: EntityLabel,
    pub stat: WindowStat,
    pub provisional: bool,
}

/// What the lake needs from the table between snapshots.
#[derive(Debug, Default)]
pub struct TableLake {
    /// Days (by window start) whose rows changed since the last snapshot.
    pub dirty_days: BTreeSet<i64>,
    /// Rows sealed since the last snapshot (final; the hook keeps them until their day seals).
    pub sealed: Vec<Row>,
    /// Alert events decided since the last snapshot.
    pub events: Vec<AlertEvent>,
}

/// The alert state of the table, for a snapshot (keys are dense entity keys).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TableState {
    pub progress: Progress,
    pub active: Vec<(MentionKey, ActiveAlert)>,
    pub pending: Vec<(i64, EntityKey)>,
    pub event_counts: [u64; 3],
    pub sealed_total: u64,
}

/// Called on worker 0 after the table applied an epoch that carries a snapshot request. After
/// it returns, the table's lake buffers are cleared.
pub type TableHook = Box<dyn FnMut(&mut WindowTable, Progress)>;

/// The `entity_windows` table as the outputs see it, and the alert state machine.
#[derive(Debug, Default)]
pub struct WindowTable {
    /// Rows that can still change.
    pub live: BTreeMap<MentionKey, (EntityLabel, WindowStat)>,
    /// Rows behind the horizon: final. The runtime drains them once they are durable.
    pub sealed: BTreeMap<MentionKey, (EntityLabel, WindowStat)>,
    /// Number of rows ever sealed (drained or not).
    pub sealed_total: u64,
    /// Alert events decided and not yet taken by the runtime, in decision order.
    pub events: Vec<AlertEvent>,
    /// Number of alert events ever decided, by kind (fired, updated, retracted).
    pub event_counts: [u64; 3],
    /// Event-time progress as of the last completed epoch.
    pub progress: Progress,
    /// Whether any epoch has completed.
    pub started: bool,
    active: BTreeMap<MentionKey, ActiveAlert>,
    /// Windows (by start, entity) whose alert decision waits for the watermark.
    pending: BTreeSet<(i64, EntityKey)>,
    /// What the lake needs (None when no lake is written).
    pub lake: Option<TableLake>,
}

impl WindowTable {
    /// Every row, sealed and live, for comparisons.
    pub fn all_rows(&self) -> BTreeMap<MentionKey, (EntityLabel, WindowStat)> {
        let mut rows = self.sealed.clone();
        rows.extend(self.live.iter().map(|(k, v)| (*k, v.clone())));
        rows
    }

    /// Keys whose alert currently holds (as emitted).
    pub fn active_alerts(&self) -> BTreeSet<MentionKey> {
        self.active.keys().copied().collect()
    }

    /// The alert state, for a snapshot.
    pub fn export_state(&self) -> TableState {
        TableState {
            progress: self.progress,
            active: self.active.iter().map(|(k, v)| (*k, v.clone())).collect(),
            pending: self.pending.iter().copied().collect(),
            event_counts: self.event_counts,
            sealed_total: self.sealed_total,
        }
    }

    /// Restores the alert state of a snapshot, before the first epoch. The live rows come back
    /// from the restored comments; rows behind the restored horizon stay sealed (in the lake).
    pub fn restore_state(&mut self, state: TableState) {
        self.progress = Progress {
            snapshot: None,
            ..state.progress
        };
        self.started = true;
        self.active = state.active.into_iter().collect();
        self.pending = state.pending.into_iter().collect();
        self.event_counts = state.event_counts;
        self.sealed_total = state.sealed_total;
    }

    fn apply_epoch(&mut self, params: &Params, progress: Progress, mut diffs: Vec<(Row, isize)>) {
        let window_ms = params.window_ms;
        let sealed_before = if self.started {
            self.progress.horizon_ms
        } else {
            i64::MIN
        };
        // Consolidate, then apply retractions before insertions.
        diffs.sort();
        let mut consolidated: Vec<(Row, isize)> = Vec::with_capacity(diffs.len());
        for (data, diff) in diffs {
            match consolidated.last_mut() {
                Some((last, total)) if *last == data => *total += diff,
                _ => consolidated.push((data, diff)),
            }
        }
        consolidated.retain(|(_, diff)| *diff != 0);
        consolidated.sort_by_key(|(_, diff)| *diff > 0);
        let mut changed: BTreeSet<MentionKey> = BTreeSet::new();
        for ((key, row), diff) in consolidated {
            // A row at or behind the previous horizon is sealed: its changes come only from
            // evicting old input, and must not change the output.
            if key.1.saturating_add(window_ms) <= sealed_before {
                continue;
            }
            changed.insert(key);
            if let Some(lake) = self.lake.as_mut() {
                lake.dirty_days.insert(crate::enrich::day_of(key.1));
            }
            if diff < 0 {
                if self.live.get(&key) == Some(&row) {
                    self.live.remove(&key);
                }
            } else {
                self.live.insert(key, row);
            }
        }
        self.progress = progress;
        self.started = true;

        // Decide alerts: changed rows, and rows that the watermark made final.
        let final_before = progress.watermark_ms.saturating_sub(window_ms);
        let newly_final: Vec<(i64, EntityKey)> = self
            .pending
            .range(..=(final_before, EntityKey::MAX))
            .copied()
            .collect();
        for (window, entity) in newly_final {
            changed.insert((entity, window));
        }
        for key in changed {
            self.decide(params, key, progress);
        }

        // Seal rows that end at or before the new horizon.
        let horizon = progress.horizon_ms;
        let to_seal: Vec<MentionKey> = self
            .live
            .keys()
            .filter(|(_, window)| window.saturating_add(window_ms) <= horizon)
            .copied()
            .collect();
        for key in to_seal {
            if let Some(row) = self.live.remove(&key) {
                if let Some(lake) = self.lake.as_mut() {
                    lake.sealed.push((key, row.clone()));
                }
                self.sealed.insert(key, row);
                self.sealed_total += 1;
            }
        }
        self.pending
            .retain(|(window, _)| window.saturating_add(window_ms) > horizon);
        // A sealed window's alert is final: forget it.
        self.active
            .retain(|(_, window), _| window.saturating_add(window_ms) > horizon);
    }

    fn decide(&mut self, params: &Params, key: MentionKey, progress: Progress) {
        let (entity, window) = key;
        let window_end = window.saturating_add(params.window_ms);
        let row = self.live.get(&key);
        let holds = row.is_some_and(|(_, stat)| params.rule.holds(stat));
        let is_final = window_end <= progress.watermark_ms;
        if !is_final {
            if holds || self.active.contains_key(&key) {
                self.pending.insert((window, entity));
            } else {
                self.pending.remove(&(window, entity));
            }
            if !params.provisional_alerts {
                return;
            }
        } else {
            self.pending.remove(&(window, entity));
        }
        let provisional = !is_final;
        let kind = match (self.active.get(&key), row) {
            (None, Some(_)) if holds => AlertKind::Fired,
            (Some(active), Some((label, stat))) if holds => {
                if active.stat == *stat
                    && active.label == *label
                    && active.provisional == provisional
                {
                    return;
                }
                AlertKind::Updated
            }
            (Some(_), _) => AlertKind::Retracted,
            (None, _) => return,
        };
        let (label, stat) = match (kind, row) {
            (AlertKind::Retracted, _) | (_, None) => {
                let Some(active) = self.active.remove(&key) else {
                    return;
                };
                // Report the figures the window has now (or the last emitted if it vanished).
                match row {
                    Some((label, stat)) => (label.clone(), *stat),
                    None => (active.label, active.stat),
                }
            }
            (_, Some((label, stat))) => {
                self.active.insert(
                    key,
                    ActiveAlert {
                        label: label.clone(),
                        stat: *stat,
                        provisional,
                    },
                );
                (label.clone(), *stat)
            }
        };
        self.event_counts[kind as usize] += 1;
        let event = AlertEvent {
            kind,
            label,
            window_start_ms: window,
            window_end_ms: window_end,
            stat,
            as_of_ms: progress.watermark_ms,
            provisional: provisional && kind != AlertKind::Retracted,
            time: progress.time,
        };
        if let Some(lake) = self.lake.as_mut() {
            lake.events.push(event.clone());
        }
        self.events.push(event);
    }
}

/// The single-worker table and alert operator. `rows` and `progress` are exchanged to worker 0
/// (every worker that processed an epoch reports the same progress for it). Epoch `t` is
/// applied when both inputs have passed `t`.
pub fn materialize<'scope>(
    rows: StreamVec<'scope, Time, crate::windows::RowUpdate>,
    progress: StreamVec<'scope, Time, Progress>,
    params: Params,
    table: Rc<RefCell<WindowTable>>,
    mut hook: Option<TableHook>,
) -> StreamVec<'scope, Time, ()> {
    type Update = (Row, Time, isize);
    rows.binary_frontier::<_, CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
        progress,
        Exchange::new(|_: &Update| 0),
        Exchange::new(|_: &Progress| 0),
        "Materialize",
        move |_capability, _info| {
            let mut row_stash: BTreeMap<Time, Vec<(Row, isize)>> = BTreeMap::new();
            let mut progress_stash: BTreeMap<Time, (Capability<Time>, Progress)> = BTreeMap::new();
            move |(input1, frontier1), (input2, frontier2), _output| {
                input1.for_each(|_cap, data| {
                    for (row, time, diff) in data.drain(..) {
                        row_stash.entry(time).or_default().push((row, diff));
                    }
                });
                input2.for_each(|cap, data| {
                    if let Some(capability) = cap.retain_least(0) {
                        for progress in data.drain(..) {
                            progress_stash.insert(progress.time, (capability.clone(), progress));
                        }
                    }
                });
                while let Some((&time, _)) = progress_stash.first_key_value() {
                    if frontier1.less_equal(&time) || frontier2.less_equal(&time) {
                        break;
                    }
                    let Some((_, (_cap, progress))) = progress_stash.pop_first() else {
                        break;
                    };
                    // Row updates are stamped with their own times, which may be earlier than
                    // the message's; take every update at or before this epoch.
                    let mut diffs = Vec::new();
                    while let Some(entry) = row_stash.first_entry() {
                        if *entry.key() > time {
                            break;
                        }
                        diffs.extend(entry.remove());
                    }
                    let mut table = table.borrow_mut();
                    table.apply_epoch(&params, progress, diffs);
                    if progress.snapshot.is_some() {
                        if let Some(hook) = hook.as_mut() {
                            hook(&mut table, progress);
                        }
                        if let Some(lake) = table.lake.as_mut() {
                            *lake = TableLake::default();
                        }
                    }
                }
            }
        },
    )
}
