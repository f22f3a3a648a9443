//! `GET /api/v1/alerts/stream`: Server-Sent Events, one `alert` event per alert event as the
//! runtime hands it out, `id:` its sequence. The ring buffer is the run's [`AlertLog`] (the
//! last 10,000 events); `Last-Event-ID` resumes from it, and an `event: reset` says when the
//! asked-for id is not there (too old, or from an earlier run). A heartbeat comment every 15 s.
//!
//! Each client's stream reads the log at the pace the client takes its events (a cursor, no
//! copy: the log is the bounded queue all clients share). The pipeline only appends to the
//! log, so no reader can slow it. The hub (every 500 ms) drops — closes the connection of —
//! a client that fell out of the log or that has events waiting and took none for
//! [`SLOW_FOR`], and counts it.

use crate::runtime::AlertLog;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::error::ApiError;
use super::params::Params;
use super::types::AlertEvent;
use super::Shared;
use crate::runtime::AlertView;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use utoipa::IntoParams;

/// Events a client takes from the log at once.
const BATCH: usize = 256;
/// How often the hub looks for stalled clients.
const WATCH_EVERY: Duration = Duration::from_millis(500);
pub const HEARTBEAT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// A client with events waiting that takes none for this long is dropped.
pub const SLOW_FOR: Duration = Duration::from_secs(5);

/// Closes one connection (set by the accept loop on each request).
#[derive(Clone, Default)]
pub struct Hangup(pub Arc<Notify>);

/// One stream client: where it is in the log, and when it last took an event.
pub struct Client {
    next: AtomicU64,
    polled: Mutex<Instant>,
    behind: AtomicBool,
    hangup: Option<Hangup>,
}

impl Client {
    fn touch(&self) {
        if let Ok(mut polled) = self.polled.lock() {
            *polled = Instant::now();
        }
    }
}

/// What a client gets next.
enum Batch {
    Events(Vec<Arc<AlertView>>),
    /// It has every event there is.
    Idle,
    /// The events it is owed have left the log.
    Behind,
}

/// Up to `max` of the events `client` is owed (advancing it past them).
fn next_batch(client: &Client, log: &AlertLog, max: usize) -> Batch {
    let next = client.next.load(Ordering::Relaxed);
    let (mut views, oldest) = log.since(next.saturating_sub(1));
    if next < oldest {
        return Batch::Behind;
    }
    if views.is_empty() {
        return Batch::Idle;
    }
    views.truncate(max);
    client
        .next
        .store(next + views.len() as u64, Ordering::Relaxed);
    Batch::Events(views)
}

fn event(view: &AlertView) -> Event {
    let json = serde_json::to_string(&AlertEvent::new(&view.record, Some(view.sequence)))
        .unwrap_or_default();
    Event::default()
        .event("alert")
        .id(view.sequence.to_string())
        .data(json)
}

/// The connected clients, watched for stalls.
#[derive(Default)]
pub struct Hub {
    clients: Mutex<Vec<Arc<Client>>>,
}

impl Hub {
    /// Registers a client owed the events after `since` (None: only new ones); the `reset`
    /// event it must get first when those are no longer (or never were) in the log.
    fn join(
        &self,
        log: &AlertLog,
        since: Option<u64>,
        hangup: Option<Hangup>,
    ) -> (Arc<Client>, Option<Event>) {
        let newest = log.newest();
        let (kept, oldest) = log.since(0);
        let kept = kept.first().map(|v| v.sequence);
        let (next, reset) = match since {
            None => (newest + 1, None),
            Some(since) if since <= newest && since + 1 >= oldest => (since + 1, None),
            Some(since) => {
                let data =
                    serde_json::json!({"requested": since, "oldest": kept, "newest": newest});
                let reset = Event::default().event("reset").data(data.to_string());
                (kept.unwrap_or(newest + 1), Some(reset))
            }
        };
        let client = Arc::new(Client {
            next: AtomicU64::new(next),
            polled: Mutex::new(Instant::now()),
            behind: AtomicBool::new(false),
            hangup,
        });
        if let Ok(mut clients) = self.clients.lock() {
            clients.push(client.clone());
        }
        (client, reset)
    }

