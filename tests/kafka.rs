//! The Kafka source and sinks against a real Kafka-API broker (tansu, started by
//! `ops/broker.sh` on a free port of 127.0.0.1; `ops/test.sh` installs it first).

use crate::common::{chatter, finish_within, free_port, output_within, stderr, PROCESS_DEADLINE};
use crate::lake::lake_rows;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker in a temporary directory; stopped when dropped.
pub struct Broker {
    dir: tempfile::TempDir,
    pub port: u16,
    storage: &'static str,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/broker.sh")
}

impl Broker {
    pub fn start(storage: &'static str) -> Broker {
        let broker = Broker {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            storage,
        };
        broker.up();
        broker
    }

    fn up(&self) {
        self.up_with(false);
    }

    /// Starts the broker again, requiring SASL authentication when `auth`.
    fn up_with(&self, auth: bool) {
        let out = Command::new("bash")
            .env("CHATTER_BROKER_AUTH", if auth { "1" } else { "0" })
            .arg(script())
            .args(["start", &self.dir.path().display().to_string()])
            .arg(self.port.to_string())
            .arg(self.storage)
            .output()
            .expect("ops/broker.sh runs");
        assert!(
            out.status.success(),
            "ops/broker.sh start failed (run ops/test.sh, which installs tansu): {}",
            stderr(&out)
        );
    }

    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.path().display().to_string()])
            .output();
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.addr());
        config
    }

    /// Produces `gen` output (the same seed and size as `chatter gen --out`).
    pub fn gen(&self, topic: &str, entities: &str, comments: u64, partitions: i32) {
        self.gen_with(topic, entities, comments, partitions, &[]);
    }

    pub fn gen_with(
        &self,
        topic: &str,
        entities: &str,
        comments: u64,
        partitions: i32,
        extra: &[&str],
    ) {
        let out = output_within(
            chatter()
                .args(["gen", "--comments", &comments.to_string()])
                .args(extra)
                .args(["--to", &format!("kafka://{}/{topic}", self.addr())])
                .args([
                    "--entities-topic",
                    entities,
                    "--partitions",
                    &partitions.to_string(),
                ]),
        );
        assert!(out.status.success(), "gen --to failed: {}", stderr(&out));
    }

    pub fn create(&self, topic: &str, partitions: i32) {
        chatter::kafka::admin::ensure_topic(
            &self.addr(),
            &Default::default(),
            topic,
            partitions,
            false,
        )
        .unwrap();
    }

    pub fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        self.config()
            .set("message.max.bytes", "4000000")
            .create()
            .unwrap()
    }

    /// Every message of `topic` (all partitions), as (key, value, headers).
    pub fn read_all(&self, topic: &str) -> Vec<Record> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", "chatter-tests")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .unwrap();
        let partitions = metadata.topics()[0].partitions().len() as i32;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&list).unwrap();
        let mut records = Vec::new();
        let mut idle = Instant::now();
        while idle.elapsed() < Duration::from_millis(1500) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                idle = Instant::now();
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
        records
    }

    /// The end offset of each partition of `topic` that holds messages, read to the end
    /// (tansu's high watermark trails the last batch).
    pub fn ends(&self, topic: &str) -> BTreeMap<i32, i64> {
        let mut ends = BTreeMap::new();
        for record in self.read_all(topic) {
            let end = ends.entry(record.partition).or_insert(0);
            *end = (*end).max(record.offset + 1);
        }
        ends
    }

    /// Committed offsets of the chatter consumer group for `topic`'s partitions.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap();
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The broker's side of a failure, for the test's output.
            let log =
                std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            // The start of the broker's last run (its first errors), and the end.
            let last_start = lines
                .iter()
                .rposition(|l| l.starts_with("tansu broker"))
                .unwrap_or(0);
            let head_end = (last_start + 25).min(lines.len());
            let tail_start = lines.len().saturating_sub(15).max(head_end);
            eprintln!(
                "--- the broker's log (port {}), from its last start:",
                self.port
            );
            for line in lines[last_start..head_end]
                .iter()
                .chain(&lines[tail_start..])
            {
                eprintln!("{line}");
            }
        }
        self.stop();
    }
}

pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
}

/// A chatter run on the broker, with a config file in `dir`.
fn kafka_command(
    broker: &Broker,
    dir: &Path,
    lake: &str,
    extra_config: &str,
    args: &[&str],
) -> Command {
    let config = dir.join(format!("{lake}.toml"));
    std::fs::write(
        &config,
        format!(
            "[input]\nsource = \"kafka\"\n[kafka]\nbrokers = \"{}\"\nepoch_interval = \"50ms\"\nconnect_timeout = \"10s\"\n{extra_config}\n",
            broker.addr()
        ),
    )
    .unwrap();
    let mut command = chatter();
    command
        .current_dir(dir)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--lake", lake, "--quiet"])
        .args(args);
    command
}

fn run_ok(mut command: Command) -> Output {
    let out = output_within(&mut command);
    assert!(out.status.success(), "chatter failed: {}", stderr(&out));
    out
}

