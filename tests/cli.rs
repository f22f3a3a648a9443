//! The command line as a user meets it: the demo, gen, run, check, exit codes and messages,
//! and bad input of every kind.

use crate::common::{
    chatter, comparable_alerts, finish_within, free_port, read_jsonl, run_generated, run_in,
    stderr, StderrLines, PROCESS_DEADLINE,
};
use chatter::gen::{self, GenConfig};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

fn generated(dir: &std::path::Path, comments: u64, seed: u64) -> gen::GenSummary {
    let config = GenConfig {
        comments,
        seed,
        ..GenConfig::default()
    };
    gen::write_dir(&config, dir).expect("gen writes")
}

#[test]
fn help_explains_the_commands() {
    let output = chatter().arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["run", "gen", "check", "backup", "restore"] {
        assert!(text.contains(command), "--help lists {command}: {text}");
    }
    let output = chatter().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--input",
        "--entities",
        "--workers",
        "--alerts-out",
        "--dead-letters-out",
        "--config",
        "--lake",
        "--no-lake",
        "--snapshot-interval",
        "--keep-snapshots",
    ] {
        assert!(text.contains(option), "run --help documents {option}");
    }
}

/// `chatter --version` names the crate version, the git revision it was built from and the
/// build date (build.rs).
#[test]
fn version_names_the_revision_and_the_build_date() {
    let out = chatter().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let expected_start = format!("chatter {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected_start), "{text}");
    let inner = text[expected_start.len()..].trim_end_matches(')');
    let (revision, date) = inner.split_once(", built ").expect("revision, built date");
    let digits = date
        .split('-')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Vec<_>>();
    assert!(
        date.len() == 10 && digits.iter().all(Option::is_some),
        "{date}"
    );
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match git {
        // Built from this checkout (cargo reruns build.rs when HEAD moves): its HEAD.
        Ok(git) if git.status.success() && std::env::var_os("CHATTER_GIT_REV").is_none() => {
            assert_eq!(
                revision,
                String::from_utf8_lossy(&git.stdout).trim(),
                "{text}"
            );
        }
        _ => assert!(!revision.is_empty(), "{text}"),
    }
}

#[test]
fn the_demo_runs_with_no_arguments_and_fires_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["run", "-q"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let alerts: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert lines are JSON"))
        .collect();
    let fired = alerts.iter().filter(|a| a["kind"] == "fired").count();
    assert!(fired >= 3, "the demo's 3 bursts fire: {alerts:?}");
    // …and writes its lake (./lake by default).
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("lake/current/manifest.json")).expect("the demo lake"),
    )
    .unwrap();
    assert!(manifest["tables"]["mentions"]["rows"].as_u64().unwrap() > 0);
    for alert in &alerts {
        for field in [
            "alert_id",
            "kind",
            "rule",
            "entity_id",
            "entity_name",
            "window_start",
            "window_end",
            "mentions",
            "authors",
            "baseline_mean",
            "baseline_std",
            "z",
            "ratio",
            "sentiment_mean",
            "as_of",
            "emitted_at",
        ] {
            assert!(alert.get(field).is_some(), "alert has {field}: {alert}");
        }
        let id = format!(
            "velocity/{}/{}",
            alert["entity_id"].as_str().unwrap(),
            alert["window_start"].as_str().unwrap()
        );
        assert_eq!(alert["alert_id"], id.as_str());
    }
    assert!(
        stderr(&output).contains("dead letters"),
        "{}",
        stderr(&output)
    );
    let dead = read_jsonl(&dir.path().join("dead_letters.jsonl"));
    assert!(
        !dead.is_empty(),
        "the demo's malformed lines are dead letters"
    );
    // A second run resumes from it: its input was read to the end, so nothing is new.
    let again = run_in(dir.path(), &["run", "-q"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("restored snapshot"),
        "{}",
        stderr(&again)
    );
    assert!(again.stdout.is_empty(), "no alert is emitted twice");
}

