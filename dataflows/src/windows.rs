//! The window rows of SPEC §2.3–§2.4 kept by one operator of our own, sharded by entity.
//!
//! [`window_rows`] replaces what was a chain of differential operators (a reduce for the
//! per-window counts, a reduce for the baselines over the K previous windows, a join with the
//! entity labels). It computes the same collection: one row per (entity, window) with live
//! mentions and a current label, as the same stream of updates (for each epoch, the
//! retraction of a row's old value and the insertion of its new one), but keeps only what the
//! rows need — each window's mention values with their multiplicities, and their counts —
//! instead of arrangements of every input and intermediate. Mentions and labels are exchanged
//! by entity, so each worker owns the windows of its entities, and an epoch is applied when
//! both inputs have passed it, as differential would.
//!
//! Exactness under retractions: a window's counts are derived from its values with positive
//! multiplicity, the way the reduce derived them, so any order of insertions, retractions,
//! edits and evictions within or across epochs gives the rows a from-scratch computation
//! gives (the oracle tests check this against a batch computation).

use crate::enrich::{MentionKey, MentionVal};
use crate::model::{EntityKey, EntityLabel, Time, WindowCounts, WindowStat};
use crate::stash::{self, Stash};
use crate::velocity::Row;
use std::collections::{BTreeMap, HashMap};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::StreamVec;

/// A change to the mentions collection: ((entity, window), (author hash, sentiment)).
pub type MentionUpdate = ((MentionKey, MentionVal), Time, isize);
/// A change to the labels collection.
pub type LabelUpdate = ((EntityKey, EntityLabel), Time, isize);
/// A change to the window rows.
pub type RowUpdate = (Row, Time, isize);

/// The mention values of one (entity, window), and the counts they give.
#[derive(Debug, Default)]
struct WindowAgg {
    /// Sorted by value (author first, so equal authors are adjacent); no zero multiplicities.
    values: Vec<(MentionVal, isize)>,
    counts: WindowCounts,
}

impl WindowAgg {
    fn update(&mut self, value: MentionVal, diff: isize) {
        match self.values.binary_search_by(|(v, _)| v.cmp(&value)) {
            Ok(at) => {
                self.values[at].1 += diff;
                if self.values[at].1 == 0 {
                    self.values.remove(at);
                }
            }
            Err(at) => self.values.insert(at, (value, diff)),
        }
    }

    /// Counts over the values with positive multiplicity (mentions, distinct non-null
    /// authors, sentiment sum).
    fn recount(&mut self) {
        let mut counts = WindowCounts::default();
        let mut last_author = 0u64;
        for ((author, sentiment), multiplicity) in &self.values {
            if *multiplicity <= 0 {
                continue;
            }
            let multiplicity = *multiplicity as i64;
            counts.mentions += multiplicity as u64;
            counts.sentiment_sum_e4 += i64::from(*sentiment) * multiplicity;
            if *author != 0 && *author != last_author {
                counts.authors += 1;
            }
            last_author = *author;
        }
        self.counts = counts;
    }
}

/// One worker's share of the window rows.
#[derive(Debug)]
struct Shard {
    window_ms: i64,
    baseline_windows: u32,
    windows: BTreeMap<MentionKey, WindowAgg>,
    /// Label multiplicities by entity (one label with multiplicity 1 for a catalog entity).
    labels: HashMap<EntityKey, Vec<(EntityLabel, isize)>>,
}

impl Shard {
    /// The stats of the rows `keys` (sorted), None where the window has no live mentions.
    /// One pass over each entity's windows in reach, with prefix sums for the baselines.
    fn stats(&self, keys: &[MentionKey]) -> Vec<Option<WindowStat>> {
        let span = self
            .window_ms
            .saturating_mul(i64::from(self.baseline_windows));
        let mut out = Vec::with_capacity(keys.len());
        let mut near: Vec<(i64, WindowCounts)> = Vec::new();
        // Prefix sums of mentions and squared mentions over `near`.
        let mut sums: Vec<(u64, u64)> = Vec::new();
        for group in keys.chunk_by(|a, b| a.0 == b.0) {
            let entity = group[0].0;
            let (first, last) = (group[0].1, group[group.len() - 1].1);
            near.clear();
            near.extend(
                self.windows
                    .range((entity, first.saturating_sub(span))..=(entity, last))
                    .map(|(&(_, window), agg)| (window, agg.counts)),
            );
            sums.clear();
            sums.push((0, 0));
            for (_, counts) in &near {
                let (sum, sum_sq) = sums[sums.len() - 1];
                sums.push((
                    sum + counts.mentions,
                    sum_sq + counts.mentions * counts.mentions,
                ));
            }
            let (mut low, mut at) = (0, 0);
            for &(_, window) in group {
                while at < near.len() && near[at].0 < window {
                    at += 1;
                }
                let own = near.get(at).filter(|(w, _)| *w == window).map(|(_, c)| *c);
                let Some(counts) = own.filter(|c| c.mentions > 0) else {
                    out.push(None);
                    continue;
                };
                let from = window.saturating_sub(span);
                while low < at && near[low].0 < from {
                    low += 1;
                }
                out.push(Some(WindowStat {
                    counts,
                    baseline_windows: self.baseline_windows,
                    baseline_sum: sums[at].0 - sums[low].0,
                    baseline_sum_sq: sums[at].1 - sums[low].1,
                }));
            }
        }
        out
    }

