//! `GET /api/v1/alerts/stream`: Server-Sent Events, one `alert` event per alert event as the
//! runtime hands it out, `id:` its sequence. The ring buffer is the run's [`AlertLog`] (the
//! last 10,000 events); `Last-Event-ID` resumes from it, and an `event: reset` says when the
//! asked-for id is not there (too old, or from an earlier run). A heartbeat comment every 15 s.
//!
//! The hub (every 50 ms, on the server's thread) hands each client the events it is owed into
//! its bounded queue with `try_send`, never waiting: a client whose queue stays full for
//! [`SLOW_FOR`], or that falls out of the log, is dropped — its connection closed — and
//! counted. A slow reader never slows the pipeline (which only appends to the log) or the
//! other clients.

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
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use utoipa::IntoParams;

/// Events a client may have waiting before it is dropped.
pub const CLIENT_QUEUE: usize = 256;
pub const HEARTBEAT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// A client whose queue stays full this long is dropped.
pub const SLOW_FOR: Duration = Duration::from_secs(5);

/// Closes one connection (set by the accept loop on each request).
#[derive(Clone, Default)]
pub struct Hangup(pub Arc<Notify>);

struct Client {
    queue: mpsc::Sender<Event>,
    hangup: Option<Hangup>,
    /// The sequence of the next event it is owed.
    next: u64,
    /// Since when its queue has been full.
    full_since: Option<Instant>,
}

/// The connected clients.
#[derive(Default)]
pub struct Hub {
    clients: Mutex<Vec<Client>>,
}

fn event(view: &AlertView) -> Event {
    let json = serde_json::to_string(&AlertEvent::new(&view.record, Some(view.sequence)))
        .unwrap_or_default();
    Event::default()
        .event("alert")
        .id(view.sequence.to_string())
        .data(json)
}

/// What happened to a client in a tick.
enum Delivery {
    Kept,
    Gone,
    Dropped(&'static str),
}

impl Hub {
    /// Hands every client the events it is owed, as far as its queue takes them (the hub task
    /// calls this every 50 ms). A client that has fallen out of the log, or whose queue stayed
    /// full for [`SLOW_FOR`], is dropped.
    pub fn tick(&self, log: &AlertLog, connected: &Gauge, dropped_total: &Counter) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        let Some(first) = clients.iter().map(|c| c.next).min() else {
            connected.set(0);
            return;
        };
        let (views, oldest) = log.since(first.saturating_sub(1));
        let events: Vec<Event> = views.iter().map(|v| event(v)).collect();
        let base = views.first().map_or(oldest, |v| v.sequence);
        let now = Instant::now();
        let mut dropped = 0u64;
        clients.retain_mut(|client| match deliver(client, &events, base, oldest, now) {
            Delivery::Kept => true,
            Delivery::Gone => false,
            Delivery::Dropped(why) => {
                if let Some(Hangup(notify)) = &client.hangup {
                    notify.notify_one();
                }
                tracing::info!(why, "an alert-stream client was dropped");
                dropped += 1;
                false
            }
        });
        if dropped > 0 {
            dropped_total.inc_by(dropped);
        }
        connected.set(clients.len() as i64);
    }

    /// Registers a client owed the events after `since` (None: only new ones), telling it
    /// with a `reset` event first when those are no longer (or never were) in the log.
    fn join(
        &self,
        log: &AlertLog,
        since: Option<u64>,
        hangup: Option<Hangup>,
    ) -> mpsc::Receiver<Event> {
        let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
        let newest = log.newest();
        let (_, oldest) = log.since(newest);
        let next = match since {
            None => newest + 1,
            Some(since) if since <= newest && since + 1 >= oldest.min(newest + 1) => since + 1,
            Some(since) => {
                let kept = log.since(0).0.first().map(|v| v.sequence);
                let reset =
                    serde_json::json!({"requested": since, "oldest": kept, "newest": newest});
                let _ = queue.try_send(Event::default().event("reset").data(reset.to_string()));
                kept.unwrap_or(newest + 1)
            }
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.push(Client {
            queue,
            hangup,
            next,
            full_since: None,
        });
        receiver
    }
}

/// Sends `client` what it is owed of `events` (sequences from `base`).
fn deliver(
    client: &mut Client,
    events: &[Event],
    base: u64,
    oldest: u64,
    now: Instant,
) -> Delivery {
    if client.queue.is_closed() {
        return Delivery::Gone;
    }
    if client.next < oldest {
        return Delivery::Dropped("fell behind the alert log");
    }
    let start = (client.next - base) as usize;
    for event in events.iter().skip(start) {
        match client.queue.try_send(event.clone()) {
            Ok(()) => client.next += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => return Delivery::Gone,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let since = *client.full_since.get_or_insert(now);
                if now.duration_since(since) >= SLOW_FOR {
                    return Delivery::Dropped("its queue stayed full");
                }
                return Delivery::Kept;
            }
        }
    }
    client.full_since = None;
    Delivery::Kept
}

