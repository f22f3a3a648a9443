//! Logs (`--log-format json`, `RUST_LOG`): every stderr line of a JSON run is one JSON object
//! with a timestamp, level, target and fields; no secret from the config and no comment text
//! appears in any line, even at TRACE; ERROR events are counted by kind in `/metrics`.

use crate::common::{chatter, finish_within, free_port, stderr, StderrLines};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MARKER: &str = "zebracorn7731";
const PASSWORD: &str = "pw-Xq9-never-logged";
const TOKEN: &str = "tok-Zr4-never-logged-either";

/// Parses every line as a JSON log event and checks its shape; returns them.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            for key in ["timestamp", "level", "target"] {
                assert!(event[key].is_string(), "{key} in {line}");
            }
            assert!(event["fields"]["message"].is_string(), "message in {line}");
            assert!(
                ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                    .contains(&event["level"].as_str().unwrap()),
                "{line}"
            );
            event
        })
        .collect()
}

/// The one-entity catalog the runs here read (`e.jsonl`).
fn write_catalog(dir: &std::path::Path) {
    std::fs::write(
        dir.join("e.jsonl"),
        br#"{"id":"ZQX","name":"Zeta Quux","aliases":["Zeta Quux"],"symbols":["ZQX"]}"#,
    )
    .unwrap();
}

#[test]
fn a_json_run_logs_only_json_and_no_comment_text_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    write_catalog(dir.path());
    let comments = format!(
        "{{\"id\":\"a\",\"text\":\"$ZQX {MARKER}\",\"created_at\":\"2021-01-28T14:03:11Z\"}}\n\
         {{\"id\":\"b\",\"text\":\"{MARKER} broken\n\
         {{\"id\":\"c\",\"author\":\"{MARKER}\",\"text\":\"x\",\"created_at\":\"yesterday\"}}\n"
    );
    std::fs::write(dir.path().join("c.jsonl"), comments).unwrap();
    let output = chatter()
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .args([
            "--log-format",
            "json",
            "run",
            "-i",
            "c.jsonl",
            "-e",
            "e.jsonl",
            "--lake",
            "lake",
            "--alerts-out",
            "a.jsonl",
            "--dead-letters-out",
            "d.jsonl",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    let events = json_lines(&text);
    assert!(!text.contains(MARKER), "comment text in the log:\n{text}");
    // chatter's own summary line is an INFO event of target "chatter".
    assert!(
        events.iter().any(|e| e["level"] == "INFO"
            && e["target"] == "chatter"
            && e["fields"]["message"]
                .as_str()
                .unwrap()
                .starts_with("read 3 records")),
        "{text}"
    );
    // The dead letters do hold the text: it went where it belongs, not into the log.
    assert!(std::fs::read_to_string(dir.path().join("d.jsonl"))
        .unwrap()
        .contains(MARKER));
}

#[test]
fn an_error_is_a_json_event_with_a_kind_and_the_exit_code_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = chatter()
        .current_dir(dir.path())
        .args(["--log-format", "json", "run", "-i", "missing.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let events = json_lines(&stderr(&output));
    let error = events.last().expect("an error event");
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["fields"]["kind"], "fatal");
    assert!(error["fields"]["message"]
        .as_str()
        .unwrap()
        .contains("missing.jsonl"));
}

#[test]
fn a_bad_log_filter_is_named_and_the_default_used() {
    let output = chatter()
        .env("RUST_LOG", "chatter=loud")
        .args(["check", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    let text = stderr(&output);
    assert!(
        text.contains("RUST_LOG=\"chatter=loud\" is not a log filter"),
        "{text}"
    );
}

/// A Kafka run whose brokers are down (it retries, logging) with SASL credentials inline and an
/// HTTP token, at TRACE with librdkafka's own debug output on, while the API is asked with the
/// token: neither secret appears in any line, and the broker errors are ERROR events of kind
/// `kafka_client`, counted in `chatter_errors_total`.
#[test]
fn secrets_from_the_config_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (broker_port, http_port) = (free_port(), free_port());
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[input]\nsource = \"kafka\"\n[kafka]\nbrokers = \"127.0.0.1:{broker_port}\"\nconnect_timeout = \"30s\"\n\
             [kafka.options]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
             \"sasl.username\" = \"svc\"\n\"sasl.password\" = \"{PASSWORD}\"\n\"debug\" = \"all\"\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = chatter()
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .args(["--log-format", "json", "run", "--no-lake", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr as it comes: a TRACE log fills a pipe in moments.
    let log = StderrLines::take(&mut child);
    // Ask the API with the token (and a wrong one) while the source retries the brokers, until
    // /metrics counts the broker errors.
    let get = |path: &str, bearer: &str| -> Option<String> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", http_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = loop {
        let status = get("/api/v1/status", TOKEN);
        let _ = get("/api/v1/status", "wrong-token");
        let metrics = get("/metrics", TOKEN).unwrap_or_default();
        let counted = metrics.lines().find_map(|l| {
            l.strip_prefix("chatter_errors_total{kind=\"kafka_client\"} ")
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
        if status.is_some() && counted.is_some_and(|n| n > 0) {
            break counted.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no kafka_client error counted:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(counted > 0);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = finish_within(child, Duration::from_secs(60));
    assert!(output.status.success(), "SIGTERM is a clean stop");
    let text = log.all();
    let events = json_lines(&text);
    assert!(events.len() > 20, "a busy TRACE log:\n{text}");
    assert!(!text.contains(PASSWORD), "the SASL password is in the log");
    assert!(!text.contains(TOKEN), "the HTTP token is in the log");
    // The broker errors the metric counted are ERROR events with their kind.
    let errors = events
        .iter()
        .filter(|e| e["level"] == "ERROR" && e["fields"]["kind"] == "kafka_client")
        .count() as u64;
    assert!(
        errors >= counted,
        "{errors} kafka_client events, {counted} counted"
    );
}

/// Serving beyond loopback without a token is warned about, naming the fix; on loopback, or
/// with a token, it is not.
#[test]
fn serving_beyond_loopback_without_a_token_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    write_catalog(dir.path());
    std::fs::write(
        dir.path().join("c.jsonl"),
        "{\"id\":\"a\",\"text\":\"$ZQX\",\"created_at\":\"2021-01-28T14:03:11Z\"}\n",
    )
    .unwrap();
    let run = |host: &str, token: Option<&str>| {
        let mut command = chatter();
        command
            .current_dir(dir.path())
            .env_remove("CHATTER_HTTP_TOKEN");
        if let Some(token) = token {
            command.env("CHATTER_HTTP_TOKEN", token);
        }
        let output = command
            .args(["run", "-q", "-i", "c.jsonl", "-e", "e.jsonl", "--no-lake"])
            .args(["--alerts-out", "a.jsonl", "--dead-letters-out", "d.jsonl"])
            .args(["--http", &format!("{host}:{}", free_port())])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output).contains("serving beyond loopback without a token")
    };
    assert!(
        run("0.0.0.0", None),
        "no warning on 0.0.0.0 without a token"
    );
    assert!(!run("127.0.0.1", None), "a warning on loopback");
    assert!(!run("0.0.0.0", Some(TOKEN)), "a warning with a token");
}
