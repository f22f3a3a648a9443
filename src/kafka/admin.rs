//! Topic administration (create if missing) and `chatter gen --to kafka://`.

use crate::gen::{entity_lines, CommentStream, GenConfig};
use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::time::{Duration, Instant};

/// `kafka://HOST:PORT[,HOST:PORT]/TOPIC` → (brokers, topic).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("kafka://")
        .ok_or_else(|| anyhow!("{url:?} is not a kafka:// URL: write kafka://HOST:PORT/TOPIC"))?;
    let (brokers, topic) = rest
        .split_once('/')
        .ok_or_else(|| anyhow!("{url:?} names no topic: write kafka://HOST:PORT/TOPIC"))?;
    if brokers.is_empty() || topic.is_empty() || topic.contains('/') {
        bail!("{url:?}: write kafka://HOST:PORT/TOPIC");
    }
    Ok((brokers.to_string(), topic.to_string()))
}

fn admin(
    brokers: &str,
    options: &std::collections::BTreeMap<String, String>,
) -> Result<AdminClient<DefaultClientContext>> {
    super::client_config(brokers, &[], options)
        .create()
        .context("cannot create a Kafka admin client")
}

/// Creates `topic` with `partitions` partitions unless it exists (compacted: cleanup.policy
/// compact, for the catalog and window-stats topics).
pub fn ensure_topic(
    brokers: &str,
    options: &std::collections::BTreeMap<String, String>,
    topic: &str,
    partitions: i32,
    compacted: bool,
) -> Result<()> {
    let admin = admin(brokers, options)?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    if compacted {
        new = new.set("cleanup.policy", "compact");
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)));
    let results = futures_executor::block_on(admin.create_topics([&new], &options))
        .with_context(|| format!("cannot create topic {topic} on {brokers}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name} on {brokers}: {code}"),
        }
    }
    Ok(())
}

/// What `gen --to kafka://` did.
#[derive(Debug, Default)]
pub struct Produced {
    pub comments: u64,
    pub tombstones: u64,
    pub entities: u64,
    pub seconds: f64,
}

/// The id of a comment line, for the message key (None for malformed lines).
fn id_of(line: &[u8]) -> Option<(String, bool)> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
        #[serde(default)]
        deleted: bool,
    }
    serde_json::from_slice::<Head>(line)
        .ok()
        .map(|head| (head.id, head.deleted))
}

/// Produces the generated catalog to `entities_topic` (if any) and the comment stream to
/// `topic`, at `rate` comments/s (0 = as fast as possible), at most `batch_messages` per
/// produce batch. Deletes become Kafka tombstones (key = id, null value).
#[allow(clippy::too_many_arguments)]
pub fn produce(
    cfg: &GenConfig,
    brokers: &str,
    options: &std::collections::BTreeMap<String, String>,
    topic: &str,
    entities_topic: Option<&str>,
    partitions: i32,
    rate: f64,
    batch_messages: u32,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Produced> {
    ensure_topic(brokers, options, topic, partitions, false)?;
    let batch = batch_messages.to_string();
    let defaults = [
        ("linger.ms", "5"),
        ("batch.num.messages", batch.as_str()),
        ("queue.buffering.max.messages", "500000"),
        ("message.max.bytes", "4194304"),
        ("compression.type", "lz4"),
    ];
    let producer: ThreadedProducer<DefaultProducerContext> =
        super::client_config(brokers, &defaults, options)
            .create()
            .context("cannot create a Kafka producer: check kafka.options")?;
    let send = |topic: &str, key: Option<&[u8]>, value: Option<&[u8]>| -> Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => bail!("cannot produce to {topic}: {error}"),
            }
        }
    };
    let started = Instant::now();
    let mut produced = Produced::default();
    if let Some(entities) = entities_topic {
        ensure_topic(brokers, options, entities, 1, true)?;
        for line in entity_lines(cfg) {
            let key = id_of(&line).map(|(id, _)| id);
            send(entities, key.as_deref().map(str::as_bytes), Some(&line))?;
            produced.entities += 1;
        }
    }
    let mut stream = CommentStream::new(cfg);
    let mut line = Vec::with_capacity(1024);
    while stream.next_into(&mut line) {
        match id_of(&line) {
            Some((id, true)) => {
                send(topic, Some(id.as_bytes()), None)?;
                produced.tombstones += 1;
            }
            Some((id, _)) => send(topic, Some(id.as_bytes()), Some(&line))?,
            None => send(topic, None, Some(&line))?,
        }
        produced.comments += 1;
        if rate > 0.0 {
            // Steady rate: never ahead of the schedule.
            let due = Duration::from_secs_f64(produced.comments as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if let Some(bar) = progress {
            if produced.comments % 1024 == 0 {
                bar.set_position(produced.comments);
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("the brokers did not acknowledge every message within 60 s")?;
    produced.seconds = started.elapsed().as_secs_f64();
    Ok(produced)
}