/// Runs the hub until the server stops.
pub async fn run_hub(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let metrics = &shared.metrics;
        (shared.hub).tick(
            &shared.run.alerts,
            &metrics.sse_clients,
            &metrics.sse_dropped,
        );
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
    let hangup = hangup.map(|axum::Extension(h)| h);
    let receiver = shared.hub.join(&shared.run.alerts, since, hangup);
    let events = stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<Event, Infallible>(event), receiver))
    });
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("heartbeat");
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::tables::AlertRecord;

    fn record(n: i64) -> AlertRecord {
        AlertRecord {
            alert_id: format!("velocity/E/{n}"),
            kind: "fired".into(),
            entity_id: "E".into(),
            entity_name: "E".into(),
            window_start_ms: n,
            window_end_ms: n + 1,
            mentions: n,
            authors: 1,
            baseline_mean: 0.0,
            baseline_std: 0.0,
            z: 1.0,
            ratio: 1.0,
            sentiment_mean: 0.0,
            as_of_ms: n,
            emitted_at_ms: n,
            provisional: false,
        }
    }

    fn drain(receiver: &mut mpsc::Receiver<Event>) -> usize {
        let mut n = 0;
        while receiver.try_recv().is_ok() {
            n += 1;
        }
        n
    }

    /// A reader that keeps up gets every event, in bursts larger than its queue; one that
    /// does not read is dropped (and hung up on) once its queue stayed full for SLOW_FOR;
    /// a reader asking for ids that left the log gets a reset first.
    #[test]
    fn readers_get_everything_and_a_stalled_one_is_dropped() {
        let (log, hub) = (AlertLog::new(2000), Hub::default());
        let (connected, dropped) = (Gauge::default(), Counter::default());
        let mut reader = hub.join(&log, None, None);
        let hangup = Hangup::default();
        let _stalled = hub.join(&log, None, Some(hangup.clone()));
        let mut got = 0;
        for n in 0..1000 {
            log.push(record(n));
        }
        // 1000 events, a queue of 256: the reader drains between ticks.
        for _ in 0..10 {
            hub.tick(&log, &connected, &dropped);
            got += drain(&mut reader);
        }
        assert_eq!(got, 1000, "the reader got every event");
        assert_eq!(
            connected.get(),
            2,
            "the stalled client is not dropped at once"
        );
        assert_eq!(dropped.get(), 0);
        std::thread::sleep(SLOW_FOR + Duration::from_millis(50));
        hub.tick(&log, &connected, &dropped);
        assert_eq!(
            (connected.get(), dropped.get()),
            (1, 1),
            "then it is dropped"
        );
        use futures_util::FutureExt;
        let hung_up = hangup.0.notified().now_or_never().is_some();
        assert!(hung_up, "its connection is closed");
        // Resuming after an id the log no longer has: a reset, then what it has.
        for n in 0..1500 {
            log.push(record(n));
        }
        let mut late = hub.join(&log, Some(3), None);
        let first = late.try_recv().expect("a reset event first");
        assert!(format!("{first:?}").contains("reset"), "{first:?}");
        let mut resumed = hub.join(&log, Some(2400), None);
        hub.tick(&log, &connected, &dropped);
        assert_eq!(
            drain(&mut late),
            CLIENT_QUEUE,
            "from the oldest kept, a queue's worth"
        );
        assert_eq!(drain(&mut resumed), 100, "the events after 2400");
        let mut ahead = hub.join(&log, Some(99_999), None);
        assert!(format!("{:?}", ahead.try_recv().unwrap()).contains("reset"));
    }
}
