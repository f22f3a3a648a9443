//! Kafka benchmarks against a tansu broker on 127.0.0.1 (started by ops/broker.sh), not timed
//! tests. `cargo bench --bench kafka` (env: CHATTER_BENCH_KAFKA_COMMENTS, default 500000;
//! CHATTER_BENCH_RUNS, default 3; CHATTER_BENCH_KAFKA_ONLY = throughput | latency). Prints:
//!
//! 1. throughput: raw rdkafka consumption of a 2-partition topic (2 consumer threads: the
//!    limit) versus `chatter run --bounded -w 2` on the same topic, medians;
//! 2. alert latency at a steady 20,000 comments/s with `epoch_interval = 20ms`: for each fired
//!    alert, the time from producing the comment that made it fire to consuming the alert,
//!    p50/p99. The load has no late comments (`--late-fraction 0`), so that comment is the one
//!    that made its window final: the first produced with created_at >= window_end +
//!    allowed_lateness. (With late comments a window can also fire when one arrives, long
//!    after that.)

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn chatter() -> Command {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/chatter"))
}

fn consumer(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap()
}

/// Reads partition `p` of `topic` until `idle` without messages; returns (count, time from
/// start to the last message).
fn drain(brokers: &str, topic: &str, p: i32, idle: Duration) -> (u64, f64) {
    let consumer = consumer(brokers);
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, p, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let started = Instant::now();
    let (mut n, mut last) = (0u64, started);
    while last.elapsed() < idle || n == 0 && started.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
            std::hint::black_box(message.payload());
            n += 1;
            last = Instant::now();
        }
    }
    (n, (last - started).as_secs_f64())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn main() {
    let comments: u64 = env_or("CHATTER_BENCH_KAFKA_COMMENTS", 500_000);
    let runs: usize = env_or("CHATTER_BENCH_RUNS", 3);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/broker.sh");
    let started = Command::new("bash")
        .arg(&script)
        .args([
            "start",
            &dir.path().join("broker").display().to_string(),
            &port.to_string(),
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let brokers = format!("127.0.0.1:{port}");
    let result = std::panic::catch_unwind(|| bench(&brokers, dir.path(), comments, runs));
    let _ = Command::new("bash")
        .arg(&script)
        .args(["stop", &dir.path().join("broker").display().to_string()])
        .status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn bench(brokers: &str, dir: &Path, comments: u64, runs: usize) {
    let only = std::env::var("CHATTER_BENCH_KAFKA_ONLY").unwrap_or_default();
    if only != "latency" {
        throughput(brokers, dir, comments, runs);
    }
    if only != "throughput" {
        latency(brokers, dir);
    }
}

fn throughput(brokers: &str, dir: &Path, comments: u64, runs: usize) {
    let status = chatter()
        .args([
            "gen",
            "--comments",
            &comments.to_string(),
            "--partitions",
            "2",
        ])
        .args(["--comments-per-minute", "2000"])
        .args(["--to", &format!("kafka://{brokers}/tp")])
        .status()
        .unwrap();
    assert!(status.success());
    let mut raw = Vec::new();
    let mut total = 0;
    for _ in 0..runs {
        let threads: Vec<_> = (0..2)
            .map(|p| {
                let brokers = brokers.to_string();
                std::thread::spawn(move || drain(&brokers, "tp", p, Duration::from_secs(1)))
            })
            .collect();
        let results: Vec<(u64, f64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        total = results.iter().map(|r| r.0).sum::<u64>();
        let secs = results.iter().map(|r| r.1).fold(0.0, f64::max);
        raw.push(total as f64 / secs);
    }
    let mut ours = Vec::new();
    let mut ours_no_lake = Vec::new();
    for run in 0..runs {
        for lake in [true, false] {
            let summary = dir.join(format!("summary-{run}-{lake}.json"));
            let mut command = chatter();
            command
                .current_dir(dir)
                .args([
                    "run",
                    "--kafka",
                    brokers,
                    "--topic",
                    "tp",
                    "--bounded",
                    "-w",
                    "2",
                    "-q",
                ])
                .arg("--summary-json")
                .arg(&summary)
                .stderr(Stdio::null());
            if lake {
                command.args(["--lake", &format!("lake-{run}")]);
            } else {
                command.arg("--no-lake");
            }
            assert!(command.status().unwrap().success());
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
            let lines = json["lines"].as_f64().unwrap();
            // A bounded run waits 1 s of quiet before it ends (see README, "Bounded runs").
            let secs = json["elapsed_seconds"].as_f64().unwrap() - 1.0;
            if lake { &mut ours } else { &mut ours_no_lake }.push(lines / secs);
        }
    }
    let (raw, ours, ours_no_lake) = (
        median(&mut raw),
        median(&mut ours),
        median(&mut ours_no_lake),
    );
    println!("throughput: {total} messages, 2 partitions, medians of {runs} runs");
    println!("  raw rdkafka consumption (2 threads): {raw:.0} msg/s");
    println!(
        "  chatter run --bounded -w 2, lake:    {ours:.0} comments/s ({:.0}% of raw)",
        100.0 * ours / raw
    );
    println!(
        "  chatter run --bounded -w 2, no lake: {ours_no_lake:.0} comments/s ({:.0}% of raw)",
        100.0 * ours_no_lake / raw
    );
}

fn latency(brokers: &str, dir: &Path) {
    chatter::kafka::admin::ensure_topic(brokers, &Default::default(), "lat", 2, false).unwrap();
    // The catalog of the load below (seed 7) is on the topic before chatter starts.
    let status = chatter()
        .args([
            "gen",
            "--comments",
            "1",
            "--seed",
            "7",
            "--entities-topic",
            "entities",
        ])
        .args(["--to", &format!("kafka://{brokers}/lat-warmup")])
        .status()
        .unwrap();
    assert!(status.success());
    let config = dir.join("latency.toml");
    std::fs::write(
        &config,
        format!("[input]\nsource = \"kafka\"\n[kafka]\nbrokers = \"{brokers}\"\ntopics = [\"lat\"]\nalerts_topic = \"lat.alerts\"\nepoch_interval = \"20ms\"\ncatch_up_lag = 1000000000\n"),
    )
    .unwrap();
    let mut chatter_run = chatter()
        .current_dir(dir)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--lake", "lake-latency", "-q", "-w", "2"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let alerts_brokers = brokers.to_string();
    let alerts = std::thread::spawn(move || {
        chatter::kafka::admin::ensure_topic(
            &alerts_brokers,
            &Default::default(),
            "lat.alerts",
            1,
            false,
        )
        .unwrap();
        let consumer = consumer(&alerts_brokers);
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("lat.alerts", 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let mut seen = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_secs(8) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(5)) {
                let value: serde_json::Value =
                    serde_json::from_slice(message.payload().unwrap()).unwrap();
                seen.push((now_ms(), value));
                last = Instant::now();
            }
        }
        seen
    });
    // The floor: how long a message takes from the producer to a plain consumer of the topic.
    let floor_brokers = brokers.to_string();
    let floor = std::thread::spawn(move || {
        let consumer = consumer(&floor_brokers);
        let mut list = TopicPartitionList::new();
        for p in 0..2 {
            list.add_partition_offset("lat", p, Offset::End).unwrap();
        }
        consumer.assign(&list).unwrap();
        let mut delays = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_secs(5) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(5)) {
                if let Timestamp::CreateTime(at) = message.timestamp() {
                    delays.push((now_ms() - at) as f64);
                }
                last = Instant::now();
            }
        }
        delays
    });
    let status = chatter()
        .args([
            "gen",
            "--comments",
            "200000",
            "--rate",
            "20000",
            "--bursts",
            "60",
            "--late-fraction",
            "0",
            "--partitions",
            "2",
        ])
        .args([
            "--comments-per-minute",
            "600",
            "--seed",
            "7",
            "--entities-topic",
            "",
        ])
        .args(["--to", &format!("kafka://{brokers}/lat")])
        .status()
        .unwrap();
    assert!(status.success());
    let seen = alerts.join().unwrap();
    let mut floor = floor.join().unwrap();
    floor.sort_by(|a, b| a.total_cmp(b));
    if !floor.is_empty() {
        let q = |f: f64| floor[((floor.len() - 1) as f64 * f).round() as usize];
        println!(
            "broker path (produce → a plain consumer receives), same load: {} messages, p50 {:.0} ms, p99 {:.0} ms",
            floor.len(),
            q(0.5),
            q(0.99)
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &chatter_run.id().to_string()])
        .status();
    let _ = chatter_run.wait();
    // created_at → first produce time, from the comments topic.
    let mut produced: Vec<(i64, i64)> = Vec::new();
    for p in 0..2 {
        let consumer = consumer(brokers);
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("lat", p, Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_secs(1) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                last = Instant::now();
                let Timestamp::CreateTime(at) = message.timestamp() else {
                    continue;
                };
                let created = message
                    .payload()
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                    .and_then(|v| {
                        v["created_at"]
                            .as_str()
                            .and_then(chatter::decode::parse_rfc3339_ms)
                    });
                if let Some(created) = created {
                    produced.push((created, at));
                }
            }
        }
    }
    produced.sort();
    let lateness = 60_000;
    let mut latencies: Vec<f64> = seen
        .iter()
        .filter(|(_, v)| v["kind"] == "fired")
        .filter_map(|(consumed, v)| {
            let end = chatter::decode::parse_rfc3339_ms(v["window_end"].as_str()?)?;
            let first = produced.partition_point(|(created, _)| *created < end + lateness);
            let trigger = produced[first..].iter().map(|(_, at)| *at).min()?;
            Some((consumed - trigger) as f64)
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    assert!(!latencies.is_empty(), "no fired alert was consumed");
    let q = |f: f64| latencies[((latencies.len() - 1) as f64 * f).round() as usize];
    println!(
        "alert latency at 20,000 comments/s (epoch_interval 20ms, 2 workers): {} fired alerts, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
}
