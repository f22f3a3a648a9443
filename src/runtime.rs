//! The timely worker loop for the file source: read, decode, feed epochs, advance the
//! watermark, drain alerts and dead letters, report progress and a summary.
//!
//! Every worker scans every comment input and decodes the lines whose global line number
//! falls to it (`line % workers == index`); stdin is read by worker 0 alone. A batch of
//! `batch_records` lines is one epoch (so results do not depend on the worker count), and at
//! most two epochs are in flight. The catalog file is loaded by worker 0 as epoch 0. At the
//! end of input a flush makes every window seen final, so its alerts are emitted.

use crate::decode::{decode_comment, decode_entity, DecodeLimits, Reason};
use crate::sink::{file_source, now_ms, AlertJson, DeadLetters, WindowJson};
use crate::source::{InputSpec, Line, LineReader};
use anyhow::{anyhow, Context, Result};
use dataflows::enrich::IngestCounters;
use dataflows::extract::MatcherCache;
use dataflows::model::{Position, Positioned};
use dataflows::{Control, Graph, Params};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a run needs, validated.
#[derive(Clone)]
pub struct RunSettings {
    pub inputs: Vec<InputSpec>,
    pub entities: Option<PathBuf>,
    pub params: Params,
    pub workers: usize,
    pub batch_records: u64,
    pub max_record_bytes: usize,
    pub show_progress: bool,
    /// Where to write the `entity_windows` rows (JSON Lines) as they become final.
    pub windows_out: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub lines: u64,
    pub entities: u64,
    pub counters: IngestCounters,
    pub dead_letters: std::collections::BTreeMap<&'static str, u64>,
    pub windows: u64,
    pub alerts: [u64; 3],
    pub watermark_ms: i64,
    pub elapsed: Duration,
    /// Peak resident memory of the process in bytes (Linux; None elsewhere).
    pub peak_rss_bytes: Option<u64>,
    /// Per-epoch processing time (µs): from sending an epoch to the graph finishing it.
    pub epoch_micros: Option<Histogram<u64>>,
}

impl RunSummary {
    /// The one-line summary printed at the end of a run.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let dead: u64 = self.dead_letters.values().sum();
        let reasons = self
            .dead_letters
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "read {} records in {:.2} s ({:.0}/s): {} inserts, {} edits, {} deletes; {} dead letters{}; {} windows; alerts: {} fired, {} updated, {} retracted; watermark {}",
            self.lines,
            secs,
            self.lines as f64 / secs,
            self.counters.inserts,
            self.counters.edits,
            self.counters.deletes,
            dead,
            if reasons.is_empty() { String::new() } else { format!(" ({reasons})") },
            self.windows,
            self.alerts[0],
            self.alerts[1],
            self.alerts[2],
            dataflows::format_rfc3339_ms(self.watermark_ms),
        )
    }
}

/// Sends epoch `epoch` on its way and waits until at most one epoch is unfinished.
fn advance(worker: &mut timely::worker::Worker, graph: &mut Graph, epoch: u64) {
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    graph.comments.flush();
    graph.control.flush();
    while graph.probe.less_than(&epoch.saturating_sub(1)) {
        worker.step();
    }
}

/// Per-worker result.
struct WorkerResult {
    counters: IngestCounters,
    lines: u64,
    entities: u64,
    table: Option<(u64, [u64; 3], i64)>,
    epoch_micros: Option<Histogram<u64>>,
}

