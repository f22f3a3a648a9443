//! The lake's read side: a read-only library over a lake directory, for the HTTP API and the
//! weekly report (SPEC §3.5, §3.6).
//!
//! [`LakeReader::open`] a lake, pick a snapshot ([`LakeReader::current`] or
//! [`LakeReader::snapshot`]), then [`SnapshotReader::read`] a table with a [`Query`]: a column
//! projection, a range of `date=` partitions and a `[from, to)` range on the table's time
//! column ([`Table::time_column`]). Every table is partitioned by the UTC day of its time
//! column, so a time range opens only the files of its days; within a file, row groups whose
//! statistics lie outside the range are skipped. [`ReadStats`] says which files were opened.
//!
//! It depends only on the lake's format (the manifest types and table schemas), never on the
//! engine: no timely, differential, Kafka or writer code (a test checks its `use` lines). It
//! takes no lock and writes nothing, so it reads a lake while `chatter run` writes it: a
//! published snapshot never changes, and the only thing the writer does to one is remove it once
//! it is older than the newest N — a read of a snapshot removed meanwhile fails with
//! [`ReadError::SnapshotRemoved`], and the caller picks `current()` again.

mod query;
mod records;

pub use query::{partition_days, DayRange, Query, Table, TimeRange};
pub use records::{AlertFilter, CommentRecord, MentionRecord};

use super::tables::{self, FileEntry};
use super::{day_of_path, snapshot_name, Manifest, TableSummary};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use query::Plan;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Rows per Arrow batch handed to the caller.
const BATCH_ROWS: usize = 16 * 1024;
/// The alert kinds of SPEC §3.1, oldest in a lifecycle first.
pub const ALERT_KINDS: [&str; 3] = ["fired", "updated", "retracted"];

/// Why a read failed. [`ReadError::kind`] sorts the variants by who is at fault, for an HTTP
/// status. Messages of the client's errors (bad query, not found) name no server path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} does not exist: give the directory that `chatter run --lake` writes", path.display())]
    LakeMissing { path: PathBuf },
    #[error("{} is not a chatter lake (no LAKE marker): give the directory that `chatter run --lake` writes", path.display())]
    NotALake { path: PathBuf },
    #[error("{} has no snapshot yet: chatter publishes one every snapshot interval and at the end of its input", path.display())]
    NoSnapshot { path: PathBuf },
    #[error("no snapshot {id}: the lake has {}", ids_text(available))]
    SnapshotNotFound { id: u64, available: Vec<u64> },
    #[error("snapshot {id} was removed while it was read (the lake keeps only the newest ones): read the current snapshot again")]
    SnapshotRemoved { id: u64 },
    #[error("no table {table:?}: the tables are {}", tables.join(", "))]
    UnknownTable {
        table: String,
        tables: Vec<&'static str>,
    },
    #[error("table {table} has no column {column:?}: its columns are {}", columns.join(", "))]
    UnknownColumn {
        table: &'static str,
        column: String,
        columns: Vec<String>,
    },
    #[error("{message}")]
    BadQuery { message: String },
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn ids_text(ids: &[u64]) -> String {
    if ids.is_empty() {
        return "none".to_string();
    }
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    ids.join(", ")
}

/// Who is at fault for a [`ReadError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The query is wrong (an unknown column, a bad range): HTTP 400.
    BadQuery,
    /// No such snapshot or table: HTTP 404.
    NotFound,
    /// The lake is not there or not ready, or the snapshot went away: HTTP 503.
    Unavailable,
    /// A damaged or unreadable file: HTTP 500.
    Internal,
}

impl ReadErrorKind {
    pub fn http_status(self) -> u16 {
        match self {
            ReadErrorKind::BadQuery => 400,
            ReadErrorKind::NotFound => 404,
            ReadErrorKind::Unavailable => 503,
            ReadErrorKind::Internal => 500,
        }
    }
}

impl ReadError {
    pub fn kind(&self) -> ReadErrorKind {
        match self {
            ReadError::UnknownColumn { .. } | ReadError::BadQuery { .. } => ReadErrorKind::BadQuery,
            ReadError::SnapshotNotFound { .. } | ReadError::UnknownTable { .. } => {
                ReadErrorKind::NotFound
            }
            ReadError::LakeMissing { .. }
            | ReadError::NotALake { .. }
            | ReadError::NoSnapshot { .. }
            | ReadError::SnapshotRemoved { .. } => ReadErrorKind::Unavailable,
            ReadError::Corrupt { .. } | ReadError::Io { .. } => ReadErrorKind::Internal,
        }
    }
}

