//! The file source: JSON Lines from files (plain or gzip, detected by magic bytes) or stdin,
//! as raw lines with their line numbers. It carries bytes; `decode` interprets them.
//!
//! A read error (for example a truncated gzip stream) ends that input: the bytes read so far
//! are delivered, the partial last line is reported as [`Line::Broken`] so that it becomes a
//! dead letter, and reading continues with the next input.
//!
//! A line longer than `input.max_record_bytes` is never held whole: it is read as a stream,
//! keeping its first `max_record_bytes` bytes and hashing all of them (sha256), and becomes an
//! `oversize` dead letter marked truncated with its full length and digest. Memory stays bounded
//! by the limit whatever the line's length.

use crate::connectors::{CommentSource, EpochRead, Feed, Positions, SourceStats, SourceTable};
use crate::decode::{Envelope, Provenance};
use crate::lake::{FilePosition, Manifest, SourcePositions, Sources};
use anyhow::{bail, Context, Result};
use dataflows::model::Position;
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
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
    /// Longer than the limit: skipped as a stream. `head` is its first `limit` bytes, `length`
    /// its whole length and `sha256` the digest of all its bytes (both up to, not including,
    /// its "\n": a "\r" before it counts, as `head -c -1` of the line would).
    Oversize {
        head: &'a [u8],
        length: u64,
        sha256: [u8; 32],
    },
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

    /// The next line and its number, or None at the end. A line longer than `limit` bytes
    /// is skipped as a stream and returned as [`Line::Oversize`] with its first `limit` bytes.
    pub fn next_line(&mut self, limit: usize) -> Option<(u64, Line<'_>)> {
        if self.done {
            return None;
        }
        self.buffer.clear();
        // Held whole up to the limit plus a "\r\n"; past that, only hashed.
        let keep = limit.saturating_add(2);
        let mut hasher: Option<Sha256> = None;
        let mut length = 0u64;
        let mut ended = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.done = true;
                    self.line_number += 1;
                    self.buffer.truncate(limit);
                    return Some((
                        self.line_number,
                        Line::Broken(&self.buffer, error.to_string()),
                    ));
                }
            };
            if available.is_empty() {
                break;
            }
            let (chunk, found) = match memchr::memchr(b'\n', available) {
                Some(at) => (&available[..=at], true),
                None => (available, false),
            };
            let taken = chunk.len();
            length += taken as u64;
            // The digest and length cover the line without its "\n".
            let content = &chunk[..taken - usize::from(found)];
            match hasher.as_mut() {
                Some(hasher) => hasher.update(content),
                None if self.buffer.len() + taken <= keep => self.buffer.extend_from_slice(chunk),
                None => {
                    let mut started = Sha256::new();
                    started.update(&self.buffer);
                    started.update(content);
                    let room = limit.saturating_sub(self.buffer.len());
                    self.buffer.extend_from_slice(&chunk[..room.min(taken)]);
                    self.buffer.truncate(limit);
                    hasher = Some(started);
                }
            }
            self.reader.consume(taken);
            if found {
                ended = true;
                break;
            }
        }
        if length == 0 {
            self.done = true;
            return None;
        }
        self.consumed += length;
        self.line_number += 1;
        if let Some(hasher) = hasher {
            return Some((
                self.line_number,
                Line::Oversize {
                    head: &self.buffer,
                    length: length - u64::from(ended),
                    sha256: hasher.finalize().into(),
                },
            ));
        }
        let line = &mut self.buffer;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Some((self.line_number, Line::Complete(line)))
    }
}

/// The file source (a [`CommentSource`]): the inputs in order, each worker scanning every line
/// and decoding those whose global line number falls to it (`line % workers == index`; stdin,
/// which can be read once, is read and decoded by worker 0 alone). An epoch is `batch_records`
/// lines, so results do not depend on the worker count and a resumed run has the epochs an
/// uninterrupted one has.
pub struct FileSource {
    inputs: Vec<InputSpec>,
    names: Vec<String>,
    entities: Option<PathBuf>,
    /// Resumed from a snapshot (which has the catalog).
    resumed: bool,
    batch_records: u64,
    index: usize,
    peers: usize,
    /// Stdin is among the inputs: worker 0 reads everything.
    reads_everything: bool,
    positions: Vec<FilePosition>,
    current: Option<(usize, LineReader)>,
    /// Lines read over all inputs (every worker scans every line).
    global_line: u64,
    lines_base: u64,
    epoch_base: u64,
    done: bool,
    /// Worker 0: bytes read, for the progress bar.
    bytes_read: Arc<AtomicU64>,
    progress: Option<indicatif::ProgressBar>,
}

