//! All integration tests in one binary, so the suite links once.

mod browser;
mod cli;
mod common;
mod kafka;
mod lake;
mod lake_read;
mod logging;
mod real_data;
mod report;
mod runtime;
mod schemas;
mod serve;
mod stream;
mod stress;
