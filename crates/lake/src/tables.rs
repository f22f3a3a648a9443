//! The five lake tables (SPEC §3.3): their Arrow schemas, how rows become Parquet files, and how
//! a restore reads them back.
//!
//! Types: timestamps are `TIMESTAMP(MICROS, UTC)`; repetitive strings (source, channel, kind,
//! language, reason…) are Arrow dictionaries, so pandas shows them as categoricals; every
//! other string column is Parquet-dictionary-encoded too except the high-cardinality ones
//! (ids, text, raw bytes); `entity_ids` is `LIST<STRING>`; entity attributes are a
//! `MAP<STRING, STRING>`. Files are zstd-compressed with row groups of at most
//! [`ROW_GROUP_ROWS`] rows; a file of fewer than [`SMALL_FILE_ROWS`] rows is snappy-compressed
//! instead (a zstd codec costs more to set up, per column, than such a file's data: on a year
//! of sparse days that setup was an eighth of the run). The schemas are written down in `schemas/lake/v1.json` and a test
//! keeps that file and this code in step.
//!
//! One file over 800 lines: each table's schema, its writer and its reader stay side by side so
//! that a column change is made in one place (and the schema tests next to them check all
//! three).

use anyhow::{anyhow, Context, Result};
use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float32Array, Float64Array,
    Int64Array, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

/// The version of the table schemas below (and of `schemas/lake/v1.json`).
pub const SCHEMA_VERSION: u32 = 1;
/// Row-group size: small enough for readers to stream, large enough to compress well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Files of fewer rows are snappy-compressed, not zstd (see the module docs).
pub const SMALL_FILE_ROWS: usize = 4096;
/// The tables, in the order the manifest lists them.
pub const TABLES: [&str; 5] = [
    "comments",
    "mentions",
    "entity_windows",
    "alerts",
    "dead_letters",
];

/// One file of a snapshot, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the snapshot directory, `/`-separated.
    pub path: String,
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// A `entity_windows` row with its figures as the outputs show them.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRecord {
    pub entity_id: String,
    pub entity_name: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub mentions: i64,
    pub authors: i64,
    pub sentiment_mean: f64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub z: f64,
    pub ratio: f64,
    pub alert: bool,
}

/// An `alerts` row: one alert event of SPEC §3.1.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub alert_id: String,
    pub kind: String,
    pub entity_id: String,
    pub entity_name: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub mentions: i64,
    pub authors: i64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub z: f64,
    pub ratio: f64,
    pub sentiment_mean: f64,
    pub as_of_ms: i64,
    pub emitted_at_ms: i64,
    pub provisional: bool,
}

/// A `dead_letters` row.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRecord {
    pub received_at_ms: i64,
    pub source: String,
    pub reason: &'static str,
    pub error: String,
    pub raw: Vec<u8>,
}

/// A UTC microsecond timestamp column from milliseconds.
pub fn ts(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Milliseconds to the tables' microseconds (saturating).
pub fn ms_to_us(ms: i64) -> i64 {
    ms.saturating_mul(1000)
}

/// A dictionary-encoded string column (pandas shows it as a categorical).
pub fn dict<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<DictionaryArray<Int32Type>>())
}

/// A plain string column.
pub fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn batch(columns: Vec<(&str, ArrayRef, bool)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array, nullable)| Field::new(*name, array.data_type().clone(), *nullable))
        .collect();
    let arrays = columns.into_iter().map(|(_, array, _)| array).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).context("building a record batch")
}

/// Columns never worth a Parquet dictionary (nearly unique values).
const NO_DICTIONARY: [&str; 9] = [
    "id",
    "text",
    "comment_id",
    "alert_id",
    "raw",
    "error",
    "thread_id",
    "parent_id",
    "author",
];

fn f64s(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<Float64Array>())
}

fn i64s(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<Int64Array>())
}

