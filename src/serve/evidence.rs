//! `GET /api/v1/alerts/{alert_id}`: an alert's lifecycle and why it fired — its window now,
//! the K baseline windows it beat, and the evidence: the window's comments that mention the
//! entity (a sample, highest score first), their authors, channels and co-mentioned entities.
//! The comment texts are read from the lake's current snapshot (the live view holds counts,
//! not texts), so an alert newer than the snapshot gets its evidence with the next one.

use super::api::{as_of, blocking};
use super::error::{ApiError, ErrorBody};
use super::history;
use super::types::*;
use super::Shared;
use crate::lake::read::{AlertFilter, CommentRecord, TimeRange};
use crate::runtime::Status;
use axum::extract::{Path, State};
use axum::Json;
use dataflows::format_rfc3339_ms;
use std::collections::HashMap;
use std::sync::Arc;

/// Comments in the sample.
const SAMPLE: usize = 20;
/// Entries in each of the authors, channels and co-mentioned lists.
const TOP: usize = 10;

#[utoipa::path(get, path = "/api/v1/alerts/{alert_id}", tag = "alerts",
    params(("alert_id" = String, Path,
            description = "The alert id, like velocity/GME/2021-01-28T14:00:00Z (slashes as they are or as %2F)")),
    responses((status = 200, body = AlertDetail), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// An alert's lifecycle and its evidence.
pub async fn alert(
    State(shared): State<Arc<Shared>>,
    Path(alert_id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let status = shared.run.status.current();
    let detail = blocking(&shared, move |shared| detail(shared, &status, &alert_id)).await?;
    Ok(Json(detail))
}

/// (entity id, window start) of an alert id `rule/entity/window_start`.
fn parse_alert_id(alert_id: &str) -> Option<(&str, i64)> {
    let (_rule, rest) = alert_id.split_once('/')?;
    let (entity, start) = rest.rsplit_once('/')?;
    let start_ms = crate::decode::parse_rfc3339_ms(start)?;
    (!entity.is_empty()).then_some((entity, start_ms))
}

fn detail(shared: &Shared, status: &Status, alert_id: &str) -> Result<AlertDetail, ApiError> {
    let unknown = || {
        ApiError::not_found(format!(
            "no alert {alert_id:?}: alert ids look like velocity/GME/2021-01-28T14:00:00Z (see /api/v1/alerts)"
        ))
    };
    let (entity_id, window_start_ms) = parse_alert_id(alert_id).ok_or_else(unknown)?;
    let filter = AlertFilter {
        entity_id: Some(entity_id.to_string()),
        alert_id: Some(alert_id.to_string()),
        time: TimeRange::new(window_start_ms, window_start_ms + 1),
        kind: None,
    };
    let (mut events, snapshot) = history::alerts(status, &shared.lake, &filter)?;
    if events.is_empty() {
        // The alert stream hands an event out before the status holding it is published (at
        // the epoch's end): an id just learned from the stream is in the alert log meanwhile.
        // (A dashboard asked for one in that moment and got a 404.)
        let (logged, _) = shared.run.alerts.since(0);
        events = (logged.iter())
            .filter(|view| view.record.alert_id == alert_id)
            .map(|view| (view.record.clone(), Some(view.sequence)))
            .collect();
        events.sort_by(|(a, _), (b, _)| history::newest_first(a, b));
    }
    events.reverse();
    let (latest, _) = events.last().ok_or_else(unknown)?.clone();
    let params = &shared.settings.params;
    let (window_ms, k) = (params.window_ms, params.baseline_windows as i64);
    let base_from = window_start_ms - k * window_ms;
    let range = TimeRange::new(base_from, window_start_ms + window_ms);
    let (rows, _) = history::windows(status, &shared.lake, Some(entity_id), range)?;
    let window = rows.iter().find(|w| w.window_start_ms == window_start_ms);
    let baseline = Baseline {
        windows: (0..k)
            .map(|i| {
                let start = base_from + i * window_ms;
                let row = rows.iter().find(|w| w.window_start_ms == start);
                BaselineWindow {
                    window_start: format_rfc3339_ms(start),
                    mentions: row.map_or(0, |w| w.mentions),
                }
            })
            .collect(),
        mean: latest.baseline_mean,
        std: latest.baseline_std,
    };
    let (evidence, evidence_note) = evidence(shared, status, &latest)?;
    Ok(AlertDetail {
        alert_id: alert_id.to_string(),
        entity_id: latest.entity_id.clone(),
        entity_name: latest.entity_name.clone(),
        window_start: format_rfc3339_ms(latest.window_start_ms),
        window_end: format_rfc3339_ms(latest.window_end_ms),
        state: if latest.kind == "retracted" {
            "retracted"
        } else {
            "active"
        }
        .to_string(),
        events: events
            .iter()
            .map(|(record, sequence)| AlertEvent::new(record, *sequence))
            .collect(),
        window: window.map(WindowRow::from),
        baseline,
        evidence,
        evidence_note,
        as_of: as_of(status, snapshot),
    })
}

fn evidence(
    shared: &Shared,
    status: &Status,
    latest: &crate::lake::tables::AlertRecord,
) -> Result<(Option<Evidence>, Option<String>), ApiError> {
    if !shared.lake.configured() {
        let note = "this run writes no lake (--no-lake): the comment texts of evidence are kept in the lake";
        return Ok((None, Some(note.to_string())));
    }
    let (entity_id, from, to) = (
        latest.entity_id.as_str(),
        latest.window_start_ms,
        latest.window_end_ms,
    );
    let read = shared.lake.with_current(|snapshot| {
        let comments = snapshot.comments_mentioning(entity_id, from, to)?;
        Ok((snapshot.manifest().watermark_ms, comments))
    })?;
    let Some((snapshot, (watermark_ms, comments))) = read else {
        let note = "the lake has no snapshot yet: evidence appears with the first one";
        return Ok((None, Some(note.to_string())));
    };
    let behind = watermark_ms < to;
    if comments.is_empty() {
        let note = match behind {
            true => "this window is newer than the lake's current snapshot: its evidence appears with the next snapshot (output.snapshot_interval)",
            false => "the snapshot holds no comment of this window that mentions the entity (deleted or edited since)",
        };
        return Ok((None, Some(note.to_string())));
    }
    let note = behind.then(|| {
        "the lake's current snapshot was written before this window was final: the next one may hold more comments".to_string()
    });
    Ok((Some(summarize(snapshot, comments, entity_id, status)), note))
}

/// The sample and the top lists of a window's comments.
fn summarize(
    snapshot: u64,
    mut comments: Vec<CommentRecord>,
    entity_id: &str,
    status: &Status,
) -> Evidence {
    let mut authors: HashMap<&str, u64> = HashMap::new();
    let mut channels: HashMap<&str, u64> = HashMap::new();
    let mut co: HashMap<&str, u64> = HashMap::new();
    for comment in &comments {
        if let Some(author) = comment.author.as_deref() {
            *authors.entry(author).or_default() += 1;
        }
        if let Some(channel) = comment.channel.as_deref() {
            *channels.entry(channel).or_default() += 1;
        }
        for id in &comment.entity_ids {
            if id != entity_id {
                *co.entry(id.as_str()).or_default() += 1;
            }
        }
    }
    let authors = top(authors)
        .map(|(author, comments)| AuthorCount { author, comments })
        .collect();
    let channels = top(channels)
        .map(|(channel, comments)| ChannelCount { channel, comments })
        .collect();
    let co_mentioned = top(co)
        .map(|(entity_id, comments)| CoMention {
            entity_name: (status.catalog.get(&entity_id))
                .map_or_else(|| entity_id.clone(), |e| e.name.clone()),
            entity_id,
            comments,
        })
        .collect();
    let total = comments.len() as u64;
    comments.sort_by(|a, b| {
        (b.score.unwrap_or(i64::MIN), a.created_at_ms, &a.id).cmp(&(
            a.score.unwrap_or(i64::MIN),
            b.created_at_ms,
            &b.id,
        ))
    });
    comments.truncate(SAMPLE);
    Evidence {
        snapshot,
        comments_total: total,
        comments: comments
            .into_iter()
            .map(|c| EvidenceComment {
                id: c.id,
                author: c.author,
                channel: c.channel,
                created_at: format_rfc3339_ms(c.created_at_ms),
                score: c.score,
                sentiment: c.sentiment,
                text: c.text,
            })
            .collect(),
        authors,
        channels,
        co_mentioned,
    }
}

/// The [`TOP`] most frequent, ties by name.
fn top<'a>(counts: HashMap<&'a str, u64>) -> impl Iterator<Item = (String, u64)> + 'a {
    let mut counts: Vec<(&str, u64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .into_iter()
        .take(TOP)
        .map(|(k, n)| (k.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_parse() {
        assert_eq!(
            parse_alert_id("velocity/GME/2021-01-28T14:00:00Z"),
            Some(("GME", 1611842400000))
        );
        assert_eq!(
            parse_alert_id("velocity/a/b/2021-01-28T14:00:00Z"),
            Some(("a/b", 1611842400000))
        );
        assert_eq!(parse_alert_id("velocity/GME"), None);
        assert_eq!(parse_alert_id("velocity//2021-01-28T14:00:00Z"), None);
        assert_eq!(parse_alert_id("nonsense"), None);
    }
}
