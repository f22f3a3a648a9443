//! The JSON resources of SPEC §3.6 under `/api/v1/` (docs/api.md): status, entities (top, one,
//! its windows), alerts and snapshots. Alert evidence is in `evidence`, the stream in `stream`.
//! Handlers read the published status and, through `history`, the lake.

use super::error::{ApiError, ErrorBody};
use super::history::{self, Lake};
use super::params::{self, decode_cursor, encode_cursor, Params};
use super::types::*;
use super::Shared;
use crate::lake::read::{AlertFilter, TimeRange, ALERT_KINDS};
use crate::lake::tables::WindowRecord;
use crate::runtime::Status;
use axum::extract::{Path, State};
use axum::Json;
use dataflows::format_rfc3339_ms;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::IntoParams;

/// Most points of a sparkline.
const SPARKLINE_POINTS: i64 = 48;

pub fn as_of(status: &Status, snapshot: Option<u64>) -> AsOf {
    AsOf {
        frontier: status.frontier,
        watermark: time_text(status.watermark_ms),
        snapshot,
    }
}

pub fn time_text(ms: i64) -> Option<String> {
    (ms > i64::MIN && ms < i64::MAX).then(|| format_rfc3339_ms(ms))
}

/// Runs a lake read off the server's thread (at most two at once).
pub async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    read: impl FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = shared
        .lake_reads
        .acquire()
        .await
        .map_err(|_| ApiError::internal("the server is stopping"))?;
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || read(&shared))
        .await
        .map_err(|_| ApiError::internal("a lake read failed: the server log has the details"))?
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
/// Where the run stands: phase, watermark, frontier, throughput, lag, dead letters, alerts and
/// the last snapshot.
pub async fn status(State(shared): State<Arc<Shared>>) -> Json<StatusView> {
    Json(super::status_view::build(&shared))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// Windows starting at or after this time (RFC 3339; default: the live view's start).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Windows starting before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    /// Rank by `mentions` (default), `z` (peak z) or `authors`.
    #[param(value_type = Option<String>, pattern = "^(mentions|z|authors)$")]
    by: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/entities/top", tag = "entities", params(TopQuery),
    responses((status = 200, body = TopEntities), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Entities ranked over the windows of a range.
pub async fn top(
    State(shared): State<Arc<Shared>>,
    Params(query): Params<TopQuery>,
) -> Result<Json<TopEntities>, ApiError> {
    let by = query.by.clone().unwrap_or_else(|| "mentions".into());
    if !["mentions", "z", "authors"].contains(&by.as_str()) {
        return Err(ApiError::bad_parameter(
            "by",
            format!("{by:?}: rank by mentions, z or authors"),
        ));
    }
    let limit = params::limit(query.limit.as_deref())?;
    let offset: usize = decode_cursor(query.cursor.as_deref())?.unwrap_or(0);
    let status = shared.run.status.current();
    let mut range = params::range(query.from.as_deref(), query.to.as_deref())?;
    if range.from_ms.is_none() && status.watermark_ms > i64::MIN {
        range.from_ms = Some(history::live_from(&status));
    }
    let window_ms = shared.settings.params.window_ms;
    let (rows, snapshot) = blocking(&shared, {
        let status = status.clone();
        move |shared| Ok(history::windows(&status, &shared.lake, None, range)?)
    })
    .await?;
    let mut ranked = rank(&rows, range, window_ms);
    let key = |e: &TopEntity| match by.as_str() {
        "z" => e.peak_z,
        "authors" => e.authors as f64,
        _ => e.mentions as f64,
    };
    ranked.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then(a.entity_id.cmp(&b.entity_id))
    });
    let total = ranked.len();
    let entities: Vec<TopEntity> = ranked.into_iter().skip(offset).take(limit).collect();
    let next = offset + entities.len();
    Ok(Json(TopEntities {
        from: range.from_ms.and_then(time_text),
        to: range.to_ms.and_then(time_text),
        by,
        entities,
        next_cursor: (next < total).then(|| encode_cursor(&next)),
        as_of: as_of(&status, snapshot),
    }))
}

