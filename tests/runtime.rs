//! The runtime in process, without the binary (like differential-dataflow's `tests/bfs.rs`): a
//! scripted source feeds the one driver on 1 and 2 workers; the window rows it writes are
//! compared with a from-scratch count over the final comments, and the status it publishes is
//! read from another thread while it runs.

use chatter::connectors::{CommentSource, EpochRead, Feed, Positions, SourceStats, SourceTable};
use chatter::decode::{Envelope, Provenance};
use chatter::health::Health;
use chatter::lake::{Manifest, SourcePositions};
use chatter::runtime::driver::{drive, RunControl, WorkerContext};
use chatter::runtime::emit::Outputs;
use chatter::runtime::status::StatusBoard;
use chatter::settings::RunSettings;
use chatter::sink::DeadLetters;
use dataflows::extract::{Matcher, MatcherCache, Scratch};
use dataflows::model::{Entity, Position};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BASE_MS: i64 = 1_611_800_000_000;
const WINDOW_MS: i64 = 300_000;
const EPOCHS: u64 = 40;
/// GME comments per epoch, all in the epoch's own window: a consistent view shows multiples.
const GME_PER_EPOCH: u64 = 10;

/// One record of the script: (line number, JSON).
type Script = Vec<Vec<(u64, String)>>;

fn catalog() -> Vec<String> {
    vec![
        r#"{"id":"GME","name":"GameStop","aliases":["GameStop"],"symbols":["GME"]}"#.into(),
        r#"{"id":"AMC","name":"AMC","aliases":[],"symbols":["AMC"]}"#.into(),
    ]
}

fn comment(id: &str, text: &str, at_ms: i64) -> String {
    serde_json::json!({
        "id": id, "text": text, "author": format!("a{}", at_ms % 7),
        "created_at": dataflows::format_rfc3339_ms(at_ms),
    })
    .to_string()
}

