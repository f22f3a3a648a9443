//! How the engine's live state becomes lake rows, and comments come back from them. The table
//! schemas, the other tables' rows and the read library are the `chatter-lake` crate's (no
//! timely there); what needs the engine's types is here.

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::builder::{ListBuilder, MapBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, SchemaRef};
use chatter_lake::tables::{
    self, dict, ms_to_us, opt_ms, strings, ts, AlertRecord, Columns, Strings, WindowRecord,
};
use dataflows::enrich::LiveComment;
use dataflows::model::{Comment, Entity, RestoredComment};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A batch of `schema` from named columns: the names must be the schema's, in its order.
fn columns(schema: SchemaRef, columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    for (field, (name, _)) in schema.fields().iter().zip(&columns) {
        if field.name() != name {
            bail!("column {name} where the schema has {}", field.name());
        }
    }
    tables::batch_of(
        schema,
        columns.into_iter().map(|(_, array)| array).collect(),
    )
}

/// An `entity_windows` row with its figures as the outputs show them.
pub fn window_record(
    label: &dataflows::model::EntityLabel,
    window_start_ms: i64,
    stat: &dataflows::model::WindowStat,
    params: &dataflows::Params,
) -> WindowRecord {
    let f = crate::sink::Figures::new(stat);
    WindowRecord {
        entity_id: label.id.clone(),
        entity_name: label.name.clone(),
        window_start_ms,
        window_end_ms: window_start_ms + params.window_ms,
        mentions: f.mentions as i64,
        authors: f.authors as i64,
        sentiment_mean: f.sentiment_mean,
        baseline_mean: f.baseline_mean,
        baseline_std: f.baseline_std,
        z: f.z,
        ratio: f.ratio,
        alert: params.rule.holds(stat),
    }
}

/// An `alerts` row for an alert event, emitted at `emitted_at_ms`.
pub fn alert_record(event: &dataflows::model::AlertEvent, emitted_at_ms: i64) -> AlertRecord {
    let f = crate::sink::Figures::new(&event.stat);
    AlertRecord {
        alert_id: event.alert_id(),
        kind: event.kind.as_str().to_string(),
        entity_id: event.label.id.clone(),
        entity_name: event.label.name.clone(),
        window_start_ms: event.window_start_ms,
        window_end_ms: event.window_end_ms,
        mentions: f.mentions as i64,
        authors: f.authors as i64,
        baseline_mean: f.baseline_mean,
        baseline_std: f.baseline_std,
        z: f.z,
        ratio: f.ratio,
        sentiment_mean: f.sentiment_mean,
        as_of_ms: event.as_of_ms,
        emitted_at_ms,
        provisional: event.provisional,
    }
}

/// `comments` rows for live comments (sorted by the caller). `entity_ids` maps dense keys.
pub fn comments_batch(rows: &[&LiveComment], entity_ids: &[String]) -> Result<RecordBatch> {
    let c = |f: fn(&Comment) -> Option<&str>| rows.iter().map(move |r| f(&r.comment));
    let mut ids = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for key in &row.facts.entities {
            ids.values()
                .append_value(entity_ids.get(*key as usize).map_or("", String::as_str));
        }
        ids.append(true);
    }
    let ids = ids.finish();
    let ids_field = Field::new("item", DataType::Utf8, true);
    let ids = ListArray::new(
        Arc::new(ids_field),
        ids.offsets().clone(),
        ids.values().clone(),
        None,
    );
    columns(
        tables::comments_schema(),
        vec![
            ("id", strings(c(|c| Some(c.id.as_str())))),
            ("source", dict(c(|c| c.source.as_deref()))),
            ("channel", dict(c(|c| c.channel.as_deref()))),
            ("thread_id", strings(c(|c| c.thread_id.as_deref()))),
            ("parent_id", strings(c(|c| c.parent_id.as_deref()))),
            ("author", strings(c(|c| c.author.as_deref()))),
            ("text", strings(c(|c| Some(c.text.as_str())))),
            (
                "created_at",
                ts(rows
                    .iter()
                    .map(|r| Some(ms_to_us(r.comment.created_at_ms)))
                    .collect()),
            ),
            (
                "edited_at",
                ts(rows
                    .iter()
                    .map(|r| r.comment.edited_at_ms.map(ms_to_us))
                    .collect()),
            ),
            (
                "score",
                Arc::new(rows.iter().map(|r| r.comment.score).collect::<Int64Array>()),
            ),
            (
                "sentiment",
                Arc::new(
                    rows.iter()
                        .map(|r| Some(f64::from(r.facts.sentiment_e4) / 10_000.0))
                        .collect::<Float64Array>(),
                ),
            ),
            (
                "language",
                dict(rows.iter().map(|r| r.facts.language.map(|l| l.code))),
            ),
            (
                "language_confidence",
                Arc::new(
                    rows.iter()
                        .map(|r| {
                            r.facts
                                .language
                                .map(|l| l.confidence)
                                .filter(|c| !c.is_nan())
                        })
                        .collect::<Float32Array>(),
                ),
            ),
            ("entity_ids", Arc::new(ids)),
        ],
    )
}

