//! The one drain/emit path of every run: what the graph finished goes out, in decision order.
//!
//! - refused records (beyond retention) → dead letters, on the worker that refused them;
//! - (worker 0) alert events → the alert output (JSON Lines) and the alerts topic, except
//!   during catch-up for windows older than the alerting horizon (SPEC §3.1: they are in the
//!   lake only); an event waits until every worker reported its backlog for the epoch that
//!   decided it, so the catch-up judgement does not depend on timing;
//! - (worker 0) window rows → `--windows-out` once sealed (and every live row at the end), and
//!   the window-stats topic as they change (tombstones when they vanish).

use super::coordination::Backlog;
use crate::connectors::{DeadLetterPath, SourceTable};
use crate::decode::Reason;
use crate::kafka::Sinks;
use crate::settings::RunSettings;
use crate::sink::{now_ms, AlertJson, WindowJson};
use dataflows::model::AlertEvent;
use dataflows::Graph;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The writers shared by the workers of a process.
pub struct Outputs {
    pub alerts: Mutex<Box<dyn Write + Send>>,
    pub windows: Mutex<Option<Box<dyn Write + Send>>>,
    /// The first write failure (the run fails with it at the end; the pipeline goes on).
    pub error: Mutex<Option<String>>,
    /// Kafka output topics (alerts, window stats, DLQ), when the run writes them.
    pub sinks: Option<std::sync::Arc<Sinks>>,
    /// Every alert event handed out, for the alert stream.
    pub alert_log: std::sync::Arc<super::AlertLog>,
}

