//! Logs: `tracing` events to stderr, as text for people (the default) or one JSON object a line
//! for log shippers (`--log-format json`), filtered per module by `RUST_LOG` (the older
//! `CHATTER_LOG` still works). Every ERROR event carries a `kind` field and is counted in
//! `chatter_errors_total{kind}` (see [`ERROR_KINDS`]).
//!
//! What logs never hold: secrets (config values are not logged; Kafka errors come from
//! librdkafka, which masks its sensitive properties) and comment text (events name records by
//! their provenance, never their content). `tests/logging.rs` checks both at TRACE.
//!
//! The CLI's own lines ("chatter: read N records ...") go through [`say`]: plain text in the
//! human format, an INFO event of target `chatter` in the JSON one, so that every stderr line
//! of a JSON run is JSON.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Text for people: `2026-12-02T07:00:00Z  WARN chatter::kafka: message key=value`.
    #[default]
    Human,
    /// One JSON object per line: timestamp, level, target, fields (message and key/values).
    Json,
}

/// The kinds an ERROR event may name, each a series of `chatter_errors_total` from the start
/// (at 0), so that `increase()` sees the first one. A kind outside the list is counted as
/// `other`; a unit test checks that every `error!` in the source names a listed kind.
pub const ERROR_KINDS: &[&str] = &[
    "http",
    "lake_read",
    "lake_write",
    "kafka_client",
    "kafka_delivery",
    "kafka_produce",
    "kafka_session",
    "snapshot",
    "worker",
    "cluster",
    "fatal",
    "other",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

/// ERROR events by kind since the process started (registered by the metrics server).
pub fn errors() -> &'static Family<ErrorLabels, Counter> {
    static ERRORS: OnceLock<Family<ErrorLabels, Counter>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let family = Family::default();
        for kind in ERROR_KINDS {
            drop(family.get_or_create(&ErrorLabels {
                kind: kind.to_string(),
            }));
        }
        family
    })
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Counts ERROR events by their `kind` field.
struct CountErrors;

impl<S: Subscriber> Layer<S> for CountErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let mut kind = KindField(None);
        event.record(&mut kind);
        count(kind.0.as_deref().unwrap_or("other"));
    }
}

struct KindField(Option<String>);

impl Visit for KindField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "kind" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "kind" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

/// The filter: `RUST_LOG`, else `CHATTER_LOG`, else `warn` for people and `info` for JSON
/// (a service's log). A filter that does not parse is reported and the default used.
fn filter(format: LogFormat) -> EnvFilter {
    let default = match format {
        LogFormat::Human => "warn",
        LogFormat::Json => "info",
    };
    for variable in ["RUST_LOG", "CHATTER_LOG"] {
        let Ok(value) = std::env::var(variable) else {
            continue;
        };
        match EnvFilter::try_new(&value) {
            Ok(filter) => return filter,
            Err(error) => {
                eprintln!("chatter: {variable}={value:?} is not a log filter ({error}); using {default:?} (example: RUST_LOG=info,chatter::kafka=debug)");
                break;
            }
        }
    }
    EnvFilter::new(default)
}

/// Installs the stderr subscriber (once per process; later calls do nothing).
pub fn init(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let registry = tracing_subscriber::registry().with(CountErrors);
    let filter = filter(format);
    let result = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(false)
                    .with_current_span(false)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
    };
    drop(result);
}

/// Whether logs are JSON (the CLI's own lines follow).
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One of the CLI's own lines: `chatter: {text}` on stderr, or an INFO event in JSON.
pub fn say(text: &str) {
    if json() {
        tracing::info!(target: "chatter", "{text}");
    } else {
        eprintln!("chatter: {text}");
    }
}

/// An error the CLI reports itself: `chatter: error: {text}` on stderr, or an ERROR event of
/// `kind` in JSON; counted in `chatter_errors_total{kind}` either way.
pub fn fail(kind: &'static str, text: &str) {
    if json() {
        tracing::error!(target: "chatter", kind, "{text}");
    } else {
        count(kind);
        eprintln!("chatter: error: {text}");
    }
}

fn count(kind: &str) {
    let kind = if ERROR_KINDS.contains(&kind) {
        kind
    } else {
        "other"
    };
    errors()
        .get_or_create(&ErrorLabels {
            kind: kind.to_string(),
        })
        .inc();
}

/// `say!("read {n} records")`: [`say`] with `format!` arguments.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::logging::say(&format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `error!` event in the source names a kind of [`ERROR_KINDS`] on its first lines.
    #[test]
    fn every_error_event_names_a_listed_kind() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut stack = vec![
            root.join("src"),
            root.join("crates"),
            root.join("dataflows/src"),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("logging.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("error!(") {
                    let call: String = text[at..].chars().take(300).collect();
                    let call = &call[..call.find(");").unwrap_or(call.len())];
                    seen += 1;
                    let named = ERROR_KINDS
                        .iter()
                        .any(|kind| call.contains(&format!("kind = \"{kind}\"")));
                    if !named {
                        missing.push(format!("{}: {call}", path.display()));
                    }
                }
            }
        }
        assert!(
            seen >= 5,
            "found {seen} error! calls: is the scan looking in the right place?"
        );
        assert!(
            missing.is_empty(),
            "error! events without a listed kind:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn errors_are_counted_by_kind_and_unknown_kinds_as_other() {
        let subscriber = tracing_subscriber::registry().with(CountErrors);
        let count = |kind: &str| {
            errors()
                .get_or_create(&ErrorLabels {
                    kind: kind.to_string(),
                })
                .get()
        };
        let (lake, other) = (count("lake_write"), count("other"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(kind = "lake_write", "one");
            tracing::error!(kind = "no such kind", "two");
            tracing::error!("three");
            tracing::warn!(kind = "lake_write", "a warning is not counted");
        });
        assert_eq!(count("lake_write"), lake + 1);
        assert_eq!(count("other"), other + 2);
    }
}