/// Sums each entity's windows (rows are grouped by entity, oldest first).
fn rank(rows: &[WindowRecord], range: TimeRange, window_ms: i64) -> Vec<TopEntity> {
    let first = rows.iter().map(|w| w.window_start_ms).min().unwrap_or(0);
    let last = rows.iter().map(|w| w.window_start_ms).max().unwrap_or(0);
    let start = range
        .from_ms
        .map_or(first, |f| f.div_euclid(window_ms) * window_ms);
    let end = range
        .to_ms
        .map_or(last + window_ms, |t| t.max(start + window_ms));
    let windows = ((end - start + window_ms - 1) / window_ms).max(1);
    let step = (windows + SPARKLINE_POINTS - 1) / SPARKLINE_POINTS;
    let points = ((windows + step - 1) / step) as usize;
    let mut out: Vec<TopEntity> = Vec::new();
    for group in rows.chunk_by(|a, b| a.entity_id == b.entity_id) {
        let mut entity = TopEntity {
            entity_id: group[0].entity_id.clone(),
            entity_name: group[0].entity_name.clone(),
            mentions: 0,
            authors: 0,
            peak_z: f64::NEG_INFINITY,
            peak_ratio: 0.0,
            peak_window_start: String::new(),
            alert_windows: 0,
            sparkline: Sparkline {
                start: format_rfc3339_ms(start),
                step_seconds: (step * window_ms) as f64 / 1000.0,
                mentions: vec![0; points],
            },
        };
        for w in group {
            entity.mentions += w.mentions;
            entity.authors += w.authors;
            entity.alert_windows += w.alert as u64;
            if w.mentions > 0 && w.z > entity.peak_z {
                entity.peak_z = w.z;
                entity.peak_ratio = w.ratio;
                entity.peak_window_start = format_rfc3339_ms(w.window_start_ms);
            }
            let point = (w.window_start_ms - start).div_euclid(window_ms * step);
            if let Some(slot) = usize::try_from(point)
                .ok()
                .and_then(|p| entity.sparkline.mentions.get_mut(p))
            {
                *slot += w.mentions;
            }
            entity.entity_name = w.entity_name.clone();
        }
        if entity.peak_z == f64::NEG_INFINITY {
            entity.peak_z = 0.0;
        }
        out.push(entity);
    }
    out
}

