//! Typed readers for the API and the report, each one a [`Query`] read with
//! [`SnapshotReader::scan`]: an entity's windows, alert events, an alert window's mentions.

use super::{bad_query, corrupt, Query, ReadError, SnapshotReader, Table, TimeRange, ALERT_KINDS};
use crate::tables::{self, AlertRecord, Columns, WindowRecord};
use arrow_array::{Array, RecordBatch};
use std::path::Path;

impl SnapshotReader {
    /// The rows of `table` matching `query`, each batch decoded by `decode`.
    fn collect<T>(
        &self,
        table: Table,
        query: &Query,
        mut decode: impl FnMut(&RecordBatch, &Path, &mut Vec<T>) -> anyhow::Result<()>,
    ) -> Result<Vec<T>, ReadError> {
        let path = self.dir.join(table.name());
        let mut out = Vec::new();
        self.scan(table.name(), query, |batch| {
            decode(&batch, &path, &mut out).map_err(|e| corrupt(&path, format!("{e:#}")))
        })?;
        Ok(out)
    }

    /// The `entity_windows` rows of an entity whose window starts in `range`, oldest first.
    pub fn windows(
        &self,
        entity_id: &str,
        range: TimeRange,
    ) -> Result<Vec<WindowRecord>, ReadError> {
        let query = Query::new().time(range).equals("entity_id", entity_id);
        let mut out = self.collect(Table::EntityWindows, &query, tables::windows_of)?;
        out.sort_by_key(|w| w.window_start_ms);
        Ok(out)
    }

    /// The `entity_windows` rows of every entity whose window starts in `range`.
    pub fn all_windows(&self, range: TimeRange) -> Result<Vec<WindowRecord>, ReadError> {
        let query = Query::new().time(range);
        let out = self.collect(Table::EntityWindows, &query, tables::windows_of)?;
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
        let mut out = self.collect(Table::Alerts, &query, tables::alerts_of)?;
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
        let mut out = self.collect(Table::Mentions, &query, MentionRecord::decode)?;
        out.sort_by(|a, b| (a.created_at_ms, &a.comment_id).cmp(&(b.created_at_ms, &b.comment_id)));
        Ok(out)
    }
}

impl SnapshotReader {
    /// The comments created in `[from_ms, to_ms)` whose mentions include `entity_id`, with
    /// their text and every entity they mention: an alert's evidence. Oldest first.
    pub fn comments_mentioning(
        &self,
        entity_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<CommentRecord>, ReadError> {
        let query = Query::new()
            .columns(CommentRecord::COLUMNS)
            .between(from_ms, to_ms);
        let mut out = self.collect(Table::Comments, &query, |batch, path, out| {
            CommentRecord::decode(batch, path, entity_id, out)
        })?;
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }
}

/// A `comments` row, as evidence shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentRecord {
    pub id: String,
    pub author: Option<String>,
    pub channel: Option<String>,
    pub created_at_ms: i64,
    pub score: Option<i64>,
    pub sentiment: f64,
    pub text: String,
    pub entity_ids: Vec<String>,
}

impl CommentRecord {
    const COLUMNS: [&str; 8] = [
        "id",
        "author",
        "channel",
        "created_at",
        "score",
        "sentiment",
        "text",
        "entity_ids",
    ];

    fn decode(
        batch: &RecordBatch,
        path: &Path,
        entity_id: &str,
        out: &mut Vec<CommentRecord>,
    ) -> anyhow::Result<()> {
        let c = Columns::new(batch, path);
        let (id, text) = (c.strings("id", true)?, c.strings("text", true)?);
        let (channel, author) = (c.strings("channel", false)?, c.strings("author", false)?);
        let (created, score) = (c.times("created_at")?, c.i64s("score")?);
        let (sentiment, lists) = (c.f64s("sentiment")?, c.lists("entity_ids")?);
        for i in 0..batch.num_rows() {
            let ids = lists.value(i);
            let ids = ids
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .ok_or_else(|| anyhow::anyhow!("entity_ids is not a list of strings"))?;
            if !ids.iter().flatten().any(|id| id == entity_id) {
                continue;
            }
            let own = |s: &tables::Strings<'_>| s.get(i).map(str::to_string);
            out.push(CommentRecord {
                id: own(&id).unwrap_or_default(),
                author: own(&author),
                channel: own(&channel),
                created_at_ms: created.value(i).div_euclid(1000),
                score: (!score.is_null(i)).then(|| score.value(i)),
                sentiment: sentiment.value(i),
                text: own(&text).unwrap_or_default(),
                entity_ids: ids.iter().flatten().map(str::to_string).collect(),
            });
        }
        Ok(())
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
