//! Upsert by comment id, as-of mention tagging, NLP, event-time progress and retention.
//!
//! [`ingest`] is a timely operator. Its comment input is exchanged by comment id, so each worker
//! owns a disjoint set of ids and keeps their live versions; its control input (catalog changes
//! and per-batch event-time reports) is broadcast, so every worker holds the same catalog and
//! computes the same watermark. It processes an epoch only when both inputs have passed it:
//! first the epoch's catalog changes (in position order), then its comment events (in position
//! order, which is arrival order for any one id). Its output is a stream of [`IngestOut`]:
//! mention updates (retractions of the replaced version, insertions of the new one), catalog
//! label updates (worker 0 only), refusals (dead letters) and one [`Progress`] per epoch it
//! processed (identical on every worker).

use crate::event_time::EventClock;
use crate::extract::language;
use crate::extract::{analyse, Matcher, MatcherCache, Scratch, TextFacts};
use crate::model::{
    Comment, CommentEvent, Entity, EntityEvent, EntityKey, EntityLabel, Position, Positioned,
    Progress, Refusal, RefusalReason, RestoredComment, Time,
};
use crate::stash::{self, Stash};
use crate::{floor_window, format_rfc3339_ms, Params};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::StreamVec;

/// Key of the mentions collection: (entity, window start ms).
pub type MentionKey = (EntityKey, i64);
/// Value of the mentions collection: (author hash, 0 for none; sentiment in 1e-4 units).
pub type MentionVal = (u64, i32);

/// Broadcast control input of the ingest operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// A catalog change.
    Entity(Positioned<EntityEvent>),
    /// The newest `created_at` of one source in one batch of comment events read by some
    /// worker (see [`crate::event_time`]).
    EventTime { source: u32, at_ms: i64 },
    /// The source is idle, or at its end, as of this epoch: left out of the event-time
    /// minimum until its next event time. Sent by the worker that reads it.
    SourceIdle(u32),
    /// The source has records waiting and none read yet: it holds the event-time minimum
    /// back until it reports a time (a Kafka partition with a backlog at assignment).
    SourcePending(u32),
    /// Nothing; makes every worker process its epoch (the restore epoch).
    Tick,
    /// End of a bounded input: the watermark moves past the window of the newest event, so
    /// every window seen so far is final (like Flink's final watermark), without moving time
    /// beyond the data.
    Flush,
    /// Take a snapshot (this id) of the state as of the end of this epoch: every worker's
    /// ingest hook and the table hook run for it (see [`crate::Hooks`]).
    Snapshot(u64),
}

/// Everything the ingest operator produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IngestOut {
    Mention(((MentionKey, MentionVal), Time, isize)),
    Label(((EntityKey, EntityLabel), Time, isize)),
    Refusal(Refusal),
    Progress(Progress),
}

impl IngestOut {
    /// Route for `partition`: 0 mentions, 1 labels, 2 refusals, 3 progress.
    pub fn route(&self) -> u64 {
        match self {
            IngestOut::Mention(_) => 0,
            IngestOut::Label(_) => 1,
            IngestOut::Refusal(_) => 2,
            IngestOut::Progress(_) => 3,
        }
    }
}

/// A live comment with what was derived from it when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveComment {
    pub comment: Comment,
    pub facts: TextFacts,
    pub author_hash: u64,
}