impl FileSource {
    /// Worker `index` of `peers`: reads `inputs` from `resume` (a snapshot's positions and
    /// its frontier epoch), or from the start.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inputs: &[InputSpec],
        entities: Option<PathBuf>,
        batch_records: u64,
        (index, peers): (usize, usize),
        resume: Option<(&Sources, u64)>,
        bytes_read: Arc<AtomicU64>,
        progress: Option<indicatif::ProgressBar>,
    ) -> FileSource {
        let names: Vec<String> = inputs.iter().map(InputSpec::name).collect();
        let recorded = resume.map(|(s, _)| s.files().to_vec()).unwrap_or_default();
        let positions = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                recorded.get(i).cloned().unwrap_or(FilePosition {
                    input: name.clone(),
                    line: 0,
                    byte_offset: 0,
                    complete: false,
                })
            })
            .collect();
        let lines_base = resume.map_or(0, |(s, _)| s.global_line());
        FileSource {
            reads_everything: inputs.contains(&InputSpec::Stdin),
            inputs: inputs.to_vec(),
            names,
            entities,
            resumed: resume.is_some(),
            batch_records: batch_records.max(1),
            index,
            peers: peers.max(1),
            positions,
            current: None,
            global_line: lines_base,
            lines_base,
            epoch_base: resume.map_or(0, |(_, frontier)| frontier),
            done: false,
            bytes_read,
            progress,
        }
    }

    /// Opens the next input that is not complete (at its resume position) unless one is
    /// open; false when every input is read.
    fn open_next(&mut self) -> Result<bool> {
        if self.current.is_some() {
            return Ok(true);
        }
        let Some(next) = self.positions.iter().position(|p| !p.complete) else {
            return Ok(false);
        };
        if self.reads_everything && self.index != 0 {
            // Stdin can be read once: only worker 0 reads, the others see no input.
            return Ok(false);
        }
        let counter = if self.index == 0 {
            self.bytes_read.clone()
        } else {
            Arc::default()
        };
        let mut reader = LineReader::open(&self.inputs[next], counter)?;
        let start = &self.positions[next];
        if start.byte_offset > 0 || start.line > 0 {
            reader
                .skip(start.byte_offset, start.line)
                .with_context(|| format!("cannot resume input {}", self.names[next]))?;
        }
        self.current = Some((next, reader));
        Ok(true)
    }

    /// Marks the current input read to its end: it leaves the event-time minimum.
    fn complete_current(&mut self, feed: &mut Feed<'_>) {
        if let Some((input, reader)) = self.current.take() {
            let (line, byte_offset) = reader.position();
            self.positions[input] = FilePosition {
                input: self.names[input].clone(),
                line,
                byte_offset,
                complete: true,
            };
            // At the epoch of its last line (a line-count boundary: the same on every run).
            if self.index == 0 {
                feed.idle(SourceTable::file_key(input));
            }
        }
    }
}

impl CommentSource for FileSource {
    fn load_catalog(&mut self, feed: &mut Feed<'_>) -> Result<u64> {
        let Some(path) = self.entities.clone().filter(|_| !self.resumed) else {
            return Ok(0);
        };
        let spec = InputSpec::File(path);
        let name = spec.name();
        let mut reader = LineReader::open(&spec, Arc::default())?;
        let mut entities = 0;
        while let Some((line, bytes)) = reader.next_line(feed.limits.max_record_bytes) {
            let provenance = || Provenance::File {
                input: name.clone(),
                line,
            };
            let position = Position {
                source: SourceTable::CATALOG_FILE,
                offset: line,
            };
            match bytes {
                Line::Broken(bytes, error) => feed.truncated(&provenance(), bytes, &error),
                Line::Oversize {
                    head,
                    length,
                    sha256,
                } => feed.oversize(&provenance(), head, length, &sha256),
                Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                Line::Complete(bytes) => {
                    entities += u64::from(feed.entity(position, provenance, Envelope::Line(bytes)));
                }
            }
        }
        Ok(entities)
    }

    fn start(&mut self, _feed: &mut Feed<'_>) -> Result<()> {
        Ok(())
    }

    fn backlog(&mut self) -> u64 {
        0
    }

    fn bounded(&self) -> bool {
        true
    }

    fn read_epoch(&mut self, feed: &mut Feed<'_>) -> Result<EpochRead> {
        let end = self.lines_base + (feed.epoch - self.epoch_base) * self.batch_records;
        let mut read = EpochRead::default();
        while self.global_line < end {
            if !self.open_next()? {
                self.done = true;
                break;
            }
            let Some((input, reader)) = self.current.as_mut() else {
                break;
            };
            let input = *input;
            let Some((line, bytes)) = reader.next_line(feed.limits.max_record_bytes) else {
                self.complete_current(feed);
                continue;
            };
            self.global_line += 1;
            let mine = if self.reads_everything {
                self.index == 0
            } else {
                self.global_line % self.peers as u64 == self.index as u64
            };
            if !mine {
                continue;
            }
            read.records += 1;
            let name = &self.names[input];
            let provenance = || Provenance::File {
                input: name.clone(),
                line,
            };
            match bytes {
                Line::Broken(bytes, error) => {
                    feed.truncated(&provenance(), bytes, &error);
                    tracing::warn!(input = %name, line, %error, "input truncated; continuing with the next input");
                }
                Line::Oversize {
                    head,
                    length,
                    sha256,
                } => feed.oversize(&provenance(), head, length, &sha256),
                Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                Line::Complete(bytes) => {
                    let position = Position {
                        source: SourceTable::file_key(input),
                        offset: line,
                    };
                    feed.comment(position, provenance, Envelope::Line(bytes));
                }
            }
        }
        read.done = self.done;
        Ok(read)
    }

