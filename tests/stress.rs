//! Stress with hostile input at volume: a 300 MB line, a million malformed records. Each
//! asserts what a user relies on (nothing lost, no crash, memory bounded), never a duration.

use crate::common::{output_within, stderr};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::path::Path;

const CATALOG: &[u8] =
    br#"{"id":"ZQX","name":"Zeta Quux","aliases":["Zeta Quux"],"symbols":["ZQX"]}"#;

fn good(id: &str) -> String {
    format!(r#"{{"id":"{id}","text":"$ZQX is up","created_at":"2021-01-28T14:03:11Z"}}"#)
}

/// Runs the file source over `input` in `dir` with a lake, dead letters and a summary; returns
/// the summary.
fn run(dir: &Path, input: &str) -> serde_json::Value {
    std::fs::write(dir.join("e.jsonl"), CATALOG).unwrap();
    let output = output_within(crate::common::chatter().current_dir(dir).args([
        "run",
        "-q",
        "-i",
        input,
        "-e",
        "e.jsonl",
        "--dead-letters-out",
        "dead.jsonl",
        "--alerts-out",
        "alerts.jsonl",
        "--summary-json",
        "summary.json",
        "--lake",
        "lake",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn peak_rss_mb(summary: &serde_json::Value) -> f64 {
    summary["peak_rss_bytes"]
        .as_f64()
        .expect("peak RSS measured")
        / 1e6
}

/// A 300 MB line is skipped as a stream: memory stays bounded by the 1 MiB limit, and its dead
/// letter keeps the first 1 MiB, the full length and the sha256 of the whole line.
#[test]
fn a_300_mb_line_is_skipped_with_memory_bounded_by_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "{}", good("a")).unwrap();
    let mut hasher = Sha256::new();
    let head = br#"{"id":"big","created_at":"2021-01-28T14:03:11Z","text":""#;
    let filler = vec![b'x'; 1 << 20];
    let mut length = head.len();
    out.write_all(head).unwrap();
    hasher.update(head);
    for _ in 0..300 {
        out.write_all(&filler).unwrap();
        hasher.update(&filler);
        length += filler.len();
    }
    out.write_all(b"\"}\n").unwrap();
    hasher.update(b"\"}");
    length += 2;
    writeln!(out, "{}", good("b")).unwrap();
    drop(out);
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let summary = run(dir.path(), "c.jsonl");
    assert_eq!(summary["inserts"], 2, "{summary}");
    let dead = crate::common::read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "one dead letter");
    let letter = &dead[0];
    assert_eq!(letter["reason"], "oversize");
    assert_eq!(letter["source"], "file:c.jsonl:2");
    let error = letter["error"].as_str().unwrap();
    for part in [
        format!("record is {length} bytes, the limit is 1048576"),
        "truncated to the first 1048576 bytes".to_string(),
        format!("sha256 {digest}"),
    ] {
        assert!(error.contains(&part), "{error:?} lacks {part:?}");
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(letter["raw_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 1 << 20);
    assert!(raw.starts_with(head));
    let file = std::fs::metadata(dir.path().join("dead.jsonl"))
        .unwrap()
        .len();
    assert!(file < 4 << 20, "the dead-letter file is {file} bytes");
    let peak = peak_rss_mb(&summary);
    assert!(peak < 150.0, "peak RSS {peak:.0} MB for a 300 MB line");
    // The lake's letter is the same start; replay leaves it out (it is not the record).
    let replay = output_within(crate::common::chatter().current_dir(dir.path()).args([
        "replay",
        "--lake",
        "lake",
        "--out",
        "again.jsonl",
    ]));
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(std::fs::read(dir.path().join("again.jsonl")).unwrap(), b"");
    assert!(
        stderr(&replay).contains("only its start was kept"),
        "{}",
        stderr(&replay)
    );
}

/// Malformed records of every kind, mixed with good ones: `count` lines, every 10th of the first
/// 100,000 good (so live state is the same whatever the count).
fn write_malformed(path: &Path, count: usize) -> usize {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut good_lines = 0;
    for i in 0..count {
        let line: Vec<u8> = match i % 10 {
            0 if i < 100_000 => {
                good_lines += 1;
                good(&format!("g{i}")).into_bytes()
            }
            1 => format!("{{\"id\":\"x{i}\",\"text\":").into_bytes(),
            2 => b"[1,2,3]".to_vec(),
            3 => format!(r#"{{"id":"x{i}","created_at":"2021-01-28T14:03:11Z"}}"#).into_bytes(),
            4 => format!(r#"{{"id":"x{i}","text":"t","created_at":"yesterday"}}"#).into_bytes(),
            5 => {
                let mut line = format!(r#"{{"id":"x{i}","text":""#).into_bytes();
                line.extend_from_slice(b"\xc3\x28\",\"created_at\":1}");
                line
            }
            6 => format!(r#"{{"id":{i},"text":"t","created_at":"2021-01-28T14:03:11Z"}}"#)
                .into_bytes(),
            7 => format!(r#"{{"id":"x{i}","text":"t","created_at":"1970-01-01T00:00:00Z"}}"#)
                .into_bytes(),
            0 | 8 => b"\x00\x01\x02 not json".to_vec(),
            _ => br#"{"id":"","text":"t","created_at":"2021-01-28T14:03:11Z"}"#.to_vec(),
        };
        out.write_all(&line).unwrap();
        out.write_all(b"\n").unwrap();
    }
    good_lines
}

/// A million malformed records: every one is a dead letter (none lost), the run finishes, and
/// memory does not grow with the count. The lake holds at most 8 MiB of dead letters before it
/// takes a snapshot that writes them out, so 1M peaks at most a fixed 48 MB (the held letters,
/// their Arrow batch and the Parquet encoder) above 100k, whose letters all fit in one snapshot.
#[test]
fn a_million_malformed_records_all_become_dead_letters_in_flat_memory() {
    let mut peaks = Vec::new();
    for count in [100_000, 1_000_000] {
        let dir = tempfile::tempdir().unwrap();
        let good_lines = write_malformed(&dir.path().join("bad.jsonl"), count);
        let summary = run(dir.path(), "bad.jsonl");
        let bad = (count - good_lines) as u64;
        assert_eq!(summary["inserts"], good_lines as u64, "{summary}");
        let by_reason = summary["dead_letters"]
            .as_object()
            .expect("counts by reason");
        let total: u64 = by_reason.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(total, bad, "{by_reason:?}");
        for reason in [
            "invalid_json",
            "not_an_object",
            "missing_field",
            "bad_timestamp",
            "invalid_utf8",
            "invalid_field",
        ] {
            assert!(by_reason.contains_key(reason), "{reason} in {by_reason:?}");
        }
        let lines = std::fs::read(dir.path().join("dead.jsonl"))
            .unwrap()
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        assert_eq!(lines, bad, "every dead letter is in the file");
        peaks.push(peak_rss_mb(&summary));
    }
    assert!(
        peaks[1] < peaks[0] + 48.0,
        "peak RSS {:.0} MB over 100k malformed records, {:.0} MB over 1M",
        peaks[0],
        peaks[1]
    );
}
