//! Typed readers for the API and the report, each one a [`Query`] read with
//! [`SnapshotReader::scan`]: an entity's windows, alert events, an alert window's mentions.

use super::{bad_query, corrupt, Query, ReadError, SnapshotReader, Table, TimeRange, ALERT_KINDS};
use crate::lake::tables::{self, AlertRecord, Columns, WindowRecord};
use arrow_array::RecordBatch;
use std::path::Path;

impl SnapshotReader {
    /// The `entity_windows` rows of an entity whose window starts in `range`, oldest first.
    pub fn windows(
        &self,
        entity_id: &str,
        range: TimeRange,
    ) -> Result<Vec<WindowRecord>, ReadError> {
        let query = Query::new().time(range).equals("entity_id", entity_id);
        let path = self.dir.join(Table::EntityWindows.name());
        let mut out = Vec::new();
        self.scan(Table::EntityWindows.name(), &query, |batch| {
            tables::windows_of(&batch, &path, &mut out)
                .map_err(|e| corrupt(&path, format!("{e:#}")))
        })?;
        out.sort_by_key(|w| w.window_start_ms);
        Ok(out)
    }

    /// Alert events of windows starting in the filter's range, newest window first (a window's
    /// events newest first too).
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>, ReadError> {
        let mut query = Query::new().time(filter.time);
        if let Some(entity_id) = &filter.entity_id {
            query = query.equals("entity_id", entity_id);
        }
        if let Some(kind) = &filter.kind {
            if !ALERT_KINDS.contains(&kind.as_str()) {
                let kinds = ALERT_KINDS.join(", ");
                return Err(bad_query(format!(
                    "no alert kind {kind:?}: the kinds are {kinds}"
                )));
            }
            query = query.equals("kind", kind);
        }
        if let Some(alert_id) = &filter.alert_id {
            query = query.equals("alert_id", alert_id);
        }
        let path = self.dir.join(Table::Alerts.name());
        let mut out = Vec::new();
        self.scan(Table::Alerts.name(), &query, |batch| {
            tables::alerts_of(&batch, &path, &mut out).map_err(|e| corrupt(&path, format!("{e:#}")))
        })?;
        let rank = |kind: &str| ALERT_KINDS.iter().position(|k| *k == kind);
        out.sort_by(|a, b| {
            (b.window_start_ms, b.as_of_ms, rank(&b.kind), &a.alert_id).cmp(&(
                a.window_start_ms,
                a.as_of_ms,
                rank(&a.kind),
                &b.alert_id,
            ))
        });
        Ok(out)
    }

    /// The mentions of an entity by comments created in `[window_start_ms, window_end_ms)`:
    /// an alert's evidence. Oldest first.
    pub fn mentions_in_window(
        &self,
        entity_id: &str,
        window_start_ms: i64,
        window_end_ms: i64,
    ) -> Result<Vec<MentionRecord>, ReadError> {
        let query = Query::new()
            .columns(MentionRecord::COLUMNS)
            .between(window_start_ms, window_end_ms)
            .equals("entity_id", entity_id);
        let path = self.dir.join(Table::Mentions.name());
        let mut out = Vec::new();
        self.scan(Table::Mentions.name(), &query, |batch| {
            MentionRecord::decode(&batch, &path, &mut out)
                .map_err(|e| corrupt(&path, format!("{e:#}")))
        })?;
        out.sort_by(|a, b| (a.created_at_ms, &a.comment_id).cmp(&(b.created_at_ms, &b.comment_id)));
        Ok(out)
    }
}

/// Which alert events [`SnapshotReader::alerts`] returns (all of them by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub entity_id: Option<String>,
    /// `fired`, `updated` or `retracted`.
    pub kind: Option<String>,
    /// One alert's lifecycle.
    pub alert_id: Option<String>,
    /// On `window_start`.
    pub time: TimeRange,
}

/// A `mentions` row (without the entity's attributes: the catalog has them).
#[derive(Debug, Clone, PartialEq)]
pub struct MentionRecord {
    pub comment_id: String,
    pub entity_id: String,
    pub entity_name: String,
    pub entity_kind: String,
    pub created_at_ms: i64,
    pub channel: Option<String>,
    pub author: Option<String>,
    pub sentiment: f64,
}

impl MentionRecord {
    const COLUMNS: [&str; 8] = [
        "comment_id",
        "entity_id",
        "entity_name",
        "entity_kind",
        "created_at",
        "channel",
        "author",
        "sentiment",
    ];

    fn decode(
        batch: &RecordBatch,
        path: &Path,
        out: &mut Vec<MentionRecord>,
    ) -> anyhow::Result<()> {
        let c = Columns::new(batch, path);
        let (comment, entity) = (
            c.strings("comment_id", true)?,
            c.strings("entity_id", true)?,
        );
        let (name, kind) = (
            c.strings("entity_name", true)?,
            c.strings("entity_kind", true)?,
        );
        let (channel, author) = (c.strings("channel", false)?, c.strings("author", false)?);
        let (created, sentiment) = (c.times("created_at")?, c.f64s("sentiment")?);
        for i in 0..batch.num_rows() {
            let own = |s: &tables::Strings<'_>| s.get(i).map(str::to_string);
            out.push(MentionRecord {
                comment_id: own(&comment).unwrap_or_default(),
                entity_id: own(&entity).unwrap_or_default(),
                entity_name: own(&name).unwrap_or_default(),
                entity_kind: own(&kind).unwrap_or_default(),
                created_at_ms: created.value(i).div_euclid(1000),
                channel: own(&channel),
                author: own(&author),
                sentiment: sentiment.value(i),
            });
        }
        Ok(())
    }
}
