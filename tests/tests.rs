//! All integration tests in one binary, so the suite links once.

mod cli;
mod common;
mod kafka;
mod lake;
mod lake_read;
mod real_data;
mod runtime;
mod schemas;
mod serve;
