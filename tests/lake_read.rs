//! The lake's read library (`chatter::lake::read`, the `chatter-lake` crate) on lakes the real binary wrote: partition
//! pruning, projection, typed readers, snapshots by id, errors; and its independence from the
//! engine.

use crate::common::{chatter, output_within, stderr};
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use chatter::lake::read::{
    AlertFilter, DayRange, LakeReader, Query, ReadError, ReadErrorKind, SnapshotReader, Table,
    TimeRange,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The week the tests query: Monday 18 January 2021, the third week of the generated data.
const WEEK: &str = "2021-W03";

/// Generates ~37 days of comments (24000 at 0.45 a minute from 2021-01-04) and runs chatter on
/// them into `dir/lake`, snapshotting every epoch (of 2000 lines), so the lake holds several
/// snapshots of growing frontiers.
fn build_lake(dir: &Path) -> PathBuf {
    let out = output_within(
        chatter()
            .args([
                "gen",
                "--out",
                "data",
                "--comments",
                "24000",
                "--seed",
                "11",
            ])
            .args(["--comments-per-minute", "0.45", "--bursts", "6"])
            .current_dir(dir),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = output_within(
        chatter()
            .args([
                "run",
                "-q",
                "-i",
                "data/comments.jsonl",
                "-e",
                "data/entities.jsonl",
            ])
            .args(["--lake", "lake", "--alerts-out", "alerts.jsonl"])
            .args(["--dead-letters-out", "dead.jsonl", "--batch-size", "2000"])
            .args(["--snapshot-interval", "1ms"])
            .current_dir(dir),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("lake")
}

/// Rows of `batches` rendered as text, those `keep` accepts, sorted.
fn rendered(batches: &[RecordBatch], keep: impl Fn(&RecordBatch, usize) -> bool) -> Vec<String> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        // Types the formatter does not know (the attributes map) print with Debug.
        let formatters: Vec<(Option<ArrayFormatter<'_>>, &ArrayRef)> = (batch.columns().iter())
            .map(|c| (ArrayFormatter::try_new(c.as_ref(), &options).ok(), c))
            .collect();
        for i in (0..batch.num_rows()).filter(|i| keep(batch, *i)) {
            let row: Vec<String> = (formatters.iter())
                .map(|(f, c)| match f {
                    Some(f) => f.value(i).to_string(),
                    None => format!("{:?}", c.slice(i, 1)),
                })
                .collect();
            rows.push(row.join("|"));
        }
    }
    rows.sort();
    rows
}

/// The value (µs) of the timestamp column `name` in row `i`.
fn micros(batch: &RecordBatch, name: &str, i: usize) -> i64 {
    let column = batch.column_by_name(name).unwrap();
    let times = column.as_any().downcast_ref::<TimestampMicrosecondArray>();
    times.unwrap().value(i)
}

fn date_of(file: &str) -> String {
    let dir = file.split('/').nth(1).unwrap();
    dir.strip_prefix("date=").unwrap().to_string()
}

fn dates(days: DayRange) -> BTreeSet<String> {
    (0..)
        .map(|d| days.first_ms + d * 86_400_000)
        .take_while(|ms| *ms <= days.last_ms)
        .map(chatter::lake::day_name)
        .collect()
}

#[test]
fn lake_read_a_week_opens_only_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = build_lake(dir.path());
    let snapshot = LakeReader::open(&lake).unwrap().current().unwrap();
    let week = TimeRange::iso_week(WEEK).unwrap();
    let (from_us, to_us) = (week.from_ms.unwrap() * 1000, week.to_ms.unwrap() * 1000);
    let week_dates = dates(week.days());
    assert_eq!(week_dates.len(), 7);
    for table in [Table::Comments, Table::Mentions, Table::EntityWindows] {
        let name = table.name();
        let full = snapshot.read(name, &Query::new()).unwrap();
        assert_eq!(
            full.num_rows() as u64,
            snapshot.manifest().tables[name].rows,
            "{name}: a full read returns every row of the manifest"
        );
        assert_eq!(full.stats.files_opened.len(), snapshot.files(table).len());
        let all_dates: BTreeSet<String> =
            full.stats.files_opened.iter().map(|f| date_of(f)).collect();
        assert!(
            all_dates.len() >= 35,
            "{name}: only {} days",
            all_dates.len()
        );

        let part = snapshot.read(name, &Query::new().time(week)).unwrap();
        let opened: BTreeSet<String> = part.stats.files_opened.iter().map(|f| date_of(f)).collect();
        assert_eq!(
            opened, week_dates,
            "{name}: opened {:?}",
            part.stats.files_opened
        );
        assert!(part.stats.files_opened.len() < full.stats.files_opened.len());
        assert_eq!(
            part.stats.files_pruned,
            full.stats.files_opened.len() - part.stats.files_opened.len()
        );
        let time = table.time_column();
        let want = rendered(&full.batches, |batch, i| {
            (from_us..to_us).contains(&micros(batch, time, i))
        });
        let got = rendered(&part.batches, |_, _| true);
        assert!(!got.is_empty(), "{name}: no rows in {WEEK}");
        assert!(got.len() < full.num_rows());
        assert_eq!(
            got, want,
            "{name}: the week's rows differ from a filtered full read"
        );
        assert_eq!(part.stats.rows_returned, got.len() as u64);

        // A projection returns exactly the asked columns, in the asked order, same rows.
        let columns = table.columns();
        let asked = [time, columns[0].as_str()];
        let projected = snapshot
            .read(name, &Query::new().columns(asked).time(week))
            .unwrap();
        let names: Vec<&str> = projected
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, asked);
        assert!(projected
            .batches
            .iter()
            .all(|b| b.schema() == projected.schema));
        assert_eq!(projected.num_rows(), got.len());
    }

    // A day range alone opens those days' partitions and returns their rows.
    let days = DayRange::parse("2021-01-19", "2021-01-20").unwrap();
    let two = snapshot
        .read("comments", &Query::new().days(days).columns(["created_at"]))
        .unwrap();
    let opened: BTreeSet<String> = two.stats.files_opened.iter().map(|f| date_of(f)).collect();
    assert_eq!(opened, dates(days));
    let in_days = |batch: &RecordBatch, i: usize| {
        let day = micros(batch, "created_at", i).div_euclid(86_400_000_000) * 86_400_000;
        days.contains(day)
    };
    assert!(two.num_rows() > 0);
    assert_eq!(rendered(&two.batches, in_days).len(), two.num_rows());

    typed_readers_agree_with_the_tables(&snapshot, week);
}