/// The catalog's entities by dense key (None: removed from the catalog), for
/// [`mentions_batch`]: built once per snapshot part, not a string-keyed lookup per mention or
/// per file (on a year of small days that lookup of every entity for each file was a fifth
/// of the run).
pub fn entities_by_key<'a>(
    entity_ids: &[String],
    catalog: &'a BTreeMap<String, Entity>,
) -> Vec<Option<&'a Entity>> {
    entity_ids.iter().map(|id| catalog.get(id)).collect()
}

/// `mentions` rows: one per (comment, matched entity still in the catalog); `by_key` from
/// [`entities_by_key`].
pub fn mentions_batch(rows: &[&LiveComment], by_key: &[Option<&Entity>]) -> Result<RecordBatch> {
    let mut pairs: Vec<(&LiveComment, &Entity)> = Vec::new();
    for row in rows {
        for key in &row.facts.entities {
            if let Some(Some(entity)) = by_key.get(*key as usize) {
                pairs.push((row, entity));
            }
        }
    }
    let mut attributes = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for (_, entity) in &pairs {
        for (key, value) in &entity.attributes {
            attributes.keys().append_value(key);
            attributes.values().append_value(value);
        }
        attributes.append(true).context("building attributes")?;
    }
    columns(
        tables::mentions_schema(),
        vec![
            (
                "comment_id",
                strings(pairs.iter().map(|(r, _)| Some(r.comment.id.as_str()))),
            ),
            (
                "entity_id",
                dict(pairs.iter().map(|(_, e)| Some(e.id.as_str()))),
            ),
            (
                "entity_name",
                dict(pairs.iter().map(|(_, e)| Some(e.name.as_str()))),
            ),
            (
                "entity_kind",
                dict(pairs.iter().map(|(_, e)| Some(e.kind.as_str()))),
            ),
            (
                "created_at",
                ts(pairs
                    .iter()
                    .map(|(r, _)| Some(ms_to_us(r.comment.created_at_ms)))
                    .collect()),
            ),
            (
                "channel",
                dict(pairs.iter().map(|(r, _)| r.comment.channel.as_deref())),
            ),
            (
                "author",
                strings(pairs.iter().map(|(r, _)| r.comment.author.as_deref())),
            ),
            (
                "sentiment",
                Arc::new(
                    pairs
                        .iter()
                        .map(|(r, _)| Some(f64::from(r.facts.sentiment_e4) / 10_000.0))
                        .collect::<Float64Array>(),
                ),
            ),
            ("attributes", Arc::new(attributes.finish())),
        ],
    )
}

/// Streams a `comments` file as restorable comments, a batch at a time.
pub fn for_each_comment(path: &Path, mut f: impl FnMut(RestoredComment)) -> Result<()> {
    for batch in tables::batch_reader(path)? {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let c = Columns::new(&batch, path);
        let id = c.strings("id", true)?;
        let source = c.strings("source", false)?;
        let channel = c.strings("channel", false)?;
        let thread_id = c.strings("thread_id", false)?;
        let parent_id = c.strings("parent_id", false)?;
        let author = c.strings("author", false)?;
        let text = c.strings("text", true)?;
        let created = c.times("created_at")?;
        let edited = c.times("edited_at")?;
        let score = c.i64s("score")?;
        let sentiment = c.f64s("sentiment")?;
        let language = c.strings("language", false)?;
        let confidence = c.f32s("language_confidence")?;
        let entity_ids = c.lists("entity_ids")?;
        for i in 0..batch.num_rows() {
            let own = |s: &Strings<'_>| s.get(i).map(str::to_string);
            let ids = entity_ids.value(i);
            let ids = ids.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                anyhow!("{}: entity_ids is not a list of strings", path.display())
            })?;
            let Some(created_at_ms) = opt_ms(created, i) else {
                bail!("{}: row {i} has no created_at", path.display());
            };
            f(RestoredComment {
                comment: Comment {
                    id: own(&id).unwrap_or_default(),
                    source: own(&source),
                    channel: own(&channel),
                    thread_id: own(&thread_id),
                    parent_id: own(&parent_id),
                    author: own(&author),
                    text: own(&text).unwrap_or_default(),
                    created_at_ms,
                    edited_at_ms: opt_ms(edited, i),
                    score: (!score.is_null(i)).then(|| score.value(i)),
                },
                entity_ids: ids.iter().flatten().map(str::to_string).collect(),
                sentiment_e4: (sentiment.value(i) * 10_000.0).round() as i32,
                language: language.get(i).map(|code| {
                    let conf = confidence
                        .filter(|c| !c.is_null(i))
                        // Unknown (a file of an older version): written back as null.
                        .map_or(f32::NAN, |c| c.value(i));
                    (code.to_string(), conf.to_bits())
                }),
                evicted: false,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's batches are built against the lake crate's schemas: a column added,
    /// renamed, retyped or reordered on one side only fails here, before any snapshot.
    #[test]
    fn live_batches_have_the_lake_schemas() {
        let comments = comments_batch(&[], &[]).unwrap();
        assert_eq!(comments.schema(), tables::comments_schema());
        let mentions = mentions_batch(&[], &entities_by_key(&[], &BTreeMap::new())).unwrap();
        assert_eq!(mentions.schema(), tables::mentions_schema());
    }
}