#[test]
fn gen_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [&a, &b] {
        let out = dir.path().join("load");
        let output = chatter()
            .args(["gen", "--comments", "3000", "--seed", "7", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    for file in ["comments.jsonl", "entities.jsonl"] {
        let x = std::fs::read(a.path().join("load").join(file)).unwrap();
        let y = std::fs::read(b.path().join("load").join(file)).unwrap();
        assert!(x == y, "{file} differs between two runs with the same seed");
    }
    let c = tempfile::tempdir().unwrap();
    generated(c.path(), 3000, 8);
    let x = std::fs::read(a.path().join("load/comments.jsonl")).unwrap();
    let z = std::fs::read(c.path().join("comments.jsonl")).unwrap();
    assert!(x != z, "another seed gives other data");
}

#[test]
fn every_burst_fires_and_workers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generated(dir.path(), 30_000, 11);
    assert!(summary.bursts.len() >= 3, "{summary:?}");
    let one = run_generated(dir.path(), "1", "2000", "w1");
    assert!(one.status.success(), "{}", stderr(&one));
    let two = run_generated(dir.path(), "2", "2000", "w2");
    assert!(two.status.success(), "{}", stderr(&two));
    let alerts = read_jsonl(&dir.path().join("alerts-w1.jsonl"));
    let fired: BTreeSet<(String, String)> = alerts
        .iter()
        .filter(|a| a["kind"] == "fired")
        .map(|a| {
            (
                a["entity_id"].as_str().unwrap().to_string(),
                a["window_start"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for burst in &summary.bursts {
        let key = (
            burst.entity_id.clone(),
            dataflows::format_rfc3339_ms(burst.window_start_ms),
        );
        assert!(
            fired.contains(&key),
            "burst {key:?} fired; fired: {fired:?}"
        );
    }
    assert_eq!(
        comparable_alerts(&dir.path().join("alerts-w1.jsonl")),
        comparable_alerts(&dir.path().join("alerts-w2.jsonl")),
        "1 and 2 workers emit the same alert events"
    );
    let rows = |tag: &str| {
        let mut rows: Vec<String> = read_jsonl(&dir.path().join(format!("windows-{tag}.jsonl")))
            .iter()
            .map(|v| v.to_string())
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        rows("w1"),
        rows("w2"),
        "1 and 2 workers give the same window table"
    );
    let s1: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary-w1.json")).unwrap())
            .unwrap();
    let s2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary-w2.json")).unwrap())
            .unwrap();
    for key in [
        "inserts",
        "edits",
        "deletes",
        "refused",
        "dead_letters",
        "windows",
        "alerts_fired",
    ] {
        assert_eq!(s1[key], s2[key], "summary {key} agrees");
    }
    assert!(
        s1["edits"].as_u64().unwrap() > 0 && s1["deletes"].as_u64().unwrap() > 0,
        "{s1}"
    );
    assert_eq!(
        s1["inserts"].as_u64().unwrap(),
        summary.comments,
        "every generated comment is inserted once"
    );
}

#[test]
fn malformed_lines_become_dead_letters_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generated(dir.path(), 5_000, 3);
    let output = run_generated(dir.path(), "2", "1000", "x");
    assert!(output.status.success(), "{}", stderr(&output));
    let dead = read_jsonl(&dir.path().join("dead-x.jsonl"));
    let decode_failures: Vec<_> = dead
        .iter()
        .filter(|d| d["reason"] != "beyond_retention")
        .collect();
    assert_eq!(
        decode_failures.len() as u64,
        summary.malformed,
        "every malformed line, no other"
    );
    let reasons: BTreeSet<&str> = decode_failures
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    for reason in [
        "invalid_json",
        "not_an_object",
        "missing_field",
        "invalid_field",
        "bad_timestamp",
        "invalid_utf8",
    ] {
        assert!(reasons.contains(reason), "{reason} among {reasons:?}");
    }
    let comments = std::fs::read(dir.path().join("comments.jsonl")).unwrap();
    let lines: Vec<&[u8]> = comments.split(|b| *b == b'\n').collect();
    use base64::Engine;
    for letter in decode_failures {
        let source = letter["source"].as_str().unwrap();
        let line: usize = source.rsplit(':').next().unwrap().parse().unwrap();
        assert!(source.starts_with("file:comments.jsonl:"), "{source}");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(letter["raw_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, lines[line - 1], "the original bytes of line {line}");
        assert!(!letter["error"].as_str().unwrap().is_empty());
    }
}

#[test]
fn stdin_gives_the_same_alerts_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path(), 8_000, 5);
    let file = run_generated(dir.path(), "2", "1000", "file");
    assert!(file.status.success(), "{}", stderr(&file));
    let mut child = chatter()
        .args([
            "run",
            "-q",
            "-i",
            "-",
            "-e",
            "entities.jsonl",
            "-w",
            "2",
            "--batch-size",
            "1000",
            "--alerts-out",
            "alerts-stdin.jsonl",
            "--dead-letters-out",
            "dead-stdin.jsonl",
            "--lake",
            "lake-stdin",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(dir.path().join("comments.jsonl")).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        comparable_alerts(&dir.path().join("alerts-file.jsonl")),
        comparable_alerts(&dir.path().join("alerts-stdin.jsonl"))
    );
}

/// A 2-process cluster: while process 0 waits for process 1, timely's join messages go to
/// stderr, not to stdout (the alert events here); when process 1 dies, process 0 stops with
/// one line that says so, and exit code 1, not a cascade of panics.
#[test]
fn a_lost_cluster_peer_is_one_clear_error_and_stdout_keeps_only_alerts() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path(), 2_000, 9);
    std::fs::write(
        dir.path().join("hosts"),
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let process = |i: usize| {
        let mut child = chatter()
            .args(["run", "-q", "-i", "-", "-e", "entities.jsonl", "-w", "1"])
            .args(["--processes", "2", "--hosts", "hosts", "--process"])
            .arg(i.to_string())
            .args(["--no-lake", "--alerts-out", "-", "--dead-letters-out"])
            .arg(format!("dead-{i}.jsonl"))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Input that stays open, so the run goes on until something stops it (written from a
        // thread: nothing is read before the cluster is complete).
        let bytes = std::fs::read(dir.path().join("comments.jsonl")).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
            std::thread::sleep(std::time::Duration::from_secs(600));
        });
        child
    };
    // Process 0's stderr, line by line, as it comes.
    let mut first = process(0);
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    let reader = std::io::BufReader::new(first.stderr.take().unwrap());
    let collector = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) if line.contains(what) => return,
                Ok(_) => {}
                Err(_) => panic!("process 0 never printed {what:?}"),
            }
        }
    };
    // timely reports that it waits for process 1 (to stderr, not stdout).
    wait_for("awaiting connections");
    let mut second = process(1);
    wait_for("the cluster is complete");
    second.kill().unwrap();
    second.wait().unwrap();
    let out = finish_within(first, PROCESS_DEADLINE);
    let err = collector.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lost the connection to another process of the cluster"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not an alert event on stdout: {line}"
        );
    }
}

