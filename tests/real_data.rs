//! The pipeline on real r/wallstreetbets posts with the real 15.8k-ticker catalog: the GME
//! squeeze of January 2021 and the AMC squeeze of June 2021 must raise alerts. Skipped, with a
//! printed notice, when `../shared/data` is absent (it is not ours to ship).

use crate::common::{read_jsonl, run_in, shared_data, stderr};
use std::collections::BTreeMap;

#[test]
fn gme_and_amc_squeezes_raise_alerts() {
    let Some(data) = shared_data() else {
        println!("SKIPPED gme_and_amc_squeezes_raise_alerts: ../shared/data is absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let comments = data.join("real-comments");
    let output = run_in(
        dir.path(),
        &[
            "run",
            "-q",
            "-w",
            "2",
            "-i",
            comments
                .join("reddit_wallstreetbets_posts_2021-01.jsonl.gz")
                .to_str()
                .unwrap(),
            "-i",
            comments
                .join("reddit_wallstreetbets_posts_2021-06.jsonl.gz")
                .to_str()
                .unwrap(),
            "-e",
            data.join("real-entities/entities.jsonl").to_str().unwrap(),
            "--alerts-out",
            "alerts.jsonl",
            "--windows-out",
            "windows.jsonl",
            "--dead-letters-out",
            "dead.jsonl",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    println!("{}", stderr(&output).trim());
    let alerts = read_jsonl(&dir.path().join("alerts.jsonl"));
    let fired_between = |entity: &str, from: &str, to: &str| {
        alerts.iter().any(|a| {
            a["kind"] == "fired"
                && a["entity_id"] == entity
                && a["window_start"]
                    .as_str()
                    .is_some_and(|w| w >= from && w < to)
        })
    };
    assert!(
        fired_between("GME", "2021-01-13", "2021-01-27"),
        "a GME alert between 2021-01-13 and 2021-01-26"
    );
    assert!(
        fired_between("AMC", "2021-06-01", "2021-06-05"),
        "an AMC alert between 2021-06-01 and 2021-06-04"
    );

    let mut mentions: BTreeMap<String, u64> = BTreeMap::new();
    for row in read_jsonl(&dir.path().join("windows.jsonl")) {
        *mentions
            .entry(row["entity_id"].as_str().unwrap().to_string())
            .or_default() += row["mentions"].as_u64().unwrap();
    }
    let mut top: Vec<(String, u64)> = mentions.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("top 10 entities by mentions (Jan + Jun 2021 r/wallstreetbets posts):");
    for (entity, count) in top.iter().take(10) {
        println!("  {entity:<8} {count}");
    }
    let top_ids: Vec<&str> = top.iter().take(10).map(|(id, _)| id.as_str()).collect();
    assert!(
        top_ids.contains(&"GME") && top_ids.contains(&"AMC"),
        "GME and AMC lead: {top_ids:?}"
    );
    // The stop lists keep common words out of the top: none of these means a ticker here.
    for word in ["DD", "YOLO", "CEO", "ON", "IT", "ALL", "AND", "YOU", "HOLD"] {
        assert!(
            !top_ids.contains(&word),
            "{word} is not a top entity: {top_ids:?}"
        );
    }
}
