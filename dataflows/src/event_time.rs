//! Event time per input partition (SPEC §2.4), as Flink's per-split watermarks and Kafka
//! Streams' per-partition stream time keep it.
//!
//! Each source (a file, a Kafka topic-partition: the `source` of a [`crate::model::Position`])
//! has its own newest `created_at`. The input's event time, from which the watermark is
//! derived, is the **minimum** over the sources that are not idle: a partition read ahead of
//! the others (a backfill from offset 0) cannot push their records behind the retention
//! horizon. A source the runtime marks idle (quiet and caught up, at its end offset in a
//! bounded run, a file read to its end) is left out until it reports an event time again; one
//! marked pending (records wait on it, none read yet) holds the minimum back until it does.
//!
//! Everything here is a pure function of the control events of each epoch (so identical on
//! every worker, and deterministic for the file source, whose idle marks fall on line-count
//! epoch boundaries).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One source's event-time state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTime {
    /// Newest `created_at` read from it (i64::MIN: none yet, while pending).
    pub max_event_ms: i64,
    /// Left out of the minimum until its next event time.
    pub idle: bool,
}

/// Event time of every source seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventClock {
    pub sources: BTreeMap<u32, SourceTime>,
}

impl EventClock {
    /// The newest `created_at` of a batch read from `source`: it is active again.
    pub fn observe(&mut self, source: u32, at_ms: i64) {
        let entry = self.sources.entry(source).or_insert(SourceTime {
            max_event_ms: at_ms,
            idle: false,
        });
        entry.max_event_ms = entry.max_event_ms.max(at_ms);
        entry.idle = false;
    }

    /// `source` has records waiting and none read yet: it holds the minimum back.
    pub fn pending(&mut self, source: u32) {
        self.sources.entry(source).or_insert(SourceTime {
            max_event_ms: i64::MIN,
            idle: false,
        });
    }

    /// `source` is idle (or at its end) until its next event time.
    pub fn idle(&mut self, source: u32) {
        if let Some(entry) = self.sources.get_mut(&source) {
            entry.idle = true;
        }
    }

    /// The input's event time: the minimum over the sources that are not idle (None when every
    /// source is idle or none reported: the watermark stays where it is).
    pub fn current(&self) -> Option<i64> {
        self.sources
            .values()
            .filter(|s| !s.idle)
            .map(|s| s.max_event_ms)
            .min()
    }

    /// The newest event time of any source (the end-of-input flush moves past it).
    pub fn newest(&self) -> i64 {
        self.sources
            .values()
            .map(|s| s.max_event_ms)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// The change time of an edit or delete without its own timestamp (SPEC §1.1): its own
    /// source's newest event time; for a source that has read no `created_at` yet (only
    /// deletes so far), the newest of any source, so that such a change is not refused for
    /// want of a time.
    pub fn change_time(&self, source: u32) -> i64 {
        match self.sources.get(&source) {
            Some(s) if s.max_event_ms > i64::MIN => s.max_event_ms,
            _ => self.newest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_over_active_sources_with_idle_ones_left_out() {
        let mut clock = EventClock::default();
        assert_eq!(clock.current(), None);
        clock.observe(1, 1_000);
        clock.observe(2, 5_000);
        assert_eq!(clock.current(), Some(1_000), "partition 1 holds it back");
        assert_eq!(clock.newest(), 5_000);
        clock.idle(1);
        assert_eq!(
            clock.current(),
            Some(5_000),
            "an idle partition is left out"
        );
        clock.observe(1, 900);
        assert_eq!(
            clock.current(),
            Some(1_000),
            "active again; its max never goes back"
        );
        clock.pending(3);
        assert_eq!(
            clock.current(),
            Some(i64::MIN),
            "a pending partition holds it"
        );
        assert_eq!(
            clock.change_time(3),
            5_000,
            "no time of its own yet: the newest"
        );
        clock.observe(3, 2_000);
        assert_eq!(clock.current(), Some(1_000));
        assert_eq!(clock.change_time(2), 5_000, "its own partition's time");
        assert_eq!(clock.change_time(9), 5_000, "unknown: the newest");
        for source in [1, 2, 3] {
            clock.idle(source);
        }
        assert_eq!(clock.current(), None, "all idle: the watermark stays");
    }
}