#[test]
fn bad_arguments_and_configs_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run_in(dir.path(), &["run", "-i", "nope.jsonl"]);
    assert_eq!(missing.status.code(), Some(2));
    let message = stderr(&missing);
    assert!(
        message.contains("nope.jsonl") && message.lines().count() == 1,
        "{message}"
    );

    std::fs::write(dir.path().join("typo.toml"), "[windows]\nsise = \"5m\"\n").unwrap();
    let typo = run_in(dir.path(), &["check", "--config", "typo.toml"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr(&typo).contains("sise") && stderr(&typo).contains("typo.toml"),
        "{}",
        stderr(&typo)
    );

    std::fs::write(
        dir.path().join("negative.toml"),
        "[windows]\nsize = \"-5m\"\n",
    )
    .unwrap();
    let negative = run_in(dir.path(), &["run", "--config", "negative.toml"]);
    assert_eq!(negative.status.code(), Some(2));
    assert!(
        stderr(&negative).contains("windows.size"),
        "{}",
        stderr(&negative)
    );

    let workers = run_in(dir.path(), &["run", "-w", "0"]);
    assert_eq!(workers.status.code(), Some(2));
    // A typo in --workers is refused at once (it once grew to 24 GB before the OOM killer).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let too_many = run_in(dir.path(), &["run", "-w", "3000", "--no-lake"]);
    assert_eq!(too_many.status.code(), Some(2), "{}", stderr(&too_many));
    let message = stderr(&too_many);
    assert!(
        message.contains("--workers 3000")
            && message.contains(&format!("{cores} core(s)"))
            && message.lines().count() == 1,
        "{message}"
    );
    let limit = chatter::cli::max_workers(cores).to_string();
    let at_limit = run_in(dir.path(), &["run", "-q", "-w", &limit, "--no-lake"]);
    assert!(at_limit.status.success(), "{}", stderr(&at_limit));

    let unknown = run_in(dir.path(), &["run", "--bogus"]);
    assert_eq!(unknown.status.code(), Some(2));

    // An HTTP port in use: one line naming the flag, before any work.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    generated(dir.path(), 100, 1);
    let http = run_in(
        dir.path(),
        &[
            "run",
            "-i",
            "comments.jsonl",
            "--entities",
            "entities.jsonl",
            "--no-lake",
            "--http",
            &addr,
        ],
    );
    assert_eq!(http.status.code(), Some(2), "{}", stderr(&http));
    let message = stderr(&http);
    assert!(
        message.contains(&addr) && message.contains("--http") && message.lines().count() == 1,
        "{message}"
    );

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chatter.example.toml");
    let ok = run_in(
        dir.path(),
        &["check", "--config", example.to_str().unwrap(), "--print"],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("baseline_windows = 12"));
}