/// A query the library refuses.
pub fn bad_query(message: impl Into<String>) -> ReadError {
    ReadError::BadQuery {
        message: message.into(),
    }
}

/// A file that does not read as its table (for readers decoding rows themselves).
pub fn corrupt(path: &Path, message: impl std::fmt::Display) -> ReadError {
    ReadError::Corrupt {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// What a read did: the proof of pruning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Files opened, relative to the snapshot directory (`table/date=YYYY-MM-DD/part-…`).
    pub files_opened: Vec<String>,
    /// Files of the table left closed: their day is outside the query's.
    pub files_pruned: usize,
    pub row_groups_read: usize,
    /// Row groups of opened files skipped by their time statistics.
    pub row_groups_skipped: usize,
    /// Rows decoded, and rows that passed the filters.
    pub rows_scanned: u64,
    pub rows_returned: u64,
}

/// The result of [`SnapshotReader::read`].
#[derive(Debug, Clone)]
pub struct TableRead {
    pub table: Table,
    /// The projected schema: every batch has exactly it.
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub stats: ReadStats,
}

impl TableRead {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// All rows as one batch.
    pub fn concat(&self) -> Result<RecordBatch, ReadError> {
        arrow_select::concat::concat_batches(&self.schema, &self.batches).map_err(|e| {
            corrupt(
                Path::new(self.table.name()),
                format!("cannot be concatenated: {e}"),
            )
        })
    }
}

/// A snapshot as the API lists it (no paths).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    pub id: u64,
    /// The epoch every table reflects.
    pub frontier: u64,
    pub watermark: String,
    pub watermark_ms: i64,
    /// Wall-clock time of publication (RFC 3339).
    pub created_at: String,
    pub tables: BTreeMap<String, TableSummary>,
    /// Bytes of all its files.
    pub bytes: u64,
}

impl From<&Manifest> for SnapshotInfo {
    fn from(manifest: &Manifest) -> SnapshotInfo {
        SnapshotInfo {
            id: manifest.id,
            frontier: manifest.frontier,
            watermark: manifest.watermark.clone(),
            watermark_ms: manifest.watermark_ms,
            created_at: manifest.created_at.clone(),
            tables: manifest.tables.clone(),
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        }
    }
}

/// A lake opened for reading. Holds no state: every call sees the lake as it is now. Picking a
/// snapshot checks the size of each of its files; a server holds its [`SnapshotReader`] and
/// picks again when [`LakeReader::current_id`] changes.
#[derive(Debug, Clone)]
pub struct LakeReader {
    root: PathBuf,
}

