//! The records chatter writes (and the ones `chatter gen` writes for it) match the JSON
//! Schemas in `schemas/v1/`: a small checker for the keywords those schemas use (type, enum,
//! const, required, additionalProperties: false, minimum, minLength, items).

use crate::common::{read_jsonl, run_generated, stderr};
use serde_json::Value;
use std::path::Path;

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/v1")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("schema file")).expect("schema is JSON")
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("schema uses an unknown type {other}"),
    }
}

/// Every violation of `schema` by `value`, as readable strings.
fn violations(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(expected) = schema.get("type") {
        let ok = match expected {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .any(|t| type_matches(t.as_str().unwrap_or(""), value)),
            _ => true,
        };
        if !ok {
            out.push(format!("{path}: {value} is not of type {expected}"));
            return out;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            out.push(format!("{path}: {value} is not one of {options:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            out.push(format!("{path}: {value} is not {constant}"));
        }
    }
    if let (Some(minimum), Some(number)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if number < minimum {
            out.push(format!("{path}: {number} < minimum {minimum}"));
        }
    }
    if let (Some(min), Some(text)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if (text.chars().count() as u64) < min {
            out.push(format!("{path}: shorter than {min}"));
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            out.extend(violations(items, item, &format!("{path}[{i}]")));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().unwrap_or("");
            if !object.contains_key(key) {
                out.push(format!("{path}: missing required {key}"));
            }
        }
        for (key, field) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => out.extend(violations(sub, field, &format!("{path}.{key}"))),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{path}: {key} is not in the schema"))
                }
                None => {}
            }
        }
    }
    out
}

fn assert_all_match(schema_name: &str, records: &[Value]) {
    assert!(!records.is_empty(), "no {schema_name} records to check");
    let schema = schema(schema_name);
    for record in records {
        let problems = violations(&schema, record, "$");
        assert!(
            problems.is_empty(),
            "{schema_name}: {problems:?} in {record}"
        );
    }
}

#[test]
fn the_checker_catches_violations() {
    let schema = schema("alert.schema.json");
    let bad = serde_json::json!({"alert_id": 1, "kind": "exploded", "extra": true});
    let problems = violations(&schema, &bad, "$");
    assert!(
        problems.iter().any(|p| p.contains("alert_id")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("exploded")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("extra")), "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing required mentions")),
        "{problems:?}"
    );
}

#[test]
fn outputs_and_generated_inputs_match_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let config = chatter::gen::GenConfig {
        comments: 20_000,
        seed: 4,
        ..Default::default()
    };
    chatter::gen::write_dir(&config, dir.path()).unwrap();
    let output = run_generated(dir.path(), "1", "50000", "s");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_all_match(
        "alert.schema.json",
        &read_jsonl(&dir.path().join("alerts-s.jsonl")),
    );
    assert_all_match(
        "dead_letter.schema.json",
        &read_jsonl(&dir.path().join("dead-s.jsonl")),
    );
    assert_all_match(
        "entity_window.schema.json",
        &read_jsonl(&dir.path().join("windows-s.jsonl")),
    );
    assert_all_match(
        "entity.schema.json",
        &read_jsonl(&dir.path().join("entities.jsonl")),
    );
    // The generator's well-formed comment lines (the malformed ones are dead letters above).
    let comments: Vec<Value> = std::fs::read(dir.path().join("comments.jsonl"))
        .unwrap()
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|v| {
            chatter::decode::decode_comment(
                v.to_string().as_bytes(),
                &chatter::decode::DecodeLimits::now(1 << 20),
            )
            .is_ok()
        })
        .collect();
    assert_all_match("comment.schema.json", &comments);
}
