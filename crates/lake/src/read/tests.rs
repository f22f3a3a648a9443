//! Unit tests of the read library: ranges, boundaries, errors, and row-group skipping on a
//! hand-built snapshot with small row groups.

use super::query::overlaps;
use super::*;
use crate::tables::{windows_batch, WindowRecord};
use crate::{day_name, parse_day, Sources, LAKE_MARKER};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn day(name: &str) -> i64 {
    parse_day(name).unwrap()
}

#[test]
fn a_time_range_opens_the_days_it_touches() {
    let monday = day("2021-01-25");
    let week = Query::new().time(TimeRange::iso_week("2021-W04").unwrap());
    assert_eq!(
        partition_days(&week).unwrap(),
        DayRange::new(monday, day("2021-01-31"))
    );
    // The end is exclusive: up to midnight does not touch the next day, a ms past it does.
    let to_midnight = Query::new().between(monday + 3 * MINUTE, monday + DAY);
    assert_eq!(
        partition_days(&to_midnight).unwrap(),
        DayRange::new(monday, monday)
    );
    let past = Query::new().between(monday, monday + DAY + 1);
    assert_eq!(
        partition_days(&past).unwrap(),
        DayRange::new(monday, monday + DAY)
    );
    // Open ends, and the intersection with an explicit day range.
    let from = Query::new().time(TimeRange {
        from_ms: Some(monday + 1),
        to_ms: None,
    });
    assert_eq!(
        partition_days(&from).unwrap(),
        DayRange {
            first_ms: monday,
            last_ms: i64::MAX
        }
    );
    let both = from.days(DayRange::parse("2021-01-20", "2021-01-27").unwrap());
    assert_eq!(
        partition_days(&both).unwrap(),
        DayRange::new(monday, day("2021-01-27"))
    );
    assert_eq!(partition_days(&Query::new()).unwrap(), DayRange::ALL);
}

#[test]
fn empty_and_inverted_ranges() {
    let noon = day("2021-01-25") + 12 * 60 * MINUTE;
    let empty = partition_days(&Query::new().between(noon, noon)).unwrap();
    assert!(empty.is_empty() && !empty.contains(day("2021-01-25")));
    let disjoint = Query::new()
        .between(noon, noon + MINUTE)
        .days(DayRange::parse("2021-02-01", "2021-02-03").unwrap());
    assert!(partition_days(&disjoint).unwrap().is_empty());
    let inverted = partition_days(&Query::new().between(noon, noon - 1)).unwrap_err();
    assert_eq!(inverted.kind(), ReadErrorKind::BadQuery, "{inverted}");
    let days = Query::new().days(DayRange::parse("2021-02-03", "2021-02-01").unwrap());
    assert!(matches!(
        partition_days(&days),
        Err(ReadError::BadQuery { .. })
    ));
    for bad in [
        "2021-02-30",
        "2021-1-05",
        "yesterday",
        "2021-01-05T00:00:00Z",
    ] {
        let error = DayRange::parse(bad, "2021-03-01").unwrap_err();
        assert!(error.to_string().contains(bad), "{error}");
    }
}

#[test]
fn time_filter_boundaries() {
    let range = TimeRange::new(1_000, 2_000);
    assert!(!range.contains(999));
    assert!(range.contains(1_000));
    assert!(range.contains(1_999));
    assert!(!range.contains(2_000));
    assert!(TimeRange::ALL.contains(i64::MIN) && !TimeRange::ALL.is_bounded());
    // Row groups: a group ending at `from` may hold it; a group starting at `to` may not.
    let (from, to) = (Some(1_000), Some(2_000));
    assert!(overlaps(Some(0), Some(1_000), from, to));
    assert!(!overlaps(Some(0), Some(999), from, to));
    assert!(overlaps(Some(1_999), Some(5_000), from, to));
    assert!(!overlaps(Some(2_000), Some(5_000), from, to));
    assert!(overlaps(None, None, from, to), "no statistics: read it");
    assert!(overlaps(Some(0), Some(1), None, None));
}

#[test]
fn iso_weeks() {
    let w04 = TimeRange::iso_week("2021-W04").unwrap();
    assert_eq!(w04, TimeRange::new(day("2021-01-25"), day("2021-02-01")));
    assert_eq!(
        TimeRange::iso_week("2021-W01").unwrap().from_ms,
        Some(day("2021-01-04"))
    );
    // 2020 has 53 weeks (its last ends on 3 January 2021); 2021 has 52.
    assert_eq!(
        TimeRange::iso_week("2020-W53").unwrap(),
        TimeRange::new(day("2020-12-28"), day("2021-01-04"))
    );
    assert_eq!(
        TimeRange::iso_week("2026-W01").unwrap().from_ms,
        Some(day("2025-12-29"))
    );
    for bad in [
        "2021-W53", "2021-W00", "2021-W4", "2021W04", "21-W04", "2021-Wxx",
    ] {
        let error = TimeRange::iso_week(bad).unwrap_err();
        assert_eq!(error.kind(), ReadErrorKind::BadQuery, "{bad}: {error}");
    }
}

