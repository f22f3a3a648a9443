//! The pipeline config file (`chatter.toml`): serde types that reject unknown keys, compiled by
//! [`Config::params`] (and the command line, `cli`) into validated [`dataflows::Params`] and
//! the binary's run settings. Every error names the key and the fix.
//!
//! Its own crate (no engine runtime, no Kafka client) so that it can be fuzzed alone
//! (`fuzz/`); the binary re-exports it as `chatter::config`.

use anyhow::{bail, Context, Result};
use dataflows::extract::ExtractConfig;
use dataflows::model::AlertRule;
use dataflows::Params;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole file. Every section is optional; absent keys take the documented defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub input: InputConfig,
    pub windows: WindowsConfig,
    pub alerts: AlertsConfig,
    pub extract: ExtractSection,
    pub output: OutputConfig,
    pub kafka: KafkaConfig,
    pub http: HttpConfig,
}

/// `[http]`: the run's HTTP server: dashboard, API, alert stream, metrics and probes
/// (docs/api.md). Compiled by the binary's `serve::ServeSettings::compile`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// host:port to listen on, like "127.0.0.1:8080" ("" = no HTTP; `--http` overrides).
    pub listen: String,
    /// A file holding the bearer token that turns auth on (never on the command line; the
    /// environment variable `CHATTER_HTTP_TOKEN` is used when this is ""). The file must not
    /// be readable by group or others.
    pub token_file: String,
    /// Routes answered without a token when auth is on.
    pub public_routes: Vec<String>,
    /// Requests per second per client address (a token bucket); 0 = no limit.
    pub rate_limit: f64,
    /// Requests a client may make at once above the rate.
    pub rate_burst: u32,
    /// Largest request body accepted (the API reads none), like "16KiB".
    pub max_body: String,
    /// Largest total size of a request's headers, like "16KiB".
    pub max_headers: String,
    /// Time limit of a request (all but the alert stream), like "10s".
    pub request_timeout: String,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Origins allowed to call the API from a browser (CORS); empty = CORS off.
    pub cors_origins: Vec<String>,
    /// Memory limit shown to Prometheus as `chatter_memory_limit_bytes`, like "2GiB" ("" =
    /// the cgroup's `memory.max`, if any).
    pub memory_limit: String,
    /// Mark the session cookie `Secure` (set it when serving over HTTPS through a proxy).
    pub secure_cookie: bool,
    /// After a bounded input ends, keep serving until SIGTERM or Ctrl-C (`--keep-serving`).
    pub keep_serving: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: String::new(),
            token_file: String::new(),
            public_routes: vec!["/healthz".into(), "/readyz".into(), "/metrics".into()],
            rate_limit: 50.0,
            rate_burst: 100,
            max_body: "16KiB".into(),
            max_headers: "16KiB".into(),
            request_timeout: "10s".into(),
            max_connections: 1024,
            cors_origins: Vec::new(),
            memory_limit: String::new(),
            secure_cookie: false,
            keep_serving: false,
        }
    }
}