    /// The rows whose value an epoch's changes may touch: the K + 1 rows that see each changed
    /// window, and every row of an entity whose label changed.
    fn touched(&self, changed: &[MentionKey], labels: &[LabelUpdate]) -> Vec<MentionKey> {
        // `changed` is sorted and distinct: each window reaches the K windows after it, and
        // the reaches of one entity's windows are merged as they go (sorted, no duplicates).
        let span = self
            .window_ms
            .saturating_mul(i64::from(self.baseline_windows));
        let mut keys: Vec<MentionKey> = Vec::with_capacity(changed.len() * 2);
        let mut reached: Option<MentionKey> = None;
        for &(entity, window) in changed {
            let mut at = match reached {
                Some((e, last)) if e == entity && last >= window => {
                    last.saturating_add(self.window_ms)
                }
                _ => window,
            };
            let end = window.saturating_add(span);
            while at <= end {
                keys.push((entity, at));
                at = match at.checked_add(self.window_ms) {
                    Some(next) => next,
                    None => break,
                };
            }
            reached = keys.last().copied();
        }
        if !labels.is_empty() {
            for ((entity, _), _, _) in labels {
                keys.extend(
                    self.windows
                        .range((*entity, i64::MIN)..=(*entity, i64::MAX))
                        .map(|(key, _)| *key),
                );
            }
            keys.sort_unstable();
            keys.dedup();
        }
        keys
    }

    /// Applies one epoch's changes and appends the changes of the rows to `out`.
    fn apply(
        &mut self,
        time: Time,
        mentions: Vec<MentionUpdate>,
        labels: Vec<LabelUpdate>,
        out: &mut Vec<RowUpdate>,
    ) {
        let mut changed: Vec<MentionKey> = mentions.iter().map(|((key, _), _, _)| *key).collect();
        changed.sort_unstable();
        changed.dedup();
        let touched = self.touched(&changed, &labels);
        let before = self.stats(&touched);
        let mut relabelled: BTreeMap<EntityKey, Vec<(EntityLabel, isize)>> = BTreeMap::new();
        for ((entity, _), _, _) in &labels {
            relabelled
                .entry(*entity)
                .or_insert_with(|| self.labels.get(entity).cloned().unwrap_or_default());
        }

        for ((key, value), _, diff) in mentions {
            self.windows.entry(key).or_default().update(value, diff);
        }
        for key in changed {
            if let Some(agg) = self.windows.get_mut(&key) {
                if agg.values.is_empty() {
                    self.windows.remove(&key);
                } else {
                    agg.recount();
                }
            }
        }
        for ((entity, label), _, diff) in labels {
            let entry = self.labels.entry(entity).or_default();
            match entry.iter_mut().find(|(l, _)| *l == label) {
                Some((_, total)) => *total += diff,
                None => entry.push((label, diff)),
            }
            entry.retain(|(_, total)| *total != 0);
            if entry.is_empty() {
                self.labels.remove(&entity);
            }
        }

        let no_labels = Vec::new();
        let after = self.stats(&touched);
        for ((key, old), new) in touched.into_iter().zip(before).zip(after) {
            let old_labels = relabelled.get(&key.0);
            let new_labels = self.labels.get(&key.0).unwrap_or(&no_labels);
            if old == new && old_labels.is_none_or(|old| old == new_labels) {
                continue;
            }
            let old_labels = old_labels.unwrap_or(new_labels);
            if let Some(stat) = old {
                for (label, multiplicity) in old_labels {
                    out.push(((key, (label.clone(), stat)), time, -multiplicity));
                }
            }
            if let Some(stat) = new {
                for (label, multiplicity) in new_labels {
                    out.push(((key, (label.clone(), stat)), time, *multiplicity));
                }
            }
        }
    }
}

