//! The query side of the read library: tables, day and time ranges, and a query compiled
//! against its table's schema (projection, partition days, row-group and row filters).

use super::{bad_query, corrupt, ReadError};
use crate::tables::{self, Columns};
use crate::{day_name, parse_day};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, SchemaRef};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, OnceLock};

const DAY_MS: i64 = 86_400_000;

/// A table of the lake (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Comments,
    Mentions,
    EntityWindows,
    Alerts,
    DeadLetters,
}

impl Table {
    /// In the order of [`tables::TABLES`].
    pub const ALL: [Table; 5] = [
        Table::Comments,
        Table::Mentions,
        Table::EntityWindows,
        Table::Alerts,
        Table::DeadLetters,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Comments => "comments",
            Table::Mentions => "mentions",
            Table::EntityWindows => "entity_windows",
            Table::Alerts => "alerts",
            Table::DeadLetters => "dead_letters",
        }
    }

    /// The timestamp column a [`TimeRange`] filters, whose UTC day is the table's partition.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Comments | Table::Mentions => "created_at",
            Table::EntityWindows | Table::Alerts => "window_start",
            Table::DeadLetters => "received_at",
        }
    }

    pub fn from_name(name: &str) -> Result<Table, ReadError> {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| ReadError::UnknownTable {
                table: name.to_string(),
                tables: Table::ALL.iter().map(|t| t.name()).collect(),
            })
    }

    /// The table's Arrow schema: what every batch of a full read has.
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<(&'static str, SchemaRef)>> = OnceLock::new();
        let schemas = SCHEMAS
            .get_or_init(|| tables::schemas().expect("the table schemas build from empty rows"));
        schemas
            .iter()
            .find(|(name, _)| *name == self.name())
            .map(|(_, schema)| schema.clone())
            .expect("every table has a schema")
    }

    pub fn columns(self) -> Vec<String> {
        let schema = self.schema();
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }
}

impl std::str::FromStr for Table {
    type Err = ReadError;
    fn from_str(name: &str) -> Result<Table, ReadError> {
        Table::from_name(name)
    }
}

fn day_floor(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// Days of `date=` partitions, both ends included (day starts in ms, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first_ms: i64,
    pub last_ms: i64,
}

impl DayRange {
    pub const ALL: DayRange = DayRange {
        first_ms: i64::MIN,
        last_ms: i64::MAX,
    };
    pub const EMPTY: DayRange = DayRange {
        first_ms: i64::MAX,
        last_ms: i64::MIN,
    };

    /// The days holding `first_ms` through `last_ms`.
    pub fn new(first_ms: i64, last_ms: i64) -> DayRange {
        DayRange {
            first_ms: day_floor(first_ms),
            last_ms: day_floor(last_ms),
        }
    }

    /// `YYYY-MM-DD` through `YYYY-MM-DD`.
    pub fn parse(first: &str, last: &str) -> Result<DayRange, ReadError> {
        let day = |name: &str| {
            parse_day(name)
                .filter(|ms| day_name(*ms) == name)
                .ok_or_else(|| bad_query(format!("{name:?} is not a day: give YYYY-MM-DD")))
        };
        Ok(DayRange {
            first_ms: day(first)?,
            last_ms: day(last)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.first_ms > self.last_ms
    }

    pub fn contains(&self, day_ms: i64) -> bool {
        self.first_ms <= day_ms && day_ms <= self.last_ms
    }

    pub fn intersect(self, other: DayRange) -> DayRange {
        DayRange {
            first_ms: self.first_ms.max(other.first_ms),
            last_ms: self.last_ms.min(other.last_ms),
        }
    }
}

/// `[from_ms, to_ms)` in ms since the epoch, UTC; an absent end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        from_ms: None,
        to_ms: None,
    };

    pub fn new(from_ms: i64, to_ms: i64) -> TimeRange {
        TimeRange {
            from_ms: Some(from_ms),
            to_ms: Some(to_ms),
        }
    }

    /// An ISO 8601 week like `2021-W04`: Monday 00:00 UTC to the next Monday 00:00 (SPEC §3.5).
    pub fn iso_week(week: &str) -> Result<TimeRange, ReadError> {
        let bad = || {
            bad_query(format!(
                "{week:?} is not an ISO week: give YYYY-Www, like 2021-W04"
            ))
        };
        let (year, number) = week.split_once("-W").ok_or_else(bad)?;
        if year.len() != 4 || number.len() != 2 {
            return Err(bad());
        }
        let number: i64 = number.parse().map_err(|_| bad())?;
        // Week 1 is the one holding 4 January; 1970-01-01 was a Thursday.
        let january_4 = parse_day(&format!("{year}-01-04")).ok_or_else(bad)?;
        let weekday = (january_4.div_euclid(DAY_MS) + 3).rem_euclid(7);
        let from_ms = january_4 - weekday * DAY_MS + (number - 1) * 7 * DAY_MS;
        // A week belongs to the year of its Thursday.
        let thursday = day_name(from_ms + 3 * DAY_MS);
        if number < 1 || !thursday.starts_with(year) {
            return Err(bad());
        }
        Ok(TimeRange::new(from_ms, from_ms + 7 * DAY_MS))
    }