#[test]
fn tables_and_their_time_columns() {
    let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, crate::tables::TABLES);
    for table in Table::ALL {
        assert_eq!(Table::from_name(table.name()).unwrap(), table);
        let schema = table.schema();
        let field = schema.field_with_name(table.time_column()).unwrap();
        assert!(
            matches!(field.data_type(), arrow_schema::DataType::Timestamp(_, _)),
            "{table:?}"
        );
    }
    let error = "windows".parse::<Table>().unwrap_err();
    assert_eq!(error.kind(), ReadErrorKind::NotFound);
    assert!(
        error.to_string().contains("entity_windows, alerts"),
        "{error}"
    );
}

/// A snapshot holding one `entity_windows` file of `rows` windows (5 minutes apart from
/// `start`), written with row groups of `group` rows.
fn hand_built_lake(rows: usize, group: usize, start: i64) -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    std::fs::write(lake.path().join("LAKE"), LAKE_MARKER).unwrap();
    let dir = lake.path().join("snapshots/0000000001");
    let rel = format!("entity_windows/date={}/part-0.parquet", day_name(start));
    let records: Vec<WindowRecord> = (0..rows)
        .map(|i| WindowRecord {
            entity_id: ["GME", "AMC"][i % 2].to_string(),
            entity_name: ["GameStop", "AMC"][i % 2].to_string(),
            window_start_ms: start + i as i64 * 5 * MINUTE,
            window_end_ms: start + (i as i64 + 1) * 5 * MINUTE,
            mentions: i as i64,
            authors: 1,
            sentiment_mean: 0.0,
            baseline_mean: 1.0,
            baseline_std: 1.0,
            z: 0.0,
            ratio: 1.0,
            alert: false,
        })
        .collect();
    let batch = windows_batch(&records).unwrap();
    let path = dir.join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let file = File::create(&path).unwrap();
    let mut out = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    out.write(&batch).unwrap();
    out.close().unwrap();
    let (sha256, bytes) = tables::checksum(&path).unwrap();
    let entry = FileEntry {
        path: rel,
        table: "entity_windows".into(),
        rows: rows as u64,
        bytes,
        sha256,
    };
    let manifest = Manifest {
        format: "chatter-lake".into(),
        schema_version: tables::SCHEMA_VERSION,
        chatter_version: "test".into(),
        id: 1,
        created_at: "2026-01-01T00:00:00Z".into(),
        frontier: 7,
        watermark: "2021-01-28T00:00:00Z".into(),
        watermark_ms: start,
        horizon_ms: start,
        max_event_ms: start,
        sources: Sources::default(),
        workers: 1,
        tables: BTreeMap::new(),
        files: vec![entry],
        stats: Default::default(),
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(dir.join("manifest.json"), json).unwrap();
    std::os::unix::fs::symlink("snapshots/0000000001", lake.path().join("current")).unwrap();
    lake
}

#[test]
fn row_groups_outside_the_range_are_skipped() {
    let start = day("2021-01-28");
    let lake = hand_built_lake(30, 10, start);
    let snapshot = LakeReader::open(lake.path()).unwrap().current().unwrap();
    assert_eq!(snapshot.id(), 1);
    assert_eq!(snapshot.info().frontier, 7);
    let at = |i: i64| start + i * 5 * MINUTE;
    let mentions = |read: &TableRead| -> Vec<i64> {
        let batch = read.concat().unwrap();
        let column = batch.column_by_name("mentions").unwrap();
        let column = column.as_any().downcast_ref::<arrow_array::Int64Array>();
        column.unwrap().values().to_vec()
    };
    // Windows 10..20 are the second row group exactly.
    let middle = snapshot
        .read("entity_windows", &Query::new().between(at(10), at(20)))
        .unwrap();
    assert_eq!(mentions(&middle), (10..20).collect::<Vec<_>>());
    assert_eq!(
        (
            middle.stats.row_groups_read,
            middle.stats.row_groups_skipped
        ),
        (1, 2)
    );
    assert_eq!(middle.stats.rows_scanned, 10);
    // `from` is included, `to` excluded: window 10 alone, then nothing before it.
    let one = Query::new().between(at(10), at(10) + 1);
    assert_eq!(
        mentions(&snapshot.read("entity_windows", &one).unwrap()),
        [10]
    );
    let before = Query::new().time(TimeRange {
        from_ms: None,
        to_ms: Some(at(10)),
    });
    let before = snapshot.read("entity_windows", &before).unwrap();
    assert_eq!(mentions(&before), (0..10).collect::<Vec<_>>());
    assert_eq!(before.stats.row_groups_skipped, 2);
    // A projection that leaves out the filtered columns still filters on them.
    let query = Query::new()
        .columns(["mentions"])
        .between(at(5), at(25))
        .equals("entity_id", "AMC");
    let odd = snapshot.read("entity_windows", &query).unwrap();
    assert_eq!(odd.schema.fields().len(), 1);
    assert_eq!(mentions(&odd), [5, 7, 9, 11, 13, 15, 17, 19, 21, 23]);
    // The typed reader agrees.
    let amc = snapshot
        .windows("AMC", TimeRange::new(at(5), at(25)))
        .unwrap();
    let ids: Vec<i64> = amc.iter().map(|w| w.mentions).collect();
    assert_eq!(ids, mentions(&odd));
    assert!(amc.iter().all(|w| w.entity_id == "AMC"));
}