/// The typed readers return what the tables hold.
fn typed_readers_agree_with_the_tables(snapshot: &SnapshotReader, week: TimeRange) {
    let alerts = snapshot.alerts(&AlertFilter::default()).unwrap();
    assert!(!alerts.is_empty(), "the bursts fired no alert");
    assert_eq!(
        alerts.len() as u64,
        snapshot.manifest().tables["alerts"].rows
    );
    assert!(
        alerts
            .windows(2)
            .all(|w| w[0].window_start_ms >= w[1].window_start_ms),
        "alerts are newest first"
    );
    let alert = &alerts[alerts.len() / 2];
    let only = AlertFilter {
        entity_id: Some(alert.entity_id.clone()),
        kind: Some(alert.kind.clone()),
        time: TimeRange::new(alert.window_start_ms, alert.window_start_ms + 1),
        ..AlertFilter::default()
    };
    assert!(snapshot.alerts(&only).unwrap().contains(alert));
    // The alert's window, and its evidence: the window counts the mentions the table holds.
    let window = TimeRange::new(alert.window_start_ms, alert.window_end_ms);
    let rows = snapshot.windows(&alert.entity_id, window).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let mentions = snapshot
        .mentions_in_window(&alert.entity_id, alert.window_start_ms, alert.window_end_ms)
        .unwrap();
    assert_eq!(mentions.len() as i64, rows[0].mentions, "{alert:?}");
    assert!(mentions
        .iter()
        .all(|m| m.entity_id == alert.entity_id && window.contains(m.created_at_ms)));
    // An entity's windows over the week equal the table's rows filtered by hand.
    let windows = snapshot.windows(&alert.entity_id, week).unwrap();
    let full = snapshot.read("entity_windows", &Query::new()).unwrap();
    let mut want = 0;
    for batch in &full.batches {
        let c = chatter::lake::tables::Columns::new(batch, Path::new("entity_windows"));
        let ids = c.strings("entity_id", true).unwrap();
        for i in 0..batch.num_rows() {
            let start = micros(batch, "window_start", i) / 1000;
            want +=
                usize::from(ids.get(i) == Some(alert.entity_id.as_str()) && week.contains(start));
        }
    }
    assert!(want > 0);
    assert_eq!(windows.len(), want);
    assert!(windows
        .windows(2)
        .all(|w| w[0].window_start_ms < w[1].window_start_ms));
}