#[test]
fn a_truncated_gzip_keeps_what_was_read_and_dead_letters_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path(), 20_000, 9);
    let plain = std::fs::read(dir.path().join("comments.jsonl")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    let gz = encoder.finish().unwrap();
    std::fs::write(dir.path().join("cut.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    let output = run_in(
        dir.path(),
        &[
            "run",
            "-q",
            "-i",
            "cut.jsonl.gz",
            "-e",
            "entities.jsonl",
            "--alerts-out",
            "a.jsonl",
            "--dead-letters-out",
            "d.jsonl",
            "--summary-json",
            "s.json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let dead = read_jsonl(&dir.path().join("d.jsonl"));
    assert_eq!(
        dead.iter()
            .filter(|d| d["reason"] == "truncated_input")
            .count(),
        1
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    let inserts = summary["inserts"].as_u64().unwrap();
    assert!(
        inserts > 1_000 && inserts < 20_000,
        "the first part was processed: {inserts}"
    );
}

#[test]
fn oversize_and_non_utf8_records_are_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("e.jsonl"),
        br#"{"id":"ZQX","name":"Zeta Quux","aliases":["Zeta Quux"],"symbols":["ZQX"]}"#,
    )
    .unwrap();
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"id":"a","text":"$ZQX","created_at":"2021-01-28T14:03:11Z"}"#);
    input.push(b'\n');
    input.extend_from_slice(
        b"{\"id\":\"b\",\"text\":\"\xc3\x28\",\"created_at\":\"2021-01-28T14:03:11Z\"}\n",
    );
    input.extend_from_slice(
        format!(
            "{{\"id\":\"c\",\"text\":\"{}\",\"created_at\":\"2021-01-28T14:03:11Z\"}}\n",
            "x".repeat(2_000_000)
        )
        .as_bytes(),
    );
    std::fs::write(dir.path().join("c.jsonl"), &input).unwrap();
    let output = run_in(
        dir.path(),
        &[
            "run",
            "-q",
            "-i",
            "c.jsonl",
            "-e",
            "e.jsonl",
            "--dead-letters-out",
            "d.jsonl",
            "--alerts-out",
            "a.jsonl",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let dead = read_jsonl(&dir.path().join("d.jsonl"));
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.contains(&"invalid_utf8") && reasons.contains(&"oversize"),
        "{reasons:?}"
    );
    assert!(stderr(&output).contains("1 inserts"), "{}", stderr(&output));
}

/// `chatter.example.toml` is the config reference: it names every key the effective config has
/// (set, or shown commented out), so a new key cannot go undocumented.
#[test]
fn the_example_config_names_every_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let printed = run_in(dir.path(), &["check", "--config", "empty.toml", "--print"]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let effective: toml::Table = String::from_utf8_lossy(&printed.stdout).parse().unwrap();
    let example_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chatter.example.toml");
    let example = std::fs::read_to_string(example_path).unwrap();
    let mut documented = BTreeSet::new();
    let mut section = String::new();
    for line in example.lines() {
        let line = line.trim().trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, _)) = line.split_once(" = ") {
            if !key.contains(' ') {
                documented.insert(format!("{section}.{key}"));
            }
        }
    }
    let mut missing = Vec::new();
    for (name, table) in &effective {
        for (key, value) in table.as_table().into_iter().flatten() {
            let key = format!("{name}.{key}");
            if !value.is_table() && !documented.contains(&key) {
                missing.push(key);
            }
        }
    }
    assert!(effective.len() >= 6, "{effective:?}");
    assert!(
        missing.is_empty(),
        "chatter.example.toml does not name {missing:?}"
    );
}