#[test]
fn bad_queries_name_what_is_wrong() {
    let lake = hand_built_lake(3, 10, day("2021-01-28"));
    let snapshot = LakeReader::open(lake.path()).unwrap().current().unwrap();
    let error = snapshot
        .read("entity_windows", &Query::new().columns(["z", "zz"]))
        .unwrap_err();
    assert!(
        matches!(&error, ReadError::UnknownColumn { column, .. } if column == "zz"),
        "{error}"
    );
    assert!(error.to_string().contains("baseline_std"), "{error}");
    assert_eq!(error.kind().http_status(), 400);
    let cases = [
        Query::new().columns(Vec::<String>::new()),
        Query::new().columns(["z", "z"]),
        Query::new().equals("mentions", "3"),
    ];
    for query in cases {
        let error = snapshot.read("entity_windows", &query).unwrap_err();
        assert!(matches!(error, ReadError::BadQuery { .. }), "{error}");
    }
    let filter = AlertFilter {
        kind: Some("exploded".into()),
        ..AlertFilter::default()
    };
    assert!(matches!(
        snapshot.alerts(&filter),
        Err(ReadError::BadQuery { .. })
    ));
}

#[test]
fn lakes_that_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let error = LakeReader::open(&missing).unwrap_err();
    assert!(matches!(error, ReadError::LakeMissing { .. }), "{error}");
    assert!(error.to_string().contains("nowhere"), "{error}");
    let error = LakeReader::open(dir.path()).unwrap_err();
    assert!(matches!(error, ReadError::NotALake { .. }), "{error}");
    assert_eq!(error.kind().http_status(), 503);
    std::fs::write(dir.path().join("LAKE"), LAKE_MARKER).unwrap();
    std::fs::create_dir_all(dir.path().join("snapshots/.tmp-0000000001")).unwrap();
    let error = LakeReader::open(dir.path()).unwrap_err();
    assert!(matches!(error, ReadError::NoSnapshot { .. }), "{error}");
}

#[test]
fn a_damaged_file_is_named() {
    let lake = hand_built_lake(30, 10, day("2021-01-28"));
    let reader = LakeReader::open(lake.path()).unwrap();
    let error = reader.snapshot(2).unwrap_err();
    assert!(
        matches!(&error, ReadError::SnapshotNotFound { id: 2, available } if available == &[1]),
        "{error}"
    );
    assert_eq!(error.kind().http_status(), 404);
    let snapshot = reader.current().unwrap();
    snapshot.verify().unwrap();
    // Same size, other bytes: the size check passes, reading and verifying do not.
    let file = snapshot
        .dir()
        .join(&snapshot.files(Table::EntityWindows)[0].path);
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![b'x'; size]).unwrap();
    let snapshot = reader.current().unwrap();
    for error in [
        snapshot
            .read("entity_windows", &Query::new())
            .map(|_| ())
            .unwrap_err(),
        snapshot.verify().unwrap_err(),
    ] {
        assert!(
            matches!(&error, ReadError::Corrupt { path, .. } if path == &file),
            "{error}"
        );
        assert_eq!(error.kind().http_status(), 500);
        assert!(error.to_string().contains("part-0.parquet"), "{error}");
    }
    // A file of the wrong size makes the snapshot unloadable: no fallback here.
    std::fs::write(&file, b"short").unwrap();
    let error = reader.current().unwrap_err();
    assert!(matches!(error, ReadError::NoSnapshot { .. }), "{error}");
    assert!(matches!(reader.snapshot(1), Err(ReadError::Corrupt { .. })));
}