    /// Drops (and hangs up on) each client that fell out of the log, or that has events
    /// waiting and took none for [`SLOW_FOR`]; forgets clients that went away.
    pub fn watch(&self, log: &AlertLog, connected: &Gauge, dropped_total: &Counter) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        let newest = log.newest();
        let mut dropped = 0u64;
        clients.retain(|client| {
            if Arc::strong_count(client) == 1 {
                return false;
            }
            let waiting = client.next.load(Ordering::Relaxed) <= newest;
            let stalled = client.polled.lock().is_ok_and(|p| p.elapsed() >= SLOW_FOR);
            if client.behind.load(Ordering::Relaxed) || (waiting && stalled) {
                if let Some(Hangup(notify)) = &client.hangup {
                    notify.notify_one();
                }
                dropped += 1;
                return false;
            }
            true
        });
        if dropped > 0 {
            tracing::info!(dropped, "alert-stream clients dropped for not reading");
            dropped_total.inc_by(dropped);
        }
        connected.set(clients.len() as i64);
    }
}

/// Watches the clients until the server stops.
pub async fn run_hub(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(WATCH_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let metrics = &shared.metrics;
        (shared.hub).watch(
            &shared.run.alerts,
            &metrics.sse_clients,
            &metrics.sse_dropped,
        );
    }
}

/// A client's events, read from the log at the pace the client takes them.
fn events(
    client: Arc<Client>,
    log: Arc<AlertLog>,
    first: Option<Event>,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let buffer: VecDeque<Event> = first.into_iter().collect();
    stream::unfold(
        (client, log, buffer),
        |(client, log, mut buffer)| async move {
            loop {
                if let Some(event) = buffer.pop_front() {
                    client.touch();
                    return Some((Ok(event), (client, log, buffer)));
                }
                match next_batch(&client, &log, BATCH) {
                    Batch::Events(views) => buffer.extend(views.iter().map(|v| event(v))),
                    Batch::Idle => {
                        client.touch();
                        tokio::time::sleep(POLL).await;
                    }
                    Batch::Behind => {
                        client.behind.store(true, Ordering::Relaxed);
                        return None;
                    }
                }
            }
        },
    )
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
    let hangup = hangup.map(|axum::Extension(h)| h);
    let (client, reset) = shared.hub.join(&shared.run.alerts, since, hangup);
    let events = events(client, shared.run.alerts.clone(), reset);
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("heartbeat");
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::alert_log::record;

    /// Takes everything the client is owed; the number of events.
    fn take(client: &Client, log: &AlertLog) -> usize {
        let mut n = 0;
        while let Batch::Events(views) = next_batch(client, log, BATCH) {
            n += views.len();
            client.touch();
        }
        n
    }

    /// A reader that keeps up gets every event; one that takes none while events wait is
    /// dropped (and hung up on) after SLOW_FOR, one that falls out of the log at once; a
    /// reader asking for ids the log does not have gets a reset first.
    #[test]
    fn readers_get_everything_and_a_stalled_one_is_dropped() {
        let (log, hub) = (AlertLog::new(2000), Hub::default());
        let (connected, dropped) = (Gauge::default(), Counter::default());
        let (reader, reset) = hub.join(&log, None, None);
        assert!(reset.is_none());
        let hangup = Hangup::default();
        let (stalled, _) = hub.join(&log, None, Some(hangup.clone()));
        for n in 0..1500 {
            log.push(record(n));
        }
        assert_eq!(take(&reader, &log), 1500, "every event");
        hub.watch(&log, &connected, &dropped);
        assert_eq!(
            (connected.get(), dropped.get()),
            (2, 0),
            "not dropped at once"
        );
        std::thread::sleep(SLOW_FOR + Duration::from_millis(50));
        reader.touch();
        hub.watch(&log, &connected, &dropped);
        assert_eq!(
            (connected.get(), dropped.get()),
            (1, 1),
            "the stalled one is dropped"
        );
        use futures_util::FutureExt;
        assert!(
            hangup.0.notified().now_or_never().is_some(),
            "and hung up on"
        );
        drop(stalled);
        for n in 1500..2500 {
            log.push(record(n));
        }
        let (late, reset) = hub.join(&log, Some(3), None);
        assert!(
            format!("{reset:?}").contains("reset"),
            "ids 4.. have left the log"
        );
        assert_eq!(take(&late, &log), 2000, "then everything kept");
        let (resumed, reset) = hub.join(&log, Some(1400), None);
        assert!(reset.is_none());
        assert_eq!(take(&resumed, &log), 1100, "the events after 1400");
        let (ahead, reset) = hub.join(&log, Some(99_999), None);
        assert!(reset.is_some(), "an id the log never had");
        assert_eq!(take(&ahead, &log), 2000);

        let (behind, _) = hub.join(&log, None, None);
        for n in 0..2500 {
            log.push(record(n));
        }
        assert!(matches!(next_batch(&behind, &log, BATCH), Batch::Behind));
    }
}