#[utoipa::path(get, path = "/api/v1/entities/{id}", tag = "entities",
    params(("id" = String, Path, description = "The entity id, like GME")),
    responses((status = 200, body = EntityView), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
/// An entity from the catalog, with its latest window.
pub async fn entity(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<EntityView>, ApiError> {
    let status = shared.run.status.current();
    let info = status.catalog.get(&id).map(entity_info);
    let mut latest = status
        .windows
        .get(&id)
        .and_then(|rows| rows.last())
        .cloned();
    let mut snapshot = None;
    if latest.is_none() {
        let (rows, read) = blocking(&shared, {
            let (status, id) = (status.clone(), id.clone());
            move |shared| {
                Ok(history::windows(
                    &status,
                    &shared.lake,
                    Some(&id),
                    TimeRange::ALL,
                )?)
            }
        })
        .await?;
        latest = rows.last().cloned();
        snapshot = read;
    }
    if info.is_none() && latest.is_none() {
        return Err(ApiError::not_found(format!(
            "no entity {id:?}: it is not in the catalog and has no window"
        )));
    }
    Ok(Json(EntityView {
        entity: info,
        latest_window: latest.as_ref().map(WindowRow::from),
        as_of: as_of(&status, snapshot),
    }))
}

fn entity_info(entity: &dataflows::model::Entity) -> EntityInfo {
    let attributes = entity
        .attributes
        .iter()
        .map(|(key, json)| {
            let value = serde_json::from_str(json)
                .unwrap_or_else(|_| serde_json::Value::String(json.clone()));
            (key.clone(), value)
        })
        .collect();
    EntityInfo {
        id: entity.id.clone(),
        name: entity.name.clone(),
        kind: entity.kind.clone(),
        aliases: entity.aliases.clone(),
        symbols: entity.symbols.clone(),
        attributes,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowsQuery {
    /// Windows starting at or after this time (RFC 3339; default: the live view's start).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Windows starting before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/entities/{id}/windows", tag = "entities",
    params(("id" = String, Path, description = "The entity id"), WindowsQuery),
    responses((status = 200, body = WindowsPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// An entity's window rows, oldest first (windows without mentions have no row).
pub async fn windows(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Params(query): Params<WindowsQuery>,
) -> Result<Json<WindowsPage>, ApiError> {
    let limit = params::limit(query.limit.as_deref())?;
    let after: Option<i64> = decode_cursor(query.cursor.as_deref())?;
    let status = shared.run.status.current();
    let mut range = params::range(query.from.as_deref(), query.to.as_deref())?;
    if range.from_ms.is_none() && status.watermark_ms > i64::MIN {
        range.from_ms = Some(history::live_from(&status));
    }
    if let Some(after) = after {
        range.from_ms = Some(range.from_ms.map_or(after + 1, |f| f.max(after + 1)));
    }
    let (rows, snapshot) = if range.is_empty() {
        (Vec::new(), None)
    } else {
        blocking(&shared, {
            let (status, id) = (status.clone(), id.clone());
            move |shared| Ok(history::windows(&status, &shared.lake, Some(&id), range)?)
        })
        .await?
    };
    let more = rows.len() > limit;
    let windows: Vec<WindowRow> = rows.iter().take(limit).map(WindowRow::from).collect();
    let next_cursor = more
        .then(|| {
            rows.get(limit - 1)
                .map(|w| encode_cursor(&w.window_start_ms))
        })
        .flatten();
    Ok(Json(WindowsPage {
        entity_id: id,
        windows,
        next_cursor,
        as_of: as_of(&status, snapshot),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only this entity's alerts.
    entity: Option<String>,
    /// Only events of this kind.
    #[param(value_type = Option<String>, pattern = "^(fired|updated|retracted)$")]
    kind: Option<String>,
    /// Windows starting at or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Windows starting before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Where a page of alerts ends: the sort key of its last event and its alert id.
type AlertCursor = ((i64, i64, usize, i64), String);

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = AlertsPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// Alert events, newest first.
pub async fn alerts(
    State(shared): State<Arc<Shared>>,
    Params(query): Params<AlertsQuery>,
) -> Result<Json<AlertsPage>, ApiError> {
    let limit = params::limit(query.limit.as_deref())?;
    let after: Option<AlertCursor> = decode_cursor(query.cursor.as_deref())?;
    if let Some(kind) = &query.kind {
        if !ALERT_KINDS.contains(&kind.as_str()) {
            return Err(ApiError::bad_parameter(
                "kind",
                format!("{kind:?}: the kinds are fired, updated and retracted"),
            ));
        }
    }
    let filter = AlertFilter {
        entity_id: query.entity.clone(),
        kind: query.kind.clone(),
        alert_id: None,
        time: params::range(query.from.as_deref(), query.to.as_deref())?,
    };
    let status = shared.run.status.current();
    let (events, snapshot) = blocking(&shared, {
        let status = status.clone();
        move |shared| Ok(history::alerts(&status, &shared.lake, &filter)?)
    })
    .await?;
    let start = match &after {
        None => 0,
        Some((key, alert_id)) => events
            .iter()
            .position(|(record, _)| {
                let k = history::sort_key(record);
                k < *key || (k == *key && record.alert_id > *alert_id)
            })
            .unwrap_or(events.len()),
    };
    let page: Vec<_> = events.iter().skip(start).take(limit).collect();
    let next_cursor = (start + page.len() < events.len())
        .then(|| page.last())
        .flatten()
        .map(|(record, _)| encode_cursor(&(history::sort_key(record), &record.alert_id)));
    Ok(Json(AlertsPage {
        alerts: page
            .iter()
            .map(|(record, sequence)| AlertEvent::new(record, *sequence))
            .collect(),
        next_cursor,
        as_of: as_of(&status, snapshot),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotsQuery {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/snapshots", tag = "lake", params(SnapshotsQuery),
    responses((status = 200, body = SnapshotsPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// The lake's snapshots, newest first.
pub async fn snapshots(
    State(shared): State<Arc<Shared>>,
    Params(query): Params<SnapshotsQuery>,
) -> Result<Json<SnapshotsPage>, ApiError> {
    let limit = params::limit(query.limit.as_deref())?;
    let before: Option<u64> = decode_cursor(query.cursor.as_deref())?;
    let status = shared.run.status.current();
    let (current, mut list) = blocking(&shared, |shared| list_snapshots(&shared.lake)).await?;
    list.retain(|s| before.is_none_or(|b| s.id < b));
    let more = list.len() > limit;
    list.truncate(limit);
    let next_cursor = more
        .then(|| list.last().map(|s| encode_cursor(&s.id)))
        .flatten();
    Ok(Json(SnapshotsPage {
        lake: shared.lake.configured(),
        current,
        snapshots: list,
        next_cursor,
        as_of: as_of(&status, current),
    }))
}

fn list_snapshots(lake: &Lake) -> Result<(Option<u64>, Vec<SnapshotEntry>), ApiError> {
    let Some(reader) = lake.reader()? else {
        return Ok((None, Vec::new()));
    };
    let mut list: Vec<SnapshotEntry> = reader
        .snapshots()?
        .into_iter()
        .map(|info| SnapshotEntry {
            id: info.id,
            frontier: info.frontier,
            created_at: info.created_at,
            watermark: time_text(info.watermark_ms),
            rows: info
                .tables
                .iter()
                .map(|(table, summary)| (table.clone(), summary.rows))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse(s.id));
    Ok((reader.current_id(), list))
}
