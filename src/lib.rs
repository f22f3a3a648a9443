//! chatter: the IO side — decoding, sources, sinks, the timely runtime and the CLI — around
//! the pure incremental logic in the `dataflows` crate.

pub mod cli;
pub mod config;
pub mod connectors;
pub mod decode;
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

/// The weekly brief (its own crate, `crates/report/`, which builds without the engine).
pub use chatter_report as report;
