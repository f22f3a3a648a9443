//! Bytes → comment / entity events, or a dead letter with a stable reason code (SPEC §1).
//!
//! Transports (files, stdin, Kafka) carry bytes; this module alone interprets them. Nothing
//! here panics on input: every failure is a [`Rejection`] that the caller turns into a dead
//! letter with the original bytes and their provenance.
//!
//! One file over 800 lines: the comment and catalog decoders share their field parsers, the
//! envelope and provenance types, and one test module that pins every reason code.

use dataflows::model::{Comment, CommentEvent, Entity, EntityEvent};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Machine-readable reasons for dead letters. The codes are a contract (JSON, Kafka headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// The bytes are not JSON (syntax error, truncated).
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong type or an invalid value (e.g. empty or over-long id).
    InvalidField,
    /// `created_at` (or another timestamp) is not RFC 3339 / epoch ms, or outside
    /// [1990-01-01, now + 1 day].
    BadTimestamp,
    /// The record is larger than the configured limit.
    Oversize,
    /// The input ended inside a record (e.g. a truncated gzip stream), or could not be read.
    TruncatedInput,
    /// The change is older than the retention horizon (decided by the dataflow).
    BeyondRetention,
    /// A Kafka tombstone whose key is not a valid id (not UTF-8, empty or over-long).
    InvalidKey,
}

impl Reason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::NotAnObject => "not_an_object",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::Oversize => "oversize",
            Reason::TruncatedInput => "truncated_input",
            Reason::BeyondRetention => "beyond_retention",
            Reason::InvalidKey => "invalid_key",
        }
    }

    /// Every reason, for documentation and tests.
    pub const ALL: [Reason; 10] = [
        Reason::InvalidUtf8,
        Reason::InvalidJson,
        Reason::NotAnObject,
        Reason::MissingField,
        Reason::InvalidField,
        Reason::BadTimestamp,
        Reason::Oversize,
        Reason::TruncatedInput,
        Reason::BeyondRetention,
        Reason::InvalidKey,
    ];
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted record in bytes (SPEC default 1 MiB).
    pub max_record_bytes: usize,
    /// Latest accepted timestamp (now + 1 day), epoch ms.
    pub max_timestamp_ms: i64,
}

/// 1990-01-01T00:00:00Z, the earliest accepted timestamp.
pub const MIN_TIMESTAMP_MS: i64 = 631_152_000_000;
/// Longest accepted comment id in bytes.
pub const MAX_ID_BYTES: usize = 256;

impl DecodeLimits {
    /// Limits with the timestamp ceiling taken from the wall clock now.
    pub fn now(max_record_bytes: usize) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(i64::MAX / 2);
        DecodeLimits {
            max_record_bytes,
            max_timestamp_ms: now_ms + 86_400_000,
        }
    }
}

