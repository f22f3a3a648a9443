//! The run's alert events as they are handed out, numbered from 1, the newest
//! [`ALERT_LOG_CAPACITY`] kept: what the alert stream (SSE) serves and resumes from. Worker 0's
//! emitter appends to it the moment it writes an event (not at the next status publish), so a
//! reader that keeps up sees every event, however many one epoch decides.

use super::status::AlertView;
use crate::lake::tables::AlertRecord;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Events kept for readers that fall behind or reconnect.
pub const ALERT_LOG_CAPACITY: usize = 10_000;

#[derive(Default)]
struct Log {
    /// Sequence of the last event appended (0: none yet).
    newest: u64,
    events: VecDeque<Arc<AlertView>>,
}

/// A bounded, numbered log of alert events.
pub struct AlertLog {
    log: Mutex<Log>,
    capacity: usize,
}

impl Default for AlertLog {
    fn default() -> Self {
        AlertLog::new(ALERT_LOG_CAPACITY)
    }
}

impl AlertLog {
    pub fn new(capacity: usize) -> AlertLog {
        AlertLog {
            log: Mutex::new(Log::default()),
            capacity: capacity.max(1),
        }
    }

    /// Appends an event; returns its sequence.
    pub fn push(&self, record: AlertRecord) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.newest += 1;
        let sequence = log.newest;
        if log.events.len() == self.capacity {
            log.events.pop_front();
        }
        log.events
            .push_back(Arc::new(AlertView { sequence, record }));
        sequence
    }

    /// The sequence of the newest event (0: none yet).
    pub fn newest(&self) -> u64 {
        self.log.lock().map(|l| l.newest).unwrap_or(0)
    }

    /// The events after `after` that are still kept, and the oldest sequence kept (newest + 1
    /// when the log is empty).
    pub fn since(&self, after: u64) -> (Vec<Arc<AlertView>>, u64) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = log.events.front().map_or(log.newest + 1, |v| v.sequence);
        let skip = (after + 1).saturating_sub(oldest) as usize;
        (log.events.iter().skip(skip).cloned().collect(), oldest)
    }
}

/// An alert record numbered `n`, for tests.
#[cfg(test)]
pub(crate) fn record(n: i64) -> AlertRecord {
    AlertRecord {
        alert_id: format!("velocity/E/{n}"),
        kind: "fired".into(),
        entity_id: "E".into(),
        entity_name: "E".into(),
        window_start_ms: n,
        window_end_ms: n + 1,
        mentions: n,
        authors: 1,
        baseline_mean: 0.0,
        baseline_std: 0.0,
        z: 1.0,
        ratio: 1.0,
        sentiment_mean: 0.0,
        as_of_ms: n,
        emitted_at_ms: n,
        provisional: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_numbers_from_one() {
        let log = AlertLog::new(3);
        assert_eq!(log.since(0), (vec![], 1));
        for n in 1..=5 {
            assert_eq!(log.push(record(n)), n as u64);
        }
        let (events, oldest) = log.since(0);
        assert_eq!(oldest, 3);
        let sequences: Vec<u64> = events.iter().map(|v| v.sequence).collect();
        assert_eq!(sequences, [3, 4, 5]);
        assert_eq!(log.since(4).0.len(), 1);
        assert!(log.since(5).0.is_empty());
        assert!(log.since(99).0.is_empty());
        assert_eq!(log.newest(), 5);
    }
}
