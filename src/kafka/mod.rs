//! Kafka: settings, clients, partition ownership and the sinks (alerts, window stats, dead
//! letters). The source that reads topics for the runtime's worker loop is [`source`].
//!
//! chatter reads with manually assigned partitions (no consumer-group rebalancing): partition
//! `p` of the `t`-th comment topic belongs to global worker `(p + t) % workers`, the same in
//! every process, so partitions added later land deterministically and never move. Positions
//! come from the lake's newest snapshot (exactly-once); the consumer group only receives
//! commits of those positions after each snapshot, so `kafka-consumer-groups --describe` shows
//! lag without ever running ahead of the lake.
//!
//! One file over 800 lines: the settings, the client contexts and the sinks share the
//! librdkafka configuration and delivery bookkeeping, and their tests run against
//! librdkafka's mock cluster together; the source is in `source.rs`.

pub mod admin;
pub mod replay;
pub mod source;

use crate::config::{duration, KafkaConfig};
use crate::decode::{Provenance, Reason};
use crate::health::{Health, Phase};
use anyhow::{anyhow, bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// `[kafka]`, validated, with secrets resolved.
#[derive(Clone)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topics: Vec<String>,
    pub entities_topic: Option<String>,
    pub group_id: String,
    pub alerts_topic: Option<String>,
    pub velocity_topic: Option<String>,
    pub dlq_topic: Option<String>,
    pub epoch_interval: Duration,
    /// Most records a worker reads in one epoch.
    pub epoch_max_records: u64,
    pub catch_up_lag: u64,
    pub alert_horizon_ms: i64,
    pub connect_timeout: Duration,
    pub metadata_refresh: Duration,
    /// A caught-up partition with nothing read for this long leaves the event-time minimum.
    pub idle_timeout: Duration,
    pub idempotence: bool,
    pub bounded: bool,
    /// librdkafka options with secrets resolved (never printed).
    options: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("options", &redact_options(&self.options))
            .finish_non_exhaustive()
    }
}

pub use crate::config::{is_reference, is_secret};

/// The options as they may be shown: secret values replaced, except `env:` / `file:`
/// references (which name where the secret is, not the secret).
pub fn redact_options(options: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    options
        .iter()
        .map(|(key, value)| {
            let shown = if is_secret(key) && !is_reference(value) {
                "<redacted>".to_string()
            } else {
                value.clone()
            };
            (key.clone(), shown)
        })
        .collect()
}

/// Resolves `env:NAME` and `file:PATH` values.
fn resolve(key: &str, value: &str) -> Result<String> {
    if let Some(name) = value.strip_prefix("env:") {
        return std::env::var(name).map_err(|_| {
            anyhow!("kafka.options.\"{key}\" = \"env:{name}\": the environment variable {name} is not set: export it, or give the value another way")
        });
    }
    if let Some(path) = value.strip_prefix("file:") {
        if let Ok(Some(mode)) = crate::config::shared_mode(std::path::Path::new(path)) {
            bail!("kafka.options.\"{key}\" = \"file:{path}\": the file may be read by group or others (mode {mode:o}): chmod 600 it");
        }
        let text = std::fs::read_to_string(path).map_err(|error| {
            anyhow!("kafka.options.\"{key}\" = \"file:{path}\": cannot read the file ({error}): check the path and its permissions")
        })?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_string());
    }
    Ok(value.to_string())
}

/// What the consumer's callbacks report: the last error (authentication, TLS, DNS …, so that
/// a failure to reach the brokers can say why) and, from librdkafka's statistics, each
/// partition's high watermark (for the consumer lag, without a request to the broker).
#[derive(Default)]
pub struct ClientState {
    last: Mutex<Option<String>>,
    /// Why no broker is connected (None: one is, or nothing is known yet).
    down: Mutex<Option<String>>,
    highs: Mutex<std::collections::HashMap<(String, i32), i64>>,
}