/// `entity_windows` rows.
pub fn windows_batch(rows: &[WindowRecord]) -> Result<RecordBatch> {
    batch(vec![
        (
            "entity_id",
            dict(rows.iter().map(|r| Some(r.entity_id.as_str()))),
            false,
        ),
        (
            "entity_name",
            dict(rows.iter().map(|r| Some(r.entity_name.as_str()))),
            false,
        ),
        (
            "window_start",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.window_start_ms)))
                .collect()),
            false,
        ),
        (
            "window_end",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.window_end_ms)))
                .collect()),
            false,
        ),
        ("mentions", i64s(rows.iter().map(|r| r.mentions)), false),
        ("authors", i64s(rows.iter().map(|r| r.authors)), false),
        (
            "sentiment_mean",
            f64s(rows.iter().map(|r| r.sentiment_mean)),
            false,
        ),
        (
            "baseline_mean",
            f64s(rows.iter().map(|r| r.baseline_mean)),
            false,
        ),
        (
            "baseline_std",
            f64s(rows.iter().map(|r| r.baseline_std)),
            false,
        ),
        ("z", f64s(rows.iter().map(|r| r.z)), false),
        ("ratio", f64s(rows.iter().map(|r| r.ratio)), false),
        (
            "alert",
            Arc::new(rows.iter().map(|r| Some(r.alert)).collect::<BooleanArray>()),
            false,
        ),
    ])
}

/// `alerts` rows.
pub fn alerts_batch(rows: &[AlertRecord]) -> Result<RecordBatch> {
    batch(vec![
        (
            "alert_id",
            strings(rows.iter().map(|r| Some(r.alert_id.as_str()))),
            false,
        ),
        (
            "kind",
            dict(rows.iter().map(|r| Some(r.kind.as_str()))),
            false,
        ),
        ("rule", dict(rows.iter().map(|_| Some("velocity"))), false),
        (
            "entity_id",
            dict(rows.iter().map(|r| Some(r.entity_id.as_str()))),
            false,
        ),
        (
            "entity_name",
            dict(rows.iter().map(|r| Some(r.entity_name.as_str()))),
            false,
        ),
        (
            "window_start",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.window_start_ms)))
                .collect()),
            false,
        ),
        (
            "window_end",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.window_end_ms)))
                .collect()),
            false,
        ),
        ("mentions", i64s(rows.iter().map(|r| r.mentions)), false),
        ("authors", i64s(rows.iter().map(|r| r.authors)), false),
        (
            "baseline_mean",
            f64s(rows.iter().map(|r| r.baseline_mean)),
            false,
        ),
        (
            "baseline_std",
            f64s(rows.iter().map(|r| r.baseline_std)),
            false,
        ),
        ("z", f64s(rows.iter().map(|r| r.z)), false),
        ("ratio", f64s(rows.iter().map(|r| r.ratio)), false),
        (
            "sentiment_mean",
            f64s(rows.iter().map(|r| r.sentiment_mean)),
            false,
        ),
        (
            "as_of",
            ts(rows.iter().map(|r| Some(ms_to_us(r.as_of_ms))).collect()),
            false,
        ),
        (
            "emitted_at",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.emitted_at_ms)))
                .collect()),
            false,
        ),
        (
            "provisional",
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.provisional))
                    .collect::<BooleanArray>(),
            ),
            false,
        ),
    ])
}

/// `dead_letters` rows.
pub fn dead_letters_batch(rows: &[DeadLetterRecord]) -> Result<RecordBatch> {
    batch(vec![
        (
            "received_at",
            ts(rows
                .iter()
                .map(|r| Some(ms_to_us(r.received_at_ms)))
                .collect()),
            false,
        ),
        (
            "source",
            strings(rows.iter().map(|r| Some(r.source.as_str()))),
            false,
        ),
        ("reason", dict(rows.iter().map(|r| Some(r.reason))), false),
        (
            "error",
            strings(rows.iter().map(|r| Some(r.error.as_str()))),
            false,
        ),
        (
            "raw",
            Arc::new(BinaryArray::from_iter_values(
                rows.iter().map(|r| r.raw.as_slice()),
            )),
            false,
        ),
    ])
}

