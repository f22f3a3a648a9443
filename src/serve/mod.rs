//! The run's HTTP server (SPEC §3.6, docs/api.md): the dashboard at `/`, the JSON API under
//! `/api/v1/` with its OpenAPI document at `/api/openapi.json`, the alert stream (SSE),
//! `/metrics`, and the probes `/healthz` (the process answers) and `/readyz` (see
//! [`crate::health`]).
//!
//! It reads only what the runtime publishes ([`crate::runtime::Status`]) and the lake's read
//! library — never the dataflow. It runs on a thread of its own with a one-thread tokio
//! runtime (lake reads go to its blocking pool), apart from the timely workers, so a busy or
//! blocked pipeline still answers; and nothing it does can slow the pipeline: the status is an
//! `Arc` swapped by worker 0, and the stream drops clients that do not read.
//!
//! Every answer passes the same layers (`safety`): security headers, size limits, the rate
//! limit, auth, the time limit, and the request metrics; errors have one JSON shape (`error`).

mod api;
mod assets;
mod cache;
mod error;
mod evidence;
mod history;
mod metrics;
mod params;
mod safety;
mod settings;
mod status_view;
mod stream;
mod types;

pub use settings::{Secret, ServeSettings, TOKEN_ENV};

use crate::runtime::RunHandle;
use anyhow::{Context, Result};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler and layer shares.
pub struct Shared {
    pub run: RunHandle,
    pub settings: ServeSettings,
    pub metrics: metrics::Metrics,
    pub limiter: safety::RateLimiter,
    pub sessions: safety::Sessions,
    pub lake: history::Lake,
    pub hub: stream::Hub,
    pub trend: status_view::Trend,
    pub answers: cache::Answers,
    /// Lake reads at once (the blocking pool is not for a flood).
    pub lake_reads: tokio::sync::Semaphore,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "chatter", description = "Streaming comment intelligence: entity mentions, velocity windows and alerts (docs/api.md)"),
    paths(evidence::alert),
    security(("bearer" = [])),
    tags((name = "status"), (name = "entities"), (name = "alerts"), (name = "lake"))
)]
struct ApiDoc;

/// The bearer scheme, and the error answers any route may give (from the layers every
/// request passes), on every operation.
struct BearerAuth;

/// (status, when) of the answers the layers give.
const LAYER_ERRORS: [(&str, &str); 6] = [
    ("401", "auth is on and no valid token or session was given"),
    ("413", "a request body (the API reads none)"),
    ("429", "over the per-client rate (see Retry-After)"),
    ("431", "the request's headers are too large"),
    ("500", "a lake file cannot be read"),
    ("504", "the request took longer than http.request_timeout"),
];

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::content::ContentBuilder;
        use utoipa::openapi::response::ResponseBuilder;
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{Ref, RefOr};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for (status, when) in LAYER_ERRORS {
                    let content = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build();
                    let response = ResponseBuilder::new()
                        .description(when)
                        .content("application/json", content)
                        .build();
                    (operation.responses.responses)
                        .entry(status.to_string())
                        .or_insert(RefOr::T(response));
                }
            }
        }
    }
}

/// The API routes with their OpenAPI document.
fn api_router() -> (Router<Arc<Shared>>, utoipa::openapi::OpenApi) {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let (router, mut doc) = OpenApiRouter::with_openapi(doc)
        .routes(routes!(api::status))
        .routes(routes!(api::top))
        .routes(routes!(api::entity))
        .routes(routes!(api::windows))
        .routes(routes!(api::alerts))
        .routes(routes!(stream::stream))
        .routes(routes!(api::snapshots))
        .split_for_parts();
    utoipa::Modify::modify(&BearerAuth, &mut doc);
    (router, doc)
}

/// The whole router, with every layer.
pub fn router(shared: Arc<Shared>) -> Router {
    let (api, mut doc) = api_router();
    if shared.settings.token.is_none() {
        // Auth is off: the document says what this server does.
        doc.security = None;
        if let Some(components) = doc.components.as_mut() {
            components.security_schemes.clear();
        }
    }
    let doc = Arc::new(doc);
    let app = api
        // Alert ids hold slashes: `/api/v1/alerts/velocity/GME/…` works unencoded too (the
        // document lists it as `{alert_id}`, from `ApiDoc`).
        .route("/api/v1/alerts/{*alert_id}", get(evidence::alert))
        .route(
            "/api/v1/session",
            post(safety::create_session).delete(safety::delete_session),
        )
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .fallback(error::not_found_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn_with_state(shared.clone(), cache::answers))
        .layer(from_fn_with_state(shared.clone(), metrics::record))
        .layer(from_fn_with_state(shared.clone(), safety::timeout))
        .layer(from_fn_with_state(shared.clone(), safety::auth))
        .layer(from_fn_with_state(shared.clone(), safety::rate_limit))
        .layer(from_fn_with_state(shared.clone(), safety::limits))
        .layer(from_fn_with_state(shared.clone(), safety::headers));
    app.with_state(shared)
}