    pub fn is_empty(&self) -> bool {
        matches!((self.from_ms, self.to_ms), (Some(from), Some(to)) if from >= to)
    }

    pub fn is_bounded(&self) -> bool {
        self.from_ms.is_some() || self.to_ms.is_some()
    }

    pub fn contains(&self, ms: i64) -> bool {
        self.from_ms.is_none_or(|from| ms >= from) && self.to_ms.is_none_or(|to| ms < to)
    }

    /// The days whose partitions may hold rows of the range.
    pub fn days(&self) -> DayRange {
        if self.is_empty() {
            return DayRange::EMPTY;
        }
        DayRange {
            first_ms: self.from_ms.map_or(i64::MIN, day_floor),
            last_ms: self.to_ms.map_or(i64::MAX, |to| day_floor(to - 1)),
        }
    }

    /// The range in the µs of the timestamp columns.
    fn micros(&self) -> (Option<i64>, Option<i64>) {
        let us = |ms: i64| ms.saturating_mul(1000);
        (self.from_ms.map(us), self.to_ms.map(us))
    }
}

/// What to read of a table. The filters combine with "and".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Columns to return, in this order (None: all, in the table's order).
    pub columns: Option<Vec<String>>,
    /// Only the `date=` partitions of these days.
    pub days: Option<DayRange>,
    /// Only rows whose [`Table::time_column`] is in the range (and only the partitions of its days).
    pub time: TimeRange,
    /// Only rows whose string column equals the value: (column, value).
    pub equals: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Query {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    pub fn days(mut self, days: DayRange) -> Query {
        self.days = Some(days);
        self
    }

    pub fn time(mut self, range: TimeRange) -> Query {
        self.time = range;
        self
    }

    pub fn between(self, from_ms: i64, to_ms: i64) -> Query {
        self.time(TimeRange::new(from_ms, to_ms))
    }

    pub fn equals(mut self, column: impl Into<String>, value: impl Into<String>) -> Query {
        self.equals.push((column.into(), value.into()));
        self
    }
}

/// The partitions a query opens: its day range and its time range's days. An inverted range is
/// a bad query; a range with no days (or from == to) opens nothing.
pub fn partition_days(query: &Query) -> Result<DayRange, ReadError> {
    if let (Some(from), Some(to)) = (query.time.from_ms, query.time.to_ms) {
        if from > to {
            return Err(bad_query(format!(
                "the time range ends ({to} ms) before it starts ({from} ms)"
            )));
        }
    }
    let days = query.days.unwrap_or(DayRange::ALL);
    if days.is_empty() {
        return Err(bad_query(format!(
            "the day range ends ({}) before it starts ({})",
            day_name(days.last_ms),
            day_name(days.first_ms)
        )));
    }
    Ok(days.intersect(query.time.days()))
}

/// Whether a row group with time statistics `min..=max` (µs; None = unknown) may hold rows of
/// `[from, to)`.
pub(super) fn overlaps(
    min: Option<i64>,
    max: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
) -> bool {
    let before = matches!((max, from), (Some(max), Some(from)) if max < from);
    let after = matches!((min, to), (Some(min), Some(to)) if min >= to);
    !(before || after)
}

/// A query compiled against its table's schema.
pub(super) struct Plan {
    pub(super) table: Table,
    /// The output columns, then the columns only the filters need.
    pub(super) needed: SchemaRef,
    pub(super) output: SchemaRef,
    pub(super) days: DayRange,
    /// The time range in µs.
    from_us: Option<i64>,
    to_us: Option<i64>,
    equals: Vec<(String, String)>,
}

impl Plan {
    pub(super) fn new(table: Table, query: &Query) -> Result<Plan, ReadError> {
        let schema = table.schema();
        let index = |column: &str| {
            schema
                .index_of(column)
                .map_err(|_| ReadError::UnknownColumn {
                    table: table.name(),
                    column: column.to_string(),
                    columns: table.columns(),
                })
        };
        let outputs: Vec<usize> = match &query.columns {
            None => (0..schema.fields().len()).collect(),
            Some(columns) if columns.is_empty() => {
                return Err(bad_query(
                    "the projection is empty: ask for at least one column",
                ))
            }
            Some(columns) => columns.iter().map(|c| index(c)).collect::<Result<_, _>>()?,
        };
        let mut seen = std::collections::BTreeSet::new();
        if !outputs.iter().all(|i| seen.insert(*i)) {
            return Err(bad_query("the projection names a column twice"));
        }
        let mut needed = outputs.clone();
        if query.time.is_bounded() {
            needed.push(index(table.time_column())?);
        }
        for (column, _) in &query.equals {
            let i = index(column)?;
            if !is_string(schema.field(i)) {
                return Err(bad_query(format!(
                    "column {column} of {} is not a string column: equality filters take strings",
                    table.name()
                )));
            }
            needed.push(i);
        }
        let mut seen = std::collections::BTreeSet::new();
        needed.retain(|i| seen.insert(*i));
        let (from_us, to_us) = query.time.micros();
        let project = |indices: &[usize]| schema.project(indices).map(Arc::new);
        Ok(Plan {
            table,
            needed: project(&needed).map_err(|e| bad_query(e.to_string()))?,
            output: project(&outputs).map_err(|e| bad_query(e.to_string()))?,
            days: partition_days(query)?,
            from_us,
            to_us,
            equals: query.equals.clone(),
        })
    }