impl LakeReader {
    /// Opens the lake at `root`: it must exist, carry the `LAKE` marker and hold a snapshot.
    pub fn open(root: impl AsRef<Path>) -> Result<LakeReader, ReadError> {
        let root = root.as_ref().to_path_buf();
        match std::fs::metadata(&root) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReadError::LakeMissing { path: root })
            }
            Err(error) => return Err(ReadError::Io { path: root, error }),
            Ok(meta) if !meta.is_dir() => return Err(ReadError::NotALake { path: root }),
            Ok(_) => {}
        }
        if !root.join("LAKE").is_file() {
            return Err(ReadError::NotALake { path: root });
        }
        let reader = LakeReader { root };
        if reader.snapshot_ids()?.is_empty() {
            return Err(ReadError::NoSnapshot { path: reader.root });
        }
        Ok(reader)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Ids of the snapshot directories, ascending.
    pub fn snapshot_ids(&self) -> Result<Vec<u64>, ReadError> {
        let dir = self.root.join("snapshots");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(ReadError::Io { path: dir, error }),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| ReadError::Io {
                path: dir.clone(),
                error,
            })?;
            // `.tmp-<id>` (being written) does not parse.
            if let Ok(id) = entry.file_name().to_string_lossy().parse::<u64>() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Every snapshot whose manifest reads, oldest first (damaged ones are left out).
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, ReadError> {
        let mut out = Vec::new();
        for id in self.snapshot_ids()? {
            match read_manifest(&self.snapshot_dir(id), id) {
                Ok(manifest) => out.push(SnapshotInfo::from(&manifest)),
                Err(ReadError::SnapshotRemoved { .. }) => {}
                Err(error) => tracing::warn!(id, %error, "leaving a damaged snapshot out"),
            }
        }
        Ok(out)
    }

    /// The id `current` points at, without loading it (cheap: to tell when to pick again).
    pub fn current_id(&self) -> Option<u64> {
        let target = std::fs::read_link(self.root.join("current")).ok()?;
        target.file_name()?.to_str()?.parse().ok()
    }

    /// The snapshot `current` points at; when it is missing or damaged, the newest snapshot
    /// that loads (the one `chatter run` would restore from).
    pub fn current(&self) -> Result<SnapshotReader, ReadError> {
        let pointed = self.current_id();
        if let Some(id) = pointed {
            match self.snapshot(id) {
                Ok(snapshot) => return Ok(snapshot),
                Err(error) => tracing::warn!(id, %error, "current snapshot unreadable"),
            }
        }
        for id in self.snapshot_ids()?.into_iter().rev() {
            if Some(id) == pointed {
                continue;
            }
            match self.snapshot(id) {
                Ok(snapshot) => return Ok(snapshot),
                Err(error) => tracing::warn!(id, %error, "skipping an unreadable snapshot"),
            }
        }
        Err(ReadError::NoSnapshot {
            path: self.root.clone(),
        })
    }

    /// Snapshot `id`, its manifest read and every file's size checked.
    pub fn snapshot(&self, id: u64) -> Result<SnapshotReader, ReadError> {
        let dir = self.snapshot_dir(id);
        let not_found = |reader: &LakeReader| -> Result<SnapshotReader, ReadError> {
            Err(ReadError::SnapshotNotFound {
                id,
                available: reader.snapshot_ids()?,
            })
        };
        if !dir.is_dir() {
            return not_found(self);
        }
        let manifest = match read_manifest(&dir, id) {
            Err(ReadError::SnapshotRemoved { .. }) => return not_found(self),
            other => other?,
        };
        let snapshot = SnapshotReader { dir, manifest };
        snapshot.check_files(false)?;
        Ok(snapshot)
    }

    fn snapshot_dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(snapshot_name(id))
    }
}

/// Reads and checks `dir/manifest.json`.
fn read_manifest(dir: &Path, id: u64) -> Result<Manifest, ReadError> {
    let path = dir.join("manifest.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if dir.exists() {
                return Err(corrupt(&path, "is missing: not a published snapshot"));
            }
            return Err(ReadError::SnapshotRemoved { id });
        }
        Err(error) => return Err(ReadError::Io { path, error }),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        corrupt(
            &path,
            format!("does not parse ({e}): the snapshot is damaged"),
        )
    })?;
    if manifest.format != "chatter-lake" {
        return Err(corrupt(&path, "is not a chatter lake manifest"));
    }
    if manifest.schema_version > tables::SCHEMA_VERSION {
        return Err(corrupt(
            &path,
            format!(
                "has schema version {}, newer than this chatter's {}: upgrade chatter",
                manifest.schema_version,
                tables::SCHEMA_VERSION
            ),
        ));
    }
    Ok(manifest)
}

/// One snapshot, opened for reading.
#[derive(Debug, Clone)]
pub struct SnapshotReader {
    dir: PathBuf,
    manifest: Manifest,
}

impl SnapshotReader {
    pub fn id(&self) -> u64 {
        self.manifest.id
    }