/// The Arrow type of the dictionary-encoded string columns ([`dict`]).
fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The `comments` schema. The engine builds its batches against it (in chatter's
/// `lake::live`), so the columns are named and typed here once.
pub fn comments_schema() -> Arc<Schema> {
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", dictionary_type(), true),
        Field::new("channel", dictionary_type(), true),
        Field::new("thread_id", DataType::Utf8, true),
        Field::new("parent_id", DataType::Utf8, true),
        Field::new("author", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("created_at", timestamp.clone(), false),
        Field::new("edited_at", timestamp, true),
        Field::new("score", DataType::Int64, true),
        Field::new("sentiment", DataType::Float64, false),
        Field::new("language", dictionary_type(), true),
        Field::new("language_confidence", DataType::Float32, true),
        Field::new("entity_ids", list, false),
    ]))
}

/// The `mentions` schema (see [`comments_schema`]).
pub fn mentions_schema() -> Arc<Schema> {
    let attributes = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
        .finish()
        .data_type()
        .clone();
    Arc::new(Schema::new(vec![
        Field::new("comment_id", DataType::Utf8, false),
        Field::new("entity_id", dictionary_type(), false),
        Field::new("entity_name", dictionary_type(), false),
        Field::new("entity_kind", dictionary_type(), false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("channel", dictionary_type(), true),
        Field::new("author", DataType::Utf8, true),
        Field::new("sentiment", DataType::Float64, false),
        Field::new("attributes", attributes, false),
    ]))
}

/// A batch of `schema` from its columns, in order (checked: names, types, nullability).
pub fn batch_of(schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).context("building a record batch")
}

/// The schema of each table (from an empty batch), for the schema check and readers.
pub fn schemas() -> Result<Vec<(&'static str, Arc<Schema>)>> {
    Ok(vec![
        ("comments", comments_schema()),
        ("mentions", mentions_schema()),
        ("entity_windows", windows_batch(&[])?.schema()),
        ("alerts", alerts_batch(&[])?.schema()),
        ("dead_letters", dead_letters_batch(&[])?.schema()),
    ])
}

/// The schema of one table (None for a name that is not a table).
pub fn schema_of(table: &str) -> Result<Option<Arc<Schema>>> {
    Ok(schemas()?
        .into_iter()
        .find(|(t, _)| *t == table)
        .map(|(_, s)| s))
}

