//! What the brief says, computed from one lake snapshot through the read library (only the
//! period and the one before it are read, with column projection): the [`Brief`] every format
//! renders, serializable as the JSON a template reads.

use arrow_array::RecordBatch;
use calendar::format_rfc3339_ms;
use chatter_lake::read::{AlertFilter, ReadError, SnapshotReader, Table, TimeRange};
use chatter_lake::tables::{Columns, WindowRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Evidence shown for this many alerts.
const EVIDENCE_ALERTS: usize = 3;
/// Comments quoted per alert.
const QUOTES: usize = 3;
/// The longest quote, in characters: a longer comment is cut at a word and ends with `…`.
const QUOTE_CHARS: usize = 320;
/// An entity is a new entrant with at least this many mentions (and none the period before).
const ENTRANT_MIN: u64 = 3;

/// What to report on.
#[derive(Debug, Clone)]
pub struct Request {
    /// `2021-W04`, or `FROM – TO`.
    pub label: String,
    pub range: TimeRange,
    /// Entities to report on whatever their rank (a watch list).
    pub watch: Vec<String>,
    pub top: usize,
    /// An ISO week (the title says "weekly").
    pub week: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub value: f64,
    pub previous: f64,
    /// Relative change in percent (null when the previous value is 0).
    pub change_pct: Option<f64>,
}

impl Change {
    fn new(value: f64, previous: f64) -> Change {
        let change_pct = (previous != 0.0).then(|| (value - previous) / previous * 100.0);
        Change {
            value,
            previous,
            change_pct,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    pub comments: Change,
    pub mentions: Change,
    pub entities_mentioned: Change,
    pub alerts_fired: Change,
}

/// One window of an entity's velocity chart.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub window_start: String,
    #[serde(skip)]
    pub window_start_ms: i64,
    pub mentions: i64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub alert: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntityRow {
    pub entity_id: String,
    pub entity_name: String,
    pub mentions: u64,
    pub previous_mentions: u64,
    pub change_pct: Option<f64>,
    pub peak_z: f64,
    pub peak_window_start: Option<String>,
    pub sentiment_mean: Option<f64>,
    pub previous_sentiment_mean: Option<f64>,
    /// Its windows in the period with mentions, oldest first.
    pub series: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub entity_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub window_end: String,
    /// Its events in order, like `fired → updated → retracted`.
    pub kinds: Vec<String>,
    pub state: String,
    pub peak_mentions: i64,
    pub peak_z: f64,
    pub peak_ratio: f64,
    pub baseline_mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    pub author: Option<String>,
    pub channel: Option<String>,
    pub created_at: String,
    pub score: Option<i64>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceBlock {
    pub alert_id: String,
    pub entity_name: String,
    pub window_start: String,
    pub comments: u64,
    pub quotes: Vec<Quote>,
    pub co_mentioned: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub comments: u64,
    pub share_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    pub dead_letters: BTreeMap<String, u64>,
    pub watermark: String,
    pub snapshot: u64,
    pub frontier: u64,
    pub snapshot_created_at: String,
    /// Alert events of the period that corrected an earlier one (updated, retracted).
    pub corrections: u64,
}

/// The whole brief.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub title: String,
    pub period: String,
    pub from: String,
    pub to: String,
    pub previous_from: String,
    pub previous_to: String,
    /// The span the velocity charts share: the period's first window with mentions to the end
    /// of its last (a chart over the whole period would squeeze a day of data into a sliver).
    pub chart_from: String,
    pub chart_to: String,
    /// No comment in the period: the brief says so and shows the data-quality footer only.
    pub empty: bool,
    pub headline: Headline,
    pub top_by_mentions: Vec<EntityRow>,
    pub top_by_velocity: Vec<EntityRow>,
    pub watch: Vec<EntityRow>,
    pub alerts: Vec<AlertRow>,
    pub evidence: Vec<EvidenceBlock>,
    pub channels: Vec<ChannelRow>,
    pub new_entrants: Vec<EntityRow>,
    pub quality: Quality,
}

/// At most `bins` points of `points` over `[from_ms, to_ms)`, for a small chart: each span of
/// the range keeps its busiest window (with its baseline), marked as an alert when any window
/// of the span is one. A week has 2,016 windows; a chart 90 points wide shows about 100.
pub fn thin(points: &[Point], from_ms: i64, to_ms: i64, bins: usize) -> Vec<Point> {
    if to_ms <= from_ms || bins == 0 {
        return points.to_vec();
    }
    let span = (to_ms - from_ms) as i128;
    let mut out: Vec<(usize, Point)> = Vec::new();
    for p in points {
        let bin = ((p.window_start_ms - from_ms).max(0) as i128 * bins as i128 / span) as usize;
        match out.last_mut() {
            Some((last, kept)) if *last == bin => {
                let alert = kept.alert || p.alert;
                if p.mentions > kept.mentions {
                    *kept = p.clone();
                }
                kept.alert = alert;
            }
            _ => out.push((bin, p.clone())),
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Per-entity sums of one period's `mentions` rows.
#[derive(Default)]
struct Mentions {
    total: u64,
    by_entity: BTreeMap<String, (String, u64, f64)>,
}

fn mentions(snapshot: &SnapshotReader, range: TimeRange) -> Result<Mentions, ReadError> {
    let query = chatter_lake::read::Query::new()
        .columns(["entity_id", "entity_name", "sentiment", "created_at"])
        .time(range);
    let path = snapshot.dir().join(Table::Mentions.name());
    let mut out = Mentions::default();
    snapshot.scan(Table::Mentions.name(), &query, |batch: RecordBatch| {
        let c = Columns::new(&batch, &path);
        let mut decode = || -> anyhow::Result<()> {
            let (ids, names) = (
                c.strings("entity_id", true)?,
                c.strings("entity_name", true)?,
            );
            let sentiment = c.f64s("sentiment")?;
            for i in 0..batch.num_rows() {
                let id = ids.get(i).unwrap_or_default().to_string();
                let entry = out
                    .by_entity
                    .entry(id)
                    .or_insert_with(|| (names.get(i).unwrap_or_default().to_string(), 0, 0.0));
                entry.1 += 1;
                entry.2 += sentiment.value(i);
                out.total += 1;
            }
            Ok(())
        };
        decode().map_err(|e| chatter_lake::read::corrupt(&path, format!("{e:#}")))
    })?;
    Ok(out)
}

/// Comments of a period, and by channel.
fn comments(
    snapshot: &SnapshotReader,
    range: TimeRange,
) -> Result<(u64, BTreeMap<String, u64>), ReadError> {
    let query = chatter_lake::read::Query::new()
        .columns(["channel", "created_at"])
        .time(range);
    let path = snapshot.dir().join(Table::Comments.name());
    let (mut total, mut channels) = (0u64, BTreeMap::new());
    snapshot.scan(Table::Comments.name(), &query, |batch: RecordBatch| {
        let c = Columns::new(&batch, &path);
        let channel = c
            .strings("channel", false)
            .map_err(|e| chatter_lake::read::corrupt(&path, format!("{e:#}")))?;
        for i in 0..batch.num_rows() {
            let name = channel.get(i).unwrap_or("(none)").to_string();
            *channels.entry(name).or_insert(0u64) += 1;
            total += 1;
        }
        Ok(())
    })?;
    Ok((total, channels))
}

fn dead_letters(snapshot: &SnapshotReader) -> Result<BTreeMap<String, u64>, ReadError> {
    let query = chatter_lake::read::Query::new().columns(["reason"]);
    let path = snapshot.dir().join(Table::DeadLetters.name());
    let mut out = BTreeMap::new();
    snapshot.scan(Table::DeadLetters.name(), &query, |batch: RecordBatch| {
        let c = Columns::new(&batch, &path);
        let reason = c
            .strings("reason", true)
            .map_err(|e| chatter_lake::read::corrupt(&path, format!("{e:#}")))?;
        for i in 0..batch.num_rows() {
            *out.entry(reason.get(i).unwrap_or_default().to_string())
                .or_insert(0u64) += 1;
        }
        Ok(())
    })?;
    Ok(out)
}

fn previous(range: TimeRange) -> TimeRange {
    let (from, to) = (range.from_ms.unwrap_or(0), range.to_ms.unwrap_or(0));
    TimeRange::new(from - (to - from), from)
}

/// The steps of making a brief, in order, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Open,
    Mentions,
    Comments,
    Windows,
    Alerts,
    Evidence,
    Render,
    Write,
}

impl Step {
    /// How many steps there are.
    pub const COUNT: u64 = 8;

    /// Its position, 1-based.
    pub fn number(self) -> u64 {
        self as u64 + 1
    }

    /// What it is doing, for a person watching.
    pub fn label(self) -> &'static str {
        match self {
            Step::Open => "opening the snapshot",
            Step::Mentions => "reading mentions",
            Step::Comments => "reading comments",
            Step::Windows => "reading windows",
            Step::Alerts => "reading alerts",
            Step::Evidence => "gathering evidence",
            Step::Render => "typesetting",
            Step::Write => "writing",
        }
    }
}

/// Computes the brief of `request` from `snapshot`.
pub fn compute(
    snapshot: &SnapshotReader,
    request: &Request,
    progress: &dyn Fn(Step),
) -> Result<Brief, ReadError> {
    let range = request.range;
    let before = previous(range);
    progress(Step::Mentions);
    let (now, then) = (mentions(snapshot, range)?, mentions(snapshot, before)?);
    progress(Step::Comments);
    let ((comments_now, channels), (comments_then, _)) =
        (comments(snapshot, range)?, comments(snapshot, before)?);
    progress(Step::Windows);
    let windows = snapshot.all_windows(range)?;
    progress(Step::Alerts);
    let filter = |time| AlertFilter {
        time,
        ..AlertFilter::default()
    };
    let alerts_now = snapshot.alerts(&filter(range))?;
    let fired = |events: &[chatter_lake::tables::AlertRecord]| {
        events.iter().filter(|e| e.kind == "fired").count() as f64
    };
    let fired_then = fired(&snapshot.alerts(&filter(before))?);
    let headline = Headline {
        comments: Change::new(comments_now as f64, comments_then as f64),
        mentions: Change::new(now.total as f64, then.total as f64),
        entities_mentioned: Change::new(now.by_entity.len() as f64, then.by_entity.len() as f64),
        alerts_fired: Change::new(fired(&alerts_now), fired_then),
    };
    let rows = entity_rows(&now, &then, &windows);
    let first = windows.iter().map(|w| w.window_start_ms).min();
    let last = windows.iter().map(|w| w.window_end_ms).max();
    let chart = (first.unwrap_or(0), last.unwrap_or(0));
    let alerts = alert_rows(&alerts_now);
    progress(Step::Evidence);
    let evidence = evidence(snapshot, &alerts)?;
    let manifest = snapshot.manifest();
    let quality = Quality {
        dead_letters: dead_letters(snapshot)?,
        watermark: manifest.watermark.clone(),
        snapshot: manifest.id,
        frontier: manifest.frontier,
        snapshot_created_at: manifest.created_at.clone(),
        corrections: alerts_now.iter().filter(|e| e.kind != "fired").count() as u64,
    };
    let mut brief = assemble(request, rows, alerts, evidence, channels, headline, quality);
    brief.chart_from = format_rfc3339_ms(chart.0);
    brief.chart_to = format_rfc3339_ms(chart.1);
    Ok(brief)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    request: &Request,
    rows: Vec<EntityRow>,
    alerts: Vec<AlertRow>,
    evidence: Vec<EvidenceBlock>,
    channels: BTreeMap<String, u64>,
    headline: Headline,
    quality: Quality,
) -> Brief {
    let range = request.range;
    let before = previous(range);
    let by = |key: fn(&EntityRow) -> f64| {
        let mut sorted: Vec<EntityRow> = rows.iter().filter(|r| r.mentions > 0).cloned().collect();
        sorted.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then(a.entity_id.cmp(&b.entity_id))
        });
        sorted.truncate(request.top);
        sorted
    };
    let top_by_mentions = by(|r| r.mentions as f64);
    let top_by_velocity = by(|r| r.peak_z);
    let mut new_entrants: Vec<EntityRow> = (rows.iter())
        .filter(|r| r.previous_mentions == 0 && r.mentions >= ENTRANT_MIN)
        .cloned()
        .collect();
    new_entrants.sort_by(|a, b| {
        b.mentions
            .cmp(&a.mentions)
            .then(a.entity_id.cmp(&b.entity_id))
    });
    new_entrants.truncate(request.top);
    let watch = (request.watch.iter())
        .filter_map(|id| rows.iter().find(|r| r.entity_id == *id).cloned())
        .collect();
    let total: u64 = channels.values().sum();
    let mut channels: Vec<ChannelRow> = (channels.into_iter())
        .map(|(channel, comments)| ChannelRow {
            share_pct: if total > 0 {
                comments as f64 * 100.0 / total as f64
            } else {
                0.0
            },
            channel,
            comments,
        })
        .collect();
    channels.sort_by(|a, b| b.comments.cmp(&a.comments).then(a.channel.cmp(&b.channel)));
    let ms = |t: Option<i64>| t.map(format_rfc3339_ms).unwrap_or_default();
    Brief {
        title: if request.week {
            "chatter weekly brief"
        } else {
            "chatter brief"
        }
        .into(),
        period: request.label.clone(),
        from: ms(range.from_ms),
        to: ms(range.to_ms),
        previous_from: ms(before.from_ms),
        previous_to: ms(before.to_ms),
        chart_from: String::new(),
        chart_to: String::new(),
        empty: headline.comments.value == 0.0,
        headline,
        top_by_mentions,
        top_by_velocity,
        watch,
        alerts,
        evidence,
        channels,
        new_entrants,
        quality,
    }
}

/// One row per entity mentioned in either period, with its velocity series of this period.
fn entity_rows(now: &Mentions, then: &Mentions, windows: &[WindowRecord]) -> Vec<EntityRow> {
    let mut series: BTreeMap<&str, Vec<&WindowRecord>> = BTreeMap::new();
    for w in windows {
        series.entry(w.entity_id.as_str()).or_default().push(w);
    }
    let ids: BTreeSet<&String> = now.by_entity.keys().chain(then.by_entity.keys()).collect();
    ids.into_iter()
        .map(|id| {
            let (name, mentions, sum) = now.by_entity.get(id).cloned().unwrap_or_default();
            let (old_name, before, old_sum) = then.by_entity.get(id).cloned().unwrap_or_default();
            let mut points: Vec<&WindowRecord> =
                series.get(id.as_str()).cloned().unwrap_or_default();
            points.sort_by_key(|w| w.window_start_ms);
            let peak = (points.iter()).filter(|w| w.mentions > 0).max_by(|a, b| {
                a.z.total_cmp(&b.z)
                    .then(b.window_start_ms.cmp(&a.window_start_ms))
            });
            EntityRow {
                entity_id: id.clone(),
                entity_name: if name.is_empty() { old_name } else { name },
                mentions,
                previous_mentions: before,
                change_pct: (before > 0)
                    .then(|| (mentions as f64 - before as f64) / before as f64 * 100.0),
                peak_z: peak.map_or(0.0, |w| w.z),
                peak_window_start: peak.map(|w| format_rfc3339_ms(w.window_start_ms)),
                sentiment_mean: (mentions > 0).then(|| sum / mentions as f64),
                previous_sentiment_mean: (before > 0).then(|| old_sum / before as f64),
                series: points
                    .iter()
                    .map(|w| Point {
                        window_start: format_rfc3339_ms(w.window_start_ms),
                        window_start_ms: w.window_start_ms,
                        mentions: w.mentions,
                        baseline_mean: w.baseline_mean,
                        baseline_std: w.baseline_std,
                        alert: w.alert,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One row per alert of the period (its events grouped), by window, then entity.
fn alert_rows(events: &[chatter_lake::tables::AlertRecord]) -> Vec<AlertRow> {
    let mut by_id: BTreeMap<&str, Vec<&chatter_lake::tables::AlertRecord>> = BTreeMap::new();
    for event in events {
        by_id
            .entry(event.alert_id.as_str())
            .or_default()
            .push(event);
    }
    let mut rows: Vec<AlertRow> = (by_id.into_values())
        .map(|mut lifecycle| {
            lifecycle.sort_by_key(|e| (e.as_of_ms, kind_rank(&e.kind)));
            let first = lifecycle[0];
            let peak = (lifecycle.iter())
                .max_by(|a, b| a.z.total_cmp(&b.z))
                .copied()
                .unwrap_or(first);
            let last = lifecycle[lifecycle.len() - 1];
            AlertRow {
                alert_id: first.alert_id.clone(),
                entity_id: first.entity_id.clone(),
                entity_name: last.entity_name.clone(),
                window_start: format_rfc3339_ms(first.window_start_ms),
                window_end: format_rfc3339_ms(first.window_end_ms),
                kinds: lifecycle.iter().map(|e| e.kind.clone()).collect(),
                state: if last.kind == "retracted" {
                    "retracted"
                } else {
                    "active"
                }
                .into(),
                peak_mentions: peak.mentions,
                peak_z: peak.z,
                peak_ratio: peak.ratio,
                baseline_mean: peak.baseline_mean,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.window_start, &a.entity_id).cmp(&(&b.window_start, &b.entity_id)));
    rows
}

fn kind_rank(kind: &str) -> usize {
    chatter_lake::read::ALERT_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
}

/// Quotes and co-mentions of the strongest alerts that still hold.
fn evidence(
    snapshot: &SnapshotReader,
    alerts: &[AlertRow],
) -> Result<Vec<EvidenceBlock>, ReadError> {
    let mut strongest: Vec<&AlertRow> = alerts.iter().filter(|a| a.state == "active").collect();
    strongest.sort_by(|a, b| {
        b.peak_z
            .total_cmp(&a.peak_z)
            .then(a.alert_id.cmp(&b.alert_id))
    });
    let mut blocks = Vec::new();
    for alert in strongest.into_iter().take(EVIDENCE_ALERTS) {
        let parse = calendar::parse_rfc3339_ms;
        let (Some(start), Some(end)) = (parse(&alert.window_start), parse(&alert.window_end))
        else {
            continue;
        };
        let mut comments = snapshot.comments_mentioning(&alert.entity_id, start, end)?;
        let mut co: BTreeMap<String, u64> = BTreeMap::new();
        for comment in &comments {
            for id in comment
                .entity_ids
                .iter()
                .filter(|id| **id != alert.entity_id)
            {
                *co.entry(id.clone()).or_default() += 1;
            }
        }
        let mut co: Vec<(String, u64)> = co.into_iter().collect();
        co.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        co.truncate(5);
        let total = comments.len() as u64;
        comments.sort_by(|a, b| {
            (b.score.unwrap_or(i64::MIN), &a.id).cmp(&(a.score.unwrap_or(i64::MIN), &b.id))
        });
        blocks.push(EvidenceBlock {
            alert_id: alert.alert_id.clone(),
            entity_name: alert.entity_name.clone(),
            window_start: alert.window_start.clone(),
            comments: total,
            quotes: (comments.into_iter().take(QUOTES))
                .map(|c| Quote {
                    author: c.author,
                    channel: c.channel,
                    created_at: format_rfc3339_ms(c.created_at_ms),
                    score: c.score,
                    text: excerpt(&c.text, QUOTE_CHARS),
                })
                .collect(),
            co_mentioned: co,
        });
    }
    Ok(blocks)
}

/// `text` with its whitespace runs collapsed to one space, cut to at most `limit` characters
/// at a word boundary (then ending with `…`).
pub fn excerpt(text: &str, limit: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    let mut chars = 0;
    for (i, word) in words.iter().enumerate() {
        let length = word.chars().count() + usize::from(i > 0);
        if chars + length > limit {
            if out.is_empty() {
                out = word.chars().take(limit).collect();
            }
            out.push('…');
            return out;
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        chars += length;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quotes_are_cut_at_a_word() {
        assert_eq!(excerpt("to  the\n moon", 20), "to the moon");
        assert_eq!(excerpt("to the moon", 8), "to the…");
        assert_eq!(excerpt("to the moon", 11), "to the moon");
        assert_eq!(excerpt("supercalifragilistic", 5), "super…");
        assert_eq!(excerpt("", 5), "");
        let long = "word ".repeat(200);
        let cut = excerpt(&long, QUOTE_CHARS);
        assert!(cut.chars().count() <= QUOTE_CHARS + 1 && cut.ends_with("word…"));
    }

    fn point(start: i64, mentions: i64, alert: bool) -> Point {
        Point {
            window_start: String::new(),
            window_start_ms: start,
            mentions,
            baseline_mean: 0.0,
            baseline_std: 0.0,
            alert,
        }
    }

    #[test]
    fn thinning_keeps_the_busiest_window_and_any_alert() {
        let points: Vec<Point> = (0..2016)
            .map(|i| point(i * 300_000, i % 7, i == 1000))
            .collect();
        let thin = thin(&points, 0, 2016 * 300_000, 100);
        assert!(thin.len() <= 100, "{}", thin.len());
        assert!(thin.iter().all(|p| p.mentions == 6), "each span's busiest");
        assert_eq!(
            thin.iter().filter(|p| p.alert).count(),
            1,
            "the alert survives"
        );
        assert_eq!(super::thin(&points[..5], 0, 2016 * 300_000, 100).len(), 1);
    }
}
