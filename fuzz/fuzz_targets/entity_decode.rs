//! Any bytes as a catalog line: an entity event or a rejection, never a panic.
#![no_main]

use chatter_decode::{decode_entity, DecodeLimits};
use dataflows::model::EntityEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode_entity(data, &DecodeLimits::now(1 << 16)) {
        Ok(EntityEvent::Upsert(entity)) => assert!(!entity.id.is_empty()),
        Ok(EntityEvent::Delete { id }) => assert!(!id.is_empty()),
        Err(rejection) => assert!(!rejection.reason.code().is_empty()),
    }
});
