//! chatter: the IO side — decoding, sources, sinks, the timely runtime and the CLI — around
//! the pure incremental logic in the `dataflows` crate.

pub mod cli;
pub mod connectors;
pub mod error;
pub mod gen;
pub mod health;
pub mod kafka;
pub mod lake;
pub mod logging;
pub mod runtime;
pub mod serve;
pub mod settings;
pub mod sink;

/// The config file (its own crate, `crates/config/`, fuzzed alone in `fuzz/`).
pub use chatter_config as config;
/// Input decoding (its own crate, `crates/decode/`, fuzzed alone in `fuzz/`).
pub use chatter_decode as decode;
/// The weekly brief (its own crate, `crates/report/`, which builds without the engine).
pub use chatter_report as report;