    /// The row groups of a file that may hold rows of the time range (all, without statistics).
    pub(super) fn row_groups(&self, builder: &ParquetRecordBatchReaderBuilder<File>) -> Vec<usize> {
        let groups = builder.metadata().row_groups();
        let all: Vec<usize> = (0..groups.len()).collect();
        if self.from_us.is_none() && self.to_us.is_none() {
            return all;
        }
        let column = self.table.time_column();
        let converter = match StatisticsConverter::try_new(
            column,
            builder.schema(),
            builder.parquet_schema(),
        ) {
            Ok(converter) => converter,
            Err(_) => return all,
        };
        let (Ok(mins), Ok(maxes)) = (
            converter.row_group_mins(groups.iter()),
            converter.row_group_maxes(groups.iter()),
        ) else {
            return all;
        };
        let micros = |array: &ArrayRef| {
            let array = array.as_any().downcast_ref::<TimestampMicrosecondArray>()?;
            Some(
                (0..array.len())
                    .map(|i| array.is_valid(i).then(|| array.value(i)))
                    .collect::<Vec<_>>(),
            )
        };
        let (Some(mins), Some(maxes)) = (micros(&mins), micros(&maxes)) else {
            return all;
        };
        all.into_iter()
            .filter(|&i| overlaps(mins[i], maxes[i], self.from_us, self.to_us))
            .collect()
    }

    /// A batch of a file → the output: columns in the table's types, rows filtered, projected.
    pub(super) fn apply(&self, batch: &RecordBatch, path: &Path) -> Result<RecordBatch, ReadError> {
        let columns = (self.needed.fields().iter())
            .map(|field| conform(batch, field, path))
            .collect::<Result<Vec<_>, _>>()?;
        let needed = RecordBatch::try_new(self.needed.clone(), columns)
            .map_err(|e| corrupt(path, format!("does not have the table's schema: {e}")))?;
        let outputs = self.output.fields().len();
        let output =
            RecordBatch::try_new(self.output.clone(), needed.columns()[..outputs].to_vec())
                .map_err(|e| corrupt(path, e))?;
        match self.mask(&needed, path)? {
            None => Ok(output),
            Some(mask) => arrow_select::filter::filter_record_batch(&output, &mask)
                .map_err(|e| corrupt(path, e)),
        }
    }

    /// Which rows pass the filters (None: all).
    fn mask(&self, batch: &RecordBatch, path: &Path) -> Result<Option<BooleanArray>, ReadError> {
        let bounded = self.from_us.is_some() || self.to_us.is_some();
        if !bounded && self.equals.is_empty() {
            return Ok(None);
        }
        let c = Columns::new(batch, path);
        let mut keep = vec![true; batch.num_rows()];
        if bounded {
            let times = c
                .times(self.table.time_column())
                .map_err(|e| corrupt(path, format!("{e:#}")))?;
            let range = (self.from_us, self.to_us);
            for (i, keep) in keep.iter_mut().enumerate() {
                let time = times.is_valid(i).then(|| times.value(i));
                *keep = time.is_some_and(|t| {
                    range.0.is_none_or(|from| t >= from) && range.1.is_none_or(|to| t < to)
                });
            }
        }
        for (column, value) in &self.equals {
            let strings = c
                .strings(column, true)
                .map_err(|e| corrupt(path, format!("{e:#}")))?;
            for (i, keep) in keep.iter_mut().enumerate() {
                *keep = *keep && strings.get(i) == Some(value.as_str());
            }
        }
        Ok(Some(BooleanArray::from(keep)))
    }
}

fn is_string(field: &Field) -> bool {
    match field.data_type() {
        DataType::Utf8 => true,
        DataType::Dictionary(_, value) => **value == DataType::Utf8,
        _ => false,
    }
}

/// A column of a file's batch in the table's type: as it is, cast, or nulls when the file
/// predates it.
fn conform(batch: &RecordBatch, field: &Field, path: &Path) -> Result<ArrayRef, ReadError> {
    match batch.column_by_name(field.name()) {
        Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
        Some(column) => arrow_cast::cast(column, field.data_type()).map_err(|e| {
            let message = format!(
                "column {} has type {}, not {}: {e}",
                field.name(),
                column.data_type(),
                field.data_type()
            );
            corrupt(path, message)
        }),
        None => Ok(arrow_array::new_null_array(
            field.data_type(),
            batch.num_rows(),
        )),
    }
}