/// A writer that hashes and counts what passes through it.
struct Hashing {
    out: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Hex SHA-256 of a digest.
/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `batch` as a Parquet file at `dir/rel` (fsynced) and describes it.
pub fn write_parquet(dir: &Path, rel: &str, table: &str, batch: &RecordBatch) -> Result<FileEntry> {
    write_parquet_chunks(
        dir,
        rel,
        table,
        batch.schema(),
        std::iter::once(Ok(batch.clone())),
    )
}

/// Writes batches (of one schema) as one Parquet file at `dir/rel`, fsynced. Building a large
/// table a chunk at a time keeps the Arrow copy of it small.
pub fn write_parquet_chunks(
    dir: &Path,
    rel: &str,
    table: &str,
    schema: Arc<Schema>,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<FileEntry> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    // One batch of few rows (a small day) is a small file: see SMALL_FILE_ROWS.
    let mut batches = batches.peekable();
    let first = batches.next().transpose()?;
    let small = first
        .as_ref()
        .is_none_or(|b| b.num_rows() < SMALL_FILE_ROWS)
        && batches.peek().is_none();
    let compression = if small {
        Compression::SNAPPY
    } else {
        Compression::ZSTD(ZstdLevel::try_new(1)?)
    };
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("chatter {}", env!("CARGO_PKG_VERSION")));
    for column in NO_DICTIONARY {
        props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    let sink = Hashing {
        out: BufWriter::with_capacity(if small { 64 << 10 } else { 1 << 20 }, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut writer = ArrowWriter::try_new(sink, schema, Some(props.build()))
        .context("cannot start a Parquet writer")?;
    let mut rows = 0u64;
    for batch in first.into_iter().map(Ok).chain(batches) {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer
            .write(&batch)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let sink = writer
        .into_inner()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    let Hashing {
        out, hasher, bytes, ..
    } = sink;
    let file = out
        .into_inner()
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(FileEntry {
        path: rel.to_string(),
        table: table.to_string(),
        rows,
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

/// SHA-256 and size of a file on disk.
pub fn checksum(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((hex(&hasher.finalize()), bytes))
}

/// A reader of a Parquet file's batches (of 16k rows), with errors naming the file.
pub fn batch_reader(path: &Path) -> Result<ParquetRecordBatchReader> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?
        .with_batch_size(16 * 1024)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))
}

/// Reads every batch of a Parquet file.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    batch_reader(path)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", path.display()))
}

/// If the Parquet file `source` (an entry of an older snapshot) lacks columns of this
/// version's schema of its table, writes it with them (nulls; columns this version does not
/// know are dropped) as `dir/entry.path` and returns the new entry; None when it already has
/// this version's columns.
pub fn migrate_file(source: &Path, dir: &Path, entry: &FileEntry) -> Result<Option<FileEntry>> {
    let Some(schema) = schema_of(&entry.table)? else {
        return Ok(None);
    };
    let file = File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", source.display()))?;
    let names =
        |s: &Schema| -> Vec<String> { s.fields().iter().map(|f| f.name().clone()).collect() };
    if names(builder.schema()) == names(&schema) {
        return Ok(None);
    }
    let mut out: Vec<RecordBatch> = Vec::new();
    for batch in builder
        .build()
        .with_context(|| format!("cannot read {}", source.display()))?
    {
        let batch = batch.with_context(|| format!("cannot read {}", source.display()))?;
        let columns = schema
            .fields()
            .iter()
            .map(|field| match batch.column_by_name(field.name()) {
                Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
                Some(column) => arrow_cast::cast(column, field.data_type()).with_context(|| {
                    format!(
                        "{}: column {} cannot be migrated",
                        source.display(),
                        field.name()
                    )
                }),
                None => Ok(arrow_array::new_null_array(
                    field.data_type(),
                    batch.num_rows(),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        // Only nullable columns are ever added (a new required column is a new major
        // version), so the batch has this version's exact schema.
        out.push(
            RecordBatch::try_new(schema.clone(), columns).with_context(|| {
                format!(
                    "{}: cannot be migrated to schema v{SCHEMA_VERSION}",
                    source.display()
                )
            })?,
        );
    }
    let batch = arrow_select::concat::concat_batches(&schema, &out)?;
    let entry = write_parquet(dir, &entry.path, &entry.table, &batch)?;
    Ok(Some(entry))
}

/// Typed access to one column of a batch by name; a missing optional column reads as nulls
/// (so files of an older schema version still restore).
pub struct Columns<'a> {
    batch: &'a RecordBatch,
    path: &'a Path,
}

/// A string column, plain or dictionary-encoded.
pub enum Strings<'a> {
    Plain(&'a StringArray),
    Dict(&'a DictionaryArray<Int32Type>, &'a StringArray),
    Missing,
}

impl Strings<'_> {
    pub fn get(&self, i: usize) -> Option<&str> {
        match self {
            Strings::Plain(a) => (!a.is_null(i)).then(|| a.value(i)),
            Strings::Dict(keys, values) => {
                if keys.is_null(i) {
                    None
                } else {
                    Some(values.value(keys.keys().value(i) as usize))
                }
            }
            Strings::Missing => None,
        }
    }
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch, path: &'a Path) -> Columns<'a> {
        Columns { batch, path }
    }

    fn column(&self, name: &str) -> Option<&'a ArrayRef> {
        self.batch.column_by_name(name)
    }

    fn required(&self, name: &str) -> Result<&'a ArrayRef> {
        self.column(name).ok_or_else(|| {
            anyhow!(
                "{} has no column {name:?}: it is not a chatter lake file of a known schema",
                self.path.display()
            )
        })
    }

    fn downcast<T: 'static>(&self, name: &str, array: &'a ArrayRef) -> Result<&'a T> {
        array.as_any().downcast_ref::<T>().ok_or_else(|| {
            anyhow!(
                "{}: column {name:?} has type {}, not the type chatter writes",
                self.path.display(),
                array.data_type()
            )
        })
    }

    pub fn strings(&self, name: &str, required: bool) -> Result<Strings<'a>> {
        let Some(array) = self.column(name) else {
            if required {
                self.required(name)?;
            }
            return Ok(Strings::Missing);
        };
        if let DataType::Dictionary(_, _) = array.data_type() {
            let dict: &DictionaryArray<Int32Type> = self.downcast(name, array)?;
            let values = dict
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    anyhow!("{}: column {name:?} is not strings", self.path.display())
                })?;
            Ok(Strings::Dict(dict, values))
        } else {
            Ok(Strings::Plain(self.downcast(name, array)?))
        }
    }

    pub fn i64s(&self, name: &str) -> Result<&'a Int64Array> {
        self.downcast(name, self.required(name)?)
    }

    pub fn f64s(&self, name: &str) -> Result<&'a Float64Array> {
        self.downcast(name, self.required(name)?)
    }

    pub fn f32s(&self, name: &str) -> Result<Option<&'a Float32Array>> {
        self.column(name)
            .map(|array| self.downcast(name, array))
            .transpose()
    }

    pub fn bools(&self, name: &str) -> Result<&'a BooleanArray> {
        self.downcast(name, self.required(name)?)
    }

    /// A timestamp column in milliseconds.
    pub fn times(&self, name: &str) -> Result<&'a TimestampMicrosecondArray> {
        self.downcast(name, self.required(name)?)
    }

    pub fn lists(&self, name: &str) -> Result<&'a ListArray> {
        self.downcast(name, self.required(name)?)
    }
}