/// The live comments one worker owns, and the catalog every worker shares; readable by the
/// runtime between steps (for snapshots and metrics).
#[derive(Debug, Default)]
pub struct IngestState {
    /// Boxed: the map rehashes as it grows, and moving 24-byte entries beats moving 300-byte
    /// comments (a profile showed 12% of run time in rehashing).
    /// aHash: as DoS-resistant as the default SipHash (ids are user input) and several times
    /// faster on short keys (restoring 2M comments spent 6% of its time hashing).
    pub comments: HashMap<Arc<str>, Box<LiveComment>, ahash::RandomState>,
    /// Comment ids by the window of their `created_at`, for eviction (entries may be stale).
    by_window: BTreeMap<i64, Vec<Arc<str>>>,
    /// Current catalog by id.
    pub catalog: BTreeMap<String, Entity>,
    /// Dense keys, assigned in catalog arrival order, never reused.
    pub entity_keys: HashMap<String, EntityKey>,
    /// Entity ids by dense key.
    pub entity_ids: Vec<String>,
    pub progress: Progress,
    /// Event time per source, from which the watermark follows.
    pub clock: EventClock,
    pub counters: IngestCounters,
    /// The last eviction cut (window start): live comments are all at or after it.
    pub evict_cut_ms: Option<i64>,
    /// What the lake needs between snapshots (None when no lake is written).
    pub lake: Option<LakeTracking>,
    /// Set by [`IngestState::restore`]: the next epoch republishes the catalog's labels.
    restore_labels: bool,
    /// Whether restored comments mark their (open) days for rewriting.
    restore_rewrites: bool,
}

/// Milliseconds in a day: lake partitions are UTC days.
pub use calendar::DAY_MS;

/// Start of the UTC day that contains `at_ms`.
pub fn day_of(at_ms: i64) -> i64 {
    floor_window(at_ms, DAY_MS)
}

/// What one worker tracks for the lake between snapshots.
#[derive(Debug, Default)]
pub struct LakeTracking {
    /// Days (by `created_at`) whose comments changed since the last snapshot.
    pub dirty_days: BTreeSet<i64>,
    /// Comments evicted from live state whose day may still be rewritten (it is open, or it
    /// changed since the last snapshot): a rewrite of that day's partition needs them.
    pub evicted: BTreeMap<i64, Vec<Box<LiveComment>>>,
    /// Refusals since the last snapshot (the hook takes them).
    pub refusals: Vec<Refusal>,
}

/// Called on every worker at the end of an epoch that carries a snapshot request, with the
/// state as of that epoch. After it returns, the dirty days are cleared and evicted comments of
/// sealed days dropped.
pub type IngestHook = Box<dyn FnMut(&mut IngestState, Progress)>;

/// Counters of what the operator did, for the summary line and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestCounters {
    pub inserts: u64,
    pub edits: u64,
    pub deletes: u64,
    /// Deletes of ids that are not live (never seen, already deleted, or evicted).
    pub deletes_unknown: u64,
    pub refused: u64,
    pub evicted: u64,
    pub catalog_changes: u64,
    /// Comments restored from a snapshot.
    pub restored: u64,
}

/// A stable 64-bit hash of an author name (FNV-1a); 0 is reserved for "no author".
pub fn author_hash(author: Option<&str>) -> u64 {
    let Some(author) = author else { return 0 };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in author.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}

/// A stable hash of a comment id, used to route it to its owning worker.
pub fn id_route(id: &str) -> u64 {
    // Same function on every process; spreads short ids well enough for load balance.
    author_hash(Some(id))
}

impl IngestState {
    /// Installs a snapshot's catalog (with its dense keys, in their original order) and
    /// progress. Call before the first epoch; the comments come as [`CommentEvent::Restore`].
    /// With `rewrite_open_days` (the worker count changed, so the snapshot's per-worker files
    /// do not match this run's), restored comments mark their open days for the next snapshot.
    pub fn restore(
        &mut self,
        entity_ids: Vec<String>,
        catalog: Vec<Entity>,
        progress: Progress,
        clock: EventClock,
        evict_cut_ms: Option<i64>,
        rewrite_open_days: bool,
    ) {
        self.clock = clock;
        self.restore_rewrites = rewrite_open_days;
        self.entity_keys = entity_ids
            .iter()
            .enumerate()
            .map(|(key, id)| (id.clone(), key as EntityKey))
            .collect();
        self.entity_ids = entity_ids;
        for entity in catalog {
            self.key_for(&entity.id);
            self.catalog.insert(entity.id.clone(), entity);
        }
        self.progress = Progress {
            snapshot: None,
            ..progress
        };
        self.evict_cut_ms = evict_cut_ms;
        self.restore_labels = true;
    }