/// `[kafka]`: the Kafka source and sinks (used when `input.source = "kafka"` or `--kafka`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]` (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Comment topics (SPEC §1.1); their partitions are spread over all timely workers.
    pub topics: Vec<String>,
    /// The entity catalog topic (compacted; read from the beginning); "" for none.
    pub entities_topic: String,
    /// Consumer group the consumed offsets are committed to (after each snapshot), so that
    /// standard tools show lag. Positions themselves come from the lake.
    pub group_id: String,
    /// Alert events (key = alert id); "" to not produce them.
    pub alerts_topic: String,
    /// Window stats (compacted, key `{entity_id}/{window_start}`, tombstones); "" = off.
    pub velocity_topic: String,
    /// Dead letters with provenance headers; "" to not produce them.
    pub dlq_topic: String,
    /// Processing time per epoch (the unit of progress); lower = lower latency.
    pub epoch_interval: String,
    /// Most records a worker reads in one epoch (an epoch ends at `epoch_interval` or here,
    /// whichever comes first), so a backlog is taken in bounded steps.
    pub epoch_max_records: u64,
    /// Catch-up: alert events decided in an epoch that started with more than this many
    /// records waiting (over all partitions) go to the lake only, when their window ended more
    /// than `alert_horizon` ago.
    pub catch_up_lag: u64,
    /// See `catch_up_lag` (wall-clock age of a window's end).
    pub alert_horizon: String,
    /// How long to retry reaching the brokers at start before exiting non-zero.
    pub connect_timeout: String,
    /// How often to look for new partitions of the topics.
    pub metadata_refresh: String,
    /// A partition with no record waiting (its lag is 0) and none read for this long is idle:
    /// it leaves the event-time minimum until its next record (SPEC §2.4).
    pub idle_timeout: String,
    /// Use the idempotent producer (needs broker support for InitProducerId).
    pub idempotence: bool,
    /// Stop at the end offsets the topics had at start (a backfill), like Flink's bounded
    /// Kafka source: flush, snapshot, exit 0.
    pub bounded: bool,
    /// librdkafka options passed through to every client (e.g. `security.protocol`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`). A value
    /// `env:NAME` is read from the environment, `file:PATH` from a file (secrets).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topics: vec!["comments".into()],
            entities_topic: "entities".into(),
            group_id: "chatter".into(),
            alerts_topic: "chatter.alerts".into(),
            velocity_topic: String::new(),
            dlq_topic: "chatter.dlq".into(),
            epoch_interval: "100ms".into(),
            epoch_max_records: 100_000,
            catch_up_lag: 100_000,
            alert_horizon: "1h".into(),
            connect_timeout: "60s".into(),
            metadata_refresh: "10s".into(),
            idle_timeout: "2s".into(),
            idempotence: true,
            bounded: false,
            options: Default::default(),
        }
    }
}

/// `[input]`: where comments and the catalog come from (the file source).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// "file" (JSON Lines files or stdin) or "kafka" (see `[kafka]`).
    pub source: String,
    /// Comment files (JSON Lines, plain or `.gz`), read in order; `-` is stdin.
    pub comments: Vec<PathBuf>,
    /// The entity catalog (JSON Lines, plain or `.gz`).
    pub entities: Option<PathBuf>,
    /// Largest accepted record in bytes; larger ones are dead letters (`oversize`).
    pub max_record_bytes: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            source: "file".into(),
            comments: Vec::new(),
            entities: None,
            max_record_bytes: 1 << 20,
        }
    }
}

/// `[windows]`: event-time windows, baseline, lateness and retention.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    /// Tumbling window size, e.g. "5m" (units: ms, s, m, h, d).
    pub size: String,
    /// Number of previous windows in the baseline (K).
    pub baseline_windows: u32,
    /// How far the watermark trails the newest `created_at` seen.
    pub allowed_lateness: String,
    /// How far behind the watermark changes are still accepted; older state is sealed.
    pub retention: String,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        WindowsConfig {
            size: "5m".into(),
            baseline_windows: 12,
            allowed_lateness: "1m".into(),
            retention: "7d".into(),
        }
    }
}

/// `[alerts]`: the velocity rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Minimum mentions in the window.
    pub min_mentions: u64,
    /// Minimum z-score (std floored at 1.0).
    pub z_threshold: f64,
    /// Minimum (mentions + 1) / (baseline_mean + 1).
    pub ratio_threshold: f64,
    /// Fire `provisional: true` alerts before the window is final.
    pub provisional: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let rule = AlertRule::default();
        AlertsConfig {
            min_mentions: rule.min_mentions,
            z_threshold: rule.z_threshold,
            ratio_threshold: rule.ratio_threshold,
            provisional: false,
        }
    }
}

/// `[extract]`: mention-matching policy (see README, "Extraction policy").
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractSection {
    /// Use the built-in stop lists (common-word symbols need a `$`; common-word aliases ignored).
    pub default_stop_lists: bool,
    /// More symbols that match only as `$CASHTAGS`.
    pub cashtag_only: Vec<String>,
    /// More single-word aliases that never match.
    pub alias_stop_words: Vec<String>,
    /// Also match each entity's `name` as an alias (an extension of SPEC §2.1; off: only the
    /// ids and symbols as cashtags, symbols as tokens, and the listed aliases match).
    pub match_names: bool,
}

