//! What makes the server safe to expose: security headers on every answer, CORS (off unless
//! origins are configured), request size limits, a per-client rate limit, bearer-token auth
//! with browser sessions, and time limits. Each is an axum middleware over the whole router,
//! so errors and unknown routes get them too.
//!
//! Auth (when a token is configured): a request is let through with `Authorization: Bearer
//! <token>` (compared in constant time), or with the session cookie that
//! `POST /api/v1/session` (itself needing the token) sets: HttpOnly, SameSite=Strict,
//! Path=/, 12 hours — for the dashboard, whose `EventSource` cannot send a header. The
//! dashboard's static files are public (they hold no data); `http.public_routes` are too.

use super::error::ApiError;
use super::Shared;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
pub const SESSION_COOKIE: &str = "chatter_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept (the oldest go first).
const MAX_SESSIONS: usize = 10_000;
/// Most client addresses tracked by the rate limiter (full buckets are forgotten first).
const MAX_CLIENTS: usize = 100_000;

/// Security headers on every answer, and CORS for configured origins.
pub async fn headers(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().filter(|origin| {
        shared
            .settings
            .cors_origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
    });
    let mut response = if request.method() == Method::OPTIONS && allowed.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, last-event-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET"),
        );
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Header and body size limits: 431 and 413. The API reads no body, so a body over the
/// limit (or one of unknown length) is refused before anything reads it.
pub async fn limits(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let settings = &shared.settings;
    let header_bytes: u64 = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().len() + value.len() + 4) as u64)
        .sum();
    if header_bytes > settings.max_headers {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's headers are {header_bytes} bytes: the limit is {} (http.max_headers)",
                settings.max_headers
            ),
        )
        .into_response();
    }
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    if chunked || length.is_some_and(|n| n > settings.max_body) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request bodies are limited to {} bytes (http.max_body) and the API reads none",
                settings.max_body
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// A token bucket per client address.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    clients: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst as f64,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client`; `Err(seconds)` to wait when there is none.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut clients) = self.clients.lock() else {
            return Ok(());
        };
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            clients.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = clients.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// The per-client rate limit, over everything but the probes: they are cheap (no lake read),
/// and an orchestrator that gets 429 from a probe restarts a healthy process.
pub async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(client) = client {
        if let Err(seconds) = shared.limiter.take(client, Instant::now()) {
            shared.metrics.rate_limited.inc();
            return ApiError {
                retry_after: Some(seconds),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "more than {} requests per second from this address (http.rate_limit): retry after {seconds} s",
                        shared.settings.rate_limit
                    ),
                )
            }
            .into_response();
        }
    }
    next.run(request).await
}

/// Browser sessions: hashes of their cookies, with their expiry.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    /// A new session: its cookie value.
    pub fn create(&self) -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(mut sessions) = self.sessions.lock() {
            let now = Instant::now();
            sessions.retain(|_, expires| *expires > now);
            if sessions.len() >= MAX_SESSIONS {
                if let Some(oldest) = sessions.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                    sessions.remove(&oldest);
                }
            }
            sessions.insert(digest(&value), now + SESSION_TTL);
        }
        value
    }

    pub fn valid(&self, value: &str) -> bool {
        self.sessions
            .lock()
            .map(|s| s.get(&digest(value)).is_some_and(|e| *e > Instant::now()))
            .unwrap_or(false)
    }

    pub fn remove(&self, value: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&digest(value));
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `given` is the token (constant time over the hashes: no length or prefix leaks).
pub fn token_matches(token: &str, given: &str) -> bool {
    digest(token).ct_eq(&digest(given)).into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request carries the token (or, when `sessions` is true, a live session).
pub fn authorized(shared: &Shared, headers: &HeaderMap, sessions: bool) -> Result<(), ApiError> {
    let Some(token) = &shared.settings.token else {
        return Ok(());
    };
    if let Some(given) = bearer(headers) {
        return match token_matches(token.expose(), given) {
            true => Ok(()),
            false => Err(ApiError::unauthorized(
                "the bearer token is wrong: give the token of http.token_file or CHATTER_HTTP_TOKEN",
            )),
        };
    }
    if sessions && session_cookie(headers).is_some_and(|c| shared.sessions.valid(c)) {
        return Ok(());
    }
    Err(ApiError::unauthorized(
        "auth is on: send `Authorization: Bearer <token>` (or sign in on the dashboard)",
    ))
}

/// Auth over everything but the public routes and the dashboard's static files.
pub async fn auth(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let public = path == "/"
        || path.starts_with("/assets/")
        || path == "/api/v1/session"
        || shared.settings.public_routes.iter().any(|p| p == path);
    if !public {
        if let Err(error) = authorized(&shared, request.headers(), true) {
            return error.into_response();
        }
    }
    next.run(request).await
}

/// A time limit on every request but the alert stream (its headers come at once; then it
/// runs for as long as the client reads).
pub async fn timeout(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/api/v1/alerts/stream" {
        return next.run(request).await;
    }
    let limit = shared.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s (http.request_timeout): narrow its range",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// `POST /api/v1/session`: the token (as a bearer header) for a session cookie.
pub async fn create_session(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if shared.settings.token.is_none() {
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Err(error) = authorized(&shared, &headers, false) {
        return error.into_response();
    }
    let value = shared.sessions.create();
    let secure = if shared.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `DELETE /api/v1/session`: signs out.
pub async fn delete_session(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(value) = session_cookie(&headers) {
        shared.sessions.remove(value);
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(cookie) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let (client, start) = ("10.0.0.1".parse().unwrap(), Instant::now());
        for _ in 0..3 {
            assert_eq!(limiter.take(client, start), Ok(()));
        }
        assert_eq!(limiter.take(client, start), Err(1));
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(limiter.take(other, start), Ok(()), "clients are apart");
        let later = start + Duration::from_millis(150);
        assert_eq!(
            limiter.take(client, later),
            Ok(()),
            "one token back after 100 ms"
        );
        assert!(limiter.take(client, later).is_err());
        assert_eq!(RateLimiter::new(0.0, 1).take(client, start), Ok(()));
    }

    #[test]
    fn tokens_and_sessions() {
        assert!(token_matches("a-long-secret-token", "a-long-secret-token"));
        assert!(!token_matches("a-long-secret-token", "a-long-secret-tokem"));
        assert!(!token_matches("a-long-secret-token", ""));
        let sessions = Sessions::default();
        let cookie = sessions.create();
        assert_eq!(cookie.len(), 64);
        assert!(sessions.valid(&cookie));
        assert!(!sessions.valid("0000"));
        sessions.remove(&cookie);
        assert!(!sessions.valid(&cookie));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; chatter_session=xyz; c=d"),
        );
        assert_eq!(session_cookie(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  t"));
        assert_eq!(bearer(&headers), Some("t"));
    }
}
