//! Output formats and writers: alert events (SPEC §3.1) and dead letters (SPEC §3.4) as JSON
//! Lines. Both writers are shared by the workers of a process and flushed at the end.

use crate::decode::{Provenance, Reason};
use anyhow::{Context, Result};
use base64::Engine;
use dataflows::format_rfc3339_ms;
use dataflows::model::{AlertEvent, CommentEvent};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// A window's figures as alerts and window rows show them (SPEC §2.3), rounded to 4 decimals.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub mentions: u64,
    pub authors: u64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub z: f64,
    pub ratio: f64,
    pub sentiment_mean: f64,
}

impl Figures {
    pub fn new(stat: &dataflows::model::WindowStat) -> Figures {
        Figures {
            mentions: stat.counts.mentions,
            authors: stat.counts.authors,
            baseline_mean: round(stat.baseline_mean(), 4),
            baseline_std: round(stat.baseline_std(), 4),
            z: round(stat.z(), 4),
            ratio: round(stat.ratio(), 4),
            sentiment_mean: round(stat.sentiment_mean(), 4),
        }
    }
}

/// The alert event value of SPEC §3.1, field order as documented.
#[derive(Debug, Serialize)]
pub struct AlertJson {
    pub alert_id: String,
    pub kind: &'static str,
    pub rule: &'static str,
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub as_of: String,
    pub emitted_at: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl AlertJson {
    pub fn new(event: &AlertEvent, emitted_at_ms: i64) -> AlertJson {
        let stat = &event.stat;
        AlertJson {
            alert_id: event.alert_id(),
            kind: event.kind.as_str(),
            rule: "velocity",
            entity_id: event.label.id.clone(),
            entity_name: event.label.name.clone(),
            window_start: format_rfc3339_ms(event.window_start_ms),
            window_end: format_rfc3339_ms(event.window_end_ms),
            figures: Figures::new(stat),
            as_of: format_rfc3339_ms(event.as_of_ms),
            emitted_at: format_rfc3339_ms(emitted_at_ms),
            provisional: event.provisional,
        }
    }
}

/// One row of the `entity_windows` table (SPEC §3.3 columns).
#[derive(Debug, Serialize)]
pub struct WindowJson {
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub alert: bool,
}

impl WindowJson {
    pub fn new(
        label: &dataflows::model::EntityLabel,
        window_start_ms: i64,
        window_ms: i64,
        stat: &dataflows::model::WindowStat,
        params: &dataflows::Params,
    ) -> WindowJson {
        WindowJson {
            entity_id: label.id.clone(),
            entity_name: label.name.clone(),
            window_start: format_rfc3339_ms(window_start_ms),
            window_end: format_rfc3339_ms(window_start_ms + window_ms),
            figures: Figures::new(stat),
            alert: params.rule.holds(stat),
        }
    }
}

/// A dead letter as written to the JSON Lines file (the lake adds a table with these columns).
#[derive(Debug, Serialize)]
pub struct DeadLetterJson<'a> {
    pub received_at: String,
    /// `file:PATH:LINE` (Kafka: `kafka:TOPIC:PARTITION:OFFSET`).
    pub source: String,
    pub reason: &'static str,
    pub error: &'a str,
    /// The original bytes, base64 (exact).
    pub raw_base64: String,
    /// The original bytes as text, when they are UTF-8 (for people reading the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_text: Option<&'a str>,
}

/// A comment event in its input shape (SPEC §1.1), for dead letters of records the dataflow
/// refused after decoding (their original bytes are not kept in memory).
pub fn input_json(event: &CommentEvent) -> Vec<u8> {
    let value = match event {
        CommentEvent::Upsert(c) => serde_json::json!({
            "id": c.id, "source": c.source, "channel": c.channel, "thread_id": c.thread_id,
            "parent_id": c.parent_id, "author": c.author, "text": c.text,
            "created_at": format_rfc3339_ms(c.created_at_ms),
            "edited_at": c.edited_at_ms.map(format_rfc3339_ms), "score": c.score,
        }),
        CommentEvent::Delete { id, deleted_at_ms } => serde_json::json!({
            "id": id, "deleted": true, "deleted_at": deleted_at_ms.map(format_rfc3339_ms),
        }),
        CommentEvent::Restore(restored) => {
            return input_json(&CommentEvent::Upsert(restored.comment.clone()))
        }
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Opens "-" as stdout or a path as a buffered file.
pub fn open_output(path: &Path) -> Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufWriter::new(io::stdout())));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let file = File::create(path).with_context(|| {
        format!(
            "cannot write {}: check that the directory is writable",
            path.display()
        )
    })?;
    Ok(Box::new(BufWriter::new(file)))
}

/// The dead-letter writer shared by the workers, with counts per reason.
#[derive(Clone)]
pub struct DeadLetters {
    inner: Arc<Mutex<DeadLetterState>>,
}

/// Where dead letters are also sent (the DLQ topic): (source, reason, error, raw bytes).
pub type DeadLetterForward = Arc<dyn Fn(&Provenance, Reason, &str, &[u8]) + Send + Sync>;

struct DeadLetterState {
    out: Box<dyn Write + Send>,
    forward: Option<DeadLetterForward>,
    counts: BTreeMap<&'static str, u64>,
    error: Option<String>,
}

impl DeadLetters {
    pub fn new(out: Box<dyn Write + Send>) -> DeadLetters {
        DeadLetters {
            inner: Arc::new(Mutex::new(DeadLetterState {
                out,
                forward: None,
                counts: BTreeMap::new(),
                error: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DeadLetterState> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Also sends every dead letter to `forward`.
    pub fn forward_to(self, forward: DeadLetterForward) -> DeadLetters {
        self.lock().forward = Some(forward);
        self
    }

    /// Writes one dead letter. A write failure is remembered and reported at the end (the
    /// pipeline does not stop for it, but the run's exit code says it happened).
    pub fn write(&self, source: &Provenance, reason: Reason, error: &str, raw: &[u8]) {
        let record = DeadLetterJson {
            received_at: format_rfc3339_ms(now_ms()),
            source: source.to_string(),
            reason: reason.code(),
            error,
            raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
            raw_text: std::str::from_utf8(raw).ok(),
        };
        let mut state = self.lock();
        if let Some(forward) = &state.forward {
            forward(source, reason, error, raw);
        }
        *state.counts.entry(reason.code()).or_default() += 1;
        let result = serde_json::to_writer(&mut state.out, &record)
            .map_err(io::Error::from)
            .and_then(|()| state.out.write_all(b"\n"));
        if let Err(error) = result {
            state.error.get_or_insert_with(|| error.to_string());
        }
    }

    /// Counts per reason code so far.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.lock().counts.clone()
    }

    /// Flushes; fails if any write failed.
    pub fn finish(&self) -> Result<()> {
        let mut state = self.lock();
        state.out.flush().context("cannot flush dead letters")?;
        if let Some(error) = state.error.take() {
            anyhow::bail!("writing dead letters failed: {error}");
        }
        Ok(())
    }
}