impl ClientState {
    /// The high watermark of a partition from the latest statistics.
    pub fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        self.highs
            .lock()
            .ok()?
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// Why the client has no broker connection, if it has none (from the statistics and the
    /// "all brokers down" error).
    pub fn brokers_down(&self) -> Option<String> {
        self.down.lock().ok().and_then(|d| d.clone())
    }

    /// The last error the client reported (e.g. an authentication failure).
    pub fn last_error(&self) -> Option<String> {
        self.last.lock().ok().and_then(|e| e.clone())
    }
}

/// librdkafka's own log lines, as `tracing` events of target `librdkafka`. Its error-level
/// lines (a failed connection, say) are WARN: the same failures reach the error callback,
/// which logs them as ERROR events of kind `kafka_client`, counted once.
fn librdkafka_log(level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as Level;
    match level {
        Level::Emerg | Level::Alert | Level::Critical => {
            tracing::error!(target: "librdkafka", kind = "kafka_client", facility, "librdkafka: {message}")
        }
        Level::Error | Level::Warning => {
            tracing::warn!(target: "librdkafka", facility, "librdkafka: {message}")
        }
        Level::Notice | Level::Info => {
            tracing::info!(target: "librdkafka", facility, "librdkafka: {message}")
        }
        Level::Debug => tracing::debug!(target: "librdkafka", facility, "librdkafka: {message}"),
    }
}