/// A timestamp field: RFC 3339 text or integer epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
enum RawTime<'a> {
    Text(Cow<'a, str>),
    Millis(i64),
    Invalid(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTime<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = RawTime<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or epoch milliseconds")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawTime::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawTime::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawTime::Millis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v)
                    .map(RawTime::Millis)
                    .unwrap_or_else(|_| RawTime::Invalid(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawTime::Invalid(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawTime::Invalid(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawTime::Invalid("an array".to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(RawTime::Invalid("an object".to_string()))
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

#[derive(Deserialize)]
struct RawComment<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created_at: Option<RawTime<'a>>,
    #[serde(borrow, default)]
    edited_at: Option<RawTime<'a>>,
    #[serde(borrow, default)]
    deleted_at: Option<RawTime<'a>>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thread_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    parent_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    author: Option<Cow<'a, str>>,
    #[serde(default)]
    score: Option<serde_json::Number>,
}

fn json_error(error: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => Rejection::new(Reason::InvalidField, error.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            Rejection::new(Reason::InvalidJson, error.to_string())
        }
    }
}

/// Checks size, UTF-8 and that the record is a JSON object; returns the text.
fn preflight<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<&'a str, Rejection> {
    if bytes.len() > limits.max_record_bytes {
        return Err(Rejection::new(
            Reason::Oversize,
            format!(
                "record is {} bytes, the limit is {} (input.max_record_bytes)",
                bytes.len(),
                limits.max_record_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            Reason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let trimmed = text.trim_start_matches([' ', '\t', '\r', '\u{feff}']);
    if !trimmed.starts_with('{') {
        // Tell "not JSON at all" from "JSON, but not an object".
        return Err(match serde_json::from_str::<de::IgnoredAny>(text) {
            Ok(_) => Rejection::new(Reason::NotAnObject, "expected a JSON object"),
            Err(error) => json_error(error),
        });
    }
    Ok(text)
}

/// Parses a timestamp and checks it is inside [1990, now + 1 day].
fn timestamp(field: &str, raw: &RawTime<'_>, limits: &DecodeLimits) -> Result<i64, Rejection> {
    let at_ms = match raw {
        RawTime::Millis(ms) => *ms,
        RawTime::Text(text) => parse_rfc3339_ms(text).ok_or_else(|| {
            Rejection::new(
                Reason::BadTimestamp,
                format!("{field} {text:?} is not an RFC 3339 timestamp or epoch milliseconds"),
            )
        })?,
        RawTime::Invalid(what) => {
            return Err(Rejection::new(
                Reason::BadTimestamp,
                format!("{field} is {what}, expected an RFC 3339 string or epoch milliseconds"),
            ))
        }
    };
    if !(MIN_TIMESTAMP_MS..=limits.max_timestamp_ms).contains(&at_ms) {
        return Err(Rejection::new(
            Reason::BadTimestamp,
            format!(
                "{field} {} is outside [1990-01-01, now + 1 day]",
                dataflows::format_rfc3339_ms(at_ms)
            ),
        ));
    }
    Ok(at_ms)
}

fn optional_time(
    field: &str,
    raw: &Option<RawTime<'_>>,
    limits: &DecodeLimits,
) -> Result<Option<i64>, Rejection> {
    raw.as_ref()
        .map(|raw| timestamp(field, raw, limits))
        .transpose()
}

/// Decodes one comment record (a JSON object; SPEC §1.1).
pub fn decode_comment(bytes: &[u8], limits: &DecodeLimits) -> Result<CommentEvent, Rejection> {
    let text = preflight(bytes, limits)?;
    let raw: RawComment<'_> = serde_json::from_str(text).map_err(json_error)?;
    let id = match raw.id {
        None => return Err(Rejection::new(Reason::MissingField, "missing field `id`")),
        Some(id) if id.is_empty() => {
            return Err(Rejection::new(Reason::InvalidField, "`id` is empty"))
        }
        Some(id) if id.len() > MAX_ID_BYTES => {
            return Err(Rejection::new(
                Reason::InvalidField,
                format!("`id` is {} bytes, the limit is {MAX_ID_BYTES}", id.len()),
            ))
        }
        Some(id) => id.into_owned(),
    };
    if raw.deleted == Some(true) {
        let deleted_at_ms = optional_time("deleted_at", &raw.deleted_at, limits)?;
        return Ok(CommentEvent::Delete { id, deleted_at_ms });
    }
    let Some(text) = raw.text else {
        return Err(Rejection::new(Reason::MissingField, "missing field `text`"));
    };
    let Some(created_at) = raw.created_at else {
        return Err(Rejection::new(
            Reason::MissingField,
            "missing field `created_at`",
        ));
    };
    let created_at_ms = timestamp("created_at", &created_at, limits)?;
    let edited_at_ms = optional_time("edited_at", &raw.edited_at, limits)?;
    let score = match raw.score {
        None => None,
        Some(number) => Some(
            number
                .as_i64()
                .or_else(|| number.as_f64().map(|f| f as i64))
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::InvalidField,
                        format!("`score` {number} is not an integer"),
                    )
                })?,
        ),
    };
    Ok(CommentEvent::Upsert(Comment {
        id,
        source: raw.source.map(Cow::into_owned),
        channel: raw.channel.map(Cow::into_owned),
        thread_id: raw.thread_id.map(Cow::into_owned),
        parent_id: raw.parent_id.map(Cow::into_owned),
        author: raw.author.map(Cow::into_owned),
        text: text.into_owned(),
        created_at_ms,
        edited_at_ms,
        score,
    }))
}

#[derive(Deserialize)]
struct RawEntity {
    id: Option<String>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    symbols: Option<Vec<String>>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, serde_json::Value>>,
}

/// Decodes one catalog record (SPEC §1.2). `{"id": .., "deleted": true}` removes the entity
/// (the file form of a Kafka tombstone).
pub fn decode_entity(bytes: &[u8], limits: &DecodeLimits) -> Result<EntityEvent, Rejection> {
    let text = preflight(bytes, limits)?;
    let raw: RawEntity = serde_json::from_str(text).map_err(json_error)?;
    let id = match raw.id {
        None => return Err(Rejection::new(Reason::MissingField, "missing field `id`")),
        Some(id) if id.trim().is_empty() => {
            return Err(Rejection::new(Reason::InvalidField, "`id` is empty"))
        }
        Some(id) => id,
    };
    if raw.deleted == Some(true) {
        return Ok(EntityEvent::Delete { id });
    }
    let attributes = raw
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect();
    Ok(EntityEvent::Upsert(Entity {
        name: raw.name.unwrap_or_else(|| id.clone()),
        kind: raw.kind.unwrap_or_else(|| "entity".to_string()),
        aliases: raw.aliases.unwrap_or_default(),
        symbols: raw.symbols.unwrap_or_default(),
        attributes,
        id,
    }))
}

pub use calendar::parse_rfc3339_ms;

/// Where a record came from (SPEC §1.1, §3.4): typed, never a string parsed back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provenance {
    /// A line of a file input (`-` for stdin), 1-based.
    File { input: String, line: u64 },
    /// A Kafka message.
    Kafka {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// A comment restored from a snapshot (its original position is not kept).
    Restored,
}

impl fmt::Display for Provenance {
    /// `file:PATH:LINE`, `kafka:TOPIC:PARTITION:OFFSET` or `restored`: the `source` column of
    /// the `dead_letters` table and of the dead-letter file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::File { input, line } => write!(f, "file:{input}:{line}"),
            Provenance::Kafka {
                topic,
                partition,
                offset,
            } => write!(f, "kafka:{topic}:{partition}:{offset}"),
            Provenance::Restored => f.write_str("restored"),
        }
    }
}

/// A record as a transport carries it: a line of a file, or a Kafka message (key, and a value
/// or none for a tombstone).
#[derive(Debug, Clone, Copy)]
pub enum Envelope<'a> {
    Line(&'a [u8]),
    Message {
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
    },
}

/// A rejected record with the bytes a dead letter keeps (the value, or a tombstone's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<'a> {
    pub rejection: Rejection,
    pub raw: &'a [u8],
}

/// One decode path for both transports: a tombstone deletes the id its key names (via
/// `delete`), a line or a value is decoded by `decode`.
pub fn decode_envelope<'a, E>(
    envelope: Envelope<'a>,
    delete: impl FnOnce(String) -> E,
    decode: impl FnOnce(&[u8]) -> Result<E, Rejection>,
) -> Result<E, Rejected<'a>> {
    let bytes = match envelope {
        Envelope::Line(bytes)
        | Envelope::Message {
            value: Some(bytes), ..
        } => bytes,
        Envelope::Message { key, value: None } => {
            return tombstone_id(key).map(delete).map_err(|detail| Rejected {
                rejection: Rejection::new(Reason::InvalidKey, detail),
                raw: key.unwrap_or_default(),
            })
        }
    };
    decode(bytes).map_err(|rejection| Rejected {
        rejection,
        raw: bytes,
    })
}

