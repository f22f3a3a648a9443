//! Any text as chatter.toml: a config or an error, and a parsed config compiles into the
//! engine's parameters or an error naming the key, never a panic.
#![no_main]

use chatter_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        let _ = config.params();
        let _ = config.output.snapshot_interval_ms();
        let _ = toml::to_string(&config);
    }
});