/// The state tables of a bounded run over the topics as they are, into `dir/lake-ref`.
fn bounded_reference(broker: &Broker, dir: &Path) -> BTreeMap<String, Vec<String>> {
    run_ok(kafka_command(broker, dir, "lake-ref", "", &["--bounded"]));
    state_tables(&dir.join("lake-ref"))
}

/// The state tables (the alert history depends on how partitions interleave in time, as
/// in any Kafka application; the final state does not).
fn state_tables(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let mut rows = lake_rows(lake);
    rows.retain(|table, _| ["comments", "mentions", "entity_windows"].contains(&table.as_str()));
    rows
}

fn assert_same(
    got: &BTreeMap<String, Vec<String>>,
    want: &BTreeMap<String, Vec<String>>,
    what: &str,
) {
    for (table, rows) in want {
        assert!(
            !rows.is_empty(),
            "{what}: the reference has no {table} rows"
        );
        let other = &got[table];
        if other != rows {
            let a: BTreeSet<_> = rows.iter().collect();
            let b: BTreeSet<_> = other.iter().collect();
            panic!(
                "{what}: table {table}: {} rows vs {} expected; missing {:?}; extra {:?}",
                other.len(),
                rows.len(),
                a.difference(&b).take(2).collect::<Vec<_>>(),
                b.difference(&a).take(2).collect::<Vec<_>>()
            );
        }
    }
}

/// The lake of the file source over the same generated data.
fn file_reference(dir: &Path, comments: u64) -> BTreeMap<String, Vec<String>> {
    file_reference_with(dir, comments, &[])
}

/// [`file_reference`] with more `gen` options.
fn file_reference_with(dir: &Path, comments: u64, gen: &[&str]) -> BTreeMap<String, Vec<String>> {
    let out = chatter()
        .current_dir(dir)
        .args(["gen", "--out", "gen", "--comments", &comments.to_string()])
        .args(gen)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = chatter()
        .current_dir(dir)
        .args([
            "run",
            "-i",
            "gen/comments.jsonl",
            "-e",
            "gen/entities.jsonl",
        ])
        .args([
            "--lake",
            "lake-file",
            "--alerts-out",
            "file-alerts.jsonl",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    state_tables(&dir.join("lake-file"))
}

#[test]
fn topic_to_alerts_topic_and_lake_equals_the_file_source() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 20_000, 3);
    let want = file_reference(dir.path(), 20_000);
    let out = run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded", "-w", "2"],
    ));
    assert_same(
        &state_tables(&dir.path().join("lake")),
        &want,
        "kafka vs file",
    );
    // Alert events: keyed by their id, the same ids as the lake's alerts table.
    let alerts = broker.read_all("chatter.alerts");
    assert!(!alerts.is_empty(), "no alert events: {}", stderr(&out));
    let mut ids = BTreeSet::new();
    for alert in &alerts {
        let value: serde_json::Value =
            serde_json::from_slice(alert.value.as_ref().unwrap()).unwrap();
        assert_eq!(
            value["alert_id"].as_str().unwrap().as_bytes(),
            alert.key.as_deref().unwrap(),
            "the key is the alert id"
        );
        ids.insert(value["alert_id"].as_str().unwrap().to_string());
    }
    let lake_alerts = lake_rows(&dir.path().join("lake"))["alerts"].clone();
    assert_eq!(
        lake_alerts.len(),
        alerts.len(),
        "every alert event of the lake is in the topic"
    );
    for id in &ids {
        assert!(
            lake_alerts.iter().any(|row| row.contains(id.as_str())),
            "{id} not in the lake"
        );
    }
    // The consumer group got the snapshot's positions (lag tools work).
    let committed = broker.committed("chatter", "comments", 3);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("lake/current/manifest.json")).unwrap(),
    )
    .unwrap();
    let positions = manifest["sources"]["kafka"].as_array().unwrap();
    for p in 0..3 {
        let recorded = positions
            .iter()
            .find(|k| k["topic"] == "comments" && k["partition"] == p)
            .expect("the manifest records every partition")["offset"]
            .as_i64();
        assert_eq!(committed.get(&p).copied(), recorded, "partition {p}");
    }
}

/// Dead letters of a lake by reason.
fn dead_letter_reasons(lake: &Path) -> BTreeMap<String, usize> {
    let mut reasons = BTreeMap::new();
    for row in &lake_rows(lake)["dead_letters"] {
        let reason = row
            .split(", ")
            .find_map(|field| field.strip_prefix("reason="))
            .unwrap_or("?");
        *reasons.entry(reason.to_string()).or_default() += 1;
    }
    reasons
}

