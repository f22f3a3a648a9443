//! The HTTP endpoint of a run (`--http ADDR` or `[http] listen`): `/healthz` (liveness: the
//! process answers) and `/readyz` (readiness, see [`crate::health`], with the frontier,
//! watermark and records of the published [`crate::runtime::Status`]), both JSON.
//!
//! It runs on a thread of its own with a one-thread tokio runtime, apart from the timely
//! workers, so a busy or blocked pipeline still answers its probes.

use crate::runtime::RunHandle;
use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;

/// Listens on `listen` (host:port; port 0 picks a free one) and serves in the background;
/// returns the address it listens on. A port in use is an error naming the setting.
pub fn serve(listen: &str, run: RunHandle) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| {
        format!("cannot listen on {listen} (--http or http.listen): use a free host:port, or \"\" to serve no HTTP")
    })?;
    listener
        .set_nonblocking(true)
        .context("cannot set up the HTTP listener")?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the HTTP runtime")?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(run);
    std::thread::Builder::new()
        .name("chatter-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        if let Err(error) = axum::serve(listener, app).await {
                            tracing::error!(%error, "the HTTP server stopped");
                        }
                    }
                    Err(error) => tracing::error!(%error, "cannot serve HTTP"),
                }
            })
        })
        .context("cannot start the HTTP thread")?;
    tracing::info!(%addr, "serving /healthz and /readyz");
    Ok(addr)
}

async fn healthz(State(run): State<RunHandle>) -> impl IntoResponse {
    let readiness = run.health.readiness();
    Json(serde_json::json!({
        "status": "ok",
        "phase": readiness.phase,
        "uptime_seconds": readiness.uptime_seconds,
    }))
}

/// Readiness, with where the run stands (from the published status).
async fn readyz(State(run): State<RunHandle>) -> impl IntoResponse {
    let readiness = run.health.readiness();
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = run.status.current();
    let mut body = serde_json::to_value(&readiness).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("frontier".into(), status.frontier.into());
        let watermark = (status.watermark_ms > i64::MIN)
            .then(|| dataflows::format_rfc3339_ms(status.watermark_ms));
        fields.insert("watermark".into(), watermark.into());
        fields.insert("records".into(), status.records().into());
    }
    (code, Json(body))
}
