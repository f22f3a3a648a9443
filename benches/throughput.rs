//! End-to-end throughput benchmark (not a timed test): generates a synthetic load once (cached
//! under target/bench-data), then runs `chatter run` on it with 1 and 2 workers, several times
//! each, and prints the median comments/s, peak memory and p50/p99 time per epoch.
//!
//! `cargo bench --bench throughput` (env: CHATTER_BENCH_COMMENTS, default 2000000;
//! CHATTER_BENCH_RUNS, default 3; CHATTER_BENCH_WORKERS, default "1,2"; CHATTER_BENCH_LAKE,
//! default 1: write a lake as the default job does, 0: `--no-lake`).
//! Record results in BENCHMARKS.md with the machine they ran on.

use std::path::{Path, PathBuf};
use std::process::Command;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data_dir(comments: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("gen-{comments}-seed42"));
    if !dir.join("entities.jsonl").exists() {
        eprintln!("generating {comments} comments into {} ...", dir.display());
        let config = chatter::gen::GenConfig {
            comments,
            seed: 42,
            comments_per_minute: 2_000.0,
            ..Default::default()
        };
        chatter::gen::write_dir(&config, &dir).expect("generate the bench data");
    }
    dir
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run only under bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench --bench throughput`");
        return;
    }
    let comments: u64 = env_or("CHATTER_BENCH_COMMENTS", 2_000_000);
    let runs: usize = env_or("CHATTER_BENCH_RUNS", 3);
    let workers: String = env_or("CHATTER_BENCH_WORKERS", "1,2".to_string());
    let with_lake = env_or("CHATTER_BENCH_LAKE", 1u8) != 0;
    let dir = data_dir(comments);
    let lines = std::fs::read(dir.join("comments.jsonl"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0);
    println!("input: {} ({lines} lines)", dir.display());
    println!("| workers | median comments/s | runs (comments/s) | peak RSS (MiB) | epoch p50 (ms) | epoch p99 (ms) |");
    println!("|---|---|---|---|---|---|");
    for w in workers.split(',').map(str::trim) {
        let mut rates = Vec::new();
        let mut rss = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for run in 0..runs {
            let summary = dir.join(format!("summary-w{w}-{run}.json"));
            // A fresh lake per run (a lake left from the last run would be resumed from); with
            // CHATTER_BENCH_LAKE=0, no lake, as the "Core engine" numbers were taken.
            let lake = dir.join("lake-bench");
            let _ = std::fs::remove_dir_all(&lake);
            let lake_args: Vec<std::ffi::OsString> = if with_lake {
                vec!["--lake".into(), lake.clone().into_os_string()]
            } else {
                vec!["--no-lake".into()]
            };
            let status = Command::new(env!("CARGO_BIN_EXE_chatter"))
                .args(["run", "-q", "-w", w])
                .args(&lake_args)
                .arg("-i")
                .arg(dir.join("comments.jsonl"))
                .arg("-e")
                .arg(dir.join("entities.jsonl"))
                .args([
                    "--alerts-out",
                    "/dev/null",
                    "--dead-letters-out",
                    "/dev/null",
                    "--summary-json",
                ])
                .arg(&summary)
                .status()
                .expect("run chatter");
            assert!(status.success(), "chatter run failed");
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&summary).expect("summary")).expect("json");
            let seconds = json["elapsed_seconds"].as_f64().unwrap_or(f64::NAN);
            rates.push(json["lines"].as_f64().unwrap_or(0.0) / seconds);
            rss.push(json["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0);
            p50.push(json["epoch_p50_micros"].as_f64().unwrap_or(f64::NAN) / 1000.0);
            p99.push(json["epoch_p99_micros"].as_f64().unwrap_or(f64::NAN) / 1000.0);
        }
        let all = rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {w} | {:.0} | {all} | {:.0} | {:.1} | {:.1} |",
            median(&mut rates.clone()),
            median(&mut rss),
            median(&mut p50),
            median(&mut p99)
        );
    }
}