    /// `lake/snapshots/<id>` (not `current`, which may move on).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn info(&self) -> SnapshotInfo {
        SnapshotInfo::from(&self.manifest)
    }

    /// Recomputes every file's SHA-256 against the manifest (reads the whole snapshot).
    pub fn verify(&self) -> Result<(), ReadError> {
        self.check_files(true)
    }

    fn check_files(&self, checksums: bool) -> Result<(), ReadError> {
        for file in &self.manifest.files {
            let path = self.dir.join(&file.path);
            crate::check_inside_snapshot(&self.dir, &file.path)
                .map_err(|e| corrupt(&self.dir.join("manifest.json"), e))?;
            let meta = std::fs::metadata(&path).map_err(|error| self.open_error(&path, error))?;
            if meta.len() != file.bytes {
                let message = format!(
                    "has {} bytes, the manifest says {}: the file is damaged",
                    meta.len(),
                    file.bytes
                );
                return Err(corrupt(&path, message));
            }
            if checksums {
                let (sum, _) = tables::checksum(&path).map_err(|e| corrupt(&path, e))?;
                if sum != file.sha256 {
                    let message = format!("fails its checksum (the manifest says {})", file.sha256);
                    return Err(corrupt(&path, message));
                }
            }
        }
        Ok(())
    }

    fn open_error(&self, path: &Path, error: std::io::Error) -> ReadError {
        if error.kind() != std::io::ErrorKind::NotFound {
            return ReadError::Io {
                path: path.to_path_buf(),
                error,
            };
        }
        if !self.dir.join("manifest.json").exists() {
            return ReadError::SnapshotRemoved { id: self.id() };
        }
        corrupt(
            path,
            "is listed in the manifest but missing: the snapshot is incomplete",
        )
    }

    /// The table's files, by path.
    pub fn files(&self, table: Table) -> Vec<&FileEntry> {
        let mut files: Vec<&FileEntry> = (self.manifest.files.iter())
            .filter(|f| f.table == table.name())
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    /// The days the table has partitions of, ascending.
    pub fn days(&self, table: Table) -> Vec<i64> {
        let mut days: Vec<i64> = (self.files(table).iter())
            .filter_map(|f| day_of_path(&f.path))
            .collect();
        days.dedup();
        days
    }

    /// Reads `table` as the query asks.
    pub fn read(&self, table: &str, query: &Query) -> Result<TableRead, ReadError> {
        let plan = Plan::new(Table::from_name(table)?, query)?;
        let mut batches = Vec::new();
        let stats = self.scan_plan(&plan, &mut |batch| {
            batches.push(batch);
            Ok(())
        })?;
        Ok(TableRead {
            table: plan.table,
            schema: plan.output.clone(),
            batches,
            stats,
        })
    }

    /// Like [`SnapshotReader::read`], but hands each batch to `each` as it is read (constant
    /// memory, for aggregating a long range).
    pub fn scan(
        &self,
        table: &str,
        query: &Query,
        mut each: impl FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<ReadStats, ReadError> {
        let plan = Plan::new(Table::from_name(table)?, query)?;
        self.scan_plan(&plan, &mut each)
    }

    fn scan_plan(
        &self,
        plan: &Plan,
        each: &mut dyn FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<ReadStats, ReadError> {
        let mut stats = ReadStats::default();
        for entry in self.files(plan.table) {
            // A file outside the `date=` layout cannot be pruned: it is read.
            if day_of_path(&entry.path).is_some_and(|day| !plan.days.contains(day)) {
                stats.files_pruned += 1;
                continue;
            }
            stats.files_opened.push(entry.path.clone());
            self.scan_file(plan, &self.dir.join(&entry.path), &mut stats, each)?;
        }
        Ok(stats)
    }

    fn scan_file(
        &self,
        plan: &Plan,
        path: &Path,
        stats: &mut ReadStats,
        each: &mut dyn FnMut(RecordBatch) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let file = File::open(path).map_err(|error| self.open_error(path, error))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| corrupt(path, format!("is not a readable Parquet file: {e}")))?;
        let groups = plan.row_groups(&builder);
        stats.row_groups_read += groups.len();
        stats.row_groups_skipped += builder.metadata().num_row_groups() - groups.len();
        if groups.is_empty() {
            return Ok(());
        }
        // Columns the file lacks (an older schema version) are filled with nulls in `apply`.
        let file_schema = builder.schema().clone();
        let mut roots: Vec<usize> = (plan.needed.fields().iter())
            .filter_map(|f| file_schema.index_of(f.name()).ok())
            .collect();
        roots.sort_unstable();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_row_groups(groups)
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| corrupt(path, format!("cannot be read: {e}")))?;
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(path, format!("cannot be read: {e}")))?;
            stats.rows_scanned += batch.num_rows() as u64;
            let batch = plan.apply(&batch, path)?;
            if batch.num_rows() > 0 {
                stats.rows_returned += batch.num_rows() as u64;
                each(batch)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
