//! Any bytes as a snapshot's manifest.json: a manifest whose every path stays inside the
//! snapshot, or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};

fuzz_target!(|data: &[u8]| {
    let dir = Path::new("/lake/snapshots/snapshot-00000000000000000001");
    if let Ok(manifest) = chatter_lake::parse_manifest(dir, data) {
        for file in &manifest.files {
            let path = Path::new(&file.path);
            assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
            assert!(dir.join(path).starts_with(dir));
        }
    }
});
