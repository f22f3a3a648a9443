//! The dashboard in a real headless browser (Debian's chromium, driven by playwright-core from
//! `web/node_modules`), the API contract (schemathesis against the live server's OpenAPI
//! document), and the committed dashboard bundle (rebuilt from `web/src`, no difference).
//! ops/test.sh installs chromium, Node's packages and the Python venv; run alone without them,
//! each test says SKIPPED (and fails under CI=true, where they must be there).

use crate::serve::{get, Served};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a tool the test needs is missing: SKIPPED (a failure under CI).
fn missing(what: &str, present: bool) -> bool {
    if present {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing (ops/test.sh installs it)"
    );
    println!("SKIPPED: {what} is missing (ops/test.sh installs it)");
    true
}

fn browser_ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    !missing("chromium", Path::new(&chromium).exists())
        && !missing(
            "node with web/node_modules (cd web && npm ci)",
            Command::new("node").arg("--version").output().is_ok()
                && repo().join("web/node_modules/playwright-core").exists(),
        )
}

/// A comment line of SPEC §1.1.
fn comment(id: &str, at_ms: i64, author: &str, score: i64, text: &str) -> String {
    serde_json::json!({
        "id": id, "source": "reddit", "channel": "wallstreetbets", "author": author,
        "text": text, "created_at": dataflows::format_rfc3339_ms(at_ms), "score": score,
    })
    .to_string()
}

const MINUTE: i64 = 60_000;
/// 2021-01-04T00:00:00Z.
const START: i64 = 1_609_718_400_000;

/// Twelve quiet windows of `$SYMBOL` (one mention each), then a burst of 30 in the next
/// window, then a quiet window after it (so the burst's window is final), from `start`.
fn burst(symbol: &str, start: i64, payload: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for w in 0..12 {
        let at = start + w * 5 * MINUTE + MINUTE;
        lines.push(comment(
            &format!("{symbol}-q{w}"),
            at,
            &format!("quiet{w}"),
            1,
            &format!("watching ${symbol}"),
        ));
    }
    let burst_at = start + 12 * 5 * MINUTE;
    for i in 0..30 {
        let text = if i == 7 {
            payload.to_string()
        } else {
            format!("${symbol} is moving, comment {i}")
        };
        let score = if i == 7 { 1_000_000 } else { i };
        lines.push(comment(
            &format!("{symbol}-b{i}"),
            burst_at + i * 5_000,
            &format!("author{i}"),
            score,
            &text,
        ));
    }
    for i in 0..3 {
        let at = burst_at + 10 * MINUTE + i * MINUTE;
        lines.push(comment(
            &format!("{symbol}-t{i}"),
            at,
            "tail",
            0,
            "nothing to see",
        ));
    }
    lines
}

fn entity(id: &str, name: &str) -> String {
    serde_json::json!({"id": id, "kind": "ticker", "name": name, "aliases": [], "symbols": [id]})
        .to_string()
}

