//! `chatter replay`: re-feeds dead letters after a fix (of the data upstream, or of chatter).
//!
//! From the DLQ topic: every message (optionally of one reason) is produced again, with its
//! original bytes, to the topic it came from (the `chatter.source.topic` header) or `--to`,
//! keyed by its comment id. From a lake: the current snapshot's `dead_letters` rows are written
//! as JSON Lines for the file source. Messages the DLQ holds cut (`chatter.truncated_from`) are
//! not replayed from the topic: replay them from the lake, which keeps them whole. A file line
//! longer than `input.max_record_bytes` was never held whole (its dead letter keeps the start,
//! the length and a sha256): it is not replayed from either.

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a replay did.
#[derive(Debug, Default)]
pub struct Replayed {
    pub replayed: u64,
    /// Skipped messages by why.
    pub skipped: BTreeMap<&'static str, u64>,
}

fn header<'a>(message: &'a rdkafka::message::BorrowedMessage<'_>, key: &str) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
}

/// Replays the DLQ topic `dlq` on `brokers` (to its end as of now).
pub fn from_topic(
    brokers: &str,
    options: &BTreeMap<String, String>,
    dlq: &str,
    reason: Option<&str>,
    to: Option<&str>,
    dry_run: bool,
) -> Result<Replayed> {
    let client = |defaults: &[(&str, &str)]| super::client_config(brokers, defaults, options);
    let consumer: BaseConsumer = client(&[
        ("group.id", "chatter-replay"),
        ("enable.auto.commit", "false"),
        ("fetch.wait.max.ms", "10"),
    ])
    .create()
    .context("cannot create a Kafka consumer: check kafka.options")?;
    let metadata = consumer
        .fetch_metadata(Some(dlq), Duration::from_secs(10))
        .with_context(|| format!("cannot reach the Kafka brokers {brokers}"))?;
    let partitions = match metadata.topics().iter().find(|t| t.name() == dlq) {
        Some(topic) if topic.error().is_none() && !topic.partitions().is_empty() => {
            topic.partitions().len() as i32
        }
        _ => bail!("the dead-letter topic {dlq:?} does not exist on {brokers}: check --dlq"),
    };
    let mut list = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(dlq, p, Duration::from_secs(10))?;
        ends.insert(p, high);
        list.add_partition_offset(dlq, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let producer: ThreadedProducer<super::SinkContext> = client(&[("enable.idempotence", "true")])
        .create_with_context(super::SinkContext::default())
        .context("cannot create a Kafka producer: check kafka.options")?;
    if let (Some(to), false) = (to, dry_run) {
        super::admin::ensure_topic(brokers, options, to, 1, false)?;
    }
    let mut done = Replayed::default();
    let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
    let mut idle = Instant::now();
    // To the end offsets as of now (and a moment of quiet, as some brokers report them late).
    while ends
        .iter()
        .any(|(p, end)| reached.get(p).copied().unwrap_or(0) < *end)
        || idle.elapsed() < Duration::from_secs(1)
    {
        if idle.elapsed() > Duration::from_secs(30) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.context("reading the dead-letter topic")?;
        idle = Instant::now();
        reached.insert(message.partition(), message.offset() + 1);
        let message_reason = header(&message, "chatter.reason").unwrap_or_default();
        if reason.is_some_and(|r| r.as_bytes() != message_reason) {
            *done.skipped.entry("other reason").or_default() += 1;
            continue;
        }
        if header(&message, "chatter.truncated_from").is_some() {
            *done
                .skipped
                .entry("cut in the DLQ (replay it from the lake)")
                .or_default() += 1;
            continue;
        }
        let source_topic = header(&message, "chatter.source.topic")
            .and_then(|t| std::str::from_utf8(t).ok())
            .filter(|t| !t.is_empty());
        let Some(target) = to.or(source_topic) else {
            *done
                .skipped
                .entry("no source topic (give --to)")
                .or_default() += 1;
            continue;
        };
        let Some(value) = message.payload() else {
            *done.skipped.entry("no value").or_default() += 1;
            continue;
        };
        if message_reason == b"invalid_key" {
            *done
                .skipped
                .entry("a tombstone with an invalid key")
                .or_default() += 1;
            continue;
        }
        if dry_run {
            done.replayed += 1;
            continue;
        }
        let key = comment_id(value);
        let mut record = BaseRecord::<[u8], [u8]>::to(target).payload(value);
        if let Some(key) = key.as_deref() {
            record = record.key(key.as_bytes());
        }
        producer
            .send(record)
            .map_err(|(error, _)| error)
            .with_context(|| format!("cannot produce to {target}"))?;
        done.replayed += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("the brokers did not acknowledge the replayed messages")?;
    let failed = producer.context().0.undelivered();
    if failed > 0 {
        bail!("{failed} replayed message(s) could not be delivered: check the target topics exist");
    }
    Ok(done)
}

/// The `id` of a comment's JSON (the Kafka key), if it has one.
fn comment_id(value: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
    }
    serde_json::from_slice::<Head>(value).ok().map(|h| h.id)
}

/// Writes the current snapshot's dead letters (of `reason`, if given) as JSON Lines to `out`,
/// the original bytes one per line (records with a line break inside are skipped).
pub fn from_lake(lake: &Path, reason: Option<&str>, out: &Path) -> Result<Replayed> {
    use arrow_array::{Array, BinaryArray, StringArray};
    let lake = crate::lake::Lake::open_existing(lake)?;
    let snapshot = lake.current()?;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?,
    );
    let mut done = Replayed::default();
    for entry in snapshot
        .manifest
        .files
        .iter()
        .filter(|f| f.table == "dead_letters")
    {
        for batch in crate::lake::tables::read_batches(&snapshot.dir.join(&entry.path))? {
            let reasons = batch
                .column_by_name("reason")
                .and_then(|c| arrow_cast::cast(c, &arrow_schema::DataType::Utf8).ok());
            let raws = batch.column_by_name("raw").cloned();
            let errors = batch
                .column_by_name("error")
                .and_then(|c| arrow_cast::cast(c, &arrow_schema::DataType::Utf8).ok());
            let (Some(reasons), Some(raws), Some(errors)) = (reasons, raws, errors) else {
                bail!("{} has no reason/raw/error columns", entry.path);
            };
            let errors = errors
                .as_any()
                .downcast_ref::<StringArray>()
                .context("error column")?;
            let reasons = reasons
                .as_any()
                .downcast_ref::<StringArray>()
                .context("reason column")?;
            let raws = raws
                .as_any()
                .downcast_ref::<BinaryArray>()
                .context("raw column")?;
            for row in 0..batch.num_rows() {
                if reason.is_some_and(|r| reasons.value(row) != r) {
                    *done.skipped.entry("other reason").or_default() += 1;
                    continue;
                }
                if crate::connectors::is_truncated(reasons.value(row), errors.value(row)) {
                    *done
                        .skipped
                        .entry("only its start was kept (longer than input.max_record_bytes)")
                        .or_default() += 1;
                    continue;
                }
                let raw = raws.value(row);
                if raws.is_null(row) || raw.contains(&b'\n') {
                    *done.skipped.entry("not one line").or_default() += 1;
                    continue;
                }
                file.write_all(raw)?;
                file.write_all(b"\n")?;
                done.replayed += 1;
            }
        }
    }
    file.flush()?;
    Ok(done)
}
