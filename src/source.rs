//! The file source: JSON Lines from files (plain or gzip, detected by magic bytes) or stdin,
//! as raw lines with their line numbers. It carries bytes; `decode` interprets them.
//!
//! A read error (for example a truncated gzip stream) ends that input: the bytes read so far
//! are delivered, the partial last line is reported as [`Line::Broken`] so that it becomes a
//! dead letter, and reading continues with the next input.

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One input of the file source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    File(PathBuf),
    Stdin,
}

impl InputSpec {
    /// `-` is stdin, anything else a path.
    pub fn parse(path: &Path) -> InputSpec {
        if path.as_os_str() == "-" {
            InputSpec::Stdin
        } else {
            InputSpec::File(path.to_path_buf())
        }
    }

    /// How the input is named in dead letters and messages.
    pub fn name(&self) -> String {
        match self {
            InputSpec::File(path) => path.display().to_string(),
            InputSpec::Stdin => "-".to_string(),
        }
    }

    /// Fails with a one-line message naming the file and the fix when it cannot be read.
    pub fn check(&self, what: &str) -> Result<u64> {
        match self {
            InputSpec::Stdin => Ok(0),
            InputSpec::File(path) => {
                let meta = std::fs::metadata(path).with_context(|| {
                    format!(
                        "{what} {} cannot be read: check the path ({what} is set by the command line or the config)",
                        path.display()
                    )
                })?;
                if meta.is_dir() {
                    bail!(
                        "{what} {} is a directory, not a JSON Lines file",
                        path.display()
                    );
                }
                Ok(meta.len())
            }
        }
    }
}

/// A reader that counts the bytes taken from the underlying file (compressed bytes for gzip),
/// for progress reporting.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One line of an input, borrowed from the reader's buffer (reused for every line, so that
/// reading costs no allocation per record).
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line (without the line terminator).
    Complete(&'a [u8]),
    /// The input failed inside this line; the bytes read so far and the error.
    Broken(&'a [u8], String),
}

/// Lines of one input, numbered from 1.
pub struct LineReader {
    reader: Box<dyn BufRead + Send>,
    line_number: u64,
    done: bool,
    buffer: Vec<u8>,
    /// Bytes consumed so far.
    consumed: u64,
}

impl LineReader {
    /// Opens an input; `bytes_read` counts raw bytes consumed (shared with a progress bar).
    pub fn open(spec: &InputSpec, bytes_read: Arc<AtomicU64>) -> Result<LineReader> {
        let raw: Box<dyn Read + Send> = match spec {
            InputSpec::Stdin => Box::new(io::stdin()),
            InputSpec::File(path) => Box::new(
                File::open(path)
                    .with_context(|| format!("cannot open input {}", path.display()))?,
            ),
        };
        let mut buffered = BufReader::with_capacity(
            1 << 20,
            Counting {
                inner: raw,
                count: bytes_read,
            },
        );
        let is_gzip = buffered
            .fill_buf()
            .map(|head| head.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        let reader: Box<dyn BufRead + Send> = if is_gzip {
            Box::new(BufReader::with_capacity(
                1 << 20,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(LineReader {
            reader,
            line_number: 0,
            done: false,
            buffer: Vec::with_capacity(1 << 16),
            consumed: 0,
        })
    }

    /// Skips what a previous run consumed: `bytes` bytes holding `lines` lines.
    pub fn skip(&mut self, bytes: u64, lines: u64) -> Result<()> {
        let skipped = io::copy(&mut (&mut self.reader).take(bytes), &mut io::sink())
            .context("cannot skip to the resume position")?;
        if skipped != bytes {
            anyhow::bail!(
                "the input is shorter ({skipped} bytes) than the position the lake recorded ({bytes} bytes): it is not the input the lake was written from"
            );
        }
        self.line_number = lines;
        self.consumed = bytes;
        Ok(())
    }

    /// (lines, bytes) consumed so far.
    pub fn position(&self) -> (u64, u64) {
        (self.line_number, self.consumed)
    }

    /// The next line and its number, or None at the end.
    pub fn next_line(&mut self) -> Option<(u64, Line<'_>)> {
        if self.done {
            return None;
        }
        let line = &mut self.buffer;
        line.clear();
        match self.reader.read_until(b'\n', line) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(n) => {
                self.consumed += n as u64;
                self.line_number += 1;
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                Some((self.line_number, Line::Complete(line)))
            }
            Err(error) => {
                self.done = true;
                self.line_number += 1;
                Some((self.line_number, Line::Broken(line, error.to_string())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Owned copies: `Ok(bytes)` for complete lines, `Err(bytes)` for a broken one.
    fn lines(path: &Path) -> Vec<Result<Vec<u8>, Vec<u8>>> {
        let mut reader =
            LineReader::open(&InputSpec::File(path.to_path_buf()), Arc::default()).unwrap();
        let mut out = Vec::new();
        while let Some((_, line)) = reader.next_line() {
            out.push(match line {
                Line::Complete(bytes) => Ok(bytes.to_vec()),
                Line::Broken(bytes, _) => Err(bytes.to_vec()),
            });
        }
        out
    }

    #[test]
    fn reads_plain_and_gzip_and_reports_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, b"one\r\ntwo\n\nthree").unwrap();
        assert_eq!(
            lines(&plain),
            vec![
                Ok(b"one".to_vec()),
                Ok(b"two".to_vec()),
                Ok(Vec::new()),
                Ok(b"three".to_vec()),
            ]
        );
        let gz = dir.path().join("b.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..10_000 {
            writeln!(encoder, "line {i} with some padding to make it compress").unwrap();
        }
        let bytes = encoder.finish().unwrap();
        std::fs::write(&gz, &bytes).unwrap();
        assert_eq!(lines(&gz).len(), 10_000);
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
        let got = lines(&gz);
        assert!(got.len() > 100 && got.len() < 10_000, "{}", got.len());
        assert!(matches!(got.last(), Some(Err(_))), "truncation is reported");
    }

    #[test]
    fn missing_inputs_name_the_path() {
        let error = InputSpec::File("/nonexistent/x.jsonl".into())
            .check("input")
            .unwrap_err();
        assert!(format!("{error:#}").contains("/nonexistent/x.jsonl"));
    }
}