/// Epoch k: GME_PER_EPOCH GME comments in window k, AMC comments that later epochs edit (to
/// GME-free text) or delete, and one bad line.
fn script() -> Script {
    let mut line = 0u64;
    let mut next = |text: String| {
        line += 1;
        (line, text)
    };
    (0..EPOCHS as i64)
        .map(|k| {
            let window = BASE_MS + k * WINDOW_MS;
            let mut epoch = Vec::new();
            for i in 0..GME_PER_EPOCH as i64 {
                epoch.push(next(comment(
                    &format!("g{k}-{i}"),
                    "GME to the moon",
                    window + i,
                )));
            }
            for i in 0..3 {
                epoch.push(next(comment(
                    &format!("a{k}-{i}"),
                    "AMC is up",
                    window + 100 + i,
                )));
            }
            if k > 0 {
                let at = BASE_MS + (k - 1) * WINDOW_MS + 100;
                epoch.push(next(comment(&format!("a{}-0", k - 1), "nothing here", at)));
                epoch.push(next(format!(r#"{{"id":"a{}-1","deleted":true}}"#, k - 1)));
            }
            epoch.push(next("{not json".to_string()));
            epoch
        })
        .collect()
}

/// A source that plays the script, an epoch per call, each worker its share of the lines.
struct Scripted {
    script: Arc<Script>,
    next: usize,
    index: usize,
    peers: usize,
    pause: Duration,
}

impl CommentSource for Scripted {
    fn load_catalog(&mut self, feed: &mut Feed<'_>) -> anyhow::Result<u64> {
        for (i, line) in catalog().iter().enumerate() {
            let position = Position {
                source: SourceTable::CATALOG_FILE,
                offset: i as u64 + 1,
            };
            let provenance = || Provenance::File {
                input: "catalog".into(),
                line: i as u64 + 1,
            };
            feed.entity(position, provenance, Envelope::Line(line.as_bytes()));
        }
        Ok(2)
    }
    fn start(&mut self, _: &mut Feed<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    fn backlog(&mut self) -> u64 {
        0
    }
    fn bounded(&self) -> bool {
        true
    }
    fn read_epoch(&mut self, feed: &mut Feed<'_>) -> anyhow::Result<EpochRead> {
        let mut read = EpochRead::default();
        if let Some(epoch) = self.script.get(self.next) {
            for (line, text) in epoch {
                if *line as usize % self.peers != self.index {
                    continue;
                }
                read.records += 1;
                let position = Position {
                    source: SourceTable::file_key(0),
                    offset: *line,
                };
                let provenance = || Provenance::File {
                    input: "script".into(),
                    line: *line,
                };
                feed.comment(position, provenance, Envelope::Line(text.as_bytes()));
            }
            self.next += 1;
            std::thread::sleep(self.pause);
        }
        read.done = self.next >= self.script.len();
        Ok(read)
    }
    fn end_epoch(&mut self, _: &mut Feed<'_>) -> anyhow::Result<u64> {
        Ok(0)
    }
    fn positions(&self) -> Positions {
        Positions::Files(SourcePositions::default())
    }
    fn problem(&self) -> Option<String> {
        None
    }
    fn stats(&self) -> Vec<SourceStats> {
        vec![SourceStats {
            source: format!("script:{}", self.index),
            records: self.next as u64,
            lag: None,
        }]
    }
    fn published(&mut self, _: &Manifest) {}
    fn maintain(&mut self, _: &mut Feed<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A writer into shared memory.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn settings(workers: usize) -> RunSettings {
    RunSettings {
        inputs: Vec::new(),
        entities: None,
        params: dataflows::Params::default(),
        workers,
        batch_records: 1,
        max_record_bytes: 1 << 20,
        show_progress: false,
        windows_out: None,
        lake: None,
        kafka: None,
        cluster: None,
        http: None,
    }
}

/// Runs the script through the driver; returns the window rows written ((entity, window) →
/// mentions), the dead letters and the run's status board.
fn run(
    workers: usize,
    pause: Duration,
    board: Arc<StatusBoard>,
) -> BTreeMap<(String, String), u64> {
    let script = Arc::new(script());
    let windows = Memory::default();
    let outputs = Arc::new(Outputs {
        alerts: Mutex::new(Box::new(std::io::sink())),
        windows: Mutex::new(Some(Box::new(windows.clone()))),
        error: Mutex::new(None),
        sinks: None,
        alert_log: Arc::default(),
    });
    let dead_letters = DeadLetters::new(Box::new(std::io::sink()));
    let health = Arc::new(Health::new(workers, None));
    let table = SourceTable::Files {
        catalog: Some("catalog".into()),
        inputs: vec!["script".into()],
    };
    let settings = settings(workers);
    let cache = MatcherCache::default();
    let dead = dead_letters.clone();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let control = RunControl {
            lake: None,
            stop: Arc::default(),
            restore_time: Arc::default(),
            failed: Arc::default(),
            health: health.clone(),
            status: board.clone(),
        };
        let context = WorkerContext {
            settings: &settings,
            outputs: &outputs,
            dead_letters: &dead,
            table: &table,
            cache: cache.clone(),
        };
        let mut source = Scripted {
            script: script.clone(),
            next: 0,
            index: worker.index(),
            peers: worker.peers(),
            pause,
        };
        drive(worker, &context, &mut source, &control).map(|r| r.records)
    })
    .expect("timely starts");
    let records: u64 = guards.join().into_iter().map(|r| r.unwrap().unwrap()).sum();
    let lines: u64 = self::script().iter().map(|e| e.len() as u64).sum();
    assert_eq!(records, lines, "every line read once over the workers");
    assert_eq!(
        dead_letters.counts().get("invalid_json").copied(),
        Some(EPOCHS),
        "every bad line is a dead letter"
    );
    let text = String::from_utf8(windows.0.lock().unwrap().clone()).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            row["entity_id"].as_str().unwrap().to_string(),
            row["window_start"].as_str().unwrap().to_string(),
        );
        let mentions = row["mentions"].as_u64().unwrap();
        assert!(
            rows.insert(key, mentions).is_none(),
            "one row per window: {line}"
        );
    }
    rows
}

/// The reference: the final version of every comment, counted from scratch.
fn reference() -> BTreeMap<(String, String), u64> {
    let entities: Vec<Entity> = catalog()
        .iter()
        .map(|line| {
            let limits = chatter::decode::DecodeLimits::now(1 << 20);
            match chatter::decode::decode_entity(line.as_bytes(), &limits).unwrap() {
                dataflows::model::EntityEvent::Upsert(entity) => entity,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let matcher = Matcher::build(
        entities.iter().zip(0..).map(|(e, k)| (e, k as u32)),
        &Default::default(),
    );
    let mut live: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for (_, line) in script().into_iter().flatten() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let id = value["id"].as_str().unwrap().to_string();
        if value["deleted"] == true {
            live.remove(&id);
            continue;
        }
        let at = chatter::decode::parse_rfc3339_ms(value["created_at"].as_str().unwrap()).unwrap();
        live.insert(id, (value["text"].as_str().unwrap().to_string(), at));
    }
    let mut counts = BTreeMap::new();
    let mut scratch = Scratch::default();
    for (text, at) in live.values() {
        for key in matcher.mentions(text, &mut scratch) {
            let window = dataflows::format_rfc3339_ms(dataflows::floor_window(*at, WINDOW_MS));
            *counts
                .entry((entities[key as usize].id.clone(), window))
                .or_default() += 1;
        }
    }
    counts
}

#[test]
fn the_driver_on_a_scripted_source_equals_a_from_scratch_count() {
    let want = reference();
    assert!(want.len() > EPOCHS as usize, "{want:?}");
    for workers in [1, 2] {
        let board = Arc::new(StatusBoard::new(
            Arc::new(Health::new(workers, None)),
            DeadLetters::new(Box::new(std::io::sink())),
        ));
        let got = run(workers, Duration::ZERO, board.clone());
        // Rows of windows whose comments were all edited away or deleted have 0 mentions.
        let got: BTreeMap<_, _> = got.into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(got, want, "{workers} worker(s)");
        let status = board.current();
        assert!(status.frontier >= EPOCHS, "the final status is published");
        let epochs = status.epoch_histogram.as_ref().map_or(0, |h| h.len());
        assert!(
            epochs >= EPOCHS,
            "every epoch's latency is in the histogram: {epochs}"
        );
        assert_eq!(status.epoch_latency.epochs, epochs);
        assert!(status.state.live_comments > 0 && status.state.window_rows > 0);
        let gme = &status.windows["GME"];
        assert!(
            gme.iter().all(|w| w.mentions == GME_PER_EPOCH as i64),
            "{gme:?}"
        );
    }
}

#[test]
fn the_status_read_from_another_thread_never_goes_back_and_holds_whole_epochs() {
    let board = Arc::new(StatusBoard::new(
        Arc::new(Health::new(2, None)),
        DeadLetters::new(Box::new(std::io::sink())),
    ));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (board, done) = (board.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = 0u64;
            let (mut frontier, mut watermark, mut alerts, mut records) = (0, i64::MIN, 0, 0);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let status = board.current();
                assert!(status.frontier >= frontier, "the frontier went back");
                assert!(status.watermark_ms >= watermark, "the watermark went back");
                let total: u64 = status.alerts.iter().sum();
                assert!(
                    total >= alerts && status.records() >= records,
                    "a counter went back"
                );
                for window in status.windows.get("GME").into_iter().flatten() {
                    assert_eq!(
                        window.mentions as u64 % GME_PER_EPOCH,
                        0,
                        "half an epoch in the window view: {window:?}"
                    );
                }
                if status.frontier > frontier {
                    seen += 1;
                }
                (frontier, watermark, alerts, records) = (
                    status.frontier,
                    status.watermark_ms,
                    total,
                    status.records(),
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };
    run(2, Duration::from_millis(25), board.clone());
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let views = reader.join().expect("the reader's checks hold");
    assert!(views >= 3, "the reader saw {views} published frontiers");
}
