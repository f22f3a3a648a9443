//! A Kafka message (key, value, tombstone) from any bytes, through the one envelope path for
//! comments and for the catalog: a tombstone deletes the id its key names or is rejected
//! (`invalid_key`) keeping the raw key; a value decodes as a line would.
#![no_main]

use chatter_decode::{
    decode_comment, decode_comment_envelope, decode_entity_envelope, DecodeLimits, Envelope,
};
use dataflows::model::CommentEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: flags (has key, has value); second: where key ends.
    let (Some(&flags), Some(&cut)) = (data.first(), data.get(1)) else {
        return;
    };
    let rest = &data[2..];
    let cut = (cut as usize).min(rest.len());
    let key = (flags & 1 != 0).then(|| &rest[..cut]);
    let value = (flags & 2 != 0).then(|| &rest[cut..]);
    let limits = DecodeLimits::now(1 << 16);
    let comment = decode_comment_envelope(Envelope::Message { key, value }, &limits);
    match (value, &comment) {
        (None, Ok(CommentEvent::Delete { id, .. })) => {
            assert_eq!(Some(id.as_bytes()), key, "a tombstone deletes its key's id")
        }
        (None, Ok(other)) => panic!("a tombstone decoded as {other:?}"),
        (None, Err(rejected)) => assert_eq!(rejected.raw, key.unwrap_or_default()),
        (Some(value), result) => {
            let direct = decode_comment(value, &limits);
            assert_eq!(
                result.as_ref().ok(),
                direct.as_ref().ok(),
                "a value decodes as a line"
            );
        }
    }
    let _ = decode_entity_envelope(Envelope::Message { key, value }, &limits);
});
