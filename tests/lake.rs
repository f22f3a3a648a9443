//! The lake: snapshots, restore, crash safety (SIGKILL at many points), backup/restore, faults,
//! the committed v1 fixture, and real Python readers.

use crate::common::{chatter, read_jsonl, stderr, HalfFeed, StderrLines};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Short retention and a slow comment rate, so a small input spans several days: partitions
/// seal, comments are evicted, and the lake carries sealed days unchanged.
const CONFIG: &str = r#"
[windows]
size = "5m"
baseline_windows = 12
allowed_lateness = "1m"
retention = "3h"
"#;

/// A test directory with generated input and the config.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(comments: u64, seed: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let out = chatter()
            .args([
                "gen",
                "--comments",
                &comments.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .args(["--comments-per-minute", "2", "--out", "data"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(dir.path().join("chatter.toml"), CONFIG).unwrap();
        Fixture { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `chatter run` on the generated input into `lake`, alerts into `alerts-TAG.jsonl`.
    pub fn run(&self, lake: &str, tag: &str, extra: &[&str], crash: Option<&str>) -> Output {
        let alerts = format!("alerts-{tag}.jsonl");
        let mut command = chatter();
        command
            .args(["run", "-c", "chatter.toml", "-i", "data/comments.jsonl"])
            .args(["-e", "data/entities.jsonl", "--batch-size", "400", "-q"])
            .args(["--alerts-out", &alerts, "--dead-letters-out", "dead.jsonl"])
            .args(["--lake", lake])
            .args(extra)
            .current_dir(self.path());
        command.env_remove("CHATTER_CRASH_AT");
        if let Some(point) = crash {
            command.env("CHATTER_CRASH_AT", point);
        }
        command.output().unwrap()
    }

    /// Alert events of one run without the wall-clock field.
    pub fn alerts(&self, tag: &str) -> BTreeSet<String> {
        let path = self.path().join(format!("alerts-{tag}.jsonl"));
        if !path.exists() {
            return BTreeSet::new();
        }
        read_jsonl(&path)
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("emitted_at");
                v.to_string()
            })
            .collect()
    }
}

/// Every table of `lake/current`, each row rendered as text (wall-clock columns left out),
/// sorted: what "the same lake" means.
pub fn lake_rows(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let mut tables = BTreeMap::new();
    for table in chatter::lake::tables::TABLES {
        let mut rows = Vec::new();
        for file in parquet_files(&lake.join("current").join(table)) {
            for batch in chatter::lake::tables::read_batches(&file).unwrap() {
                let schema = batch.schema();
                let options = FormatOptions::default();
                let columns: Vec<(String, Option<ArrayFormatter<'_>>, &arrow_array::ArrayRef)> =
                    batch
                        .columns()
                        .iter()
                        .zip(schema.fields())
                        .filter(|(_, f)| {
                            !["received_at", "emitted_at"].contains(&f.name().as_str())
                        })
                        .map(|(c, f)| {
                            (
                                f.name().clone(),
                                ArrayFormatter::try_new(c.as_ref(), &options).ok(),
                                c,
                            )
                        })
                        .collect();
                for i in 0..batch.num_rows() {
                    let row: Vec<String> = columns
                        .iter()
                        .map(|(name, f, c)| match f {
                            Some(f) => format!("{name}={}", f.value(i)),
                            None => format!("{name}={:?}", c.slice(i, 1)),
                        })
                        .collect();
                    rows.push(row.join("|"));
                }
            }
        }
        rows.sort();
        tables.insert(table.to_string(), rows);
    }
    tables
}

pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn assert_same_lake(got: &Path, want: &BTreeMap<String, Vec<String>>, what: &str) {
    let got = lake_rows(got);
    for (table, rows) in want {
        let other = &got[table];
        if other != rows {
            let a: BTreeSet<_> = rows.iter().collect();
            let b: BTreeSet<_> = other.iter().collect();
            let missing: Vec<_> = a.difference(&b).take(3).collect();
            let extra: Vec<_> = b.difference(&a).take(3).collect();
            panic!(
                "{what}: table {table} differs: {} rows vs {} expected; missing {missing:?}; extra {extra:?}",
                other.len(),
                rows.len()
            );
        }
    }
}

fn killed(output: &Output) -> bool {
    output.status.signal() == Some(9)
}

/// The reference: one uninterrupted run, snapshotting only at the end.
fn reference(fixture: &Fixture) -> (BTreeMap<String, Vec<String>>, BTreeSet<String>) {
    let out = fixture.run("lake-ref", "ref", &["--snapshot-interval", "1h"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lake_rows(&fixture.path().join("lake-ref"));
    for table in [
        "comments",
        "mentions",
        "entity_windows",
        "alerts",
        "dead_letters",
    ] {
        assert!(!rows[table].is_empty(), "the reference has no {table} rows");
    }
    // Each dead letter once: the lake holds exactly what the dead-letter file holds.
    let file = read_jsonl(&fixture.path().join("dead.jsonl"));
    assert_eq!(
        rows["dead_letters"].len(),
        file.len(),
        "dead letters in the lake and the file"
    );
    (rows, fixture.alerts("ref"))
}

#[test]
fn snapshots_are_consistent_and_partitioned_by_day() {
    let fixture = Fixture::new(6000, 3);
    let out = fixture.run(
        "lake",
        "a",
        &[
            "--snapshot-interval",
            "1ms",
            "--keep-snapshots",
            "4",
            "--summary-json",
            "s.json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.path().join("s.json")).unwrap()).unwrap();
    let lake = fixture.path().join("lake");
    let snapshots: Vec<_> = std::fs::read_dir(lake.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(snapshots.len(), 4, "keeps the last 4: {snapshots:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("current/manifest.json")).unwrap())
            .unwrap();
    // Row counts in the manifest equal what the files hold.
    let rows = lake_rows(&lake);
    for (table, rows) in &rows {
        assert_eq!(
            manifest["tables"][table]["rows"].as_u64().unwrap(),
            rows.len() as u64,
            "{table}"
        );
    }
    // Several days, Hive-style.
    let days: Vec<_> = std::fs::read_dir(lake.join("current/comments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        days.len() >= 2 && days.iter().all(|d| d.starts_with("date=")),
        "{days:?}"
    );
    // Sealed days are shared with the previous snapshot by hard link.
    let current = std::fs::read_link(lake.join("current")).unwrap();
    let mut linked = 0;
    for file in parquet_files(&lake.join(&current)) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(&file).unwrap().nlink() > 1 {
            linked += 1;
        }
    }
    assert!(linked > 0, "no file is shared with an older snapshot");
    // The comments table holds one row per comment not deleted: inserts − deletes.
    let live = summary["inserts"].as_u64().unwrap() - summary["deletes"].as_u64().unwrap();
    assert_eq!(rows["comments"].len() as u64, live);
    // Alert history: every event of the run, once.
    assert_eq!(
        rows["alerts"].len() as u64,
        summary["alerts_fired"].as_u64().unwrap()
            + summary["alerts_updated"].as_u64().unwrap()
            + summary["alerts_retracted"].as_u64().unwrap()
    );
    assert_eq!(
        rows["entity_windows"].len() as u64,
        summary["windows"].as_u64().unwrap()
    );
    let summary_out = stderr(&out);
    assert!(summary_out.contains("lake: "), "{summary_out}");
    assert_eq!(manifest["sources"]["end_of_input"], true);
}

/// A snapshot costs what changed: after a restore, an edit of one comment rewrites only the
/// partitions of its day (and the windows it moves); every other file is a hard link.
#[test]
fn a_small_change_rewrites_only_its_partitions() {
    let fixture = Fixture::new(5000, 20);
    let out = fixture.run("lake", "s1", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // Edit one comment (same id, new text), appended as a second input.
    let line = std::fs::read_to_string(fixture.path().join("data/comments.jsonl"))
        .unwrap()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            let dated = v["created_at"]
                .as_str()
                .is_some_and(|t| t.starts_with("2021-"));
            dated && v["text"].is_string() && v["deleted"].is_null()
        })
        .unwrap();
    // The newest comment: well within retention.
    let day = line["created_at"].as_str().unwrap()[..10].to_string();
    let mut edit = line.clone();
    edit["text"] = format!("{} (edited)", line["text"].as_str().unwrap()).into();
    std::fs::write(fixture.path().join("edit.jsonl"), format!("{edit}\n")).unwrap();
    let out = chatter()
        .args([
            "run",
            "-c",
            "chatter.toml",
            "-i",
            "data/comments.jsonl",
            "-i",
            "edit.jsonl",
        ])
        .args([
            "-e",
            "data/entities.jsonl",
            "--batch-size",
            "400",
            "-q",
            "--lake",
            "lake",
        ])
        .args(["--alerts-out", "s2.jsonl"])
        .current_dir(fixture.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lake = fixture.path().join("lake");
    let current = lake.join(std::fs::read_link(lake.join("current")).unwrap());
    let (mut fresh, mut linked) = (Vec::new(), 0);
    for file in parquet_files(&current) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(&file).unwrap().nlink() > 1 {
            linked += 1;
        } else {
            fresh.push(file.strip_prefix(&current).unwrap().display().to_string());
        }
    }
    assert!(linked >= 4, "{linked} files shared; new: {fresh:?}");
    for path in &fresh {
        assert!(
            path.contains(&format!("date={day}")),
            "{path} was rewritten though only {day} changed; new: {fresh:?}"
        );
    }
    assert!(
        fresh.iter().any(|p| p.starts_with("comments/")),
        "{fresh:?}"
    );
}

/// SIGKILL at ≥ 10 different points (inside snapshot writing, during the pointer swap, during
/// pruning, during restore, between epochs, at random times), restart, and the final lake equals
/// an uninterrupted run's, table by table; every alert event any run emitted is one the
/// uninterrupted run emitted too (events may repeat, never differ).
#[test]
fn crash_anywhere_and_the_lake_equals_an_uninterrupted_run() {
    let fixture = Fixture::new(5000, 11);
    let (want, want_alerts) = reference(&fixture);
    let frequent = ["--snapshot-interval", "1ms", "--keep-snapshots", "2"];
    let scenarios: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("between epochs, early", vec!["epoch:3"], vec![]),
        ("between epochs, late", vec!["epoch:11"], vec![]),
        (
            "after the parts are written",
            vec!["snapshot-parts:2"],
            vec![],
        ),
        (
            "while linking unchanged files",
            vec!["snapshot-links:3"],
            vec![],
        ),
        (
            "after the manifest, before the rename",
            vec!["snapshot-manifest:2"],
            vec![],
        ),
        (
            "after the rename, before the pointer swap",
            vec!["snapshot-renamed:3"],
            vec![],
        ),
        ("inside the pointer swap", vec!["pointer-tmp:4"], vec![]),
        ("after publishing", vec!["snapshot-published:5"], vec![]),
        ("while pruning", vec!["prune:2"], vec![]),
        ("during restore", vec!["epoch:9", "restore"], vec![]),
        (
            "three crashes in a row",
            vec!["epoch:6", "snapshot-manifest:1", "epoch:5"],
            vec![],
        ),
        (
            "2 workers, resumed with 1",
            vec!["epoch:10"],
            vec!["-w", "1"],
        ),
    ];
    for (n, (what, crashes, last_args)) in scenarios.iter().enumerate() {
        let lake = format!("lake-{n}");
        let mut seen = BTreeSet::new();
        for (k, point) in crashes.iter().enumerate() {
            let tag = format!("{n}-{k}");
            let out = fixture.run(&lake, &tag, &frequent, Some(point));
            assert!(
                killed(&out),
                "{what}: CHATTER_CRASH_AT={point} was not reached: {}",
                stderr(&out)
            );
            seen.extend(fixture.alerts(&tag));
        }
        let tag = format!("{n}-final");
        let mut args = frequent.to_vec();
        args.extend(last_args);
        let out = fixture.run(&lake, &tag, &args, None);
        assert!(
            out.status.success(),
            "{what}: the restart failed: {}",
            stderr(&out)
        );
        seen.extend(fixture.alerts(&tag));
        assert_same_lake(&fixture.path().join(&lake), &want, what);
        let differing: Vec<_> = seen.difference(&want_alerts).take(3).collect();
        assert!(
            differing.is_empty(),
            "{what}: alert events that differ: {differing:?}"
        );
        eprintln!("crash scenario ok: {what}");
    }
}

#[test]
fn killed_at_random_moments_the_lake_still_converges() {
    let fixture = Fixture::new(5000, 12);
    let (want, want_alerts) = reference(&fixture);
    let seed = std::env::var("CHATTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("random kills: CHATTER_SEED={seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut seen = BTreeSet::new();
    for round in 0..4 {
        let alerts = format!("alerts-r{round}.jsonl");
        let mut child = chatter()
            .args(["run", "-c", "chatter.toml", "-i", "data/comments.jsonl"])
            .args(["-e", "data/entities.jsonl", "--batch-size", "400", "-q"])
            .args(["--alerts-out", &alerts, "--dead-letters-out", "dead.jsonl"])
            .args(["--lake", "lake", "--snapshot-interval", "5ms"])
            .current_dir(fixture.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = 30 + next() % 400;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        seen.extend(fixture.alerts(&format!("r{round}")));
    }
    let out = fixture.run("lake", "final", &[], None);
    assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
    seen.extend(fixture.alerts("final"));
    assert_same_lake(&fixture.path().join("lake"), &want, &format!("seed {seed}"));
    let differing: Vec<_> = seen.difference(&want_alerts).take(3).collect();
    assert!(
        differing.is_empty(),
        "seed {seed}: alert events that differ: {differing:?}"
    );
}

#[test]
fn sigterm_takes_a_last_snapshot_and_the_next_run_resumes() {
    let fixture = Fixture::new(5000, 13);
    let (want, _) = reference(&fixture);
    // Feed the input slowly through stdin so SIGTERM lands mid-stream.
    let mut child = stdin_run(&fixture, "a.jsonl", &["--snapshot-interval", "1h"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
    let feed = HalfFeed::start(&mut child, input);
    // The lake is locked after the signal handlers are installed.
    let lock = fixture.path().join("lake-term/LAKE.lock");
    for _ in 0..600 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(lock.exists(), "chatter did not lock the lake within 30 s");
    std::thread::sleep(std::time::Duration::from_millis(700));
    crate::common::send_signal(child.id(), "TERM");
    // Keep feeding: the stop happens at the next epoch boundary.
    feed.rest();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.path().join("lake-term/current/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["sources"]["end_of_input"], false);
    resume_from_stdin(&fixture, "lake-term", want, "SIGTERM then resume");
}

/// Resumes `lake` from the whole input on stdin and checks it equals the reference `want`.
fn resume_from_stdin(
    fixture: &Fixture,
    lake: &str,
    mut want: BTreeMap<String, Vec<String>>,
    what: &str,
) {
    let out = stdin_run(fixture, "b.jsonl", &["--lake", lake])
        .stdin(std::fs::File::open(fixture.path().join("data/comments.jsonl")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restored snapshot"),
        "{}",
        stderr(&out)
    );
    // Provenance differs by input name (stdin vs the file) in dead letters: compare the rest.
    let rows = want.get_mut("dead_letters").unwrap();
    for row in rows.iter_mut() {
        *row = row.replace("file:data/comments.jsonl:", "file:-:");
    }
    rows.sort();
    assert_same_lake(&fixture.path().join(lake), &want, what);
}

/// SIGTERM while a snapshot is being published (held for 3 s at `snapshot-parts`, after the
/// workers wrote their parts and before the manifest): that snapshot completes, the run
/// takes its last one and exits 0, and the next run resumes to the same lake as an
/// uninterrupted run.
#[test]
fn sigterm_during_a_snapshot_finishes_it_and_the_next_run_resumes() {
    let fixture = Fixture::new(5000, 14);
    let (want, _) = reference(&fixture);
    let mut child = stdin_run(
        &fixture,
        "a.jsonl",
        &["--snapshot-interval", "1ms", "--lake", "lake-pause"],
    )
    .env("CHATTER_PAUSE_AT", "snapshot-parts:2")
    .stdin(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let input = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
    let feed = HalfFeed::start(&mut child, input);
    let lines = StderrLines::take(&mut child);
    assert!(
        lines.wait_for(
            "CHATTER_PAUSE_AT=snapshot-parts",
            std::time::Duration::from_secs(60),
        ),
        "the second snapshot never reached its pause"
    );
    crate::common::send_signal(child.id(), "TERM");
    feed.rest();
    let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
    let err = lines.all();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let lake = fixture.path().join("lake-pause");
    let snapshots = std::fs::read_dir(lake.join("snapshots")).unwrap().count();
    assert!(
        snapshots >= 2,
        "the paused snapshot and the last one: {snapshots}"
    );
    let what = "SIGTERM during a snapshot, then resume";
    resume_from_stdin(&fixture, "lake-pause", want, what);
}

/// `chatter run` reading comments from stdin into `lake-term` (or the `--lake` in `extra`).
fn stdin_run(fixture: &Fixture, alerts: &str, extra: &[&str]) -> std::process::Command {
    let mut command = chatter();
    command
        .args([
            "run",
            "-c",
            "chatter.toml",
            "-i",
            "-",
            "-e",
            "data/entities.jsonl",
        ])
        .args(["--batch-size", "400", "-q", "--alerts-out", alerts]);
    if !extra.contains(&"--lake") {
        command.args(["--lake", "lake-term"]);
    }
    command.args(extra).current_dir(fixture.path());
    command
}

/// Backups taken while chatter writes a snapshot every millisecond and prunes all but 2 (so the
/// snapshot being copied can vanish mid-copy) are each complete and verified.
#[test]
fn backups_taken_while_chatter_runs_are_consistent() {
    let fixture = Fixture::new(5000, 19);
    let mut child = stdin_run(
        &fixture,
        "live.jsonl",
        &[
            "--lake",
            "lake-live",
            "--snapshot-interval",
            "1ms",
            "--keep-snapshots",
            "2",
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stderr(std::fs::File::create(fixture.path().join("live.log")).unwrap())
    .spawn()
    .unwrap();
    let input = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        for chunk in input.chunks(input.len() / 40 + 1) {
            if stdin.write_all(chunk).is_err() {
                return; // the run ended (the test failed elsewhere)
            }
            std::thread::sleep(std::time::Duration::from_millis(40));
        }
    });
    let mut taken = 0;
    for i in 0..60 {
        let dest = format!("bak-{i}");
        let out = chatter()
            .args(["backup", "--lake", "lake-live", "--to", &dest])
            .current_dir(fixture.path())
            .output()
            .unwrap();
        if out.status.success() {
            taken += 1;
            // It verifies as a lake on its own, and installs.
            let check = chatter()
                .args(["restore", "--from", &dest, "--lake", &format!("check-{i}")])
                .current_dir(fixture.path())
                .output()
                .unwrap();
            assert!(check.status.success(), "{}", stderr(&check));
            assert!(!lake_rows(&fixture.path().join(&dest))["comments"].is_empty());
        } else {
            // Only before the first snapshot exists.
            let err = stderr(&out);
            assert!(
                err.contains("no snapshot yet") || err.contains("not a chatter lake"),
                "{err}"
            );
            assert_eq!(
                taken,
                0,
                "a backup failed after one succeeded: {}",
                stderr(&out)
            );
        }
        if taken >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    feeder.join().unwrap();
    assert!(
        child.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(fixture.path().join("live.log")).unwrap()
    );
    assert!(
        taken >= 3,
        "only {taken} backups were taken while the run lasted"
    );
}

#[test]
fn damaged_snapshots_are_skipped_and_the_previous_one_is_used() {
    let fixture = Fixture::new(3000, 14);
    let (want, _) = reference(&fixture);
    for (n, damage) in ["manifest", "missing file", "flipped byte"]
        .iter()
        .enumerate()
    {
        let lake = format!("lake-d{n}");
        let out = fixture.run(&lake, "d", &["--snapshot-interval", "1ms"], Some("epoch:6"));
        assert!(killed(&out));
        let root = fixture.path().join(&lake);
        let newest = std::fs::read_link(root.join("current")).unwrap();
        let snap = root.join(&newest);
        match *damage {
            "manifest" => std::fs::write(snap.join("manifest.json"), b"{ not json").unwrap(),
            "missing file" => {
                let file = parquet_files(&snap.join("comments")).pop().unwrap();
                std::fs::remove_file(file).unwrap();
            }
            _ => {
                // A hard-linked file would damage older snapshots too: break a fresh one.
                let file = parquet_files(&snap.join("dead_letters")).pop().unwrap();
                let mut bytes = std::fs::read(&file).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::remove_file(&file).unwrap();
                std::fs::write(&file, bytes).unwrap();
            }
        }
        let out = fixture.run(&lake, "d2", &["--snapshot-interval", "1ms"], None);
        let err = stderr(&out);
        assert!(out.status.success(), "{damage}: {err}");
        assert!(err.contains("skipping damaged snapshot"), "{damage}: {err}");
        assert_same_lake(&root, &want, damage);
    }
}

/// A snapshot of a newer lake schema (written by a newer chatter) is refused with exit 2 and
/// left in place: not skipped as damaged, which would resume from an older snapshot and
/// then prune the newer ones.
#[test]
fn a_snapshot_of_a_newer_schema_is_refused_and_kept() {
    let fixture = Fixture::new(1000, 16);
    let out = fixture.run("lake", "n", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let root = fixture.path().join("lake");
    let newest = root.join(std::fs::read_link(root.join("current")).unwrap());
    let manifest = newest.join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    json["schema_version"] = serde_json::json!(99);
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = fixture.run("lake", "n2", &["--keep-snapshots", "1"], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lake schema version 99, newer than this chatter's"),
        "{err}"
    );
    assert!(!err.contains("skipping damaged snapshot"), "{err}");
    assert!(manifest.exists(), "the newer snapshot is kept");
}

#[test]
fn a_directory_that_is_not_a_lake_is_refused() {
    let fixture = Fixture::new(500, 15);
    std::fs::create_dir(fixture.path().join("notalake")).unwrap();
    std::fs::write(fixture.path().join("notalake/keep.txt"), b"mine").unwrap();
    let out = fixture.run("notalake", "x", &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("notalake") && err.contains("not a chatter lake"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(fixture.path().join("notalake/keep.txt").exists());
    // A lake written with other settings is refused too.
    let out = fixture.run("lake", "y", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        fixture.path().join("other.toml"),
        CONFIG.replace("size = \"5m\"", "size = \"1m\""),
    )
    .unwrap();
    let out = chatter()
        .args([
            "run",
            "-c",
            "other.toml",
            "-i",
            "data/comments.jsonl",
            "--lake",
            "lake",
            "-q",
        ])
        .current_dir(fixture.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("other windows/alerts/extract settings"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_writer_on_the_same_lake_is_refused() {
    let fixture = Fixture::new(500, 21);
    let mut first = stdin_run(&fixture, "one.jsonl", &["--lake", "lake-busy"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let marker = fixture.path().join("lake-busy/LAKE.lock");
    for _ in 0..100 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let second = fixture.run("lake-busy", "two", &[], None);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another chatter process") && err.contains("lake-busy"),
        "{err}"
    );
    drop(first.stdin.take()); // end of input: the first run finishes normally
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` on a small tmpfs (root only: mounting needs it), unmounting afterwards.
fn with_tmpfs(size: &str, f: impl FnOnce(&Path)) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        return false;
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(dir.path())));
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    true
}

#[test]
fn a_full_disk_or_read_only_lake_fails_cleanly_and_keeps_the_previous_snapshot() {
    let fixture = Fixture::new(4000, 16);
    let (want, _) = reference(&fixture);
    let ran = with_tmpfs("3m", |mnt| {
        let lake = mnt.join("lake");
        let lake_arg = lake.to_str().unwrap();
        // A first, complete run (fits), then a second input that does not.
        let out = fixture.run(
            lake_arg,
            "fs1",
            &["--snapshot-interval", "1h"],
            Some("epoch:6"),
        );
        assert!(killed(&out));
        std::fs::write(mnt.join("filler"), vec![0u8; 0]).unwrap();
        // Fill the disk.
        let free = {
            let out = std::process::Command::new("df")
                .args(["--output=avail", "-B1"])
                .arg(mnt)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        std::fs::write(
            mnt.join("filler"),
            vec![1u8; free.saturating_sub(4096) as usize],
        )
        .ok();
        let out = fixture.run(lake_arg, "fs2", &["--snapshot-interval", "1ms"], None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("could not be written") && err.contains(lake_arg),
            "{err}"
        );
        // Free space: the next run resumes and converges.
        std::fs::remove_file(mnt.join("filler")).unwrap();
        let out = fixture.run(lake_arg, "fs3", &[], None);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_same_lake(&lake, &want, "after a full disk");
        // Read-only: the same clean failure.
        let remount = |mode: &str| {
            std::process::Command::new("mount")
                .args(["-o", &format!("remount,{mode}")])
                .arg(mnt)
                .status()
                .unwrap()
                .success()
        };
        assert!(remount("ro"));
        let out = chatter()
            .args([
                "run",
                "-c",
                "chatter.toml",
                "-i",
                "data/comments.jsonl",
                "-q",
            ])
            .args(["-e", "data/entities.jsonl", "--lake", lake_arg])
            .current_dir(fixture.path())
            .output()
            .unwrap();
        assert!(remount("rw"));
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(err.contains(lake_arg), "{err}");
        assert_same_lake(&lake, &want, "after a read-only attempt");
    });
    if !ran {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs (needs root): full-disk and read-only cases not run"
        );
    }
}

#[test]
fn backup_and_restore_round_trip_and_damaged_backups_are_refused() {
    let fixture = Fixture::new(3000, 17);
    let out = fixture.run("lake", "b", &["--snapshot-interval", "1ms"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = lake_rows(&fixture.path().join("lake"));
    let run = |args: &[&str]| {
        chatter()
            .args(args)
            .current_dir(fixture.path())
            .output()
            .unwrap()
    };
    let out = run(&["backup", "--lake", "lake", "--to", "bak"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("checksums verified"));
    // The backup is a lake of its own that readers can open.
    assert_eq!(lake_rows(&fixture.path().join("bak")), want);
    // Backing up into a directory that holds another lake is refused.
    let out = run(&["backup", "--lake", "lake", "--to", "bak"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already holds a lake"),
        "{}",
        stderr(&out)
    );
    // Restore into a fresh lake: the same tables; a run on it resumes (nothing new to read).
    let out = run(&["restore", "--from", "bak", "--lake", "lake2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lake_rows(&fixture.path().join("lake2")), want);
    let out = fixture.run("lake2", "b2", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restored snapshot"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lake_rows(&fixture.path().join("lake2")), want);
    // Into a lake with snapshots: only with --force (exit 2: the user's to fix).
    let out = run(&["restore", "--from", "bak", "--lake", "lake"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    // Into a lake another process holds (as a running chatter does): exit 2, even with
    // --force, and nothing installed.
    let held = std::fs::File::create(fixture.path().join("lake/LAKE.lock")).unwrap();
    held.try_lock().unwrap();
    let before = std::fs::read_link(fixture.path().join("lake/current")).unwrap();
    let out = run(&["restore", "--from", "bak", "--lake", "lake", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another chatter process"),
        "{}",
        stderr(&out)
    );
    drop(held);
    assert_eq!(
        std::fs::read_link(fixture.path().join("lake/current")).unwrap(),
        before
    );
    // A path that holds no backup: exit 2, naming it.
    let out = run(&["restore", "--from", "no-such-backup", "--lake", "lake4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-backup"), "{}", stderr(&out));
    // A damaged backup is refused and the target is left alone.
    let file = parquet_files(&fixture.path().join("bak/current/comments"))
        .pop()
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let out = run(&["restore", "--from", "bak", "--lake", "lake3"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("damaged") && err.contains("checksum"), "{err}");
    assert!(!fixture.path().join("lake3/current").exists());
}

/// A lake written by schema version 1 (committed under tests/fixtures/lake-v1, made from
/// `chatter gen --comments 3000 --seed 7 --comments-per-minute 2` with the CONFIG above,
/// `--batch-size 400`, and
/// stopped mid-input) must restore in every later version and finish to the same lake as an
/// uninterrupted run; and so must a lake of an older version that lacks a (nullable) column
/// added since.
#[test]
fn the_committed_v1_lake_restores() {
    let fixture_lake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lake-v1");
    let fixture = Fixture::new(3000, 7);
    let (want, _) = reference(&fixture);
    copy_dir(&fixture_lake, &fixture.path().join("lake-v1"));
    let out = fixture.run("lake-v1", "v1", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restored snapshot"),
        "{}",
        stderr(&out)
    );
    assert_same_lake(&fixture.path().join("lake-v1"), &want, "v1 fixture");

    // A lake of an older schema version, whose files lack a column this version added
    // (`language_confidence`, nullable): it restores, and the first snapshot rewrites those
    // files with the column, so every file of a table has one schema (polars and others read
    // a directory without options only then).
    let older = fixture.path().join("lake-v0");
    copy_dir(&fixture_lake, &older);
    drop_column_as_an_older_version_would(&older, "comments", "language_confidence");
    let out = fixture.run("lake-v0", "v0", &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restored snapshot"),
        "{}",
        stderr(&out)
    );
    // The values the older files never had are null now; everything else is as it was.
    let mask = |rows: &BTreeMap<String, Vec<String>>| -> BTreeMap<String, Vec<String>> {
        rows.iter()
            .map(|(table, rows)| {
                let mut rows: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        r.split('|')
                            .filter(|c| !c.starts_with("language_confidence="))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect();
                rows.sort();
                (table.clone(), rows)
            })
            .collect()
    };
    assert_eq!(
        mask(&lake_rows(&older)),
        mask(&want),
        "an older schema version, migrated"
    );
    let schema = chatter::lake::tables::schema_of("comments")
        .unwrap()
        .unwrap();
    for file in parquet_files(&older.join("current/comments")) {
        let batches = chatter::lake::tables::read_batches(&file).unwrap();
        assert_eq!(
            batches[0].schema().fields(),
            schema.fields(),
            "{}",
            file.display()
        );
    }
    match python() {
        Some(python) => python_readers_agree(&python, &older),
        None => eprintln!("SKIPPED: the Python readers on the migrated lake (no venv)"),
    }
}

/// Rewrites the first `table` file of `lake`'s current snapshot without `column`, and marks
/// the snapshot as written by schema version 0, as an older chatter would have.
fn drop_column_as_an_older_version_would(lake: &Path, table: &str, column: &str) {
    use arrow_array::RecordBatch;
    let current = lake.join(std::fs::read_link(lake.join("current")).unwrap());
    let manifest_path = current.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["schema_version"] = 0.into();
    let files = manifest["files"].as_array_mut().unwrap();
    let entry = files.iter_mut().find(|f| f["table"] == table).unwrap();
    let path = current.join(entry["path"].as_str().unwrap());
    let batches = chatter::lake::tables::read_batches(&path).unwrap();
    let batch = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let index = batch.schema().index_of(column).unwrap();
    let mut older = batch.clone();
    older.remove_column(index);
    let older: RecordBatch = older;
    std::fs::remove_file(&path).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, older.schema(), None).unwrap();
    writer.write(&older).unwrap();
    writer.close().unwrap();
    let (sha, bytes) = chatter::lake::tables::checksum(&path).unwrap();
    entry["sha256"] = sha.into();
    entry["bytes"] = bytes.into();
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The venv's Python with the readers (ops/test.sh makes it and sets CHATTER_PYTHON).
pub fn python() -> Option<PathBuf> {
    std::env::var_os("CHATTER_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let venv = Path::new(&home).join(".cache/chatter/venv/bin/python");
            venv.exists().then_some(venv)
        })
}

/// Runs tests/python/read_lake.py on `lake`: every reader, no options, counts as the manifest.
fn python_readers_agree(python: &Path, lake: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_lake.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(lake)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for reader in ["pyarrow", "pandas", "polars", "duckdb"] {
        assert!(text.contains(&format!("{reader}: ok")), "{text}");
    }
}

/// pyarrow, polars, duckdb and pandas read every table of `lake/current` without options, and
/// what they read agrees with the manifest (the venv comes from ops/test.sh; see there).
#[test]
fn python_readers_read_every_table() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no Python venv with the readers (run ops/test.sh, which creates it)");
        return;
    };
    let fixture = Fixture::new(4000, 18);
    let out = fixture.run("lake", "p", &["--snapshot-interval", "1ms"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    python_readers_agree(&python, &fixture.path().join("lake"));
    // The analyst example runs on it too.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/analyst.py");
    let out = std::process::Command::new(&python)
        .arg(&example)
        .arg(fixture.path().join("lake"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Top movers"));
}

/// `chatter run` of the fixture as process `process` of a 2-process loopback cluster (one
/// worker each), comments from `input` ("-" for stdin).
fn cluster_run(
    fixture: &Fixture,
    hosts: &Path,
    process: usize,
    input: &str,
    lake: &str,
) -> std::process::Command {
    let mut command = chatter();
    command
        .args([
            "run",
            "-c",
            "chatter.toml",
            "-i",
            input,
            "-e",
            "data/entities.jsonl",
        ])
        .args(["--batch-size", "400", "-q", "-w", "1", "--lake", lake])
        .args(["--alerts-out", &format!("alerts-{lake}-{process}.jsonl")])
        .args(["--dead-letters-out", &format!("dead-{process}.jsonl")])
        .args(["--processes", "2", "--process", &process.to_string()])
        .arg("--hosts")
        .arg(hosts)
        .current_dir(fixture.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    command
}

fn hosts_file(fixture: &Fixture) -> PathBuf {
    let hosts = fixture.path().join("hosts");
    let (a, b) = (crate::common::free_port(), crate::common::free_port());
    std::fs::write(&hosts, format!("127.0.0.1:{a}\n127.0.0.1:{b}\n")).unwrap();
    hosts
}

/// File input on a 2-process cluster: the same lake and alerts as one process. SIGTERM to
/// either process stops both (the stop travels through the signal dataflow, not a
/// process-local flag), with one consistent final snapshot that a restart resumes from.
#[test]
fn file_input_on_a_two_process_cluster_equals_one_process_and_stops_together() {
    let fixture = Fixture::new(6000, 21);
    let (want, want_alerts) = reference(&fixture);
    let hosts = hosts_file(&fixture);
    let children: Vec<_> = (0..2)
        .map(|p| {
            cluster_run(&fixture, &hosts, p, "data/comments.jsonl", "lake-two")
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_same_lake(&fixture.path().join("lake-two"), &want, "2 processes");
    assert_eq!(
        fixture.alerts("lake-two-0"),
        want_alerts,
        "process 0 emits the alerts"
    );
    assert!(
        fixture.alerts("lake-two-1").is_empty(),
        "process 1 has no worker 0"
    );

    // Stdin on process 0 (process 1 reads none: stdin is read once), fed slowly; SIGTERM to
    // process 1 stops both.
    for signalled in [1usize, 0] {
        let lake = format!("lake-term-{signalled}");
        let hosts = hosts_file(&fixture);
        let mut first = cluster_run(&fixture, &hosts, 0, "-", &lake)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let second = cluster_run(&fixture, &hosts, 1, "-", &lake)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let input = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
        let feed = HalfFeed::start(&mut first, input);
        // Signal once the cluster is complete (a stop while joining ends a process at once,
        // and its peer then loses it: the start-up test's case).
        let said = StderrLines::take(&mut first);
        let within = std::time::Duration::from_secs(60);
        assert!(
            said.wait_for("the cluster is complete", within),
            "process 0 did not say the cluster is complete within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let pid = [first.id(), second.id()][signalled].to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        // Process 0 stops reading after the agreed epoch, whatever is still fed.
        feed.rest();
        for child in [first, second] {
            let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
            assert!(
                out.status.success(),
                "SIGTERM to process {signalled}: {}",
                stderr(&out)
            );
        }
        let said = said.all();
        assert!(said.contains("interrupted"), "process 0: {said}");
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture.path().join(&lake).join("current/manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["sources"]["end_of_input"], false, "{manifest}");
        assert_eq!(manifest["workers"], 2);
        // Both resume from that snapshot and finish: the lake equals the reference's.
        let hosts = hosts_file(&fixture);
        let data = fixture.path().join("data/comments.jsonl");
        let children: Vec<_> = (0..2)
            .map(|p| {
                let mut command = cluster_run(&fixture, &hosts, p, "-", &lake);
                if p == 0 {
                    command.stdin(std::fs::File::open(&data).unwrap());
                } else {
                    command.stdin(std::process::Stdio::null());
                }
                command.spawn().unwrap()
            })
            .collect();
        for child in children {
            let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("resuming from snapshot"),
                "{}",
                stderr(&out)
            );
        }
        let mut want = want.clone();
        for row in want.get_mut("dead_letters").unwrap().iter_mut() {
            *row = row.replace("file:data/comments.jsonl:", "file:-:");
        }
        want.get_mut("dead_letters").unwrap().sort();
        assert_same_lake(&fixture.path().join(&lake), &want, "SIGTERM, then resume");
    }
}

/// `/readyz` answers 503 "stopping" from the moment of SIGTERM on a file run too (even while
/// it waits for input), and the run then ends cleanly.
#[test]
fn readyz_is_503_after_sigterm_for_the_file_source() {
    let fixture = Fixture::new(3000, 5);
    let port = crate::common::free_port();
    let mut child = stdin_run(
        &fixture,
        "a.jsonl",
        &[
            "--http",
            &format!("127.0.0.1:{port}"),
            "--lake",
            "lake-ready",
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let input = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
    let feed = HalfFeed::start(&mut child, input);
    let wait = crate::kafka::wait_for_answer;
    let within = std::time::Duration::from_secs(30);
    let ready = wait(port, "/readyz", 200, "\"ready\":true", within);
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert!(ready["frontier"].as_u64().is_some(), "{ready}");
    assert!(ready["records"].as_u64().is_some(), "{ready}");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let body = wait(port, "/readyz", 503, "\"phase\":\"stopping\"", within);
    assert!(body.contains("\"ready\":false"), "{body}");
    let (status, _) = crate::kafka::http_get(port, "/healthz").expect("/healthz answers");
    assert_eq!(status, 200, "alive while it stops");
    feed.rest();
    let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// An input that fails in the middle of a run (here the second file, deleted while the first
/// is still being read from a pipe) stops the run with one error naming it, after a final
/// snapshot of what was processed, and a non-zero exit.
#[test]
fn an_input_that_fails_mid_run_stops_with_a_last_snapshot_and_exit_1() {
    let fixture = Fixture::new(2000, 8);
    let data = std::fs::read(fixture.path().join("data/comments.jsonl")).unwrap();
    let lines: Vec<&[u8]> = data.split_inclusive(|b| *b == b'\n').collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(fixture.path().join("second.jsonl"), second.concat()).unwrap();
    let fifo = fixture.path().join("first.jsonl");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let child = chatter()
        .args([
            "run",
            "-c",
            "chatter.toml",
            "-i",
            "first.jsonl",
            "-i",
            "second.jsonl",
        ])
        .args([
            "-e",
            "data/entities.jsonl",
            "--batch-size",
            "400",
            "-q",
            "-w",
            "1",
        ])
        .args(["--lake", "lake-fail", "--alerts-out", "a.jsonl"])
        .current_dir(fixture.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the pipe waits for chatter to open it for reading.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write;
    pipe.write_all(&first.concat()).unwrap();
    std::fs::remove_file(fixture.path().join("second.jsonl")).unwrap();
    drop(pipe);
    let out = crate::common::finish_within(child, crate::common::PROCESS_DEADLINE);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("second.jsonl") && err.contains("the lake holds what was processed"),
        "{err}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.path().join("lake-fail/current/manifest.json")).unwrap(),
    )
    .unwrap();
    let sources = &manifest["sources"];
    assert_eq!(sources["end_of_input"], false, "{manifest}");
    assert_eq!(sources["global_line"], first.len() as u64, "{manifest}");
    assert_eq!(sources["files"][0]["complete"], true, "{manifest}");
    assert!(!lake_rows(&fixture.path().join("lake-fail"))["comments"].is_empty());
}

/// A record refused as beyond retention is one dead letter, in the file and in the lake (it
/// once went into the lake twice: from the ingest hook and from the drain).
#[test]
fn a_refused_record_is_one_dead_letter_in_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let line = |id: &str, at: &str| format!(r#"{{"id":"{id}","text":"GME","created_at":"{at}"}}"#);
    let input = [
        line("a", "2021-01-01T00:00:00Z"),
        line("b", "2021-01-10T00:00:00Z"),
        line("c", "2021-01-01T00:05:00Z"),
        line("d", "2021-01-10T00:01:00Z"),
    ]
    .join("\n");
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let out = chatter()
        .args([
            "run",
            "-q",
            "-i",
            "in.jsonl",
            "--batch-size",
            "1",
            "--lake",
            "lake",
        ])
        .args([
            "--dead-letters-out",
            "dead.jsonl",
            "--alerts-out",
            "a.jsonl",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let file = read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(file.len(), 1, "{file:?}");
    assert_eq!(file[0]["reason"], "beyond_retention");
    let rows = lake_rows(&dir.path().join("lake"));
    assert_eq!(rows["dead_letters"].len(), 1, "{:?}", rows["dead_letters"]);
    assert!(rows["dead_letters"][0].contains("beyond_retention"));
}
