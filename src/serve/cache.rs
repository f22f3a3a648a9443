//! Answers of the API kept per published status: two requests for the same resource at the
//! same status version get the same bytes, so the second costs a lookup (a dashboard polls the
//! same few resources; a backfill's status changes at most five times a second). An answer is
//! computed from one status and the lake's current snapshot, which only this run writes and
//! which changes only with a new status, so a version's answers stay right until the next.
//! `/api/v1/status` is not kept: it carries wall-clock ages.

use super::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Answers kept at most (over all versions; the older go first).
const MAX_ENTRIES: usize = 512;
/// Larger answers are not kept.
const MAX_BODY: usize = 1 << 20;

struct Entry {
    version: u64,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

#[derive(Default)]
pub struct Answers {
    entries: Mutex<HashMap<String, Entry>>,
    /// One computation per resource at a time: the others wait for its answer (200 clients
    /// asking at once for a new version cost one computation, not 200).
    computing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Answers {
    fn turn(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut computing = self.computing.lock().unwrap_or_else(|p| p.into_inner());
        if computing.len() > MAX_ENTRIES {
            computing.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        computing.entry(key.to_string()).or_default().clone()
    }

    fn get(&self, key: &str, version: u64) -> Option<(Option<HeaderValue>, Bytes)> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key).filter(|e| e.version == version)?;
        Some((entry.content_type.clone(), entry.body.clone()))
    }

    fn put(&self, key: String, entry: Entry) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            let version = entry.version;
            entries.retain(|_, e| e.version == version);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, entry);
    }
}

fn cacheable(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET
        && path.starts_with("/api/v1/")
        && !matches!(
            path,
            "/api/v1/status" | "/api/v1/alerts/stream" | "/api/v1/session"
        )
}

/// The middleware (inside auth: only allowed requests reach it; answers do not depend on who
/// asks).
pub async fn answers(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if !cacheable(&request) {
        return next.run(request).await;
    }
    let version = shared.run.status.current().version;
    let key = request.uri().to_string();
    if let Some((content_type, body)) = shared.answers.get(&key, version) {
        return answer(content_type, body);
    }
    let turn = shared.answers.turn(&key);
    let _turn = turn.lock().await;
    if let Some((content_type, body)) = shared.answers.get(&key, version) {
        return answer(content_type, body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if body.len() <= MAX_BODY {
        let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
        let entry = Entry {
            version,
            content_type,
            body: body.clone(),
        };
        shared.answers.put(key, entry);
    }
    Response::from_parts(parts, Body::from(body))
}

fn answer(content_type: Option<HeaderValue>, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_per_version_and_bounded() {
        let answers = Answers::default();
        let entry = |version, text: &'static str| Entry {
            version,
            content_type: None,
            body: Bytes::from_static(text.as_bytes()),
        };
        answers.put("/a".into(), entry(1, "one"));
        assert_eq!(answers.get("/a", 1).unwrap().1, "one");
        assert!(answers.get("/a", 2).is_none(), "a new status, a new answer");
        for i in 0..MAX_ENTRIES + 10 {
            answers.put(format!("/k{i}"), entry(2, "x"));
        }
        let kept = answers.entries.lock().unwrap().len();
        assert!(kept <= MAX_ENTRIES, "{kept}");
        assert!(answers.get("/a", 1).is_none(), "older versions go first");
    }
}