impl ClientContext for ClientState {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        librdkafka_log(level, facility, message);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        // Brokers learned from metadata have node ids >= 0 (the bootstrap entries have -1).
        let learned: Vec<&rdkafka::statistics::Broker> = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0)
            .collect();
        if !learned.is_empty() {
            let down = (!learned.iter().any(|b| b.state == "UP")).then(|| {
                let states: Vec<String> = learned
                    .iter()
                    .map(|b| format!("{} {}", b.nodename, b.state))
                    .collect();
                format!("no Kafka broker connected ({})", states.join(", "))
            });
            if let Ok(mut slot) = self.down.lock() {
                *slot = down;
            }
        }
        let Ok(mut highs) = self.highs.lock() else {
            return;
        };
        for (name, topic) in statistics.topics {
            for (partition, stats) in topic.partitions {
                if partition >= 0 && stats.hi_offset >= 0 {
                    highs.insert((name.clone(), partition), stats.hi_offset);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(kind = "kafka_client", %error, reason, "Kafka client error");
        // "All brokers are down" follows the error that says why (e.g. a failed
        // authentication): keep the reason.
        let generic = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        );
        if let Ok(mut slot) = self.last.lock() {
            if !(generic && slot.is_some()) {
                *slot = Some(format!("{error}: {reason}"));
            }
        }
        if generic {
            if let Ok(mut slot) = self.down.lock() {
                *slot = Some(format!("all Kafka brokers are down ({reason})"));
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ClientState {}

/// The consumer chatter uses.
pub type KafkaConsumer = BaseConsumer<ClientState>;

/// Options chatter sets itself: a config that sets them would break its guarantees.
const RESERVED: [(&str, &str); 4] = [
    (
        "enable.auto.commit",
        "chatter commits offsets itself, after each snapshot",
    ),
    ("enable.auto.offset.store", "chatter stores offsets itself"),
    ("group.id", "use kafka.group_id"),
    ("bootstrap.servers", "use kafka.brokers"),
];

/// `[kafka.options]` with their secrets resolved (`env:`, `file:`), reserved keys refused: the
/// librdkafka options of every client chatter makes, in a run and in `gen --to` and
/// `replay --kafka` (TLS, SASL).
pub fn client_options(config: &KafkaConfig) -> Result<BTreeMap<String, String>> {
    let mut options = BTreeMap::new();
    for (key, value) in &config.options {
        if let Some((_, fix)) = RESERVED.iter().find(|(k, _)| k == key) {
            bail!("kafka.options.\"{key}\" cannot be set: {fix}");
        }
        options.insert(key.clone(), resolve(key, value)?);
    }
    Ok(options)
}

/// A librdkafka client config: `brokers`, then chatter's `defaults`, then the user's
/// `options` (which win over the defaults).
pub(crate) fn client_config(
    brokers: &str,
    defaults: &[(&str, &str)],
    options: &BTreeMap<String, String>,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in options {
        config.set(key, value);
    }
    config
}

impl KafkaSettings {
    /// Validates `[kafka]`; errors name the key and the fix.
    pub fn from_config(config: &KafkaConfig) -> Result<KafkaSettings> {
        if config.brokers.trim().is_empty() {
            bail!("kafka.brokers is empty: give host:port of at least one broker (or --kafka HOST:PORT)");
        }
        let topics: Vec<String> = config
            .topics
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if topics.is_empty() {
            bail!(
                "kafka.topics is empty: name at least one comment topic (default [\"comments\"])"
            );
        }
        for topic in topics.iter().chain([
            &config.entities_topic,
            &config.alerts_topic,
            &config.velocity_topic,
            &config.dlq_topic,
        ]) {
            let valid = topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                && topic.len() <= 249;
            if !valid {
                bail!("kafka topic name {topic:?} is not a valid Kafka topic name: use letters, digits, '.', '_' and '-' (at most 249)");
            }
        }
        let options = client_options(config)?;
        let optional = |name: &str| {
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_string())
        };
        let ms = |key: &str, text: &str| -> Result<Duration> {
            Ok(Duration::from_millis(duration(key, text, false)? as u64))
        };
        if config.group_id.trim().is_empty() {
            bail!("kafka.group_id is empty: name the consumer group offsets are committed to (default \"chatter\")");
        }
        Ok(KafkaSettings {
            brokers: config.brokers.trim().to_string(),
            topics,
            entities_topic: optional(&config.entities_topic),
            group_id: config.group_id.trim().to_string(),
            alerts_topic: optional(&config.alerts_topic),
            velocity_topic: optional(&config.velocity_topic),
            dlq_topic: optional(&config.dlq_topic),
            epoch_interval: ms("kafka.epoch_interval", &config.epoch_interval)?,
            epoch_max_records: match config.epoch_max_records {
                0 => bail!("kafka.epoch_max_records = 0: an epoch must read at least one record (default 100000)"),
                n => n,
            },
            catch_up_lag: config.catch_up_lag,
            alert_horizon_ms: duration("kafka.alert_horizon", &config.alert_horizon, true)?,
            connect_timeout: ms("kafka.connect_timeout", &config.connect_timeout)?,
            metadata_refresh: ms("kafka.metadata_refresh", &config.metadata_refresh)?,
            idle_timeout: ms("kafka.idle_timeout", &config.idle_timeout)?,
            idempotence: config.idempotence,
            bounded: config.bounded,
            options,
        })
    }

    /// Client config shared by consumers and producers: brokers, then the pass-through
    /// options (which may override chatter's defaults, except the reserved keys).
    fn client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = client_config(&self.brokers, defaults, &self.options);
        // Reconnect within a second of a broker's return (librdkafka backs off up to 10 s),
        // unless the options say otherwise.
        if !self.options.contains_key("reconnect.backoff.max.ms") {
            config.set("reconnect.backoff.max.ms", "1000");
        }
        config
    }

    /// A consumer for manually assigned partitions.
    pub fn consumer(&self, client_id: &str) -> Result<KafkaConsumer> {
        self.client(&[
            ("group.id", &self.group_id),
            ("client.id", client_id),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            // Low latency: the broker answers a fetch after at most 10 ms without data.
            ("fetch.wait.max.ms", "10"),
            ("allow.auto.create.topics", "false"),
            // Statistics carry each partition's high watermark: the consumer lag.
            ("statistics.interval.ms", "1000"),
        ])
        .create_with_context(ClientState::default())
        .context("cannot create a Kafka consumer: check kafka.options")
    }

    /// Waits until the brokers answer (retrying with backoff up to `connect_timeout`), then
    /// returns the partition count of each of `topics`; a missing topic is an error naming it.
    /// For a consumer that is not assigned yet (it polls it for error events).
    /// While it waits, `health` (if given) says why the run is not ready.
    pub fn wait_for_topics(
        &self,
        consumer: &KafkaConsumer,
        topics: &[String],
        health: Option<&Health>,
    ) -> Result<Vec<i32>> {
        let deadline = Instant::now() + self.connect_timeout;
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.partition_counts(consumer, topics) {
                Ok(counts) => return Ok(counts),
                Err(Unavailable::Missing(topic)) => bail!(
                    "Kafka topic {topic:?} does not exist on {}: create it (e.g. kafka-topics.sh --create --topic {topic}) or fix the topic name in [kafka]",
                    self.brokers
                ),
                Err(Unavailable::Unreachable(error)) => {
                    if health.is_some_and(Health::stop_requested) {
                        bail!("stopped while waiting for the Kafka brokers");
                    }
                    if Instant::now() + backoff > deadline {
                        let why = consumer
                            .context()
                            .last_error()
                            .map_or(String::new(), |e| format!("; last client error: {e}"));
                        bail!(
                            "cannot reach the Kafka brokers {} after {attempt} attempt(s) over {:?} ({error}{why}): check kafka.brokers, the credentials and TLS settings in [kafka.options], and that the brokers run (the wait is kafka.connect_timeout)",
                            self.brokers,
                            self.connect_timeout
                        );
                    }
                    tracing::warn!(brokers = %self.brokers, attempt, %error, retry_in = ?backoff, "Kafka brokers not reachable yet; retrying");
                    if let Some(health) = health {
                        health.phase(
                            Phase::Connecting,
                            Some(format!(
                                "Kafka brokers {} not reachable (attempt {attempt}, retrying until kafka.connect_timeout): {error}",
                                self.brokers
                            )),
                        );
                    }
                    // Wait while serving librdkafka's error events (they arrive through the
                    // poll queue; nothing else can: the consumer is not assigned yet).
                    let until = Instant::now() + backoff;
                    while let Some(left) = until.checked_duration_since(Instant::now()) {
                        if health.is_some_and(Health::stop_requested) {
                            break;
                        }
                        let _ = consumer.poll(left.min(Duration::from_millis(100)));
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// A partition's high watermark, asked of the broker; retried (with backoff) while the
    /// brokers are unavailable, for at most `connect_timeout`.
    pub fn high_watermark(
        &self,
        consumer: &KafkaConsumer,
        topic: &str,
        partition: i32,
    ) -> Result<i64> {
        let deadline = Instant::now() + self.connect_timeout;
        let mut backoff = Duration::from_millis(100);
        loop {
            match consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
                Ok((_, high)) => return Ok(high),
                Err(error) if Instant::now() + backoff > deadline => bail!(
                    "cannot read the end offset of {topic}/{partition} from {} within kafka.connect_timeout ({:?}): {error}",
                    self.brokers,
                    self.connect_timeout
                ),
                Err(error) => {
                    tracing::warn!(topic, partition, %error, "cannot read the end offset yet; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// The partition count of each of `topics`, one attempt.
    pub(crate) fn partition_counts(
        &self,
        consumer: &KafkaConsumer,
        topics: &[String],
    ) -> std::result::Result<Vec<i32>, Unavailable> {
        let mut counts = Vec::new();
        for topic in topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map_err(|e| Unavailable::Unreachable(e.to_string()))?;
            let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                return Err(Unavailable::Missing(topic.clone()));
            };
            match found.error() {
                None if !found.partitions().is_empty() => {
                    counts.push(found.partitions().len() as i32)
                }
                None => return Err(Unavailable::Missing(topic.clone())),
                Some(code) => {
                    let code = RDKafkaErrorCode::from(code);
                    if matches!(
                        code,
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                    ) {
                        return Err(Unavailable::Missing(topic.clone()));
                    }
                    return Err(Unavailable::Unreachable(code.to_string()));
                }
            }
        }
        Ok(counts)
    }
}

pub(crate) enum Unavailable {
    Missing(String),
    Unreachable(String),
}

/// The global worker that reads partition `partition` of the `topic_index`-th comment topic.
pub fn owner(topic_index: usize, partition: i32, workers: usize) -> usize {
    (partition as usize + topic_index) % workers.max(1)
}

/// Delivery bookkeeping of the producer (it outlives a producer session, see `Sinks::flush`).
#[derive(Default)]
pub struct SinkState {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Messages a broker refused with an error that may pass (e.g. a broker shutting down
    /// answers "unknown error"): `Sinks::flush` sends them again.
    retry: Mutex<Vec<Unsent>>,
}

impl SinkState {
    /// Messages refused for good, or refused and not (yet) sent again.
    pub fn undelivered(&self) -> u64 {
        let waiting = self.retry.lock().map_or(0, |r| r.len() as u64);
        self.failed.load(Ordering::Relaxed) + waiting
    }
}

/// A message to send again.
struct Unsent {
    topic: String,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
}

impl Unsent {
    fn new(topic: &str, key: &[u8], value: Option<&[u8]>, headers: Option<OwnedHeaders>) -> Self {
        Unsent {
            topic: topic.to_string(),
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            headers,
        }
    }
}

/// Delivery errors no retry can fix: the message or the permissions must change.
fn permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidMessage
                | InvalidRecord
                | MessageBatchTooLarge
                | TopicAuthorizationFailed
                | ClusterAuthorizationFailed
                | InvalidTopic
                | InvalidRequiredAcks
                | UnsupportedCompressionType
                | Fatal
        )
    )
}

/// The producer's context: the shared delivery bookkeeping.
#[derive(Default, Clone)]
pub struct SinkContext(Arc<SinkState>);

impl ClientContext for SinkContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        librdkafka_log(level, facility, message);
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let state = &self.0;
        match result {
            Ok(_) => {
                state.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                use rdkafka::Message;
                if !permanent(error) {
                    tracing::debug!(topic = message.topic(), %error, "a broker refused a message; it will be sent again");
                    if let Ok(mut last) = state.last_error.lock() {
                        *last = Some(format!("{}: {error}", message.topic()));
                    }
                    if let Ok(mut retry) = state.retry.lock() {
                        retry.push(Unsent::new(
                            message.topic(),
                            message.key().unwrap_or_default(),
                            message.payload(),
                            message.headers().map(|h| h.detach()),
                        ));
                        return;
                    }
                }
                state.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(kind = "kafka_delivery", topic = message.topic(), %error, "a message could not be delivered");
                if let Ok(mut slot) = state.last_error.lock() {
                    *slot = Some(format!("{}: {error}", message.topic()));
                }
            }
        }
    }
}

/// The producer of the alerts, window-stats and dead-letter topics (one per process).
pub struct Sinks {
    /// Replaced by a new session when a broker keeps refusing (see `flush`).
    producer: RwLock<ThreadedProducer<SinkContext>>,
    state: Arc<SinkState>,
    pub settings: KafkaSettings,
    /// Largest value sent to the DLQ; longer originals are cut (the lake keeps them whole).
    dlq_max_bytes: usize,
}

impl Sinks {
    pub fn new(settings: &KafkaSettings) -> Result<Sinks> {
        let context = SinkContext::default();
        let state = context.0.clone();
        Ok(Sinks {
            producer: RwLock::new(Self::producer(settings, context)?),
            state,
            settings: settings.clone(),
            dlq_max_bytes: 900 * 1024,
        })
    }

    /// A producer session (its own producer id when idempotent).
    fn producer(
        settings: &KafkaSettings,
        context: SinkContext,
    ) -> Result<ThreadedProducer<SinkContext>> {
        let idempotence = if settings.idempotence {
            "true"
        } else {
            "false"
        };
        let producer = settings
            .client(&[
                ("client.id", "chatter-sink"),
                ("enable.idempotence", idempotence),
                ("acks", "all"),
                // Retry forever: a broker outage pauses the pipeline (backpressure through the
                // flush before each snapshot) instead of losing alerts.
                ("message.timeout.ms", "0"),
                ("linger.ms", "5"),
                ("compression.type", "lz4"),
                ("queue.buffering.max.messages", "100000"),
            ])
            .create_with_context(context)
            .context("cannot create the Kafka producer: check kafka.options")?;
        Ok(producer)
    }

    /// The delivery bookkeeping.
    pub fn context(&self) -> &SinkState {
        &self.state
    }

    fn session(&self) -> std::sync::RwLockReadGuard<'_, ThreadedProducer<SinkContext>> {
        self.producer.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one record; when the local queue is full, waits for it to drain (backpressure:
    /// the caller's worker, and with it the source, pauses).
    fn send(&self, topic: &str, key: &[u8], value: Option<&[u8]>, headers: Option<OwnedHeaders>) {
        // While refused messages wait to be sent again, later ones queue behind them: the
        // newest value of a key (window stats) stays the last one sent.
        if let Ok(mut retry) = self.context().retry.lock() {
            if !retry.is_empty() {
                retry.push(Unsent::new(topic, key, value, headers));
                return;
            }
        }
        self.produce(topic, key, value, headers);
    }

    /// Hands one record to librdkafka, waiting while its queue is full.
    fn produce(
        &self,
        topic: &str,
        key: &[u8],
        value: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) {
        let mut record = BaseRecord::to(topic).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        let mut waited = 0u32;
        loop {
            match self.session().send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    waited += 1;
                    if waited.is_multiple_of(100) {
                        tracing::warn!(topic, "the producer queue is full (the broker is slow or down); the pipeline waits");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    self.context().failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(kind = "kafka_produce", topic, %error, "cannot produce a message");
                    return;
                }
            }
        }
    }

    /// An alert event (key = alert id).
    pub fn alert(&self, alert_id: &str, json: &[u8]) {
        if let Some(topic) = &self.settings.alerts_topic {
            self.send(topic, alert_id.as_bytes(), Some(json), None);
        }
    }

    /// A window row (key `{entity_id}/{window_start}`), or its tombstone.
    pub fn window(&self, key: &str, json: Option<&[u8]>) {
        if let Some(topic) = &self.settings.velocity_topic {
            self.send(topic, key.as_bytes(), json, None);
        }
    }

    /// A dead letter: the original bytes, with the reason and provenance as headers (SPEC §3.4).
    pub fn dead_letter(&self, source: &Provenance, reason: Reason, error: &str, raw: &[u8]) {
        let Some(topic) = &self.settings.dlq_topic else {
            return;
        };
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "chatter.reason",
                value: Some(reason.code()),
            })
            .insert(Header {
                key: "chatter.error",
                value: Some(error),
            });
        let source_text = source.to_string();
        match source {
            Provenance::Kafka {
                topic: source_topic,
                partition,
                offset,
            } => {
                for (key, value) in [
                    ("chatter.source.topic", source_topic.clone()),
                    ("chatter.source.partition", partition.to_string()),
                    ("chatter.source.offset", offset.to_string()),
                ] {
                    headers = headers.insert(Header {
                        key,
                        value: Some(&value),
                    });
                }
            }
            Provenance::File { .. } | Provenance::Restored => {
                headers = headers.insert(Header {
                    key: "chatter.source",
                    value: Some(&source_text),
                });
            }
        }
        let value = if raw.len() > self.dlq_max_bytes {
            headers = headers.insert(Header {
                key: "chatter.truncated_from",
                value: Some(&raw.len().to_string()),
            });
            &raw[..self.dlq_max_bytes]
        } else {
            raw
        };
        self.send(topic, source_text.as_bytes(), Some(value), Some(headers));
    }

    /// Waits until everything sent so far is acknowledged, retrying (with a log line) while
    /// the brokers are unavailable: nothing is published as done before its outputs are.
    /// Messages a broker refused with an error that may pass are sent again (at-least-once).
    ///
    /// A broker that refuses again after a resend gets a new producer session. An idempotent
    /// producer numbers its messages, and after a refused batch a broker may refuse every
    /// later number (tansu does, with "unknown error", after a restart). A new session has a
    /// new producer id and starts its numbers afresh, as librdkafka's own epoch bump would.
    pub fn flush(&self) {
        let mut attempt = 0;
        let mut rounds = 0u32;
        loop {
            let flushed = self.session().flush(Duration::from_secs(5));
            match flushed {
                Ok(()) => {
                    let unsent = self
                        .state
                        .retry
                        .lock()
                        .map(|mut r| std::mem::take(&mut *r))
                        .unwrap_or_default();
                    if unsent.is_empty() {
                        return;
                    }
                    rounds += 1;
                    let fatal = self.session().client().fatal_error();
                    tracing::warn!(
                        messages = unsent.len(),
                        round = rounds,
                        last_error = self.last_error().unwrap_or_default(),
                        "the brokers refused messages; sending them again"
                    );
                    if rounds >= 2 || fatal.is_some() {
                        match Self::producer(&self.settings, SinkContext(self.state.clone())) {
                            Ok(fresh) => {
                                tracing::warn!(?fatal, "starting a new Kafka producer session");
                                *self.producer.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                            }
                            Err(error) => {
                                tracing::error!(kind = "kafka_session", %error, "cannot start a new producer session")
                            }
                        }
                    }
                    // Back off: 200 ms, doubling to 5 s.
                    let pause = Duration::from_millis(200)
                        .saturating_mul(1 << (rounds - 1).min(5))
                        .min(Duration::from_secs(5));
                    std::thread::sleep(pause);
                    for m in unsent {
                        self.produce(&m.topic, &m.key, m.value.as_deref(), m.headers);
                    }
                }
                Err(error) => {
                    attempt += 1;
                    let in_flight = self.session().in_flight_count();
                    tracing::warn!(%error, attempt, in_flight, "waiting for the brokers to acknowledge output");
                }
            }
        }
    }

    /// Creates the output topics that do not exist yet (like Materialize's sinks and Kafka
    /// Connect's DLQ): alerts and dead letters with one partition, window stats compacted.
    pub fn ensure_topics(&self) -> Result<()> {
        let s = &self.settings;
        for (topic, compacted) in [
            (&s.alerts_topic, false),
            (&s.dlq_topic, false),
            (&s.velocity_topic, true),
        ] {
            if let Some(topic) = topic {
                admin::ensure_topic(&s.brokers, &s.options, topic, 1, compacted).with_context(
                    || format!("the output topic {topic:?} is missing and cannot be created: create it, or grant chatter CreateTopics"),
                )?;
            }
        }
        Ok(())
    }

    /// The last delivery failure, if any.
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// Resumes the given partitions at the lake's positions (absent: from the beginning).
pub fn assignment(parts: &[(String, i32, Option<i64>)]) -> Result<rdkafka::TopicPartitionList> {
    use rdkafka::{Offset, TopicPartitionList};
    let mut list = TopicPartitionList::new();
    for (topic, partition, next) in parts {
        let offset = match next {
            Some(next) => Offset::Offset(*next),
            None => Offset::Beginning,
        };
        list.add_partition_offset(topic, *partition, offset)
            .with_context(|| format!("cannot assign {topic}:{partition}"))?;
    }
    Ok(list)
}

/// Commits positions to the consumer group (asynchronously; failures are only logged: the
/// lake, not the group, is the source of truth).
pub fn commit(consumer: &KafkaConsumer, positions: &[crate::lake::KafkaPosition]) {
    use rdkafka::{Offset, TopicPartitionList};
    let mut list = TopicPartitionList::new();
    for position in positions {
        let _ = list.add_partition_offset(
            &position.topic,
            position.partition,
            Offset::Offset(position.offset),
        );
    }
    if list.count() == 0 {
        return;
    }
    if let Err(error) = consumer.commit(&list, rdkafka::consumer::CommitMode::Async) {
        tracing::warn!(%error, "cannot commit offsets to the consumer group (lag tools will lag; the lake is unaffected)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_but_references_shown() {
        let mut options = BTreeMap::new();
        options.insert("sasl.password".to_string(), "hunter2".to_string());
        options.insert("sasl.username".to_string(), "me".to_string());
        options.insert("ssl.key.password".to_string(), "env:KEY_PW".to_string());
        let shown = redact_options(&options);
        assert_eq!(shown["sasl.password"], "<redacted>");
        assert_eq!(shown["sasl.username"], "me");
        assert_eq!(shown["ssl.key.password"], "env:KEY_PW");
    }

    #[test]
    fn secrets_resolve_from_env_and_files_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let set_mode = |mode| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set_mode(0o644);
        let error = resolve("sasl.password", &format!("file:{}", file.display())).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
        set_mode(0o600);
        assert_eq!(
            resolve("sasl.password", &format!("file:{}", file.display())).unwrap(),
            "s3cret"
        );
        let error = resolve("sasl.password", "env:CHATTER_TEST_SURELY_UNSET").unwrap_err();
        assert!(
            error.to_string().contains("CHATTER_TEST_SURELY_UNSET"),
            "{error}"
        );
        let mut config = KafkaConfig::default();
        config
            .options
            .insert("enable.auto.commit".into(), "true".into());
        let error = KafkaSettings::from_config(&config).unwrap_err().to_string();
        assert!(error.contains("enable.auto.commit"), "{error}");
        let config = KafkaConfig {
            topics: vec!["bad topic".into()],
            ..KafkaConfig::default()
        };
        assert!(KafkaSettings::from_config(&config).is_err());
    }

    #[test]
    fn ownership_is_stable_when_partitions_are_added() {
        let before: Vec<usize> = (0..4).map(|p| owner(0, p, 3)).collect();
        let after: Vec<usize> = (0..8).map(|p| owner(0, p, 3)).collect();
        assert_eq!(before[..], after[..4]);
        // Every worker gets a share.
        for w in 0..3 {
            assert!(after.contains(&w));
        }
        use crate::connectors::SourceTable;
        assert_ne!(SourceTable::kafka_key(1, 0), SourceTable::kafka_key(2, 0));
    }

    /// A broker that answers produce requests with "unknown error" (tansu does while it shuts
    /// down, and after a restart) makes librdkafka fail those messages; flush sends them
    /// again, in a new producer session from the second refusal on, so none is lost.
    #[test]
    fn refused_messages_are_sent_again() {
        use rdkafka::mocking::MockCluster;
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
        use rdkafka::Message;
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("chatter.alerts", 1, 1).unwrap();
        let config = KafkaConfig {
            brokers: cluster.bootstrap_servers(),
            ..KafkaConfig::default()
        };
        let settings = KafkaSettings::from_config(&config).unwrap();
        let sinks = Sinks::new(&settings).unwrap();
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN; 4],
        );
        for i in 0..50 {
            sinks.alert(&format!("a{i}"), b"{}");
        }
        sinks.flush();
        assert_eq!(sinks.context().failed.load(Ordering::Relaxed), 0);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "test")
            .create()
            .unwrap();
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition_offset("chatter.alerts", 0, rdkafka::Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let mut keys = std::collections::BTreeSet::new();
        let started = Instant::now();
        while keys.len() < 50 && started.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                keys.insert(String::from_utf8_lossy(message.key().unwrap()).into_owned());
            }
        }
        assert_eq!(keys.len(), 50, "{keys:?}");
    }
}
