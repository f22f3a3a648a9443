//! `chatter report`: every headline number and every top-table row of the Markdown and HTML
//! briefs equals what duckdb computes from the same Parquet tables (a generated lake with
//! edits, deletes, late and bad records); an empty period gives a short brief; bad input gives
//! one line, exit 2 and no file.

use crate::common::{run_in, stderr};
use serde_json::Value;
use std::path::Path;

fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn truth(python: &Path, lake: &Path, from: &str, to: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/brief_truth.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([lake.to_str().unwrap(), from, to, "10"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The text of an HTML page (tags dropped, entities of the escaper decoded).
fn html_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"");
    let text = text.replace("&#39;", "'").replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ") + " "
}

/// The test venv's Python (with duckdb), or SKIPPED (a failure under CI, where ops/test.sh has
/// made it).
fn venv() -> Option<std::path::PathBuf> {
    let python = crate::lake::python();
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Python venv (ops/test.sh makes it)"
        );
        println!("SKIPPED: no Python venv with duckdb (ops/test.sh makes it)");
    }
    python
}

/// The PDF's text, by poppler's pdftotext (with the layout, so a table row is one line).
fn pdf_text(path: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs (Debian: poppler-utils; ops/test.sh installs it)");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_brief(dir: &Path, python: &Path, args: &[&str], from: &str, to: &str) {
    let truth = truth(python, &dir.join("lake"), from, to);
    for out in ["brief.md", "brief.html", "brief.pdf"] {
        let mut all = vec!["report", "--lake", "lake", "--out", out, "-q"];
        all.extend_from_slice(args);
        let run = run_in(dir, &all);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let md = std::fs::read_to_string(dir.join("brief.md")).unwrap();
    let html = html_text(&std::fs::read_to_string(dir.join("brief.html")).unwrap());
    let pdf = pdf_text(&dir.join("brief.pdf"));
    let (now, before) = (&truth["now"], &truth["previous"]);
    for (label, key) in [
        ("Comments", "comments"),
        ("Mentions", "mentions"),
        ("Entities mentioned", "entities"),
        ("Alerts fired", "fired"),
    ] {
        let (value, previous) = (now[key].as_u64().unwrap(), before[key].as_u64().unwrap());
        let row = format!("| {label} | {} | {} |", number(value), number(previous));
        assert!(md.contains(&row), "{row} in\n{md}");
        let card = format!("{label} {} ", number(value));
        assert!(html.contains(&card), "{card:?} in\n{html}");
        assert!(
            html.contains(&format!(" vs {} ", number(previous))),
            "{label}"
        );
    }
    let top_md = md.split("## Top entities by mentions").nth(1).unwrap();
    let top_html = html.split("Top entities by mentions").nth(1).unwrap();
    let top_pdf = pdf.split("Top entities by mentions").nth(1).unwrap();
    let top_pdf = top_pdf.split("Top movers").next().unwrap();
    let mut at = 0;
    for (rank, row) in truth["top"].as_array().unwrap().iter().enumerate() {
        let (id, n) = (row[0].as_str().unwrap(), row[1].as_u64().unwrap());
        let line = top_md
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", rank + 1)));
        let line = line.unwrap_or_else(|| panic!("rank {} in\n{top_md}", rank + 1));
        assert!(
            line.contains(&format!("({id}) | {} |", number(n))),
            "{line} vs {id} {n}"
        );
        let cell = format!(" {id} {} ", number(n));
        let found = top_html[at..]
            .find(&cell)
            .unwrap_or_else(|| panic!("{cell:?} in order"));
        at += found + cell.len();
        let rank_text = (rank + 1).to_string();
        let line = (top_pdf.lines())
            .find(|l| {
                l.split_whitespace().next() == Some(rank_text.as_str())
                    && l.contains(&format!("({id})"))
            })
            .unwrap_or_else(|| panic!("rank {rank_text} {id} in the PDF:\n{top_pdf}"));
        assert!(
            line.split_whitespace().any(|w| w == number(n)),
            "{line} vs {n}"
        );
    }
}

#[test]
fn the_brief_says_what_the_lake_says() {
    let Some(python) = venv() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = run_in(
        dir,
        &[
            "gen",
            "--comments",
            "20000",
            "--comments-per-minute",
            "20",
            "--out",
            ".",
        ],
    );
    assert!(out.status.success());
    let out = run_in(
        dir,
        &[
            "run",
            "-q",
            "-i",
            "comments.jsonl",
            "-e",
            "entities.jsonl",
            "--lake",
            "lake",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    check_brief(
        dir,
        &python,
        &["--week", "2021-W01"],
        "2021-01-04T00:00:00Z",
        "2021-01-11T00:00:00Z",
    );
    // Eight hours against the eight before them: both periods have data.
    let (from, to) = ("2021-01-04T08:00:00Z", "2021-01-04T16:00:00Z");
    check_brief(dir, &python, &["--from", from, "--to", to], from, to);

    // A period inside the lake with no comment: a short brief that says so.
    let quiet = [
        "--from",
        "2021-01-04T21:00:00Z",
        "--to",
        "2021-01-04T22:00:00Z",
    ];
    let mut args = vec!["report", "--lake", "lake", "--out", "quiet.md", "-q"];
    args.extend_from_slice(&quiet);
    let run = run_in(dir, &args);
    assert!(run.status.success(), "{}", stderr(&run));
    let md = std::fs::read_to_string(dir.join("quiet.md")).unwrap();
    assert!(md.contains("No comments in this period"), "{md}");
    assert!(md.contains("## Data quality"));
}

/// The bundled demo (`chatter run` with no input) and its brief.
#[test]
fn the_demo_brief_says_what_the_demo_lake_says() {
    let Some(python) = venv() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["run", "-q", "--alerts-out", "alerts.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (from, to) = ("2021-01-04T00:00:00Z", "2021-01-11T00:00:00Z");
    check_brief(dir.path(), &python, &["--week", "2021-W01"], from, to);
}

#[test]
fn bad_report_requests_fail_with_one_line_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = run_in(dir, &["gen", "--comments", "2000", "--out", "."]);
    assert!(out.status.success());
    let run = run_in(
        dir,
        &["run", "-q", "-i", "comments.jsonl", "-e", "entities.jsonl"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let cases: [(&[&str], &str); 8] = [
        (&["--week", "2021-W54"], "not an ISO week"),
        (&["--week", "2021-13"], "not an ISO week"),
        (&["--week", "2030-W01"], "outside the lake"),
        (
            &["--week", "2021-W01", "--snapshot", "99"],
            "no snapshot 99",
        ),
        (
            &["--week", "2021-W01", "--format", "docx"],
            "unknown format",
        ),
        (&["--week", "2021-W01", "--lake", "."], "not a chatter lake"),
        (
            &[
                "--from",
                "2021-01-05T00:00:00Z",
                "--to",
                "2021-01-04T00:00:00Z",
            ],
            "later than",
        ),
        (
            &["--from", "yesterday", "--to", "2021-01-04T00:00:00Z"],
            "RFC 3339",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["report", "--out", "brief.md"];
        all.extend_from_slice(args);
        let run = run_in(dir, &all);
        let text = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{args:?}: one line: {text}");
        assert!(!dir.join("brief.md").exists(), "{args:?}: no file");
    }
    let run = run_in(
        dir,
        &[
            "report",
            "--week",
            "2021-W01",
            "--out",
            "/nonexistent/brief.md",
        ],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("cannot write"), "{}", stderr(&run));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left");
}

/// A lake in `dir` with one entity, RKT, named `name`: a quiet hour of one mention every ten
/// minutes, then a burst of 40 comments in one window (text `burst`, `{i}` numbering them),
/// which fires an alert, so the brief quotes the burst's comments as evidence.
fn burst_lake(dir: &Path, name: &str, burst: &str) {
    let entity =
        serde_json::json!({"id": "RKT", "kind": "ticker", "name": name, "symbols": ["RKT"]});
    std::fs::write(dir.join("entities.jsonl"), format!("{entity}\n")).unwrap();
    let mut comments = String::new();
    for i in 0..52 {
        let (at, text) = if i < 12 {
            (
                format!("2021-01-04T{:02}:{:02}:00Z", i / 6, i % 6 * 10),
                "$RKT quiet".to_string(),
            )
        } else {
            let text = burst.replace("{i}", &i.to_string());
            (format!("2021-01-04T02:00:{:02}Z", i), text)
        };
        let line = serde_json::json!({
            "id": format!("c{i}"),
            "channel": "wallstreetbets",
            "author": format!("author{i}"),
            "text": text,
            "created_at": at,
            "score": i,
        });
        comments.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.join("comments.jsonl"), comments).unwrap();
    let run = run_in(
        dir,
        &[
            "run",
            "-q",
            "-i",
            "comments.jsonl",
            "-e",
            "entities.jsonl",
            "--lake",
            "lake",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
}

/// Markup in an entity name and in quoted comments stays text: the HTML escapes it (no tag of
/// the comment's reaches the page) and the Markdown escapes what would format, link or break
/// a table.
#[test]
fn markup_in_names_and_quotes_stays_text() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    burst_lake(
        dir,
        "<script>alert(1)</script> | *Rocket* [x](http://e.test)",
        "$RKT <img src=x onerror=alert({i})> **buy** | [link](javascript:alert(1)) & more",
    );
    let args = ["report", "--lake", "lake", "--week", "2021-W01", "-q"];
    for out in ["brief.html", "brief.md"] {
        let run = run_in(dir, &[&args[..], &["--out", out]].concat());
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let html = std::fs::read_to_string(dir.join("brief.html")).unwrap();
    for raw in ["<script", "<img", "onerror=alert(12)>"] {
        assert!(!html.contains(raw), "{raw} reached the HTML");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the name, escaped"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(51)&gt;"),
        "the quote, escaped"
    );
    assert!(html.contains("&amp; more"));
    let md = std::fs::read_to_string(dir.join("brief.md")).unwrap();
    assert!(!md.contains("<script") && !md.contains("<img"), "{md}");
    assert!(
        md.contains(r"&lt;script&gt;alert(1)&lt;/script&gt; \| \*Rocket\* \[x\](http://e.test)"),
        "{md}"
    );
    assert!(
        md.contains(r"\*\*buy\*\* \| \[link\](javascript:alert(1))"),
        "{md}"
    );
    // Every table row still has its columns: an escaped pipe splits nothing.
    let top = md.split("## Top entities by mentions").nth(1).unwrap();
    let row = top
        .lines()
        .find(|l| l.starts_with("| 1 |"))
        .expect("the top row");
    let header = top
        .lines()
        .find(|l| l.starts_with("| # |"))
        .expect("the header");
    let columns = |line: &str| line.replace(r"\|", "").matches('|').count();
    assert_eq!(columns(row), columns(header), "{header}\n{row}");
}

/// Emoji, CJK and typst's own syntax in entity names and quoted comments: the PDF prints them
/// from the embedded fallback fonts (no empty box, no `·` for what a font has), and a name
/// with `#` stays text (the data reach typst as JSON, never as markup).
#[test]
fn emoji_and_cjk_print_in_the_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    burst_lake(
        dir,
        "東京ロケット 🚀 #moon",
        "$RKT 東京 火箭 로켓 🚀💎🙌 to the moon 👍🏽 #{i} #set text(red)",
    );
    let args = ["report", "--lake", "lake", "--week", "2021-W01", "-q"];
    let run = run_in(dir, &[&args[..], &["--out", "brief.pdf"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let text = pdf_text(&dir.join("brief.pdf"));
    // Hangul is the one script no embedded font has (a Korean font would add 4 MB or more):
    // a run of it prints as one `·`, never as empty boxes.
    for expected in [
        "東京ロケット",
        "🚀",
        "#moon",
        "火箭 · 🚀💎🙌",
        "#set text(red)",
    ] {
        assert!(text.contains(expected), "{expected:?} in the PDF:\n{text}");
    }
    assert!(text.contains("to the moon 👍"), "{text}");
    let fonts = std::process::Command::new("pdffonts")
        .arg(dir.join("brief.pdf"))
        .output()
        .expect("pdffonts runs (poppler-utils)");
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    for family in ["LibertinusSerif", "Symbola", "DroidSansFallback"] {
        assert!(fonts.contains(family), "{family} embedded:\n{fonts}");
    }
    assert!(
        fonts.lines().skip(2).all(|l| l.contains(" yes ")),
        "every font embedded:\n{fonts}"
    );
}

/// The real r/wallstreetbets posts of January 2021 with the real catalog: the brief of the
/// week the GameStop squeeze took off (2021-W03) names GME among the top movers. Skipped with
/// a printed notice when `../shared/data` is absent.
#[test]
fn the_real_squeeze_week_names_gme_among_the_top_movers() {
    let Some(data) = crate::common::shared_data() else {
        println!("SKIPPED the_real_squeeze_week_names_gme_among_the_top_movers: ../shared/data is absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let posts = data.join("real-comments/reddit_wallstreetbets_posts_2021-01.jsonl.gz");
    let entities = data.join("real-entities/entities.jsonl");
    let run = run_in(
        dir,
        &[
            "run",
            "-q",
            "-w",
            "2",
            "-i",
            posts.to_str().unwrap(),
            "-e",
            entities.to_str().unwrap(),
            "--lake",
            "lake",
            "--dead-letters-out",
            "dead.jsonl",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let args = ["report", "--lake", "lake", "--week", "2021-W03", "-q"];
    for out in ["brief.md", "brief.pdf"] {
        let run = run_in(dir, &[&args[..], &["--out", out]].concat());
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let md = std::fs::read_to_string(dir.join("brief.md")).unwrap();
    let movers = md
        .split("## Top movers")
        .nth(1)
        .expect("a top-movers table");
    let movers = movers.split("\n## ").next().unwrap();
    println!("2021-W03 top movers:\n{movers}");
    assert!(
        movers.contains("(GME)"),
        "GME among the top movers:\n{movers}"
    );
    let pdf = pdf_text(&dir.join("brief.pdf"));
    let pdf_movers = pdf
        .split("Top movers")
        .nth(1)
        .expect("top movers in the PDF");
    assert!(pdf_movers.contains("(GME)"), "{pdf_movers}");
}