/// Runs the driver against `port`; `feed` runs when it asks for more input.
fn drive(port: u16, out: &Path, env: &[(&str, &str)], feed: impl FnOnce()) {
    let mut command = Command::new("node");
    command
        .arg(repo().join("tests/browser/dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("node starts");
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut said = Vec::new();
    let mut feed = Some(feed);
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("READY_FOR_MORE") {
            if let Some(feed) = feed.take() {
                feed();
            }
            let _ = writeln!(stdin, "go");
        }
        said.push(line);
    }
    let status = child.wait().unwrap();
    let log = log.join().unwrap_or_default();
    assert!(
        status.success() && said.iter().any(|l| l == "BROWSER OK"),
        "the browser test failed: {said:?}\n{log}\nscreenshots in {}",
        out.display()
    );
}

/// Where screenshots go: target/browser-artifacts/NAME (kept for people to look at).
fn artifacts(name: &str) -> PathBuf {
    let dir = repo().join("target/browser-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished run: the dashboard loads with no console errors and no CSP violations, shows the
/// alerts, opens an alert's evidence, and shows comment text and an entity name holding markup
/// as text (no dialog opens); laptop and phone screenshots.
#[test]
fn dashboard_shows_alerts_and_evidence_with_markup_as_text() {
    if !browser_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let payload = "<script>alert(1)</script> and <img src=x onerror=alert(2)> $XSS to the moon";
    let mut lines = burst("XSS", START, payload);
    lines.extend(burst("CALM", START + 2 * 60 * MINUTE, "$CALM breaks out"));
    lines.sort_by_key(|l| {
        l.find("\"created_at\":\"")
            .map(|i| l[i..i + 40].to_string())
    });
    std::fs::write(dir.path().join("comments.jsonl"), lines.join("\n") + "\n").unwrap();
    let entities = [
        entity("XSS", "<img src=x onerror=alert(3)> Holdings"),
        entity("CALM", "Calm Waters Inc."),
    ];
    std::fs::write(
        dir.path().join("entities.jsonl"),
        entities.join("\n") + "\n",
    )
    .unwrap();
    let args = [
        "-i",
        "comments.jsonl",
        "-e",
        "entities.jsonl",
        "--lake",
        "lake",
    ];
    let served = Served::start(dir.path(), &args, &[], true);
    let alerts = get(served.port, "/api/v1/alerts").json();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 2, "{alerts}");
    let out = artifacts("finished");
    let env = [
        ("LIVE", "0"),
        ("EXPECT_ALERTS", "2"),
        ("EXPECT_XSS_TEXT", "1"),
    ];
    drive(served.port, &out, &env, || {});
    for shot in [
        "dashboard-laptop.png",
        "dashboard-phone.png",
        "evidence-laptop.png",
    ] {
        let size = std::fs::metadata(out.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{shot} was saved");
    }
}

/// A live run fed through stdin: new alerts appear on the open dashboard without a reload
/// (through the alert stream); then the same behind a token, signing in on the page.
#[test]
fn dashboard_updates_live_and_signs_in() {
    if !browser_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = burst("ONE", START, "$ONE takes off");
    let second = burst("TWO", START + 2 * 60 * MINUTE, "$TWO takes off");
    let entities = [entity("ONE", "First Corp."), entity("TWO", "Second Corp.")];
    std::fs::write(
        dir.path().join("entities.jsonl"),
        entities.join("\n") + "\n",
    )
    .unwrap();
    let token = "browser-token-0123456789";
    let args = [
        "-i",
        "-",
        "-e",
        "entities.jsonl",
        "--no-lake",
        "--batch-size",
        "1",
    ];
    let mut served = Served::start(dir.path(), &args, &[("CHATTER_HTTP_TOKEN", token)], false);
    // A live producer: the comments, then a blank line every 50 ms. (The file source reads
    // stdin on worker 0 and cuts epochs by line count, so a pipe that goes quiet holds the
    // last epoch back until its next line; see docs/api.md.)
    let stdin = served.child.stdin.take().unwrap();
    let (more, wanted) = std::sync::mpsc::channel::<Vec<String>>();
    let feeder = std::thread::spawn(move || {
        let mut stdin = stdin;
        let _ = stdin.write_all((first.join("\n") + "\n").as_bytes());
        for _ in 0..4000 {
            match wanted.try_recv() {
                Ok(lines) => {
                    let _ = stdin.write_all((lines.join("\n") + "\n").as_bytes());
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if stdin.write_all(b"\n").and_then(|()| stdin.flush()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let port = served.port;
    let bearer = format!("Bearer {token}");
    for _ in 0..100 {
        let answer = crate::serve::request(
            port,
            "GET",
            "/api/v1/alerts",
            &[("Authorization", &bearer)],
            b"",
        );
        if answer.json()["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = artifacts("live");
    let env = [
        ("EXPECT_ALERTS", "1"),
        ("EXPECT_MORE", "1"),
        ("EXPECT_EVIDENCE", "0"),
        ("TOKEN", token),
    ];
    let feed = more.clone();
    drive(port, &out, &env, move || feed.send(second).unwrap());
    drop((served, more));
    let _ = feeder.join();
}

/// schemathesis against the live server's OpenAPI document (the stream excluded): no 5xx, every
/// status documented, every body matching its schema, invalid input refused.
#[test]
fn the_api_keeps_its_openapi_contract() {
    let Some(python) = crate::lake::python() else {
        missing("the Python venv with schemathesis", false);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chatter.toml"),
        "[http]\nrate_limit = 0.0\n",
    )
    .unwrap();
    let out = crate::common::run_in(dir.path(), &["gen", "--comments", "5000", "--out", "."]);
    assert!(out.status.success());
    let args = [
        "-c",
        "chatter.toml",
        "-i",
        "comments.jsonl",
        "-e",
        "entities.jsonl",
        "--lake",
        "lake",
    ];
    let served = Served::start(dir.path(), &args, &[], true);
    let url = format!("http://127.0.0.1:{}/api/openapi.json", served.port);
    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection";
    let schemathesis = python.with_file_name("schemathesis");
    let out = Command::new(&schemathesis)
        .args([
            "run",
            &url,
            "--checks",
            checks,
            "--exclude-path",
            "/api/v1/alerts/stream",
        ])
        .args([
            "--max-examples",
            "40",
            "--suppress-health-check",
            "filter_too_much",
            "--no-color",
        ])
        .args(["--generation-deterministic", "--seed", "42"])
        // schemathesis keeps a cache (.schemathesis/) in its working directory.
        .current_dir(dir.path())
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("No issues found"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tested = text
        .lines()
        .find(|l| l.contains("Tested:"))
        .unwrap_or_default();
    assert!(
        tested.contains('7'),
        "every route but the stream was tested: {tested}"
    );
}

/// The committed bundle is what `web/src` builds to (`npm run check` rebuilds and compares).
#[test]
fn the_dashboard_bundle_is_built_from_its_sources() {
    if missing(
        "node with web/node_modules (cd web && npm ci)",
        repo().join("web/node_modules/esbuild").exists(),
    ) {
        return;
    }
    let out = Command::new("npm")
        .args(["run", "--silent", "check"])
        .current_dir(repo().join("web"))
        .output()
        .expect("npm runs");
    assert!(
        out.status.success(),
        "the committed src/serve/assets differ from a build of web/src: run `cd web && npm run build`\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