/// Runs the pipeline over the file source.
pub fn run(
    settings: RunSettings,
    alerts_out: Box<dyn Write + Send>,
    dead_letters: DeadLetters,
) -> Result<RunSummary> {
    let windows_out: Arc<Mutex<Option<Box<dyn Write + Send>>>> =
        Arc::new(Mutex::new(match &settings.windows_out {
            Some(path) => Some(crate::sink::open_output(path)?),
            None => None,
        }));
    let total_bytes: u64 = settings
        .inputs
        .iter()
        .map(|input| input.check("input"))
        .sum::<Result<u64>>()?;
    if let Some(entities) = &settings.entities {
        InputSpec::File(entities.clone()).check("entities file")?;
    }
    let bytes_read = Arc::new(AtomicU64::new(0));
    let progress = if settings.show_progress && total_bytes > 0 {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let alerts_out = Arc::new(Mutex::new(alerts_out));
    let alert_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let cache = MatcherCache::default();
    let workers = settings.workers.max(1);
    let shared = (
        settings.clone(),
        cache,
        dead_letters.clone(),
        alerts_out.clone(),
        alert_error.clone(),
        bytes_read.clone(),
        progress.clone(),
        windows_out.clone(),
    );
    let guards =
        timely::execute(timely::Config::process(workers), move |worker| {
            let (
                settings,
                cache,
                dead_letters,
                alerts_out,
                alert_error,
                bytes_read,
                progress,
                windows,
            ) = shared.clone();
            let outputs = Outputs {
                dead_letters: &dead_letters,
                alerts: &alerts_out,
                alert_error: &alert_error,
                windows: &windows,
            };
            run_worker(
                worker,
                &settings,
                cache,
                &outputs,
                &bytes_read,
                progress.as_ref(),
            )
        })
        .map_err(|error| anyhow!("cannot start {workers} timely worker(s): {error}"))?;
    let mut summary = RunSummary::default();
    for result in guards.join() {
        let result = result.map_err(|error| anyhow!("a worker failed: {error}"))??;
        let c = &mut summary.counters;
        c.inserts += result.counters.inserts;
        c.edits += result.counters.edits;
        c.deletes += result.counters.deletes;
        c.deletes_unknown += result.counters.deletes_unknown;
        c.refused += result.counters.refused;
        c.evicted += result.counters.evicted;
        c.catalog_changes = c.catalog_changes.max(result.counters.catalog_changes);
        summary.lines = summary.lines.max(result.lines);
        summary.entities = summary.entities.max(result.entities);
        if let Some((windows, alerts, watermark)) = result.table {
            summary.windows = windows;
            summary.alerts = alerts;
            summary.watermark_ms = watermark;
        }
        if result.epoch_micros.is_some() {
            summary.epoch_micros = result.epoch_micros;
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    summary.elapsed = started.elapsed();
    summary.peak_rss_bytes = peak_rss_bytes();
    {
        let mut out = alerts_out
            .lock()
            .map_err(|_| anyhow!("alert writer poisoned"))?;
        out.flush().context("cannot flush alert events")?;
    }
    if let Some(error) = alert_error.lock().ok().and_then(|mut e| e.take()) {
        anyhow::bail!("writing alert events failed: {error}");
    }
    if let Some(out) = windows_out
        .lock()
        .map_err(|_| anyhow!("window writer poisoned"))?
        .as_mut()
    {
        out.flush().context("cannot flush window rows")?;
    }
    if let Some(error) = alert_error.lock().ok().and_then(|mut e| e.take()) {
        anyhow::bail!("writing outputs failed: {error}");
    }
    dead_letters.finish()?;
    summary.dead_letters = dead_letters.counts();
    Ok(summary)
}

/// The writers shared by the workers.
struct Outputs<'a> {
    dead_letters: &'a DeadLetters,
    alerts: &'a Mutex<Box<dyn Write + Send>>,
    alert_error: &'a Mutex<Option<String>>,
    windows: &'a Mutex<Option<Box<dyn Write + Send>>>,
}

impl Outputs<'_> {
    /// Writes one JSON line; the first failure is kept and fails the run at the end (the
    /// pipeline does not stop for it).
    fn write_line(&self, out: &mut dyn Write, value: &impl serde::Serialize) {
        let result = serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(error) = result {
            if let Ok(mut slot) = self.alert_error.lock() {
                slot.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    settings: &RunSettings,
    cache: MatcherCache,
    outputs: &Outputs<'_>,
    bytes_read: &Arc<AtomicU64>,
    progress: Option<&ProgressBar>,
) -> Result<WorkerResult> {
    let dead_letters = outputs.dead_letters;
    let index = worker.index();
    let peers = worker.peers();
    let params = settings.params.clone();
    let mut graph = worker.dataflow::<u64, _, _>(|scope| dataflows::build(scope, &params, cache));
    let limits = DecodeLimits::now(settings.max_record_bytes);
    let mut entities = 0u64;
    // Epoch 0: the catalog, read by worker 0.
    if let (0, Some(path)) = (index, &settings.entities) {
        let spec = InputSpec::File(path.clone());
        let name = spec.name();
        let mut reader = LineReader::open(&spec, Arc::default())?;
        while let Some((line_number, line)) = reader.next_line() {
            let decoded = decode_line(line, &name, line_number, dead_letters, |bytes| {
                decode_entity(bytes, &limits)
            });
            if let Some(event) = decoded {
                entities += 1;
                graph.control.send(Control::Entity(Positioned {
                    position: Position {
                        source: 0,
                        offset: line_number,
                    },
                    event,
                }));
            }
        }
    }
    // Stdin can be read once: with stdin among the inputs, worker 0 reads and decodes every
    // input and the others only run their share of the graph (comments are routed by id).
    let reads_everything = settings.inputs.contains(&InputSpec::Stdin);
    if reads_everything && index != 0 {
        // Dropping an input handle closes that input on this worker.
        drop(std::mem::replace(
            &mut graph.comments,
            dataflows::Handle::new(),
        ));
        drop(std::mem::replace(
            &mut graph.control,
            dataflows::Handle::new(),
        ));
        while !graph.probe.done() {
            worker.step();
            drain(&graph, index, settings, outputs, false);
        }
        return Ok(WorkerResult {
            counters: graph.ingest.borrow().counters,
            lines: 0,
            entities,
            table: None,
            epoch_micros: None,
        });
    }
    let mut epoch = 1u64;
    advance(worker, &mut graph, epoch);
    let mut histogram = Histogram::<u64>::new(3).ok();
    let mut epoch_started = Instant::now();
    let mut pending_epochs: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut global_line = 0u64;
    for (input_index, spec) in settings.inputs.iter().enumerate() {
        let name = spec.name();
        let counter = if index == 0 {
            bytes_read.clone()
        } else {
            Arc::default()
        };
        let mut reader = LineReader::open(spec, counter)?;
        while let Some((line_number, line)) = reader.next_line() {
            global_line += 1;
            let line_epoch = 1 + (global_line - 1) / settings.batch_records;
            if line_epoch > epoch {
                pending_epochs.push_back((epoch, epoch_started));
                epoch_started = Instant::now();
                epoch = line_epoch;
                advance(worker, &mut graph, epoch);
                drain(&graph, index, settings, outputs, false);
                record_finished(&graph, &mut pending_epochs, histogram.as_mut());
                if let Some(bar) = progress.filter(|_| index == 0) {
                    bar.set_position(bytes_read.load(Ordering::Relaxed));
                }
            }
            if !reads_everything && global_line % peers as u64 != index as u64 {
                continue;
            }
            let decoded = decode_line(line, &name, line_number, dead_letters, |bytes| {
                decode_comment(bytes, &limits)
            });
            if let Some(event) = decoded {
                graph.comments.send(Positioned {
                    position: Position {
                        source: 1 + input_index as u32,
                        offset: line_number,
                    },
                    event,
                });
            }
        }
    }
    // End of input: a final watermark over everything seen.
    if index == 0 {
        graph.control.send(Control::Flush);
    }
    pending_epochs.push_back((epoch, epoch_started));
    epoch += 1;
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    graph.comments.flush();
    graph.control.flush();
    while graph.probe.less_than(&epoch) {
        worker.step();
    }
    record_finished(&graph, &mut pending_epochs, histogram.as_mut());
    drain(&graph, index, settings, outputs, true);
    let counters = graph.ingest.borrow().counters;
    let table = (index == 0).then(|| {
        let table = graph.table.borrow();
        (
            table.live.len() as u64 + table.sealed_total,
            table.event_counts,
            table.progress.watermark_ms,
        )
    });
    Ok(WorkerResult {
        counters,
        lines: global_line,
        entities,
        table,
        epoch_micros: if index == 0 { histogram } else { None },
    })
}

/// Decodes one input line: the event, or None for a blank line or after dead-lettering it
/// (a line the input broke off inside is `truncated_input`).
fn decode_line<E>(
    line: Line<'_>,
    name: &str,
    line_number: u64,
    dead_letters: &DeadLetters,
    decode: impl FnOnce(&[u8]) -> Result<E, crate::decode::Rejection>,
) -> Option<E> {
    let source = || file_source(name, line_number);
    match line {
        Line::Broken(bytes, error) => {
            let detail = format!("input ended inside a record: {error}");
            dead_letters.write(source(), Reason::TruncatedInput, &detail, bytes);
            tracing::warn!(input = %name, line = line_number, %error, "input truncated; continuing with the next input");
            None
        }
        Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
        Line::Complete(bytes) => match decode(bytes) {
            Ok(event) => Some(event),
            Err(rejection) => {
                dead_letters.write(source(), rejection.reason, &rejection.detail, bytes);
                None
            }
        },
    }
}

/// Records how long each finished epoch took, from its first line to the graph finishing it.
fn record_finished(
    graph: &Graph,
    pending: &mut std::collections::VecDeque<(u64, Instant)>,
    histogram: Option<&mut Histogram<u64>>,
) {
    let Some(histogram) = histogram else { return };
    while let Some((epoch, started)) = pending.front().copied() {
        if graph.probe.less_equal(&epoch) {
            break;
        }
        pending.pop_front();
        let _ = histogram.record(started.elapsed().as_micros() as u64);
    }
}

/// Moves refusals to the dead letters and (worker 0) alert events to the alert output and
/// sealed window rows to the window output (all live rows too when `last`).
fn drain(graph: &Graph, index: usize, settings: &RunSettings, outputs: &Outputs<'_>, last: bool) {
    for refusal in graph.refusals.borrow_mut().drain(..) {
        let name = source_name(settings, refusal.position.source);
        let raw = crate::sink::input_json(&refusal.event);
        outputs.dead_letters.write(
            file_source(&name, refusal.position.offset),
            Reason::BeyondRetention,
            &refusal.detail,
            &raw,
        );
    }
    if index != 0 {
        return;
    }
    let mut table = graph.table.borrow_mut();
    let sealed = std::mem::take(&mut table.sealed);
    if let Ok(mut guard) = outputs.windows.lock() {
        if let Some(out) = guard.as_mut() {
            let live = if last {
                table.live.clone()
            } else {
                Default::default()
            };
            for ((_, window), (label, stat)) in sealed.iter().chain(live.iter()) {
                let row = WindowJson::new(
                    label,
                    *window,
                    settings.params.window_ms,
                    stat,
                    &settings.params,
                );
                outputs.write_line(&mut **out, &row);
            }
        }
    }
    if table.events.is_empty() {
        return;
    }
    let emitted_at = now_ms();
    let Ok(mut out) = outputs.alerts.lock() else {
        return;
    };
    for event in table.events.drain(..) {
        outputs.write_line(&mut **out, &AlertJson::new(&event, emitted_at));
    }
}

fn source_name(settings: &RunSettings, source: u32) -> String {
    match source {
        0 => settings
            .entities
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        n => settings
            .inputs
            .get(n as usize - 1)
            .map(InputSpec::name)
            .unwrap_or_default(),
    }
}

/// Peak resident set size of this process (`VmHWM` in /proc/self/status), Linux only.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