/// SPEC §2.4: event time per partition. A backfill of two weeks of event time (twice the
/// retention) over 4 partitions, read from offset 0 by 2 workers, where librdkafka's fetches
/// run one partition ahead of another: nothing is refused as beyond retention, and the lake
/// equals the file source's (the watermark used to follow the newest record of any
/// partition, and 20% of such a backfill became `beyond_retention` dead letters).
#[test]
fn a_backfill_of_four_partitions_loses_nothing_to_the_retention_horizon() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    let span = ["--comments-per-minute", "1"];
    broker.gen_with("comments", "entities", 20_000, 4, &span);
    let want = file_reference_with(dir.path(), 20_000, &span);
    run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded", "-w", "2", "--windows-out", "windows.jsonl"],
    ));
    let lake = dir.path().join("lake");
    // --windows-out under --kafka: every row of the lake's entity_windows.
    let windows = crate::common::read_jsonl(&dir.path().join("windows.jsonl"));
    assert_eq!(
        windows.len(),
        want["entity_windows"].len(),
        "--windows-out holds every window row"
    );
    let reasons = dead_letter_reasons(&lake);
    assert_eq!(
        reasons,
        dead_letter_reasons(&dir.path().join("lake-file")),
        "the same dead letters as the file source"
    );
    assert!(
        !reasons.contains_key("beyond_retention"),
        "nothing refused: {reasons:?}"
    );
    assert_same(&state_tables(&lake), &want, "backfill vs file");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("current/manifest.json")).unwrap())
            .unwrap();
    // The test means something only if the horizon passed the first records.
    let generated = std::fs::read(dir.path().join("gen/comments.jsonl")).unwrap();
    let first_ms = generated
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter_map(|c| c["created_at"].as_str().map(str::to_string))
        .filter_map(|at| {
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .min()
        .unwrap();
    let horizon_ms = manifest["horizon_ms"].as_i64().unwrap();
    assert!(
        horizon_ms > first_ms + 86_400_000,
        "the data must span more than the retention: horizon {horizon_ms}, first record {first_ms}"
    );
}

#[test]
fn killed_with_sigkill_and_restarted_the_lake_equals_an_uninterrupted_run() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    // One message per batch: tansu answers a fetch from an offset inside a batch with the
    // next batch (the rest of that batch is skipped), and a resume fetches from anywhere.
    broker.gen_with(
        "comments",
        "entities",
        20_000,
        3,
        &["--batch-messages", "1"],
    );
    let want = bounded_reference(&broker, dir.path());
    // Killed after its 2nd snapshot is published, while writing its 2nd snapshot, and at its
    // 3rd epoch boundary (maybe before any snapshot: then the restart starts over). A bounded
    // run of this size has a handful of epochs and snapshots, how many depends on timing:
    // keep the counts low.
    for (n, crash) in ["snapshot-published:2", "snapshot-parts:2", "epoch:3"]
        .iter()
        .enumerate()
    {
        let lake = format!("lake-{n}");
        let mut command = kafka_command(
            &broker,
            dir.path(),
            &lake,
            "",
            &["--bounded", "--snapshot-interval", "100ms"],
        );
        command.env("CHATTER_CRASH_AT", crash);
        let out = output_within(&mut command);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{crash}: not killed: {}",
            stderr(&out)
        );
        let out = run_ok(kafka_command(
            &broker,
            dir.path(),
            &lake,
            "",
            &["--bounded"],
        ));
        if crash.starts_with("snapshot") {
            assert!(
                stderr(&out).contains("resuming from snapshot"),
                "{crash}: {}",
                stderr(&out)
            );
        }
        assert_same(&state_tables(&dir.path().join(&lake)), &want, crash);
    }
}

#[test]
fn broker_restarted_mid_stream_loses_and_duplicates_nothing() {
    let broker = Broker::start("sqlite");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 20_000, 3);
    let want = bounded_reference(&broker, dir.path());
    let mut command = kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded", "--snapshot-interval", "100ms"],
    );
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    broker.up();
    let out = finish_within(child, PROCESS_DEADLINE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same(
        &state_tables(&dir.path().join("lake")),
        &want,
        "broker restart",
    );
    // The alerts topic holds every alert of the lake (at-least-once: duplicates allowed).
    let ids: BTreeSet<String> = broker
        .read_all("chatter.alerts")
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap()).into_owned())
        .collect();
    for row in &lake_rows(&dir.path().join("lake"))["alerts"] {
        assert!(
            ids.iter().any(|id| row.contains(id.as_str())),
            "alert {row} missing from the topic"
        );
    }
}