/// The OpenAPI document (for `chatter openapi` and the contract test).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().1
}

/// Listens on `settings.listen` (host:port; port 0 picks a free one) and serves in the
/// background; returns the address it listens on. A port in use is an error naming the
/// setting.
pub fn serve(settings: ServeSettings, run: RunHandle) -> Result<SocketAddr> {
    let listen = settings.listen.clone();
    let listener = std::net::TcpListener::bind(&listen).with_context(|| {
        format!("cannot listen on {listen} (--http or http.listen): use a free host:port, or \"\" to serve no HTTP")
    })?;
    listener
        .set_nonblocking(true)
        .context("cannot set up the HTTP listener")?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(4)
        .thread_name("chatter-http-io")
        .on_thread_start(lower_priority)
        .build()
        .context("cannot start the HTTP runtime")?;
    let auth = settings.token.is_some();
    let shared = Arc::new(Shared {
        metrics: metrics::Metrics::new(run.clone(), settings.memory_limit),
        limiter: safety::RateLimiter::new(settings.rate_limit, settings.rate_burst),
        sessions: safety::Sessions::default(),
        lake: history::Lake::new(settings.lake.clone()),
        hub: stream::Hub::default(),
        trend: status_view::Trend::default(),
        answers: cache::Answers::default(),
        lake_reads: tokio::sync::Semaphore::new(2),
        settings,
        run,
    });
    let app = router(shared.clone());
    std::thread::Builder::new()
        .name("chatter-http".into())
        .spawn(move || {
            lower_priority();
            runtime.block_on(async move {
                tokio::spawn(stream::run_hub(shared.clone()));
                tokio::spawn(sample_trend(shared.clone()));
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept(listener, app, shared).await,
                    Err(error) => tracing::error!(kind = "http", %error, "cannot serve HTTP"),
                }
            })
        })
        .context("cannot start the HTTP thread")?;
    tracing::info!(%addr, auth, "serving the dashboard, API and metrics");
    if !auth && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "serving beyond loopback without a token: anyone who can reach {addr} reads every comment, alert and metric; set http.token_file (or CHATTER_HTTP_TOKEN), or listen on 127.0.0.1 behind a proxy that authenticates"
        );
    }
    Ok(addr)
}

/// How much nicer than the pipeline the server's threads are: under a flood of requests the
/// CPU goes to the timely workers first (Linux: nice is per thread).
const HTTP_NICE: i32 = 10;

fn lower_priority() {
    if let Err(error) = rustix::process::setpriority_process(None, HTTP_NICE) {
        tracing::debug!(%error, "cannot lower the HTTP thread's priority");
    }
}

/// Samples the status for the lag trend and the throughput.
async fn sample_trend(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(status_view::SAMPLE_EVERY);
    loop {
        interval.tick().await;
        shared.trend.sample(&shared.run.status.current());
    }
}

/// Accepts connections (at most `http.max_connections` at once), each served by hyper with a
/// header-read timeout, with the peer's address and a hang-up handle in every request.
async fn accept(listener: tokio::net::TcpListener, app: Router, shared: Arc<Shared>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(tokio::sync::Semaphore::new(shared.settings.max_connections));
    let header_timeout = shared.settings.request_timeout;
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let hangup = stream::Hangup::default();
        let app = app.clone();
        let service = {
            let hangup = hangup.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(hangup.clone());
                let request = request.map(axum::body::Body::new);
                tower::ServiceExt::oneshot(app.clone(), request)
            })
        };
        tokio::spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(socket), service);
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "connection ended");
                    }
                }
                _ = hangup.0.notified() => {
                    tracing::debug!(%peer, "connection closed: its stream client fell behind");
                }
            }
        });
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let readiness = shared.run.health.readiness();
    Json(serde_json::json!({
        "status": "ok",
        "phase": readiness.phase,
        "uptime_seconds": readiness.uptime_seconds,
    }))
}

/// Readiness, with where the run stands (from the published status).
async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let readiness = shared.run.health.readiness();
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = shared.run.status.current();
    let mut body = serde_json::to_value(&readiness).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("frontier".into(), status.frontier.into());
        fields.insert(
            "watermark".into(),
            api::time_text(status.watermark_ms).into(),
        );
        fields.insert("records".into(), status.records().into());
    }
    (code, Json(body))
}
