//! Liveness and readiness of a run: what `/healthz` and `/readyz` answer (see `serve`).
//!
//! A run is *ready* when it reads its input: every worker of this process reports its source
//! as working (for Kafka: a broker of the cluster is connected) and no stop was asked for.
//! While the brokers cannot be reached, at start or later, it is not ready, and the reason
//! says why, as Kubernetes and load balancers expect of a readiness probe.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checking the config, opening the lake, reaching the sources.
    Starting,
    /// The Kafka brokers did not answer yet (retrying until `kafka.connect_timeout`).
    Connecting,
    /// The workers run (ready when each reports its source working).
    Running,
    /// A stop was asked for: the last snapshot is being written.
    Stopping,
    /// The run ended (or failed).
    Finished,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Starting,
        Phase::Connecting,
        Phase::Running,
        Phase::Stopping,
        Phase::Finished,
    ];

    /// Its name, as JSON and metrics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Connecting => "connecting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Finished => "finished",
        }
    }
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub phase: Phase,
    /// Why the run is not ready (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub uptime_seconds: f64,
}

struct State {
    phase: Phase,
    reason: Option<String>,
    /// Per worker of this process: when it last reported, and None = its source works,
    /// Some(why) = it does not.
    sources: BTreeMap<usize, (Instant, Option<String>)>,
}

/// Shared by the HTTP server, the run and its workers.
pub struct Health {
    started: Instant,
    workers: usize,
    /// Workers that report this often (Kafka: every 500 ms) and are silent for longer are
    /// blocked (e.g. waiting for the brokers to acknowledge output): not ready.
    heartbeat: Option<Duration>,
    state: Mutex<State>,
    /// Set by SIGTERM / SIGINT: the run is stopping from that moment, even while a worker
    /// still waits for input (a stdin read) before it reaches the next epoch boundary.
    stop: std::sync::OnceLock<Arc<AtomicBool>>,
}

impl Health {
    /// A run with `workers` worker threads in this process, which report their source at
    /// least every `heartbeat` when given.
    pub fn new(workers: usize, heartbeat: Option<Duration>) -> Health {
        Health {
            started: Instant::now(),
            workers: workers.max(1),
            heartbeat,
            state: Mutex::new(State {
                phase: Phase::Starting,
                reason: None,
                sources: BTreeMap::new(),
            }),
            stop: std::sync::OnceLock::new(),
        }
    }

    /// Whether SIGTERM / SIGINT was received.
    pub fn stop_requested(&self) -> bool {
        self.stop.get().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Reports the run as stopping as soon as `flag` (the signal handlers' flag) is set.
    pub fn watch_stop(&self, flag: Arc<AtomicBool>) {
        let _ = self.stop.set(flag);
    }

    /// Moves the run to `phase`, with a reason for not being ready (or none).
    pub fn phase(&self, phase: Phase, reason: Option<String>) {
        if let Ok(mut state) = self.state.lock() {
            // A stop is final: a worker's later report does not make the run ready again.
            if matches!(state.phase, Phase::Stopping | Phase::Finished)
                && matches!(phase, Phase::Running | Phase::Starting)
            {
                return;
            }
            state.phase = phase;
            state.reason = reason;
        }
    }

    /// Worker `worker` reports its source: working (None) or not (the reason).
    pub fn source(&self, worker: usize, problem: Option<String>) {
        if let Ok(mut state) = self.state.lock() {
            if state.phase == Phase::Starting {
                state.phase = Phase::Running;
                state.reason = None;
            }
            state.sources.insert(worker, (Instant::now(), problem));
        }
    }

    /// What `/readyz` says now.
    pub fn readiness(&self) -> Readiness {
        let uptime_seconds = self.started.elapsed().as_secs_f64();
        let Ok(state) = self.state.lock() else {
            return Readiness {
                ready: false,
                phase: Phase::Finished,
                reason: Some("the health state is poisoned (a thread panicked)".into()),
                uptime_seconds,
            };
        };
        let mut reason = state.reason.clone();
        let mut phase = state.phase;
        let signalled = self.stop.get().is_some_and(|f| f.load(Ordering::SeqCst));
        if signalled && phase != Phase::Finished {
            phase = Phase::Stopping;
            reason = None;
        }
        if reason.is_none() {
            reason = match phase {
                Phase::Starting | Phase::Connecting => Some("starting".into()),
                Phase::Stopping => Some("stopping: writing the last snapshot".into()),
                Phase::Finished => Some("the run has ended".into()),
                Phase::Running => {
                    let problems: Vec<String> = state
                        .sources
                        .iter()
                        .filter_map(|(w, (at, problem))| match (problem, self.heartbeat) {
                            (Some(p), _) => Some(format!("worker {w}: {p}")),
                            (None, Some(beat)) if at.elapsed() > beat => Some(format!(
                                "worker {w}: no progress for {:.0} s (waiting for the brokers?)",
                                at.elapsed().as_secs_f64()
                            )),
                            _ => None,
                        })
                        .collect();
                    if !problems.is_empty() {
                        Some(problems.join("; "))
                    } else if state.sources.len() < self.workers {
                        Some(format!(
                            "starting: {} of {} workers read their input",
                            state.sources.len(),
                            self.workers
                        ))
                    } else {
                        None
                    }
                }
            };
        }
        Readiness {
            ready: reason.is_none(),
            phase,
            reason,
            uptime_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_worker_reads_and_no_stop_was_asked() {
        let health = Health::new(2, None);
        assert!(!health.readiness().ready);
        health.phase(Phase::Connecting, Some("brokers down".into()));
        let r = health.readiness();
        assert_eq!((r.ready, r.phase), (false, Phase::Connecting));
        assert_eq!(r.reason.as_deref(), Some("brokers down"));
        health.phase(Phase::Starting, None);
        health.source(0, None);
        let r = health.readiness();
        assert!(!r.ready);
        assert!(r.reason.unwrap().contains("1 of 2 workers"));
        health.source(1, None);
        assert!(health.readiness().ready);
        health.source(1, Some("Kafka brokers down".into()));
        let r = health.readiness();
        assert!(!r.ready);
        assert_eq!(r.reason.as_deref(), Some("worker 1: Kafka brokers down"));
        health.source(1, None);
        assert!(health.readiness().ready);
        health.phase(Phase::Stopping, None);
        health.source(0, None);
        let r = health.readiness();
        assert_eq!((r.ready, r.phase), (false, Phase::Stopping));
    }

    #[test]
    fn a_signal_makes_the_run_not_ready_at_once() {
        let health = Health::new(1, None);
        let flag = Arc::new(AtomicBool::new(false));
        health.watch_stop(flag.clone());
        health.source(0, None);
        assert!(health.readiness().ready);
        flag.store(true, Ordering::SeqCst);
        let r = health.readiness();
        assert_eq!((r.ready, r.phase), (false, Phase::Stopping));
        health.phase(Phase::Finished, None);
        assert_eq!(health.readiness().phase, Phase::Finished);
    }

    #[test]
    fn a_silent_worker_is_not_ready() {
        let health = Health::new(1, Some(Duration::from_millis(50)));
        health.source(0, None);
        assert!(health.readiness().ready);
        std::thread::sleep(Duration::from_millis(120));
        let r = health.readiness();
        assert!(!r.ready);
        assert!(r.reason.unwrap().contains("no progress"));
        health.source(0, None);
        assert!(health.readiness().ready);
    }
}