impl Default for ExtractSection {
    fn default() -> Self {
        ExtractSection {
            default_stop_lists: true,
            cashtag_only: Vec::new(),
            alias_stop_words: Vec::new(),
            match_names: false,
        }
    }
}

/// `[output]`: where results go.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Alert events as JSON Lines: a path, or "-" for stdout.
    pub alerts: PathBuf,
    /// Dead letters as JSON Lines; none = `dead_letters.jsonl` beside the alerts file, or in
    /// the working directory when alerts go to stdout.
    pub dead_letters: Option<PathBuf>,
    /// The lake directory (snapshots and checkpoint).
    pub lake: PathBuf,
    /// Processing time between snapshots.
    pub snapshot_interval: String,
    /// Snapshots kept.
    pub keep_snapshots: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            alerts: PathBuf::from("-"),
            dead_letters: None,
            lake: PathBuf::from("lake"),
            snapshot_interval: "60s".to_string(),
            keep_snapshots: chatter_lake::DEFAULT_KEEP,
        }
    }
}

impl OutputConfig {
    /// The snapshot interval, validated.
    pub fn snapshot_interval_ms(&self) -> Result<i64> {
        duration("output.snapshot_interval", &self.snapshot_interval, false)
    }
}

/// Parses a duration like "300ms", "90s", "5m", "2h", "7d" into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// A size like "16KiB", "2GiB", "512MB" or "1000" (bytes), for the key `key`.
pub fn byte_size(key: &str, text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_bytes: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 && unit_bytes > 0 => n
            .checked_mul(unit_bytes)
            .with_context(|| format!("{key} = {text:?} is too large")),
        _ => bail!(
            "{key} = {text:?} is not a size: write a whole number and a unit, like \"16KiB\" (units: B, KB, KiB, MB, MiB, GB, GiB)"
        ),
    }
}

pub fn duration(key: &str, text: &str, allow_zero: bool) -> Result<i64> {
    match parse_duration_ms(text) {
        Some(ms) if ms > 0 || (allow_zero && ms == 0) => Ok(ms),
        _ => bail!(
            "{key} = {text:?} is not a {}duration: write a whole number and a unit, like \"5m\" (units: ms, s, m, h, d)",
            if allow_zero { "" } else { "positive " }
        ),
    }
}

/// The permission bits of a file that group or others may read (None: only its owner may).
pub fn shared_mode(path: &Path) -> Result<Option<u32>> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Some(mode));
        }
    }
    let _ = metadata;
    Ok(None)
}