    fn mark_dirty(&mut self, created_at_ms: i64) {
        if let Some(lake) = self.lake.as_mut() {
            lake.dirty_days.insert(day_of(created_at_ms));
        }
    }

    fn label_of(entity: &Entity) -> EntityLabel {
        EntityLabel::new(entity.id.clone(), entity.name.clone(), entity.kind.clone())
    }

    fn key_for(&mut self, id: &str) -> EntityKey {
        if let Some(key) = self.entity_keys.get(id) {
            return *key;
        }
        let key = self.entity_ids.len() as EntityKey;
        self.entity_keys.insert(id.to_string(), key);
        self.entity_ids.push(id.to_string());
        key
    }

    fn build_matcher(&self, params: &Params) -> Matcher {
        Matcher::build(
            self.catalog
                .values()
                .map(|entity| (entity, self.entity_keys[&entity.id])),
            &params.extract,
        )
    }
}

fn emit_mentions(
    out: &mut Vec<IngestOut>,
    live: &LiveComment,
    window_ms: i64,
    time: Time,
    diff: isize,
) {
    let window = floor_window(live.comment.created_at_ms, window_ms);
    for key in &live.facts.entities {
        out.push(IngestOut::Mention((
            ((*key, window), (live.author_hash, live.facts.sentiment_e4)),
            time,
            diff,
        )));
    }
}