impl Outputs {
    /// Writes one JSON line; the first failure is kept.
    fn write_line(&self, out: &mut dyn Write, value: &impl serde::Serialize) {
        let result = serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(error) = result {
            if let Ok(mut slot) = self.error.lock() {
                slot.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Alert events kept for the status view (the newest last).
pub const RECENT_ALERTS: usize = 1000;

/// How much a drain hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Alert events whose epoch every worker reported its backlog for; sealed window rows.
    Ready,
    /// Before a snapshot is published: every alert event so far (at-least-once).
    Snapshot,
    /// The end of the run: every alert event, and every live window row to `--windows-out`.
    Last,
}

/// One worker's emitter.
pub struct Emitter<'a> {
    pub(crate) index: usize,
    pub(crate) settings: &'a RunSettings,
    pub(crate) outputs: &'a Outputs,
    pub(crate) table: &'a SourceTable,
    pub(crate) dead: &'a DeadLetterPath<'a>,
    velocity: Velocity,
    /// Alert events kept out of the alerts topic during catch-up.
    pub(crate) suppressed: u64,
    /// The newest alert events handed out (for the status view), with their time.
    pub(crate) recent: VecDeque<(AlertEvent, i64)>,
    /// Alert events handed out so far.
    pub(crate) handed_out: u64,
}

/// What the window-stats topic was last sent, to send only changes.
#[derive(Default)]
struct Velocity {
    last: HashMap<(String, i64), Vec<u8>>,
    sent_at: Option<Instant>,
}

impl<'a> Emitter<'a> {
    pub fn new(
        index: usize,
        settings: &'a RunSettings,
        outputs: &'a Outputs,
        table: &'a SourceTable,
        dead: &'a DeadLetterPath<'a>,
    ) -> Self {
        Emitter {
            index,
            settings,
            outputs,
            table,
            dead,
            velocity: Velocity::default(),
            suppressed: 0,
            recent: VecDeque::new(),
            handed_out: 0,
        }
    }

    /// Drains the graph (see the module docs).
    pub fn drain(&mut self, graph: &Graph, backlog: &Backlog, mode: Drain) {
        // To the dead-letter file and the DLQ topic: the lake has the refusals from the
        // ingest hook already (in the snapshot of the epoch that refused them).
        for refusal in graph.refusals.borrow_mut().drain(..) {
            let provenance = self.table.provenance(refusal.position);
            let raw = crate::sink::input_json(&refusal.event);
            let reason = Reason::BeyondRetention;
            let dead_letters = self.dead.dead_letters;
            dead_letters.write(&provenance, reason, &refusal.detail, &raw);
        }
        if self.index != 0 {
            return;
        }
        let through = match mode {
            Drain::Ready => backlog.through(),
            Drain::Snapshot | Drain::Last => Some(u64::MAX),
        };
        self.alerts(graph, backlog, through);
        self.windows(graph, mode == Drain::Last);
    }

    fn alerts(&mut self, graph: &Graph, backlog: &Backlog, through: Option<u64>) {
        let mut table = graph.table.borrow_mut();
        // Events are in decision order, so by epoch.
        let ready = through.map_or(0, |through| {
            table.events.partition_point(|event| event.time <= through)
        });
        if ready == 0 {
            return;
        }
        let now = now_ms();
        let window_ms = self.settings.params.window_ms;
        let kafka = self.settings.kafka.as_ref();
        let Ok(mut out) = self.outputs.alerts.lock() else {
            return;
        };
        for event in table.events.drain(..ready) {
            let json = AlertJson::new(&event, now);
            self.outputs.write_line(&mut **out, &json);
            if let (Some(sinks), Some(kafka)) = (&self.outputs.sinks, kafka) {
                let window_end = event.window_start_ms.saturating_add(window_ms);
                let catching_up = backlog.at(event.time) > kafka.catch_up_lag;
                if catching_up && window_end < now.saturating_sub(kafka.alert_horizon_ms) {
                    self.suppressed += 1;
                } else if let Ok(bytes) = serde_json::to_vec(&json) {
                    sinks.alert(&event.alert_id(), &bytes);
                }
            }
            self.outputs
                .alert_log
                .push(crate::lake::live::alert_record(&event, now));
            if self.recent.len() == RECENT_ALERTS {
                self.recent.pop_front();
            }
            self.recent.push_back((event, now));
            self.handed_out += 1;
        }
    }

    fn windows(&mut self, graph: &Graph, last: bool) {
        let mut table = graph.table.borrow_mut();
        let sealed = std::mem::take(&mut table.sealed);
        let params = &self.settings.params;
        if let Ok(mut guard) = self.outputs.windows.lock() {
            if let Some(out) = guard.as_mut() {
                let live = if last {
                    table.live.clone()
                } else {
                    Default::default()
                };
                for ((_, window), (label, stat)) in sealed.iter().chain(live.iter()) {
                    let row = WindowJson::new(label, *window, params.window_ms, stat, params);
                    self.outputs.write_line(&mut **out, &row);
                }
            }
        }
        let Some(sinks) = &self.outputs.sinks else {
            return;
        };
        if self
            .settings
            .kafka
            .as_ref()
            .is_none_or(|k| k.velocity_topic.is_none())
        {
            return;
        }
        let velocity = &mut self.velocity;
        let due = velocity
            .sent_at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
            || !sealed.is_empty()
            || last;
        if !due {
            return;
        }
        velocity.sent_at = Some(Instant::now());
        let mut seen: BTreeSet<(String, i64)> = BTreeSet::new();
        for ((_, window), (label, stat)) in table.live.iter() {
            let row = WindowJson::new(label, *window, params.window_ms, stat, params);
            let key = (label.id.clone(), *window);
            let bytes = serde_json::to_vec(&row).unwrap_or_default();
            if velocity.last.get(&key) != Some(&bytes) {
                sinks.window(&window_key(&key), Some(&bytes));
                velocity.last.insert(key.clone(), bytes);
            }
            seen.insert(key);
        }
        for ((_, window), (label, stat)) in sealed.iter() {
            let row = WindowJson::new(label, *window, params.window_ms, stat, params);
            let key = (label.id.clone(), *window);
            let bytes = serde_json::to_vec(&row).unwrap_or_default();
            if velocity.last.remove(&key).as_ref() != Some(&bytes) {
                sinks.window(&window_key(&key), Some(&bytes));
            }
        }
        // Rows that were live and are neither live nor sealed now vanished (deletes).
        let gone: Vec<(String, i64)> = velocity
            .last
            .keys()
            .filter(|key| !seen.contains(*key))
            .cloned()
            .collect();
        for key in gone {
            velocity.last.remove(&key);
            sinks.window(&window_key(&key), None);
        }
    }
}

fn window_key((entity, window): &(String, i64)) -> String {
    format!("{entity}/{}", dataflows::format_rfc3339_ms(*window))
}
