//! `GET /api/v1/status`: the published status as JSON, with throughput and the lag trend from
//! a sampler the server runs once a second (wall clock; the runtime knows nothing of it).

use super::api::{as_of, time_text};
use super::types::*;
use super::Shared;
use crate::runtime::Status;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the sampler reads the status.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples kept: 10 minutes.
const SAMPLES: usize = 600;
/// One trend point per this many samples.
const TREND_STEP: usize = 5;

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    wall_ms: i64,
    records: u64,
    lag_records: u64,
    watermark_lag_seconds: Option<f64>,
}

/// The last 10 minutes of samples.
#[derive(Default)]
pub struct Trend {
    samples: Mutex<VecDeque<Sample>>,
}

impl Trend {
    pub fn sample(&self, status: &Status) {
        let wall_ms = crate::sink::now_ms();
        let sample = Sample {
            at: Instant::now(),
            wall_ms,
            records: status.records(),
            lag_records: lag_records(status),
            watermark_lag_seconds: watermark_lag(status, wall_ms),
        };
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() == SAMPLES {
                samples.pop_front();
            }
            samples.push_back(sample);
        }
    }

    /// Records per second over the last 5 s of samples.
    fn rate(&self, status: &Status) -> f64 {
        let Ok(samples) = self.samples.lock() else {
            return 0.0;
        };
        let Some(old) = samples.iter().rev().nth(TREND_STEP) else {
            return 0.0;
        };
        let seconds = old.at.elapsed().as_secs_f64();
        let records = status.records().saturating_sub(old.records);
        if seconds > 0.0 {
            records as f64 / seconds
        } else {
            0.0
        }
    }

    fn points(&self) -> Vec<TrendPoint> {
        let Ok(samples) = self.samples.lock() else {
            return Vec::new();
        };
        let skip = samples.len() % TREND_STEP;
        (samples.iter().skip(skip).step_by(TREND_STEP))
            .map(|s| TrendPoint {
                at: dataflows::format_rfc3339_ms(s.wall_ms),
                records: s.records,
                lag_records: s.lag_records,
                watermark_lag_seconds: s.watermark_lag_seconds,
            })
            .collect()
    }
}

fn lag_records(status: &Status) -> u64 {
    status.sources.iter().filter_map(|s| s.lag).sum()
}

fn watermark_lag(status: &Status, now_ms: i64) -> Option<f64> {
    (status.watermark_ms > i64::MIN).then(|| (now_ms - status.watermark_ms) as f64 / 1000.0)
}

pub fn build(shared: &Shared) -> StatusView {
    let status = shared.run.status.current();
    let readiness = shared.run.health.readiness();
    let now_ms = crate::sink::now_ms();
    let params = &shared.settings.params;
    let snapshot = status.last_snapshot.as_ref();
    StatusView {
        phase: readiness.phase.as_str().to_string(),
        ready: readiness.ready,
        reason: readiness.reason.clone(),
        uptime_seconds: readiness.uptime_seconds,
        frontier: status.frontier,
        watermark: time_text(status.watermark_ms),
        max_event_time: time_text(status.max_event_ms),
        horizon: time_text(status.horizon_ms),
        watermark_lag_seconds: watermark_lag(&status, now_ms),
        records: status.records(),
        records_per_second: shared.trend.rate(&status),
        lag_records: lag_records(&status),
        sources: (status.sources.iter())
            .map(|s| SourceView {
                source: s.source.clone(),
                records: s.records,
                lag_records: s.lag,
            })
            .collect(),
        dead_letters: (status.dead_letters.iter())
            .map(|(reason, n)| (reason.to_string(), *n))
            .collect(),
        dead_letters_total: status.dead_letters.values().sum(),
        alerts: AlertCounts {
            fired: status.alerts[0],
            updated: status.alerts[1],
            retracted: status.alerts[2],
        },
        epoch_latency_ms: LatencyView {
            epochs: status.epoch_latency.epochs,
            p50: status.epoch_latency.p50_ms,
            p99: status.epoch_latency.p99_ms,
            max: status.epoch_latency.max_ms,
        },
        last_snapshot: snapshot.map(|s| SnapshotView {
            id: s.id,
            frontier: s.frontier,
            created_at: s.created_at.clone(),
            bytes: s.bytes,
            seconds: s.seconds,
            age_seconds: crate::decode::parse_rfc3339_ms(&s.created_at)
                .map(|at| (now_ms - at) as f64 / 1000.0),
        }),
        state: StateView {
            live_comments: status.state.live_comments,
            window_rows: status.state.window_rows,
            resident_bytes: status.state.resident_bytes,
        },
        params: ParamsView {
            window_seconds: params.window_ms as f64 / 1000.0,
            baseline_windows: params.baseline_windows,
            min_mentions: params.rule.min_mentions,
            z_threshold: params.rule.z_threshold,
            ratio_threshold: params.rule.ratio_threshold,
        },
        trend: shared.trend.points(),
        as_of: as_of(&status, snapshot.map(|s| s.id)),
    }
}