/// A comment record → event (a tombstone is a delete without a `deleted_at`).
pub fn decode_comment_envelope<'a>(
    envelope: Envelope<'a>,
    limits: &DecodeLimits,
) -> Result<CommentEvent, Rejected<'a>> {
    let delete = |id| CommentEvent::Delete {
        id,
        deleted_at_ms: None,
    };
    decode_envelope(envelope, delete, |bytes| decode_comment(bytes, limits))
}

/// A catalog record → event (a tombstone removes the entity).
pub fn decode_entity_envelope<'a>(
    envelope: Envelope<'a>,
    limits: &DecodeLimits,
) -> Result<EntityEvent, Rejected<'a>> {
    decode_envelope(
        envelope,
        |id| EntityEvent::Delete { id },
        |bytes| decode_entity(bytes, limits),
    )
}

/// The id a tombstone's key names (an id has 1 to 256 bytes of UTF-8, as in SPEC §1.1).
fn tombstone_id(key: Option<&[u8]>) -> Result<String, String> {
    let key =
        key.ok_or_else(|| "a tombstone (null value) without a key: nothing to delete".to_string())?;
    let id =
        std::str::from_utf8(key).map_err(|e| format!("the tombstone's key is not UTF-8: {e}"))?;
    if id.is_empty() || id.len() > 256 {
        return Err(format!(
            "the tombstone's key is {} bytes: an id has 1 to 256",
            id.len()
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DecodeLimits {
        DecodeLimits {
            max_record_bytes: 1024,
            max_timestamp_ms: 1_900_000_000_000,
        }
    }

    fn reason(bytes: &[u8]) -> Reason {
        decode_comment(bytes, &limits())
            .expect_err("must be rejected")
            .reason
    }

    #[test]
    fn decodes_the_spec_example() {
        let line = br#"{"id": "t1_gk2x0fa", "source": "reddit", "channel": "wallstreetbets",
 "thread_id": "t3_l6x130", "parent_id": "t1_gk2wz9q", "author": "someuser",
 "text": "GME to the moon \ud83d\ude80 $GME", "created_at": "2021-01-28T14:03:11Z",
 "edited_at": null, "score": 12, "unknown": {"nested": [1, 2]}}"#;
        let CommentEvent::Upsert(comment) = decode_comment(line, &limits()).unwrap() else {
            panic!("expected an upsert")
        };
        assert_eq!(comment.id, "t1_gk2x0fa");
        assert_eq!(comment.text, "GME to the moon 🚀 $GME");
        assert_eq!(comment.created_at_ms, 1_611_842_591_000);
        assert_eq!(comment.edited_at_ms, None);
        assert_eq!(comment.score, Some(12));
        assert_eq!(comment.author.as_deref(), Some("someuser"));
    }

    #[test]
    fn accepts_epoch_millis_and_deletes() {
        let event = decode_comment(
            br#"{"id":"a","text":"","created_at":1611842591000}"#,
            &limits(),
        )
        .unwrap();
        assert!(matches!(event, CommentEvent::Upsert(c) if c.created_at_ms == 1_611_842_591_000));
        let event = decode_comment(br#"{"id":"a","deleted":true}"#, &limits()).unwrap();
        assert_eq!(
            event,
            CommentEvent::Delete {
                id: "a".into(),
                deleted_at_ms: None
            }
        );
        let event = decode_comment(
            br#"{"id":"a","deleted":true,"deleted_at":"2021-01-28T14:03:11.5+01:00"}"#,
            &limits(),
        )
        .unwrap();
        assert_eq!(
            event,
            CommentEvent::Delete {
                id: "a".into(),
                deleted_at_ms: Some(1_611_842_591_000 - 3_600_000 + 500)
            }
        );
    }

    #[test]
    fn every_reason_code_is_produced() {
        assert_eq!(
            reason(b"{\"id\":\"a\",\"text\":\"\xff\xfe\",\"created_at\":1}"),
            Reason::InvalidUtf8
        );
        assert_eq!(reason(br#"{"id":"a","text":"x","#), Reason::InvalidJson);
        assert_eq!(reason(b"not json"), Reason::InvalidJson);
        assert_eq!(reason(b""), Reason::InvalidJson);
        assert_eq!(reason(b"[1,2]"), Reason::NotAnObject);
        assert_eq!(reason(b"\"text\""), Reason::NotAnObject);
        assert_eq!(
            reason(br#"{"text":"x","created_at":"2021-01-28T14:03:11Z"}"#),
            Reason::MissingField
        );
        assert_eq!(
            reason(br#"{"id":"a","created_at":"2021-01-28T14:03:11Z"}"#),
            Reason::MissingField
        );
        assert_eq!(reason(br#"{"id":"a","text":"x"}"#), Reason::MissingField);
        assert_eq!(
            reason(br#"{"id":"","text":"x","created_at":"2021-01-28T14:03:11Z"}"#),
            Reason::InvalidField
        );
        assert_eq!(
            reason(br#"{"id":7,"text":"x","created_at":"2021-01-28T14:03:11Z"}"#),
            Reason::InvalidField
        );
        assert_eq!(
            reason(br#"{"id":"a","text":7,"created_at":"2021-01-28T14:03:11Z"}"#),
            Reason::InvalidField
        );
        let long_id = format!(
            r#"{{"id":"{}","text":"x","created_at":1611842591000}}"#,
            "i".repeat(300)
        );
        assert_eq!(reason(long_id.as_bytes()), Reason::InvalidField);
        assert_eq!(
            reason(br#"{"id":"a","text":"x","created_at":"yesterday"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(br#"{"id":"a","text":"x","created_at":"1970-01-01T00:00:00Z"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(br#"{"id":"a","text":"x","created_at":"2099-01-01T00:00:00Z"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(br#"{"id":"a","text":"x","created_at":true}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(br#"{"id":"a","text":"x","created_at":"2021-02-30T00:00:00Z"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(
                br#"{"id":"a","text":"x","created_at":"2021-01-28T14:03:11Z","edited_at":"soon"}"#
            ),
            Reason::BadTimestamp
        );
        let big = format!(
            r#"{{"id":"a","text":"{}","created_at":1611842591000}}"#,
            "x".repeat(2000)
        );
        assert_eq!(reason(big.as_bytes()), Reason::Oversize);
        let codes: std::collections::BTreeSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len(), "codes are distinct");
    }

    #[test]
    fn decodes_entities_and_entity_deletes() {
        let line = br#"{"id":"GME","kind":"ticker","name":"GameStop Corp.","aliases":["GameStop"],"symbols":["GME"],"attributes":{"sector":"Consumer Cyclical","etf":false}}"#;
        let EntityEvent::Upsert(entity) = decode_entity(line, &limits()).unwrap() else {
            panic!("expected an upsert")
        };
        assert_eq!(entity.name, "GameStop Corp.");
        assert_eq!(entity.attributes["sector"], "Consumer Cyclical");
        assert_eq!(entity.attributes["etf"], "false");
        assert_eq!(
            decode_entity(br#"{"id":"GME","deleted":true}"#, &limits()).unwrap(),
            EntityEvent::Delete { id: "GME".into() }
        );
        assert_eq!(
            decode_entity(br#"{"name":"x"}"#, &limits())
                .unwrap_err()
                .reason,
            Reason::MissingField
        );
    }

    #[test]
    fn envelopes_decode_lines_values_and_tombstones_through_one_path() {
        let limits = DecodeLimits::now(1 << 20);
        let line = br#"{"id":"a","text":"x","created_at":"2021-01-28T14:03:11Z"}"#;
        assert!(matches!(
            decode_comment_envelope(Envelope::Line(line), &limits),
            Ok(CommentEvent::Upsert(_))
        ));
        let message = Envelope::Message {
            key: Some(b"a"),
            value: Some(line),
        };
        assert!(matches!(
            decode_comment_envelope(message, &limits),
            Ok(CommentEvent::Upsert(_))
        ));
        let tombstone = Envelope::Message {
            key: Some(b"a"),
            value: None,
        };
        assert_eq!(
            decode_comment_envelope(tombstone, &limits),
            Ok(CommentEvent::Delete {
                id: "a".into(),
                deleted_at_ms: None
            })
        );
        let keyless = decode_entity_envelope(
            Envelope::Message {
                key: None,
                value: None,
            },
            &limits,
        )
        .unwrap_err();
        assert_eq!(keyless.rejection.reason, Reason::InvalidKey);
        let bad_key = Envelope::Message {
            key: Some(&[0xff, 0xfe]),
            value: None,
        };
        let rejected = decode_entity_envelope(bad_key, &limits).unwrap_err();
        assert_eq!(rejected.raw, &[0xff, 0xfe], "the key is the raw bytes kept");
        let bad = decode_comment_envelope(Envelope::Line(b"{"), &limits).unwrap_err();
        assert_eq!(
            (bad.rejection.reason, bad.raw),
            (Reason::InvalidJson, &b"{"[..])
        );
    }

    #[test]
    fn provenance_renders_the_documented_source_strings() {
        let file = Provenance::File {
            input: "a.jsonl".into(),
            line: 7,
        };
        assert_eq!(file.to_string(), "file:a.jsonl:7");
        let kafka = Provenance::Kafka {
            topic: "comments".into(),
            partition: 2,
            offset: 41,
        };
        assert_eq!(kafka.to_string(), "kafka:comments:2:41");
    }
}