    fn end_epoch(&mut self, _feed: &mut Feed<'_>) -> Result<u64> {
        if let Some(bar) = &self.progress {
            bar.set_position(self.bytes_read.load(Ordering::Relaxed));
        }
        Ok(0)
    }

    fn positions(&self) -> Positions {
        let mut files = self.positions.clone();
        if let Some((input, reader)) = &self.current {
            let (line, byte_offset) = reader.position();
            files[*input].line = line;
            files[*input].byte_offset = byte_offset;
        }
        Positions::Files(SourcePositions::Files {
            batch_records: self.batch_records,
            global_line: self.global_line,
            files,
        })
    }

    fn problem(&self) -> Option<String> {
        None
    }

    fn stats(&self) -> Vec<SourceStats> {
        // Every worker scans every line: worker 0 reports the lines of each input.
        if self.index != 0 {
            return Vec::new();
        }
        self.positions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let scanned = match &self.current {
                    Some((input, reader)) if *input == i => reader.position().0,
                    _ => p.line,
                };
                SourceStats {
                    source: format!("file:{}", self.names[i]),
                    records: scanned,
                    lag: None,
                }
            })
            .collect()
    }

    fn published(&mut self, _manifest: &Manifest) {}

    fn maintain(&mut self, _feed: &mut Feed<'_>) -> Result<()> {
        Ok(())
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
        while let Some((_, line)) = reader.next_line(1 << 20) {
            out.push(match line {
                Line::Complete(bytes) => Ok(bytes.to_vec()),
                Line::Broken(bytes, _) | Line::Oversize { head: bytes, .. } => Err(bytes.to_vec()),
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

    /// (line number, kept bytes, full length, sha256) of every oversize line; other lines are
    /// checked to come through whole.
    fn oversize_lines(bytes: &[u8], limit: usize) -> Vec<(u64, Vec<u8>, u64, [u8; 32])> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        std::fs::write(&path, bytes).unwrap();
        let mut reader = LineReader::open(&InputSpec::File(path), Arc::default()).unwrap();
        let mut out = Vec::new();
        let mut total = 0;
        while let Some((number, line)) = reader.next_line(limit) {
            total += 1;
            match line {
                Line::Oversize {
                    head,
                    length,
                    sha256,
                } => out.push((number, head.to_vec(), length, sha256)),
                Line::Complete(bytes) => assert!(bytes.len() <= limit, "line {number}"),
                Line::Broken(..) => panic!("line {number} broken"),
            }
        }
        assert_eq!(
            total,
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        );
        assert_eq!(
            reader.position().1,
            bytes.len() as u64,
            "every byte is consumed"
        );
        out
    }

    #[test]
    fn an_oversize_line_is_skipped_as_a_stream_keeping_its_start_length_and_digest() {
        // Lines longer than the reader's 1 MiB buffer, at the end with and without "\n", with
        // "\r\n", and lines just at the limit (kept whole) between them.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let limit = 1000;
        let at_limit = vec![b'x'; limit];
        let mut input = Vec::new();
        for part in [
            &at_limit[..],
            b"\n",
            &big,
            b"\r\n",
            b"{}\n",
            &at_limit,
            b"\r\n",
            &big,
        ] {
            input.extend_from_slice(part);
        }
        let got = oversize_lines(&input, limit);
        let mut with_cr = big.clone();
        with_cr.push(b'\r');
        let expect = |n: u64, line: &[u8]| {
            (
                n,
                line[..limit].to_vec(),
                line.len() as u64,
                Sha256::digest(line).into(),
            )
        };
        assert_eq!(got, vec![expect(2, &with_cr), expect(5, &big)]);
        // Just over the limit, and over it only by a "\r\n" (which does not count).
        let mut small = vec![b'y'; limit + 3];
        small.extend_from_slice(b"\n");
        small.extend_from_slice(&at_limit);
        small.extend_from_slice(b"\r\n");
        let got = oversize_lines(&small, limit);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].2), (1, limit as u64 + 3));
    }

    #[test]
    fn missing_inputs_name_the_path() {
        let error = InputSpec::File("/nonexistent/x.jsonl".into())
            .check("input")
            .unwrap_err();
        assert!(format!("{error:#}").contains("/nonexistent/x.jsonl"));
    }
}