/// SIGTERM works at start-up too: while the Kafka brokers cannot be reached (the wait is
/// `kafka.connect_timeout`, 60 s) and while a cluster waits for a process that never comes,
/// chatter exits 0 at once, having written nothing.
#[test]
fn sigterm_at_start_up_exits_at_once_and_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = format!("127.0.0.1:{}", free_port());
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    generated(dir.path(), 100, 3);
    let cases: [(&str, Vec<String>); 2] = [
        (
            "connecting to the Kafka brokers",
            vec!["--kafka".into(), unreachable, "--no-lake".into()],
        ),
        (
            "joining the cluster",
            [
                "-i",
                "comments.jsonl",
                "-e",
                "entities.jsonl",
                "--lake",
                "lake",
            ]
            .into_iter()
            .map(String::from)
            .chain(["--processes", "2", "--process", "0", "--hosts"].map(String::from))
            .chain([hosts.display().to_string()])
            .collect(),
        ),
    ];
    for (phase, args) in cases {
        let mut child = chatter()
            .arg("run")
            .args(&args)
            .current_dir(dir.path())
            .env("CHATTER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once it says it waits (the handlers are installed before any waiting).
        let waiting = if phase.starts_with("connecting") {
            "not reachable"
        } else {
            "joining the cluster"
        };
        let stderr_lines = StderrLines::take(&mut child);
        assert!(
            stderr_lines.wait_for(waiting, std::time::Duration::from_secs(60)),
            "{phase}: chatter never said {waiting:?}"
        );
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let out = finish_within(child, std::time::Duration::from_secs(20));
        let err = stderr_lines.all();
        assert_eq!(out.status.code(), Some(0), "{phase}: {err}");
        assert!(
            err.contains(phase) && err.contains("nothing was read or written"),
            "{err}"
        );
    }
    assert!(
        !dir.path().join("lake/current").exists(),
        "no snapshot was written"
    );
}