/// A timestamp cell back to milliseconds (None when null).
pub fn opt_ms(array: &TimestampMicrosecondArray, i: usize) -> Option<i64> {
    (!array.is_null(i)).then(|| array.value(i).div_euclid(1000))
}

/// Reads an `entity_windows` file back.
pub fn read_windows(path: &Path) -> Result<Vec<WindowRecord>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        windows_of(&batch, path, &mut out)?;
    }
    Ok(out)
}

/// Decodes the `entity_windows` rows of one batch (read from `path`) into `out`.
pub fn windows_of(batch: &RecordBatch, path: &Path, out: &mut Vec<WindowRecord>) -> Result<()> {
    let c = Columns::new(batch, path);
    let (id, name) = (
        c.strings("entity_id", true)?,
        c.strings("entity_name", true)?,
    );
    let (start, end) = (c.times("window_start")?, c.times("window_end")?);
    let (mentions, authors) = (c.i64s("mentions")?, c.i64s("authors")?);
    let sm = c.f64s("sentiment_mean")?;
    let (bm, bs) = (c.f64s("baseline_mean")?, c.f64s("baseline_std")?);
    let (z, ratio, alert) = (c.f64s("z")?, c.f64s("ratio")?, c.bools("alert")?);
    for i in 0..batch.num_rows() {
        out.push(WindowRecord {
            entity_id: id.get(i).unwrap_or_default().to_string(),
            entity_name: name.get(i).unwrap_or_default().to_string(),
            window_start_ms: start.value(i).div_euclid(1000),
            window_end_ms: end.value(i).div_euclid(1000),
            mentions: mentions.value(i),
            authors: authors.value(i),
            sentiment_mean: sm.value(i),
            baseline_mean: bm.value(i),
            baseline_std: bs.value(i),
            z: z.value(i),
            ratio: ratio.value(i),
            alert: alert.value(i),
        });
    }
    Ok(())
}

