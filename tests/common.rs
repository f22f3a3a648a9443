//! Shared helpers: the built binary, temporary directories, JSON Lines readers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `chatter` binary cargo built for these tests.
pub fn chatter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatter"))
}

/// Runs `chatter` with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    chatter()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("chatter runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses a JSON Lines file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `../shared/data` beside the repository, if present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    dir.join("real-entities/entities.jsonl")
        .exists()
        .then_some(dir)
}

/// Alert events without the wall-clock field, sorted, for comparisons between runs.
pub fn comparable_alerts(path: &Path) -> Vec<String> {
    let mut alerts: Vec<String> = read_jsonl(path)
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().expect("object").remove("emitted_at");
            v.to_string()
        })
        .collect();
    alerts.sort();
    alerts
}

/// Runs the pipeline on `dir`'s generated files.
pub fn run_generated(
    dir: &std::path::Path,
    workers: &str,
    batch: &str,
    tag: &str,
) -> std::process::Output {
    run_in(
        dir,
        &[
            "run",
            "-q",
            "-i",
            "comments.jsonl",
            "-e",
            "entities.jsonl",
            "-w",
            workers,
            "--batch-size",
            batch,
            "--alerts-out",
            &format!("alerts-{tag}.jsonl"),
            "--dead-letters-out",
            &format!("dead-{tag}.jsonl"),
            "--windows-out",
            &format!("windows-{tag}.jsonl"),
            "--summary-json",
            &format!("summary-{tag}.json"),
            // A lake per run: a second run into the same lake would resume from it.
            "--lake",
            &format!("lake-{tag}"),
        ],
    )
}
