//! The alert stream of a real run (SSE, docs/api.md): thousands of events to a reader in
//! order, a client that never reads dropped without holding the run back, `Last-Event-ID`
//! resumes and resets.

use crate::common::read_jsonl;
use crate::serve::{metric, served_metrics_text, Served};
use std::io::{Read, Write};
use std::time::Duration;

/// An alert-stream client on a raw connection: it collects `(event, id)` pairs as they come.
/// An event's name and id.
type Seen = (String, Option<u64>);

struct StreamReader {
    events: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl StreamReader {
    fn connect(port: u16, headers: &[(&str, &str)]) -> StreamReader {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut head = "GET /api/v1/alerts/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_string();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        let thread = std::thread::spawn(move || {
            let (mut pending, mut buf) = (String::new(), [0u8; 65536]);
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // Each SSE event is one chunk, so blocks end with a blank line: parse the
                // complete ones, keep the rest.
                pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                let Some(end) = pending.rfind("\n\n") else {
                    continue;
                };
                let mut parsed = Vec::new();
                for block in pending[..end].split("\n\n") {
                    let name = block.lines().find_map(|l| l.strip_prefix("event: "));
                    let id =
                        (block.lines()).find_map(|l| l.strip_prefix("id: ")?.trim().parse().ok());
                    if let Some(name) = name {
                        parsed.push((name.to_string(), id));
                    }
                }
                pending.drain(..end + 2);
                sink.lock().unwrap().extend(parsed);
            }
        });
        StreamReader {
            events,
            _thread: thread,
        }
    }

    fn events(&self) -> Vec<(String, Option<u64>)> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `done` holds of the events (for at most 30 s).
    fn wait(&self, done: impl Fn(&[(String, Option<u64>)]) -> bool) -> Vec<(String, Option<u64>)> {
        for _ in 0..300 {
            let events = self.events();
            if done(&events) {
                return events;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.events()
    }
}

/// Thousands of alert events (every window with a mention alerts under this rule): a reader
/// gets every one, in order, ids 1..N, while a client that never reads is dropped and the
/// run still ends; resuming with Last-Event-ID gets exactly what followed; an id the stream
/// never had gets a reset first.
#[test]
fn the_alert_stream_delivers_every_event_and_drops_a_stalled_reader() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::run_in(
        dir.path(),
        &[
            "gen",
            "--comments",
            "40000",
            "--entities",
            "400",
            "--out",
            ".",
        ],
    );
    assert!(out.status.success());
    std::fs::write(
        dir.path().join("chatter.toml"),
        "[alerts]\nmin_mentions = 1\nz_threshold = -1000.0\nratio_threshold = 0.0\n",
    )
    .unwrap();
    let args = [
        "-c",
        "chatter.toml",
        "-i",
        "-",
        "-e",
        "entities.jsonl",
        "--no-lake",
        "--batch-size",
        "2000",
        "--alerts-out",
        "alerts.jsonl",
    ];
    let mut served = Served::start(dir.path(), &args, &[], false);
    let port = served.port;
    let reader = StreamReader::connect(port, &[]);
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"GET /api/v1/alerts/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Fed at about 10,000 comments a second: the log keeps the last 10,000 events, and a
    // reader that falls further behind than that is dropped by design (it has fallen out of
    // the log). Written at once, the whole run's events came faster than a reader on a
    // loaded 2-core machine took them, and the reader was rightly dropped (a flake).
    // (Bytes, not text: the generated input has malformed lines that are not UTF-8.)
    let comments = std::fs::read(dir.path().join("comments.jsonl")).unwrap();
    let mut stdin = served.child.stdin.take().unwrap();
    let lines: Vec<&[u8]> = comments.split_inclusive(|b| *b == b'\n').collect();
    for chunk in lines.chunks(1_000) {
        stdin.write_all(&chunk.concat()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    assert!(
        served.wait_for("still serving"),
        "the run ends with a stalled client connected"
    );
    let alerts = read_jsonl(&dir.path().join("alerts.jsonl"));
    let n = alerts.len() as u64;
    assert!(n > 5_000, "thousands of events: {n}");
    let got = reader.wait(|events| events.len() as u64 >= n);
    let ids: Vec<u64> = got.iter().filter_map(|(_, id)| *id).collect();
    assert!(
        got.iter().all(|(name, _)| name == "alert"),
        "no reset for a reader from the start"
    );
    let first_gap = ids.iter().zip(1..).find(|(id, want)| **id != *want);
    assert!(
        ids.len() as u64 == n && first_gap.is_none(),
        "every event, in order: got {} of {n}, first out of order {first_gap:?}",
        ids.len()
    );

    let mut dropped = 0.0;
    for _ in 0..100 {
        dropped = metric(&served_metrics_text(port), "chatter_sse_dropped_total").unwrap_or(0.0);
        if dropped >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        dropped, 1.0,
        "the stalled client was dropped, the reader was not"
    );
    let mut byte = [0u8; 1];
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let closed = loop {
        match stalled.read(&mut byte) {
            Ok(0) => break true,
            Ok(_) => rest.push(byte[0]),
            Err(_) => break false,
        }
        if rest.len() > 64 << 20 {
            break false;
        }
    };
    assert!(closed, "the stalled client's connection was closed");

    let last = (n - 5).to_string();
    let resumed = StreamReader::connect(port, &[("Last-Event-ID", &last)]);
    let events = resumed.wait(|e| e.len() >= 5);
    let ids: Vec<u64> = events.iter().filter_map(|(_, id)| *id).collect();
    assert_eq!(ids, (n - 4..=n).collect::<Vec<_>>());
    let ahead = (n + 100).to_string();
    let reset = StreamReader::connect(port, &[("Last-Event-ID", &ahead)]);
    let events = reset.wait(|e| !e.is_empty());
    assert_eq!(
        events.first().map(|(name, _)| name.as_str()),
        Some("reset"),
        "{events:?}"
    );
}
