//! `GET /api/v1/alerts/stream`: Server-Sent Events, one `alert` event per alert event as the
//! runtime hands it out, `id:` its sequence. The ring buffer is the status's list of recent
//! events (the last 1,000); `Last-Event-ID` resumes from it, and an `event: reset` says when the
//! asked-for id is not there (too old, or from an earlier run). A heartbeat comment every 15 s.
//!
//! The hub polls the published status (every 50 ms, on the server's thread) and hands new
//! events to each client's bounded queue with `try_send`: a client whose queue is full is
//! dropped — its connection closed — and counted, so a slow reader never slows the pipeline
//! or the other clients.

use super::error::ApiError;
use super::params::Params;
use super::types::AlertEvent;
use super::Shared;
use crate::runtime::AlertView;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use utoipa::IntoParams;

/// Events a client may have waiting before it is dropped.
pub const CLIENT_QUEUE: usize = 256;
pub const HEARTBEAT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// Closes one connection (set by the accept loop on each request).
#[derive(Clone, Default)]
pub struct Hangup(pub Arc<Notify>);

struct Client {
    queue: mpsc::Sender<Event>,
    hangup: Option<Hangup>,
}

/// The connected clients and the last sequence handed to them.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    sent: u64,
    clients: Vec<Client>,
}

fn event(view: &AlertView) -> Event {
    let json = serde_json::to_string(&AlertEvent::new(&view.record, Some(view.sequence)))
        .unwrap_or_default();
    Event::default()
        .event("alert")
        .id(view.sequence.to_string())
        .data(json)
}

impl Hub {
    /// Hands the events published since the last call to every client (the hub task calls it).
    pub fn tick(&self, shared: &Shared) {
        let status = shared.run.status.current();
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.clients.retain(|client| !client.queue.is_closed());
        shared.metrics.sse_clients.set(state.clients.len() as i64);
        let newest = status.recent_alerts.last().map_or(0, |v| v.sequence);
        if newest < state.sent {
            // A new run behind the same server cannot happen; keep the ids monotonic anyway.
            state.sent = newest;
        }
        if newest == state.sent {
            return;
        }
        let sent = state.sent;
        let fresh: Vec<Event> = (status.recent_alerts.iter())
            .filter(|v| v.sequence > sent)
            .map(event)
            .collect();
        let mut dropped = 0u64;
        state.clients.retain(|client| {
            for event in &fresh {
                match client.queue.try_send(event.clone()) {
                    Ok(()) => {}
                    // The client went away.
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        if let Some(Hangup(notify)) = &client.hangup {
                            notify.notify_one();
                        }
                        dropped += 1;
                        return false;
                    }
                }
            }
            true
        });
        if dropped > 0 {
            shared.metrics.sse_dropped.inc_by(dropped);
            tracing::info!(dropped, "alert-stream clients dropped for not reading");
        }
        shared.metrics.sse_clients.set(state.clients.len() as i64);
        state.sent = newest;
    }

    /// Registers a client: the buffered events it asked for, then its queue.
    fn join(
        &self,
        shared: &Shared,
        since: Option<u64>,
        hangup: Option<Hangup>,
    ) -> (Vec<Event>, mpsc::Receiver<Event>) {
        let status = shared.run.status.current();
        let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let sent = state.sent;
        let buffer = &status.recent_alerts;
        let mut backlog = Vec::new();
        if let Some(since) = since {
            let oldest = buffer.first().map_or(sent + 1, |v| v.sequence);
            if since > sent || (since + 1 < oldest && since < sent) {
                let reset = serde_json::json!({"requested": since, "oldest": buffer.first().map(|v| v.sequence), "newest": sent});
                backlog.push(Event::default().event("reset").data(reset.to_string()));
            }
            let from = if since > sent { 0 } else { since };
            backlog.extend(
                buffer
                    .iter()
                    .filter(|v| v.sequence > from && v.sequence <= sent)
                    .map(event),
            );
        }
        state.clients.push(Client { queue, hangup });
        shared.metrics.sse_clients.set(state.clients.len() as i64);
        (backlog, receiver)
    }
}

/// Runs the hub until the server stops.
pub async fn run_hub(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        shared.hub.tick(&shared);
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Replay the buffered events after this sequence first (`0`: the whole buffer), as
    /// `Last-Event-ID` does; the header wins when both are given.
    #[param(value_type = Option<u64>, minimum = 0)]
    since: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/alerts/stream", tag = "alerts", params(StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this sequence")),
    responses((status = 200, description = "text/event-stream of `alert` events (and `reset`)",
               content_type = "text/event-stream", body = String),
              (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody)))]
/// Every alert event as it is emitted (Server-Sent Events).
pub async fn stream(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    hangup: Option<axum::Extension<Hangup>>,
    Params(query): Params<StreamQuery>,
) -> Result<Response, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| (v.to_str().unwrap_or("?").to_string(), "Last-Event-ID"));
    let asked = header.or(query.since.map(|s| (s, "since")));
    let since = match asked {
        None => None,
        Some((text, name)) => Some(text.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_parameter(
                name,
                format!("{text:?} is not an event id (a whole number)"),
            )
        })?),
    };
    let (backlog, receiver) = shared
        .hub
        .join(&shared, since, hangup.map(|axum::Extension(h)| h));
    let live = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (event, receiver))
    });
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::iter(backlog).chain(live).map(Ok));
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("heartbeat");
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}