/// The window rows: `mentions` and `labels` in, row updates out (see the module docs).
pub fn window_rows<'scope>(
    mentions: StreamVec<'scope, Time, MentionUpdate>,
    labels: StreamVec<'scope, Time, LabelUpdate>,
    window_ms: i64,
    baseline_windows: u32,
) -> StreamVec<'scope, Time, RowUpdate> {
    mentions.binary_frontier(
        labels,
        Exchange::new(|update: &MentionUpdate| u64::from(((update.0).0).0)),
        Exchange::new(|update: &LabelUpdate| u64::from((update.0).0)),
        "WindowRows",
        move |_capability, _info| {
            let mut shard = Shard {
                window_ms,
                baseline_windows,
                windows: BTreeMap::new(),
                labels: HashMap::new(),
            };
            let mut mention_stash: Stash<MentionUpdate> = BTreeMap::new();
            let mut label_stash: Stash<LabelUpdate> = BTreeMap::new();
            let mut buffer: Vec<RowUpdate> = Vec::new();
            move |(input1, frontier1), (input2, frontier2), output| {
                let port = output.output_index();
                input1.for_each(|cap, data| {
                    stash::push_updates(&mut mention_stash, &cap, port, data)
                });
                input2
                    .for_each(|cap, data| stash::push_updates(&mut label_stash, &cap, port, data));
                let pending =
                    |time: &Time| frontier1.less_equal(time) || frontier2.less_equal(time);
                while let Some((capability, time, mentions, labels)) =
                    stash::take_ready(&mut mention_stash, &mut label_stash, pending)
                {
                    shard.apply(time, mentions, labels, &mut buffer);
                    if !buffer.is_empty() {
                        output.session(&capability).give_iterator(buffer.drain(..));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 300_000;

    fn shard() -> Shard {
        Shard {
            window_ms: W,
            baseline_windows: 2,
            windows: BTreeMap::new(),
            labels: HashMap::new(),
        }
    }

    fn label(name: &str) -> EntityLabel {
        EntityLabel::new("E".into(), name.into(), "ticker".into())
    }

    fn mention(window: i64, author: u64, diff: isize) -> MentionUpdate {
        (((7, window * W), (author, 100)), 0, diff)
    }

    fn relabel(name: &str, diff: isize) -> LabelUpdate {
        ((7, label(name)), 0, diff)
    }

    /// (window index, label name, mentions, authors, baseline sum, diff), sorted.
    fn summary(out: &[RowUpdate]) -> Vec<(i64, String, u64, u64, u64, isize)> {
        let mut rows: Vec<_> = out
            .iter()
            .map(|(((_, window), (label, stat)), _, diff)| {
                let c = stat.counts;
                (
                    window / W,
                    label.name.clone(),
                    c.mentions,
                    c.authors,
                    stat.baseline_sum,
                    *diff,
                )
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn a_change_reaches_the_k_windows_after_it_and_a_rename_every_row() {
        let mut shard = shard();
        let mut out = Vec::new();
        shard.apply(
            1,
            vec![mention(0, 1, 1), mention(1, 2, 1)],
            vec![relabel("A", 1)],
            &mut out,
        );
        assert_eq!(
            summary(&out),
            vec![(0, "A".into(), 1, 1, 0, 1), (1, "A".into(), 1, 1, 1, 1)]
        );
        // A second mention in window 0 by the same author: window 0's counts and window 1's
        // baseline change; window 2 (empty) has no row.
        out.clear();
        shard.apply(2, vec![mention(0, 1, 1)], vec![], &mut out);
        assert_eq!(
            summary(&out),
            vec![
                (0, "A".into(), 1, 1, 0, -1),
                (0, "A".into(), 2, 1, 0, 1),
                (1, "A".into(), 1, 1, 1, -1),
                (1, "A".into(), 1, 1, 2, 1),
            ]
        );
        // A rename with no count change retracts and re-inserts every row under the new label.
        out.clear();
        shard.apply(3, vec![], vec![relabel("A", -1), relabel("B", 1)], &mut out);
        assert_eq!(
            summary(&out),
            vec![
                (0, "A".into(), 2, 1, 0, -1),
                (0, "B".into(), 2, 1, 0, 1),
                (1, "A".into(), 1, 1, 2, -1),
                (1, "B".into(), 1, 1, 2, 1),
            ]
        );
    }

    #[test]
    fn retractions_in_any_order_leave_no_trace() {
        let mut shard = shard();
        let mut out = Vec::new();
        // Within one epoch a retraction may come before its insertion: nothing is emitted.
        shard.apply(
            1,
            vec![mention(3, 5, -1), mention(3, 5, 1)],
            vec![relabel("A", 1)],
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        assert!(shard.windows.is_empty());
        // A window whose mentions all go away retracts its row and leaves the state.
        shard.apply(
            2,
            vec![mention(3, 5, 1), mention(3, 6, 1)],
            vec![],
            &mut out,
        );
        out.clear();
        shard.apply(
            3,
            vec![mention(3, 5, -1), mention(3, 6, -1)],
            vec![],
            &mut out,
        );
        assert_eq!(summary(&out), vec![(3, "A".into(), 2, 2, 0, -1)]);
        assert!(shard.windows.is_empty());
        // Without a label (the entity left the catalog) a window has no row.
        out.clear();
        shard.apply(4, vec![mention(4, 5, 1)], vec![relabel("A", -1)], &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