impl Config {
    /// Reads and parses a config file; errors name the file, line and key.
    /// A config that holds a secret inline (a `[kafka.options]` password, say) must not be
    /// readable by group or others; one that only names where secrets are (`env:`, `file:`)
    /// may be.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config = Self::parse(&text).with_context(|| format!("config {}", path.display()))?;
        let inline = config
            .kafka
            .options
            .iter()
            .find(|(key, value)| is_secret(key) && !is_reference(value));
        if let Some((key, _)) = inline {
            if let Some(mode) = shared_mode(path)? {
                bail!(
                    "config {} holds the secret kafka.options.\"{key}\" and may be read by group or others (mode {mode:o}): chmod 600 {}, or give the value as \"env:NAME\" or \"file:PATH\"",
                    path.display(),
                    path.display()
                );
            }
        }
        Ok(config)
    }

    /// Parses config text.
    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = error.message().trim().replace('\n', " ");
            match line {
                Some(line) => anyhow::anyhow!("line {line}: {message}"),
                None => anyhow::anyhow!("{message}"),
            }
        })
    }

    /// Validates and compiles into the dataflow's parameters.
    pub fn params(&self) -> Result<Params> {
        let window_ms = duration("windows.size", &self.windows.size, false)?;
        let allowed_lateness_ms = duration(
            "windows.allowed_lateness",
            &self.windows.allowed_lateness,
            true,
        )?;
        let retention_ms = duration("windows.retention", &self.windows.retention, false)?;
        if self.windows.baseline_windows == 0 {
            bail!("windows.baseline_windows = 0: the baseline needs at least 1 previous window (default 12)");
        }
        let baseline_span = window_ms.saturating_mul(i64::from(self.windows.baseline_windows) + 1);
        if retention_ms < baseline_span {
            bail!(
                "windows.retention = {:?} is shorter than (baseline_windows + 1) × size = {} s: raise retention or lower baseline_windows",
                self.windows.retention,
                baseline_span / 1000
            );
        }
        for (key, value) in [
            ("alerts.z_threshold", self.alerts.z_threshold),
            ("alerts.ratio_threshold", self.alerts.ratio_threshold),
        ] {
            if !value.is_finite() {
                bail!("{key} = {value} must be a finite number");
            }
        }
        if self.input.max_record_bytes < 64 {
            bail!(
                "input.max_record_bytes = {} is too small: use at least 64 (default 1048576)",
                self.input.max_record_bytes
            );
        }
        Ok(Params {
            window_ms,
            baseline_windows: self.windows.baseline_windows,
            allowed_lateness_ms,
            retention_ms,
            rule: AlertRule {
                min_mentions: self.alerts.min_mentions,
                z_threshold: self.alerts.z_threshold,
                ratio_threshold: self.alerts.ratio_threshold,
            },
            provisional_alerts: self.alerts.provisional,
            extract: ExtractConfig {
                cashtag_only: self
                    .extract
                    .cashtag_only
                    .iter()
                    .map(|s| s.trim().to_uppercase())
                    .collect(),
                alias_stop_words: self
                    .extract
                    .alias_stop_words
                    .iter()
                    .map(|s| s.trim().to_lowercase())
                    .collect(),
                default_stop_lists: self.extract.default_stop_lists,
                match_names: self.extract.match_names,
            },
        })
    }
}

/// Whether a librdkafka option holds a secret (its value is never printed or logged).
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "oauthbearer.config",
        "key.pem",
        "token",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Whether an option's value names where its secret is (`env:NAME`, `file:PATH`).
pub fn is_reference(value: &str) -> bool {
    value.starts_with("env:") || value.starts_with("file:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile_to_the_spec_defaults() {
        let params = Config::default().params().unwrap();
        assert_eq!(params.window_ms, 300_000);
        assert_eq!(params.baseline_windows, 12);
        assert_eq!(params.retention_ms, 7 * 86_400_000);
        assert_eq!(params.rule, AlertRule::default());
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../chatter.example.toml");
        let config = Config::parse(text).unwrap();
        config.params().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let error = Config::parse("[windows]\nsise = \"5m\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("sise"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        let error = Config::parse("[nope]\n").unwrap_err().to_string();
        assert!(error.contains("nope"), "{error}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let config = Config::parse("[windows]\nsize = \"-5m\"\n").unwrap();
        let error = config.params().unwrap_err().to_string();
        assert!(
            error.contains("windows.size") && error.contains("\"5m\""),
            "{error}"
        );
        let config = Config::parse("[windows]\nbaseline_windows = 0\n").unwrap();
        assert!(config
            .params()
            .unwrap_err()
            .to_string()
            .contains("windows.baseline_windows"));
        let config = Config::parse("[windows]\nretention = \"10m\"\n").unwrap();
        assert!(config
            .params()
            .unwrap_err()
            .to_string()
            .contains("windows.retention"));
        let error = Config::parse("[windows]\nbaseline_windows = -3\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn sizes() {
        assert_eq!(byte_size("k", "16KiB").unwrap(), 16384);
        assert_eq!(byte_size("k", "2GiB").unwrap(), 2 << 30);
        assert_eq!(byte_size("k", "1000").unwrap(), 1000);
        let error = byte_size("http.max_body", "lots").unwrap_err().to_string();
        assert!(
            error.contains("http.max_body") && error.contains("16KiB"),
            "{error}"
        );
        assert!(byte_size("k", "0KiB").is_err());
        assert!(byte_size("k", "99999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("7d"), Some(604_800_000));
        assert_eq!(parse_duration_ms("0s"), Some(0));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("-5m"), None);
        assert_eq!(parse_duration_ms("5 weeks"), None);
    }
}