/// Builds the ingest operator. `state` is this worker's state, shared with the runtime.
pub fn ingest<'scope>(
    comments: StreamVec<'scope, Time, Positioned<CommentEvent>>,
    control: StreamVec<'scope, Time, Control>,
    params: Params,
    cache: MatcherCache,
    state: Rc<RefCell<IngestState>>,
    mut hook: Option<IngestHook>,
) -> StreamVec<'scope, Time, IngestOut> {
    let worker_index = comments.scope().index();
    comments.binary_frontier(
        control,
        Exchange::new(|event: &Positioned<CommentEvent>| id_route(event.event.id())),
        // Control is broadcast before it gets here; each worker reads its own copy.
        timely::dataflow::channels::pact::Pipeline,
        "Ingest",
        move |_capability, _info| {
            let mut comment_stash: Stash<Positioned<CommentEvent>> = BTreeMap::new();
            let mut control_stash: Stash<Control> = BTreeMap::new();
            let mut matcher = Arc::new(Matcher::empty());
            let mut scratch = Scratch::default();
            let mut buffer: Vec<IngestOut> = Vec::new();
            move |(input1, frontier1), (input2, frontier2), output| {
                let port = output.output_index();
                input1.for_each(|cap, data| {
                    let Some(capability) = cap.retain_least(port) else {
                        return;
                    };
                    // Restored comments have distinct ids and precomputed facts: nothing about
                    // them depends on order or on the rest of their epoch, so they go into the
                    // state as they arrive (a restore of millions needs no stash and no sort).
                    if data
                        .iter()
                        .any(|event| matches!(event.event, CommentEvent::Restore(_)))
                    {
                        let time = *capability.time();
                        let mut state = state.borrow_mut();
                        let horizon = state.progress.horizon_ms;
                        let mut rest = Vec::new();
                        for event in data.drain(..) {
                            match event.event {
                                CommentEvent::Restore(restored) => restore_comment(
                                    &mut state,
                                    &mut buffer,
                                    *restored,
                                    params.window_ms,
                                    time,
                                    horizon,
                                ),
                                _ => rest.push(event),
                            }
                        }
                        *data = rest;
                        if !buffer.is_empty() {
                            output.session(&capability).give_iterator(buffer.drain(..));
                        }
                    }
                    if !data.is_empty() {
                        stash::push_at(&mut comment_stash, capability, data);
                    }
                });
                input2.for_each(|cap, data| stash::push(&mut control_stash, cap, port, data));
                // Every time either input holds data for, processed in time order once both
                // frontiers have passed it.
                let pending =
                    |time: &Time| frontier1.less_equal(time) || frontier2.less_equal(time);
                while let Some((capability, time, events, controls)) =
                    stash::take_ready(&mut comment_stash, &mut control_stash, pending)
                {
                    let mut state = state.borrow_mut();
                    process_epoch(
                        &mut state,
                        &params,
                        &cache,
                        &mut matcher,
                        &mut scratch,
                        worker_index,
                        time,
                        controls,
                        events,
                        &mut buffer,
                        &mut hook,
                    );
                    output.session(&capability).give_iterator(buffer.drain(..));
                }
            }
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn process_epoch(
    state: &mut IngestState,
    params: &Params,
    cache: &MatcherCache,
    matcher: &mut Arc<Matcher>,
    scratch: &mut Scratch,
    worker_index: usize,
    time: Time,
    controls: Vec<Control>,
    mut events: Vec<Positioned<CommentEvent>>,
    out: &mut Vec<IngestOut>,
    hook: &mut Option<IngestHook>,
) {
    let previous = state.progress;
    // 1. Eviction of what the previous epoch sealed.
    if previous.horizon_ms > i64::MIN {
        evict(state, params, previous, time, out);
    }
    // 2. Event time and catalog changes.
    let EpochControls {
        flush,
        snapshot,
        entity_events,
    } = take_controls(state, controls);
    apply_catalog(
        state,
        params,
        cache,
        matcher,
        worker_index,
        time,
        entity_events,
        out,
    );
    // 3. Comment events in arrival order. Changes older than the previous epoch's horizon are
    // refused: their windows are sealed.
    let horizon = previous.horizon_ms;
    events.sort_by_key(|event| event.position);
    let mut apply = Apply {
        params,
        matcher,
        scratch,
        time,
        horizon,
    };
    for Positioned { position, event } in events {
        match event {
            CommentEvent::Upsert(comment) => {
                apply_upsert(state, &mut apply, position, comment, out)
            }
            CommentEvent::Delete { id, deleted_at_ms } => {
                apply_delete(state, &apply, position, (id, deleted_at_ms), out)
            }
            CommentEvent::Restore(restored) => {
                // Normally applied on arrival (see `ingest`); kept here for completeness.
                restore_comment(state, out, *restored, params.window_ms, time, horizon);
            }
        }
    }
    // 4. Event-time progress.
    finish_epoch(
        state,
        params,
        (previous, time),
        (flush, snapshot),
        out,
        hook,
    );
}

/// Evicts what the previous epoch sealed, keeping K windows of history below the sealed line
/// so that the baselines of windows still live do not change.
fn evict(
    state: &mut IngestState,
    params: &Params,
    previous: Progress,
    time: Time,
    out: &mut Vec<IngestOut>,
) {
    let window_ms = params.window_ms;
    if previous.horizon_ms > i64::MIN {
        let cut = floor_window(previous.horizon_ms, window_ms)
            .saturating_sub(window_ms.saturating_mul(i64::from(params.baseline_windows)));
        state.evict_cut_ms = Some(state.evict_cut_ms.map_or(cut, |c| c.max(cut)));
        while let Some(entry) = state.by_window.first_entry() {
            if *entry.key() >= cut {
                break;
            }
            let (window, ids) = entry.remove_entry();
            for id in ids {
                let still_there = state.comments.get(&id).is_some_and(|live| {
                    floor_window(live.comment.created_at_ms, window_ms) == window
                });
                if still_there {
                    if let Some(live) = state.comments.remove(&id) {
                        emit_mentions(out, &live, window_ms, time, -1);
                        state.counters.evicted += 1;
                        let day = day_of(live.comment.created_at_ms);
                        if let Some(lake) = state.lake.as_mut() {
                            // Kept while the day may still be rewritten: it is open, or it
                            // changed since the last snapshot (which has not written it yet).
                            if day.saturating_add(DAY_MS) > previous.horizon_ms
                                || lake.dirty_days.contains(&day)
                            {
                                lake.evicted.entry(day).or_default().push(live);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What an epoch's control events ask for, once the event-time marks are applied.
struct EpochControls {
    flush: bool,
    snapshot: Option<u64>,
    entity_events: Vec<Positioned<EntityEvent>>,
}

/// Applies the epoch's event times and source marks to the clock and sorts out the rest.
fn take_controls(state: &mut IngestState, controls: Vec<Control>) -> EpochControls {
    let mut flush = false;
    let mut entity_events = Vec::new();
    let mut snapshot = None;
    let (mut idle, mut pending) = (Vec::new(), Vec::new());
    for control in controls {
        match control {
            Control::EventTime { source, at_ms } => state.clock.observe(source, at_ms),
            Control::SourceIdle(source) => idle.push(source),
            Control::SourcePending(source) => pending.push(source),
            Control::Flush => flush = true,
            Control::Entity(event) => entity_events.push(event),
            Control::Snapshot(id) => snapshot = Some(id),
            Control::Tick => {}
        }
    }
    // Marks apply after the epoch's event times (a file read to its end in this epoch is
    // idle from now on, its last lines counted), in an order independent of arrival.
    pending.sort_unstable();
    idle.sort_unstable();
    for source in pending {
        state.clock.pending(source);
    }
    for source in idle {
        state.clock.idle(source);
    }
    EpochControls {
        flush,
        snapshot,
        entity_events,
    }
}

/// The epoch's catalog changes, in position order (label updates on worker 0), then one
/// matcher for the new catalog.
#[allow(clippy::too_many_arguments)]
fn apply_catalog(
    state: &mut IngestState,
    params: &Params,
    cache: &MatcherCache,
    matcher: &mut Arc<Matcher>,
    worker_index: usize,
    time: Time,
    mut entity_events: Vec<Positioned<EntityEvent>>,
    out: &mut Vec<IngestOut>,
) {
    let mut catalog_changed = false;
    if std::mem::take(&mut state.restore_labels) {
        catalog_changed = true;
        if worker_index == 0 {
            for entity in state.catalog.values() {
                let key = state.entity_keys[&entity.id];
                out.push(IngestOut::Label((
                    (key, IngestState::label_of(entity)),
                    time,
                    1,
                )));
            }
        }
    }
    entity_events.sort_by_key(|event| event.position);
    for Positioned { event, .. } in entity_events {
        catalog_changed = true;
        state.counters.catalog_changes += 1;
        match event {
            EntityEvent::Upsert(entity) => {
                let key = state.key_for(&entity.id);
                let label = IngestState::label_of(&entity);
                if let Some(old) = state.catalog.insert(entity.id.clone(), entity) {
                    if worker_index == 0 {
                        out.push(IngestOut::Label((
                            (key, IngestState::label_of(&old)),
                            time,
                            -1,
                        )));
                    }
                }
                if worker_index == 0 {
                    out.push(IngestOut::Label(((key, label), time, 1)));
                }
            }
            EntityEvent::Delete { id } => {
                if let Some(old) = state.catalog.remove(&id) {
                    let key = state.key_for(&id);
                    if worker_index == 0 {
                        out.push(IngestOut::Label((
                            (key, IngestState::label_of(&old)),
                            time,
                            -1,
                        )));
                    }
                }
            }
        }
    }

    if catalog_changed {
        *matcher = cache.get_or_build(time, || state.build_matcher(params));
    }
}

/// What applying one comment event needs besides the state.
struct Apply<'a> {
    params: &'a Params,
    matcher: &'a Matcher,
    scratch: &'a mut Scratch,
    time: Time,
    /// The previous epoch's horizon: changes older than it are refused.
    horizon: i64,
}

/// An upsert: refused when it touches a sealed window, else inserted or replacing its
/// previous version (retracting that version's mentions).
fn apply_upsert(
    state: &mut IngestState,
    apply: &mut Apply<'_>,
    position: Position,
    comment: Comment,
    out: &mut Vec<IngestOut>,
) {
    let (horizon, time, window_ms) = (apply.horizon, apply.time, apply.params.window_ms);
    let change_at = comment
        .edited_at_ms
        .unwrap_or_else(|| state.clock.change_time(position.source));
    let existing = state.comments.get(comment.id.as_str());
    let refusal = if comment.created_at_ms < horizon {
        Some(("created_at", comment.created_at_ms))
    } else if change_at < horizon {
        Some(("edited_at", change_at))
    } else {
        existing
            .filter(|live| live.comment.created_at_ms < horizon)
            .map(|live| ("created_at of the live version", live.comment.created_at_ms))
    };
    if let Some((field, at)) = refusal {
        refuse(
            state,
            out,
            position,
            horizon,
            field,
            at,
            CommentEvent::Upsert(comment),
        );
        return;
    }
    let facts = analyse(apply.matcher, &comment.text, apply.scratch);
    state.mark_dirty(comment.created_at_ms);
    let author_hash = author_hash(comment.author.as_deref());
    let window = floor_window(comment.created_at_ms, window_ms);
    let id: Arc<str> = Arc::from(comment.id.as_str());
    let live = Box::new(LiveComment {
        comment,
        facts,
        author_hash,
    });
    emit_mentions(out, &live, window_ms, time, 1);
    match state.comments.insert(id.clone(), live) {
        Some(old) => {
            state.counters.edits += 1;
            emit_mentions(out, &old, window_ms, time, -1);
            state.mark_dirty(old.comment.created_at_ms);
            if floor_window(old.comment.created_at_ms, window_ms) != window {
                state.by_window.entry(window).or_default().push(id);
            }
        }
        None => {
            state.counters.inserts += 1;
            state.by_window.entry(window).or_default().push(id);
        }
    }
}

/// A delete: refused when it touches a sealed window, else it retracts the live version.
fn apply_delete(
    state: &mut IngestState,
    apply: &Apply<'_>,
    position: Position,
    (id, deleted_at_ms): (String, Option<i64>),
    out: &mut Vec<IngestOut>,
) {
    let (horizon, time, window_ms) = (apply.horizon, apply.time, apply.params.window_ms);
    let change_at = deleted_at_ms.unwrap_or_else(|| state.clock.change_time(position.source));
    let existing = state.comments.get(id.as_str());
    let refusal = if change_at < horizon {
        Some(("deleted_at", change_at))
    } else {
        existing
            .filter(|live| live.comment.created_at_ms < horizon)
            .map(|live| ("created_at of the live version", live.comment.created_at_ms))
    };
    if let Some((field, at)) = refusal {
        let event = CommentEvent::Delete { id, deleted_at_ms };
        refuse(state, out, position, horizon, field, at, event);
        return;
    }
    match state.comments.remove(id.as_str()) {
        Some(old) => {
            state.counters.deletes += 1;
            emit_mentions(out, &old, window_ms, time, -1);
            state.mark_dirty(old.comment.created_at_ms);
        }
        None => state.counters.deletes_unknown += 1,
    }
}

/// Event-time progress after an epoch: the watermark trails the minimum over the active
/// sources (it stays where it is while every source is idle); a snapshot's hook runs here.
fn finish_epoch(
    state: &mut IngestState,
    params: &Params,
    (previous, time): (Progress, Time),
    controls: (bool, Option<u64>),
    out: &mut Vec<IngestOut>,
    hook: &mut Option<IngestHook>,
) {
    let (flush, snapshot) = controls;
    let window_ms = params.window_ms;
    let max_event_ms = previous.max_event_ms.max(state.clock.newest());
    let mut watermark_ms = state
        .clock
        .current()
        .map_or(i64::MIN, |at| at.saturating_sub(params.allowed_lateness_ms));
    if flush && max_event_ms > i64::MIN {
        watermark_ms = watermark_ms.max(floor_window(max_event_ms, window_ms) + window_ms);
    }
    // The watermark never moves back (a flush followed by more input keeps it).
    watermark_ms = watermark_ms.max(previous.watermark_ms);
    let progress = Progress {
        time,
        max_event_ms,
        watermark_ms,
        horizon_ms: watermark_ms.saturating_sub(params.retention_ms),
        snapshot,
    };
    state.progress = progress;
    if snapshot.is_some() {
        if let Some(hook) = hook.as_mut() {
            hook(state, progress);
        }
        if let Some(lake) = state.lake.as_mut() {
            lake.dirty_days.clear();
            lake.refusals.clear();
            lake.evicted
                .retain(|day, _| day.saturating_add(DAY_MS) > progress.horizon_ms);
        }
    }
    // Every worker that processed this epoch reports it: an epoch in which worker 0 had
    // nothing to do (say, one delete owned by worker 1) must still reach the table.
    out.push(IngestOut::Progress(progress));
}

fn refuse(
    state: &mut IngestState,
    out: &mut Vec<IngestOut>,
    position: Position,
    horizon: i64,
    field: &str,
    at: i64,
    event: CommentEvent,
) {
    state.counters.refused += 1;
    let refusal = Refusal {
        position,
        reason: RefusalReason::BeyondRetention,
        detail: format!(
            "{field} {} is before the retention horizon {}",
            format_rfc3339_ms(at),
            format_rfc3339_ms(horizon)
        ),
        event,
    };
    if let Some(lake) = state.lake.as_mut() {
        lake.refusals.push(refusal.clone());
    }
    out.push(IngestOut::Refusal(refusal));
}

/// Puts a comment from a snapshot back, with its recorded enrichment. Entities that left the
/// catalog keep their keys (keys are never reused), so mentions come back exactly.
fn restore_comment(
    state: &mut IngestState,
    out: &mut Vec<IngestOut>,
    restored: RestoredComment,
    window_ms: i64,
    time: Time,
    horizon: i64,
) {
    let RestoredComment {
        comment,
        entity_ids,
        sentiment_e4,
        language,
        evicted,
    } = restored;
    let entities = entity_ids.iter().map(|id| state.key_for(id)).collect();
    let facts = TextFacts {
        entities,
        sentiment_e4,
        language: language.and_then(|(code, bits)| {
            language::known_code(&code).map(|code| language::Language {
                code,
                confidence: f32::from_bits(bits),
            })
        }),
    };
    let day = day_of(comment.created_at_ms);
    let open = day.saturating_add(DAY_MS) > horizon;
    let live = Box::new(LiveComment {
        author_hash: author_hash(comment.author.as_deref()),
        comment,
        facts,
    });
    state.counters.restored += 1;
    let rewrite = state.restore_rewrites;
    if let Some(lake) = state.lake.as_mut() {
        if open && rewrite {
            lake.dirty_days.insert(day);
        }
        if evicted {
            if open {
                lake.evicted.entry(day).or_default().push(live);
            }
            return;
        }
    } else if evicted {
        return;
    }
    let window = floor_window(live.comment.created_at_ms, window_ms);
    emit_mentions(out, &live, window_ms, time, 1);
    let id: Arc<str> = Arc::from(live.comment.id.as_str());
    state.by_window.entry(window).or_default().push(id.clone());
    state.comments.insert(id, live);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_hash_is_stable_and_reserves_zero() {
        assert_eq!(author_hash(None), 0);
        assert_ne!(author_hash(Some("")), 0);
        assert_eq!(author_hash(Some("someuser")), author_hash(Some("someuser")));
        assert_ne!(author_hash(Some("a")), author_hash(Some("b")));
        // FNV-1a test vector: "a" -> 0xaf63dc4c8601ec8c.
        assert_eq!(author_hash(Some("a")), 0xaf63_dc4c_8601_ec8c);
    }
}