/// Reads an `alerts` file back.
pub fn read_alerts(path: &Path) -> Result<Vec<AlertRecord>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        alerts_of(&batch, path, &mut out)?;
    }
    Ok(out)
}

/// Decodes the `alerts` rows of one batch (read from `path`) into `out`.
pub fn alerts_of(batch: &RecordBatch, path: &Path, out: &mut Vec<AlertRecord>) -> Result<()> {
    let c = Columns::new(batch, path);
    let (alert_id, kind) = (c.strings("alert_id", true)?, c.strings("kind", true)?);
    let (id, name) = (
        c.strings("entity_id", true)?,
        c.strings("entity_name", true)?,
    );
    let (start, end) = (c.times("window_start")?, c.times("window_end")?);
    let (mentions, authors) = (c.i64s("mentions")?, c.i64s("authors")?);
    let (bm, bs) = (c.f64s("baseline_mean")?, c.f64s("baseline_std")?);
    let (z, ratio, sm) = (c.f64s("z")?, c.f64s("ratio")?, c.f64s("sentiment_mean")?);
    let (as_of, emitted) = (c.times("as_of")?, c.times("emitted_at")?);
    let provisional = c.bools("provisional")?;
    for i in 0..batch.num_rows() {
        let s = |col: &Strings<'_>| col.get(i).unwrap_or_default().to_string();
        out.push(AlertRecord {
            alert_id: s(&alert_id),
            kind: s(&kind),
            entity_id: s(&id),
            entity_name: s(&name),
            window_start_ms: start.value(i).div_euclid(1000),
            window_end_ms: end.value(i).div_euclid(1000),
            mentions: mentions.value(i),
            authors: authors.value(i),
            baseline_mean: bm.value(i),
            baseline_std: bs.value(i),
            z: z.value(i),
            ratio: ratio.value(i),
            sentiment_mean: sm.value(i),
            as_of_ms: as_of.value(i).div_euclid(1000),
            emitted_at_ms: emitted.value(i).div_euclid(1000),
            provisional: provisional.value(i),
        });
    }
    Ok(())
}

/// The schemas as the JSON document `schemas/lake/v1.json` holds.
pub fn schemas_json() -> Result<serde_json::Value> {
    let mut tables = serde_json::Map::new();
    for (name, schema) in schemas()? {
        let columns: Vec<serde_json::Value> = schema
            .fields()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "type": type_name(f.data_type()),
                    "nullable": f.is_nullable(),
                })
            })
            .collect();
        tables.insert(name.to_string(), serde_json::Value::Array(columns));
    }
    Ok(serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "note": "Column contract of the chatter lake (SPEC §3.3). Generated from crates/lake/src/tables.rs (CHATTER_BLESS=1 cargo test --release -p chatter-lake schemas_match); that test keeps the two equal. Adding a nullable column is compatible; anything else needs a new version.",
        "tables": tables,
    }))
}

fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "string".into(),
        DataType::Dictionary(_, value) => format!("dictionary<{}>", type_name(value)),
        DataType::Timestamp(unit, tz) => format!(
            "timestamp[{}, {}]",
            match unit {
                arrow_schema::TimeUnit::Microsecond => "us",
                _ => "other",
            },
            tz.as_deref().unwrap_or("naive")
        ),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Boolean => "bool".into(),
        DataType::Binary => "binary".into(),
        DataType::List(item) => format!("list<{}>", type_name(item.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "map<{}, {}>",
                type_name(fields[0].data_type()),
                type_name(fields[1].data_type())
            ),
            other => format!("map<{other}>"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `schemas/lake/v1.json` is the written-down contract; regenerate it with
    /// `CHATTER_BLESS=1 cargo test --release -p chatter-lake schemas_match` after a deliberate change (and
    /// bump the version unless the change only adds a nullable column).
    #[test]
    fn schemas_match_the_written_contract() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/lake/v1.json");
        let generated = schemas_json().unwrap();
        if std::env::var_os("CHATTER_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
        }
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            written, generated,
            "schemas/lake/v1.json and crates/lake/src/tables.rs disagree"
        );
        let comments = &generated["tables"]["comments"];
        let column = |name: &str| {
            comments
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(column("created_at")["type"], "timestamp[us, UTC]");
        assert_eq!(column("entity_ids")["type"], "list<string>");
        assert_eq!(column("channel")["type"], "dictionary<string>");
    }

    #[test]
    fn day_names_round_trip() {
        let day = 1_611_792_000_000; // 2021-01-28
        assert_eq!(crate::day_name(day), "2021-01-28");
        assert_eq!(crate::parse_day("2021-01-28"), Some(day));
        assert_eq!(
            crate::day_of_path("comments/date=2021-01-28/part-0.parquet"),
            Some(day)
        );
    }

    #[test]
    fn written_files_read_back_with_their_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![WindowRecord {
            entity_id: "GME".into(),
            entity_name: "GameStop".into(),
            window_start_ms: 1_611_842_400_000,
            window_end_ms: 1_611_842_700_000,
            mentions: 412,
            authors: 380,
            sentiment_mean: 0.41,
            baseline_mean: 35.2,
            baseline_std: 8.1,
            z: 46.5,
            ratio: 11.4,
            alert: true,
        }];
        let entry = write_parquet(
            dir.path(),
            "entity_windows/date=2021-01-28/part-0.parquet",
            "entity_windows",
            &windows_batch(&rows).unwrap(),
        )
        .unwrap();
        assert_eq!(entry.rows, 1);
        let path = dir.path().join(&entry.path);
        assert_eq!(
            checksum(&path).unwrap(),
            (entry.sha256.clone(), entry.bytes)
        );
        assert_eq!(read_windows(&path).unwrap(), rows);
    }

    /// A file of fewer than SMALL_FILE_ROWS rows is snappy, a bigger one (or one of several
    /// batches) zstd; both read back whole.
    #[test]
    fn small_files_are_snappy_and_big_ones_zstd() {
        let dir = tempfile::tempdir().unwrap();
        let row = |i: usize| WindowRecord {
            entity_id: format!("E{i}"),
            entity_name: "x".into(),
            window_start_ms: 1_611_842_400_000 + i as i64 * 300_000,
            window_end_ms: 1_611_842_700_000 + i as i64 * 300_000,
            mentions: i as i64,
            authors: 1,
            sentiment_mean: 0.0,
            baseline_mean: 0.0,
            baseline_std: 0.0,
            z: 0.0,
            ratio: 0.0,
            alert: false,
        };
        let codec = |path: &Path| {
            let reader =
                parquet::file::reader::SerializedFileReader::new(File::open(path).unwrap())
                    .unwrap();
            use parquet::file::reader::FileReader;
            reader.metadata().row_group(0).column(0).compression()
        };
        for (n, batches, zstd) in [(10, 1, false), (SMALL_FILE_ROWS, 1, true), (20, 2, true)] {
            let rows: Vec<WindowRecord> = (0..n).map(row).collect();
            let chunks: Vec<_> = rows
                .chunks(n.div_ceil(batches))
                .map(|c| c.to_vec())
                .collect();
            let rel = format!("entity_windows/date=2021-01-28/part-{n}-{batches}.parquet");
            let entry = write_parquet_chunks(
                dir.path(),
                &rel,
                "entity_windows",
                windows_batch(&[]).unwrap().schema(),
                chunks.iter().map(|c| windows_batch(c)),
            )
            .unwrap();
            let path = dir.path().join(&entry.path);
            assert_eq!(
                matches!(codec(&path), Compression::ZSTD(_)),
                zstd,
                "{n} rows"
            );
            assert_eq!(read_windows(&path).unwrap(), rows);
        }
    }
}