#[test]
fn lake_read_snapshots_by_id_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = build_lake(dir.path());
    let reader = LakeReader::open(&lake).unwrap();
    let infos = reader.snapshots().unwrap();
    assert!(infos.len() >= 3, "{infos:?}");
    assert!(infos.windows(2).all(|w| w[0].id < w[1].id));
    let current = reader.current().unwrap();
    assert_eq!(Some(current.id()), reader.current_id());
    assert_eq!(infos.last().unwrap(), &current.info());
    let oldest = reader.snapshot(infos[0].id).unwrap();
    assert_eq!(oldest.info(), infos[0]);
    assert!(oldest.info().frontier < current.info().frontier);
    let comments = |s: &SnapshotReader| s.read("comments", &Query::new()).unwrap().num_rows();
    assert_eq!(comments(&oldest) as u64, infos[0].tables["comments"].rows);
    assert!(comments(&oldest) < comments(&current));
    assert!(infos.iter().all(|i| i.bytes > 0 && i.tables.len() == 5));

    let error = reader.snapshot(999_999).unwrap_err();
    assert!(
        matches!(error, ReadError::SnapshotNotFound { id: 999_999, .. }),
        "{error}"
    );
    assert_eq!(error.kind(), ReadErrorKind::NotFound);
    let error = current.read("windows", &Query::new()).unwrap_err();
    assert!(matches!(error, ReadError::UnknownTable { .. }), "{error}");
    assert!(
        chatter::lake::tables::TABLES
            .iter()
            .all(|t| error.to_string().contains(t)),
        "{error}"
    );
    let error = current
        .read("comments", &Query::new().columns(["id", "txt"]))
        .unwrap_err();
    assert!(matches!(&error, ReadError::UnknownColumn { column, .. } if column == "txt"));
    assert!(error.to_string().contains("created_at"), "{error}");
    assert_eq!(error.kind(), ReadErrorKind::BadQuery);
    let error = LakeReader::open(dir.path().join("data")).unwrap_err();
    assert!(matches!(error, ReadError::NotALake { .. }), "{error}");
    assert!(error.to_string().contains("data"), "{error}");

    // A copy without `current` falls back to its newest snapshot; a damaged file fails only
    // the reads that open it.
    let copy = dir.path().join("copy");
    crate::lake::copy_dir(&lake, &copy);
    std::fs::remove_file(copy.join("current")).unwrap();
    let reader = LakeReader::open(&copy).unwrap();
    let snapshot = reader.current().unwrap();
    assert_eq!(snapshot.id(), current.id());
    let week = TimeRange::iso_week(WEEK).unwrap();
    let victim = snapshot.read("comments", &Query::new().time(week)).unwrap();
    let victim = snapshot.dir().join(&victim.stats.files_opened[0]);
    let size = std::fs::metadata(&victim).unwrap().len() as usize;
    std::fs::write(&victim, vec![0u8; size]).unwrap();
    let error = snapshot
        .read("comments", &Query::new().time(week))
        .unwrap_err();
    assert!(
        matches!(&error, ReadError::Corrupt { path, .. } if path == &victim),
        "{error}"
    );
    assert!(
        error.to_string().contains(&victim.display().to_string()),
        "{error}"
    );
    let next_week = TimeRange::new(week.to_ms.unwrap(), week.to_ms.unwrap() + 7 * 86_400_000);
    assert!(snapshot
        .read("comments", &Query::new().time(next_week))
        .is_ok());
}

/// The read library's contract, and the brief's: `chatter-lake` and `chatter-report` depend
/// on the lake's format, not on the engine. Walks Cargo.lock from each crate through every
/// dependency it pulls in, transitively.
#[test]
fn lake_read_and_report_use_no_engine_code() {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    let packages = lock["package"].as_array().unwrap();
    let dependencies = |name: &str| -> Vec<String> {
        let package = packages.iter().find(|p| p["name"].as_str() == Some(name));
        let package = package.unwrap_or_else(|| panic!("{name} is not in Cargo.lock"));
        let list = package.get("dependencies").and_then(|d| d.as_array());
        // An entry is "name" or "name version" when two versions are locked.
        list.into_iter()
            .flatten()
            .map(|d| d.as_str().unwrap().split(' ').next().unwrap().to_string())
            .collect()
    };
    for root in ["chatter-lake", "chatter-report"] {
        let mut seen = BTreeSet::new();
        let mut todo = vec![root.to_string()];
        while let Some(name) = todo.pop() {
            if seen.insert(name.clone()) {
                todo.extend(dependencies(&name));
            }
        }
        for engine in [
            "timely",
            "differential-dataflow",
            "dataflows",
            "rdkafka",
            "chatter",
        ] {
            assert!(!seen.contains(engine), "{root} depends on {engine}");
        }
        assert!(seen.contains("parquet"), "{root}: the walk found {seen:?}");
    }
}