#[test]
fn malformed_messages_land_in_the_dlq_with_headers_and_in_the_lake() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.create("comments", 1);
    broker.create("entities", 1);
    let producer = broker.producer();
    let good = br#"{"id":"c1","text":"hello $GME","created_at":"2021-01-28T14:00:00Z"}"#;
    let oversize = format!(
        r#"{{"id":"big","text":"{}","created_at":"2021-01-28T14:00:00Z"}}"#,
        "x".repeat(1_100_000)
    );
    type Bad<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a str);
    let bad: Vec<Bad<'_>> = vec![
        (Some(b"c0"), Some(b"{not json"), "invalid_json"),
        (Some(b"c2"), Some(b"\xff\xfe"), "invalid_utf8"),
        (Some(b"\xff\xfe"), None, "invalid_key"),
        (Some(b"big"), Some(oversize.as_bytes()), "oversize"),
        (
            Some(b"c3"),
            Some(br#"{"id":"c3","text":"x"}"#),
            "missing_field",
        ),
    ];
    let send = |topic: &str, key: Option<&[u8]>, value: Option<&[u8]>| {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    };
    send(
        "entities",
        Some(b"GME"),
        Some(br#"{"id":"GME","kind":"ticker","name":"GameStop","symbols":["GME"]}"#),
    );
    // A tombstone for an entity that never existed: ignored, nothing breaks.
    send("entities", Some(b"NOPE"), None);
    send("comments", Some(b"c1"), Some(good));
    for (key, value, _) in &bad {
        send("comments", *key, *value);
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let out = run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded"],
    ));
    let dlq = broker.read_all("chatter.dlq");
    assert_eq!(dlq.len(), bad.len(), "{}", stderr(&out));
    for (record, (_, value, reason)) in dlq.iter().zip(&bad) {
        assert_eq!(record.headers["chatter.reason"], *reason);
        assert_eq!(record.headers["chatter.source.topic"], "comments");
        assert_eq!(record.headers["chatter.source.partition"], "0");
        assert!(!record.headers["chatter.error"].is_empty());
        let offset: i64 = record.headers["chatter.source.offset"].parse().unwrap();
        assert!(offset >= 1, "{offset}");
        match (*reason, value) {
            ("invalid_key", _) => assert_eq!(record.value.as_deref(), Some(&b"\xff\xfe"[..])),
            ("oversize", Some(v)) => {
                // Cut to fit the topic; the header says how long the original was, and the
                // lake keeps it whole.
                assert_eq!(
                    record.headers["chatter.truncated_from"],
                    v.len().to_string()
                );
                assert!(v.starts_with(record.value.as_deref().unwrap()));
            }
            (_, Some(v)) => assert_eq!(record.value.as_deref(), Some(*v)),
            _ => unreachable!(),
        }
    }
    let rows = lake_rows(&dir.path().join("lake"));
    assert_eq!(rows["dead_letters"].len(), bad.len());
    assert!(rows["dead_letters"]
        .iter()
        .any(|r| r.contains("kafka:comments:0:")));
    assert_eq!(rows["comments"].len(), 1, "the good comment is in");
    assert_eq!(rows["mentions"].len(), 1, "and mentions GME");

    // Replay: the DLQ back to a topic (the cut oversize one and the keyless tombstone are
    // skipped, and say why), and the lake's dead letters to a JSON Lines file.
    let out =
        output_within(chatter().args(["replay", "--kafka", &broker.addr(), "--to", "replayed"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("replayed 3 dead letter(s)"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("replay it from the lake"),
        "{}",
        stderr(&out)
    );
    let replayed = broker.read_all("replayed");
    let values: BTreeSet<Vec<u8>> = replayed.iter().filter_map(|r| r.value.clone()).collect();
    for (_, value, reason) in &bad {
        if !["oversize", "invalid_key"].contains(reason) {
            assert!(values.contains(value.unwrap()), "{reason} not replayed");
        }
    }
    let file = dir.path().join("replay.jsonl");
    let out = output_within(
        chatter()
            .args(["replay", "--lake"])
            .arg(dir.path().join("lake"))
            .args(["--reason", "oversize", "--out"])
            .arg(&file),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        [oversize.as_bytes(), b"\n"].concat(),
        "whole from the lake"
    );
}

#[test]
fn a_catalog_change_on_the_entities_topic_takes_effect() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.create("comments", 2);
    let producer = broker.producer();
    let send = |topic: &str, key: &str, value: &str| {
        producer
            .send(BaseRecord::to(topic).key(key).payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    };
    chatter::kafka::admin::ensure_topic(&broker.addr(), &Default::default(), "entities", 1, true)
        .unwrap();
    send(
        "entities",
        "ZBX",
        r#"{"id":"ZBX","kind":"ticker","name":"Zorblax Inc","symbols":["ZBX"]}"#,
    );
    send(
        "comments",
        "a",
        r#"{"id":"a","text":"buying Zorblax today","created_at":"2021-01-28T14:00:00Z"}"#,
    );
    send(
        "comments",
        "b",
        r#"{"id":"b","text":"$ZBX up","created_at":"2021-01-28T14:01:00Z"}"#,
    );
    producer.flush(Duration::from_secs(10)).unwrap();
    run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded"],
    ));
    let rows = lake_rows(&dir.path().join("lake"));
    assert_eq!(
        rows["mentions"].len(),
        1,
        "only the symbol matches at first: {:?}",
        rows["mentions"]
    );
    assert!(rows["mentions"][0].contains("Zorblax Inc"));
    // The entity gets an alias and a new name; the next comment uses the alias.
    send(
        "entities",
        "ZBX",
        r#"{"id":"ZBX","kind":"ticker","name":"Zorblax Holdings","aliases":["Zorblax"],"symbols":["ZBX"]}"#,
    );
    send(
        "comments",
        "c",
        r#"{"id":"c","text":"Zorblax again","created_at":"2021-01-28T14:02:00Z"}"#,
    );
    producer.flush(Duration::from_secs(10)).unwrap();
    run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--bounded"],
    ));
    let rows = lake_rows(&dir.path().join("lake"));
    let mentions = &rows["mentions"];
    assert!(
        mentions.iter().any(|r| r.contains("comment_id=c|")),
        "{mentions:?}"
    );
    assert!(
        mentions.iter().all(|r| r.contains("Zorblax Holdings")),
        "renamed: {mentions:?}"
    );
}

