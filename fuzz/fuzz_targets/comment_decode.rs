//! Any bytes as a comment line: an event or a rejection with a reason code, never a panic; an
//! accepted comment keeps the limits (id of 1 to 256 bytes, timestamps in range).
#![no_main]

use chatter_decode::{decode_comment, DecodeLimits, MAX_ID_BYTES, MIN_TIMESTAMP_MS};
use dataflows::model::CommentEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::now(1 << 16);
    match decode_comment(data, &limits) {
        Ok(CommentEvent::Upsert(comment)) => {
            assert!(!comment.id.is_empty() && comment.id.len() <= MAX_ID_BYTES);
            assert!((MIN_TIMESTAMP_MS..=limits.max_timestamp_ms).contains(&comment.created_at_ms));
            if let Some(edited) = comment.edited_at_ms {
                assert!((MIN_TIMESTAMP_MS..=limits.max_timestamp_ms).contains(&edited));
            }
        }
        Ok(CommentEvent::Delete { id, .. }) => {
            assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES);
        }
        Ok(CommentEvent::Restore(_)) => panic!("decoding never yields a restore"),
        Err(rejection) => assert!(!rejection.reason.code().is_empty()),
    }
});