#[test]
fn a_two_process_cluster_writes_the_same_lake_as_one_process() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 20_000, 4);
    run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake-one",
        "",
        &["--bounded", "-w", "2"],
    ));
    let want = state_tables(&dir.path().join("lake-one"));
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let children: Vec<Child> = (0..2)
        .map(|i| {
            let mut command = kafka_command(
                &broker,
                dir.path(),
                "lake-cluster",
                "",
                &[
                    "--bounded",
                    "-w",
                    "1",
                    "--processes",
                    "2",
                    "--hosts",
                    "hosts",
                ],
            );
            command
                .args(["--process", &i.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = finish_within(child, PROCESS_DEADLINE);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_same(
        &state_tables(&dir.path().join("lake-cluster")),
        &want,
        "2 processes",
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("lake-cluster/current/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["workers"], 2);
    let partitions: BTreeSet<i64> = manifest["sources"]["kafka"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["topic"] == "comments")
        .map(|k| k["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(
        partitions,
        (0..4).collect(),
        "both processes' positions are recorded"
    );
}

#[test]
fn faults_at_start_give_clear_errors() {
    // Nothing listens on this port.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let config = dir.path().join("down.toml");
    std::fs::write(
        &config,
        format!("[input]\nsource = \"kafka\"\n[kafka]\nbrokers = \"127.0.0.1:{port}\"\nconnect_timeout = \"2s\"\n"),
    )
    .unwrap();
    let out = chatter()
        .current_dir(dir.path())
        .args(["run", "--no-lake", "-q", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("cannot reach the Kafka brokers"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // A missing topic is named.
    let broker = Broker::start("memory");
    let out = output_within(&mut kafka_command(
        &broker,
        dir.path(),
        "lake",
        "",
        &["--topic", "no-such-topic", "--bounded"],
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("\"no-such-topic\" does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn catch_up_keeps_old_alerts_out_of_the_topic_but_in_the_lake() {
    let broker = Broker::start("memory");
    broker.gen("comments", "entities", 20_000, 1);
    // With a threshold of 0, every epoch of a bounded run reads (or follows) a backlog, and
    // every window of 2021 is older than the horizon: every alert is a catch-up alert, however
    // fast the backlog is read.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let child = kafka_command(
        &broker,
        dir.path(),
        "lake",
        "catch_up_lag = 0",
        &["--bounded", "--keep-serving", "--http", &http],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // The live counter of what was kept out, once the bounded input is read.
    wait_for_answer(
        port,
        "/readyz",
        503,
        "\"phase\":\"finished\"",
        Duration::from_secs(120),
    );
    let (_, metrics) = http_get(port, "/metrics").expect("/metrics answers");
    let suppressed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chatter_alerts_suppressed_total "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    let out = terminate(child);
    let lake_alerts = lake_rows(&dir.path().join("lake"))["alerts"].len();
    assert!(lake_alerts > 0);
    assert_eq!(suppressed, Some(lake_alerts), "{metrics}");
    assert_eq!(
        broker.read_all("chatter.alerts").len(),
        0,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "{lake_alerts} alert event(s) for old windows were kept out of the alerts topic"
        )),
        "{}",
        stderr(&out)
    );
    // Above the backlog (the default threshold is 100,000 records), nothing is held back.
    let other = tempfile::tempdir().unwrap();
    let out = run_ok(kafka_command(
        &broker,
        other.path(),
        "lake",
        "alerts_topic = \"caught-up.alerts\"",
        &["--bounded"],
    ));
    assert!(!stderr(&out).contains("kept out"), "{}", stderr(&out));
    // (Event counts can differ between runs: epochs are cut by processing time, so an edit
    // can land before or after its window's alert fired.)
    let lake_alerts = lake_rows(&other.path().join("lake"))["alerts"].len();
    assert!(lake_alerts > 0);
    assert_eq!(broker.read_all("caught-up.alerts").len(), lake_alerts);
}

#[test]
fn gen_produces_at_the_requested_rate() {
    let broker = Broker::start("memory");
    let started = Instant::now();
    let out = output_within(
        chatter()
            .args(["gen", "--comments", "1000", "--rate", "2000"])
            .args(["--to", &format!("kafka://{}/rated", broker.addr())]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // ~1030 messages at 2000/s cannot take less than half a second.
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(broker.read_all("rated").len() >= 1000);
}

/// docker-compose.yml and the Dockerfile, checked statically (there is no Docker engine
/// here): structure by tests/python/check_compose.py, chatter's config by `chatter check`.
#[test]
fn docker_compose_and_dockerfile_are_consistent() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = crate::lake::python() else {
        panic!("no Python venv (run ops/test.sh, which creates it)");
    };
    let out = Command::new(python)
        .arg(repo.join("tests/python/check_compose.py"))
        .arg(repo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("docker-compose.yml: ok") && text.contains("Dockerfile: ok"),
        "{text}"
    );
    let out = chatter()
        .args(["check", "--config"])
        .arg(repo.join("ops/docker/chatter.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn health_reports_the_age_of_the_current_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatter()
        .current_dir(dir.path())
        .args(["health", "--lake", "lake"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no current snapshot"),
        "{}",
        stderr(&out)
    );
    let out = chatter()
        .current_dir(dir.path())
        .args(["run", "--lake", "lake", "-q", "--alerts-out", "a.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = chatter()
        .current_dir(dir.path())
        .args(["health", "--lake", "lake"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("healthy: snapshot 1"));
    std::thread::sleep(Duration::from_millis(1100));
    let out = chatter()
        .current_dir(dir.path())
        .args(["health", "--lake", "lake", "--max-age", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn check_print_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[input]\nsource = \"kafka\"\n[kafka.options]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"hunter2\"\n\"ssl.key.password\" = \"env:CHATTER_TEST_KEY_PW\"\n",
    )
    .unwrap();
    // A config holding a secret inline is refused while group or others may read it.
    let out = chatter()
        .args(["check", "--config"])
        .arg(&config)
        .env("CHATTER_TEST_KEY_PW", "s3cret")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("kafka.options.\"sasl.password\"") && text.contains("chmod 600"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = chatter()
        .args(["check", "--print", "--config"])
        .arg(&config)
        .env("CHATTER_TEST_KEY_PW", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        text.contains("<redacted>") && text.contains("env:CHATTER_TEST_KEY_PW"),
        "{text}"
    );
    assert!(text.contains("svc"), "{text}");
    // A reference to an unset variable is a one-line error naming the key.
    let out = chatter()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("CHATTER_TEST_KEY_PW"),
        "{}",
        stderr(&out)
    );
}

/// Window stats on a compacted topic: the newest value per key is the final window row, and a
/// producer queue of 10 messages (always full) only slows the pipeline down: the lake is the
/// same, nothing is lost.
#[test]
fn window_stats_topic_holds_the_final_rows_even_with_a_tiny_producer_queue() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 5_000, 2);
    let want = bounded_reference(&broker, dir.path());
    let out = run_ok(kafka_command(
        &broker,
        dir.path(),
        "lake",
        "velocity_topic = \"chatter.velocity\"\n[kafka.options]\n\"queue.buffering.max.messages\" = \"10\"",
        &["--bounded"],
    ));
    assert_same(&state_tables(&dir.path().join("lake")), &want, "tiny queue");
    let mut newest: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for record in broker.read_all("chatter.velocity") {
        newest.insert(record.key.unwrap(), record.value);
    }
    let rows: Vec<serde_json::Value> = newest
        .values()
        .flatten()
        .map(|v| serde_json::from_slice(v).unwrap())
        .collect();
    let windows = &want["entity_windows"];
    assert_eq!(
        rows.len(),
        windows.len(),
        "one live key per window row: {}",
        stderr(&out)
    );
    for row in &rows {
        let id = row["entity_id"].as_str().unwrap();
        let mentions = row["mentions"].as_u64().unwrap();
        assert!(
            windows
                .iter()
                .any(|w| w.contains(&format!("entity_id={id}|"))
                    && w.contains(&format!("|mentions={mentions}|"))),
            "{row} is not a final window row"
        );
    }
}

/// SASL/SCRAM-SHA-512 through `[kafka.options]`, the password from the environment: the right
/// one reads the topic, a wrong one fails within connect_timeout and says it was the
/// authentication.
#[test]
fn sasl_credentials_pass_through_kafka_options() {
    let broker = Broker::start("sqlite");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 2_000, 1);
    let out = Command::new("bash")
        .arg(script())
        .args(["user", &broker.port.to_string(), "chatter", "s3cret-pw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    broker.stop();
    broker.up_with(true);
    let options = "[kafka.options]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"chatter\"\n\"sasl.password\" = \"env:CHATTER_TEST_KAFKA_PW\"";
    let mut command = kafka_command(&broker, dir.path(), "lake", options, &["--bounded"]);
    command.env("CHATTER_TEST_KAFKA_PW", "s3cret-pw");
    let out = run_ok(command);
    assert!(
        !stderr(&out).contains("s3cret-pw"),
        "the secret is never logged"
    );
    assert!(!lake_rows(&dir.path().join("lake"))["comments"].is_empty());
    let mut command = kafka_command(&broker, dir.path(), "lake-2", options, &["--bounded"]);
    command.env("CHATTER_TEST_KAFKA_PW", "wrong");
    let out = output_within(&mut command);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("Authentication") && text.contains("credentials"),
        "{text}"
    );
    assert!(!text.contains("wrong\""), "{text}");

    // `gen --to` and `replay --kafka` take the same [kafka.options] from --config.
    let config = dir.path().join("sasl.toml");
    std::fs::write(&config, options).unwrap();
    let url = format!("kafka://{}/more", broker.addr());
    let gen = |password: &str| {
        output_within(
            chatter()
                .args(["gen", "--comments", "300", "--entities-topic", ""])
                .args(["--to", &url, "--config"])
                .arg(&config)
                .env("CHATTER_TEST_KAFKA_PW", password),
        )
    };
    let out = gen("s3cret-pw");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    let produced: u64 = (text.split("produced ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(produced >= 300, "{text}");
    let out = gen("wrong");
    assert!(!out.status.success(), "a wrong password fails gen --to");
    let out = output_within(
        chatter()
            .args(["replay", "--kafka", &broker.addr(), "--dry-run", "--config"])
            .arg(&config)
            .env("CHATTER_TEST_KAFKA_PW", "s3cret-pw"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    let would: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "replay")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        would > 0,
        "the run's dead letters are read over SASL: {text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
}

/// Stops a running chatter with SIGTERM; it must take its last snapshot and exit 0.
fn terminate(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = finish_within(child, PROCESS_DEADLINE);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// One HTTP GET to 127.0.0.1:`port` (None while nothing answers): the status and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// Polls `path` until it answers `want` with a body that contains `text`; fails with the
/// last answer after `within`.
pub fn wait_for_answer(port: u16, path: &str, want: u16, text: &str, within: Duration) -> String {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < within {
        last = http_get(port, path);
        if let Some((status, body)) = &last {
            if *status == want && body.contains(text) {
                return body.clone();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{path} did not answer {want} with {text:?} within {within:?}; last answer: {last:?}");
}

/// `/readyz` is 503 with the reason while the brokers cannot be reached (at start and in the
/// middle of a run) and 200 while chatter reads; `/healthz` answers throughout; SIGTERM still
/// ends the run cleanly.
#[test]
fn readyz_is_false_while_the_brokers_are_unreachable() {
    let broker = Broker::start("sqlite");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 2_000, 1);
    broker.stop();
    let port = free_port();
    let mut command = kafka_command(
        &broker,
        dir.path(),
        "lake",
        // No output topics: this test is about reading. (A tansu restarted while it answers
        // produce requests has been seen to stay broken: "Storage(UnableToSend)".)
        "alerts_topic = \"\"\ndlq_topic = \"\"\n[http]\nlisten = \"127.0.0.1:0\"",
        &["--http", &format!("127.0.0.1:{port}")],
    );
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = wait_for_answer(
        port,
        "/readyz",
        503,
        "not reachable",
        Duration::from_secs(20),
    );
    assert!(body.contains("\"phase\":\"connecting\""), "{body}");
    let (status, body) = http_get(port, "/healthz").expect("/healthz answers");
    assert_eq!(status, 200, "{body}");
    let ready = || {
        wait_for_answer(
            port,
            "/readyz",
            200,
            "\"ready\":true",
            Duration::from_secs(30),
        )
    };
    broker.up();
    ready();
    // The broker goes away in the middle of the run, and comes back.
    broker.stop();
    wait_for_answer(port, "/readyz", 503, "broker", Duration::from_secs(30));
    broker.up();
    ready();
    // From the signal on, /readyz answers 503 "stopping" (never 200) until the process ends.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut answers = Vec::new();
    while let Some(answer) = http_get(port, "/readyz") {
        answers.push(answer);
        if answers.len() > 10_000 {
            break;
        }
    }
    // (The first requests may race the signal's delivery: once 503, never 200 again.)
    let answers: Vec<_> = answers
        .iter()
        .skip_while(|(status, _)| *status == 200)
        .collect();
    let summary: Vec<_> = answers.iter().map(|(s, b)| (s, b.len())).take(20).collect();
    assert!(
        answers
            .iter()
            .any(|(_, body)| body.contains("\"phase\":\"stopping\"")),
        "{summary:?}"
    );
    assert!(
        answers.iter().all(|(status, body)| *status == 503
            && (body.contains("\"phase\":\"stopping\"")
                || body.contains("\"phase\":\"finished\""))),
        "{summary:?}"
    );
    let out = finish_within(child, PROCESS_DEADLINE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!lake_rows(&dir.path().join("lake"))["comments"].is_empty());
}

/// A partition added while chatter runs is found by the metadata refresh and read from its
/// beginning: the lake then equals a fresh run's over the grown topic. (tansu 0.6 has no
/// CreatePartitions, so the partitions are added to its sqlite store while it is stopped:
/// `ops/broker.sh add-partitions`; the running chatter meets a broker restart too.)
#[test]
fn a_partition_added_while_running_is_read_from_its_beginning() {
    let broker = Broker::start("sqlite");
    let dir = tempfile::tempdir().unwrap();
    broker.gen("comments", "entities", 2_000, 1);
    let mut command = kafka_command(
        &broker,
        dir.path(),
        "lake",
        "metadata_refresh = \"500ms\"",
        &["--snapshot-interval", "200ms"],
    );
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for_commits = |ends: &BTreeMap<i32, i64>| {
        let started = Instant::now();
        loop {
            let committed = broker.committed("chatter", "comments", ends.len() as i32);
            if &committed == ends {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "chatter did not commit {ends:?} (committed: {committed:?})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Partition 0 read and committed (after a snapshot).
    wait_for_commits(&broker.ends("comments"));
    broker.stop();
    let out = Command::new("bash")
        .arg(script())
        .args(["add-partitions"])
        .arg(broker.dir.path())
        .args(["comments", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    broker.up();
    // New comments (another seed, the same catalog) spread over the three partitions.
    let out = output_within(
        chatter()
            .args([
                "gen",
                "--comments",
                "1000",
                "--seed",
                "9",
                "--partitions",
                "3",
            ])
            .args(["--to", &format!("kafka://{}/comments", broker.addr())])
            .args(["--entities-topic", ""]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ends = broker.ends("comments");
    assert_eq!(ends.len(), 3, "the new partitions hold messages: {ends:?}");
    wait_for_commits(&ends);
    terminate(child);
    assert_same(
        &state_tables(&dir.path().join("lake")),
        &bounded_reference(&broker, dir.path()),
        "a partition added while running",
    );
}

/// SIGTERM: one partition's records produced minutes after the other's (and minutes behind
/// its event time) are late, not lost: the quiet partition was idle, so the other one moved
/// the watermark, and its records, once they come, are counted as corrections (within the
/// retention horizon), none refused.
#[test]
fn a_partition_produced_late_is_still_counted() {
    let broker = Broker::start("memory");
    let dir = tempfile::tempdir().unwrap();
    broker.create("comments", 2);
    chatter::kafka::admin::ensure_topic(&broker.addr(), &Default::default(), "entities", 1, true)
        .unwrap();
    let producer = broker.producer();
    let send = |topic: &str, partition: i32, key: &str, value: String| {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(partition)
                    .key(key)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    };
    send(
        "entities",
        0,
        "ZBX",
        r#"{"id":"ZBX","kind":"ticker","name":"Zorblax","symbols":["ZBX"]}"#.into(),
    );
    let start_ms = 1_611_842_400_000i64; // 2021-01-28T14:00:00Z
    let comment = |id: String, at_ms: i64| {
        serde_json::json!({"id": id, "text": "ZBX news",
            "created_at": dataflows::format_rfc3339_ms(at_ms)})
        .to_string()
    };
    // Partition 0: two hours of event time, one comment every 12 s.
    for i in 0..600 {
        send(
            "comments",
            0,
            &format!("p0-{i}"),
            comment(format!("p0-{i}"), start_ms + i * 12_000),
        );
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let mut child = kafka_command(
        &broker,
        dir.path(),
        "lake",
        "idle_timeout = \"1s\"\n[windows]\nretention = \"3h\"",
        &["--snapshot-interval", "200ms"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let committed = |partition: i32| {
        broker
            .committed("chatter", "comments", 2)
            .get(&partition)
            .copied()
    };
    let wait_for = |child: &mut Child, partition: i32, offset: i64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed(partition) != Some(offset) {
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                child.kill().ok();
                let mut text = String::new();
                if let Some(mut err) = child.stderr.take() {
                    use std::io::Read;
                    let _ = err.read_to_string(&mut text);
                }
                panic!("partition {partition} not committed at {offset}: {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(&mut child, 0, 600);
    // Partition 1, produced now: 100 comments from 30 to 40 minutes behind partition 0's
    // newest record (the watermark has passed them; the horizon is 3 hours behind it).
    let newest = start_ms + 599 * 12_000;
    for i in 0..100 {
        let at = newest - 40 * 60_000 + i * 6_000;
        send(
            "comments",
            1,
            &format!("p1-{i}"),
            comment(format!("p1-{i}"), at),
        );
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    wait_for(&mut child, 1, 100);
    child.kill().ok();
    let _ = finish_within(child, PROCESS_DEADLINE);
    let lake = dir.path().join("lake");
    let rows = lake_rows(&lake);
    assert_eq!(rows["comments"].len(), 700, "every comment is in the lake");
    assert_eq!(rows["mentions"].len(), 700);
    assert!(
        rows["dead_letters"].is_empty(),
        "none refused: {:?}",
        rows["dead_letters"]
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("current/manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["watermark_ms"].as_i64().unwrap() > newest - 30 * 60_000,
        "the watermark had passed partition 1's records: {manifest}"
    );
}
