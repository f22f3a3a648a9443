//! The lake side of a run: open the lake and pick the snapshot to resume from, restore it into
//! the graph, and publish snapshots once the graph has finished their epoch (worker 0).

use super::driver::{advance, finish_before, RunControl};
use crate::connectors::file::InputSpec;
use crate::connectors::{SourceTable, RESTORED};
use crate::lake::writer::{LakeShared, RestorePlan};
use crate::lake::{Lake, Snapshot, Sources};
use crate::settings::{LakeSettings, RunSettings};
use anyhow::{anyhow, Result};
use dataflows::model::{Position, Positioned};
use dataflows::velocity::TableState;
use dataflows::{Control, Graph};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lake side of a run: the writer, and the snapshot to resume from.
#[derive(Clone)]
pub struct LakeRun {
    pub shared: Arc<LakeShared>,
    pub plan: Option<Arc<RestorePlan>>,
    pub interval: Duration,
    pub next_id: u64,
}

/// Opens the lake and finds the snapshot to resume from; checks that it fits this run.
pub fn open_lake(
    settings: &RunSettings,
    lake: &LakeSettings,
) -> Result<LakeRun, crate::error::Error> {
    let usage = crate::error::Error::Usage;
    let opened = match &settings.cluster {
        // Process 0 of a cluster writes the lake; the others stage their parts in it (a
        // directory all processes share) and wait for process 0 to create it.
        Some(cluster) if cluster.process != 0 => {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match Lake::open_existing(&lake.root) {
                    Ok(lake) => break lake,
                    Err(error) if Instant::now() > deadline => return Err(usage(error)),
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        _ => Lake::open_or_create(&lake.root).map_err(usage)?,
    };
    let next_id = opened.snapshot_ids()?.last().map_or(1, |id| id + 1);
    // A snapshot of a newer lake schema stops the run (exit 2) before anything is pruned.
    let plan = match opened.newest_valid().map_err(usage)? {
        None => None,
        Some(snapshot) => {
            let state: crate::lake::SavedState = snapshot.state()?;
            if state.params != settings.params {
                return Err(usage(anyhow!(
                    "the lake {} was written with other windows/alerts/extract settings than this run's: resume with the config that wrote it, or use a new --lake directory",
                    lake.root.display()
                )));
            }
            let recorded: Vec<&str> = snapshot
                .manifest
                .sources
                .files()
                .iter()
                .map(|f| f.input.as_str())
                .collect();
            let given: Vec<String> = settings.inputs.iter().map(InputSpec::name).collect();
            // The same inputs in the same order; more may be appended (they are read after).
            let same = |a: &str, b: &str| {
                a == b
                    || matches!(
                        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                        (Ok(x), Ok(y)) if x == y
                    )
            };
            let matches = recorded.len() <= given.len()
                && recorded.iter().zip(&given).all(|(a, b)| same(a, b));
            if !matches {
                return Err(usage(anyhow!(
                    "the lake {} was written from the inputs {:?}, this run reads {:?}: resume with the same inputs in the same order (new ones may follow them), or use a new --lake directory",
                    lake.root.display(),
                    recorded,
                    given
                )));
            }
            // A crash between publishing a snapshot and moving `current` leaves `current`
            // one behind: the writer (process 0 of a cluster) repairs it.
            if settings.cluster.as_ref().is_none_or(|c| c.process == 0) {
                opened.point_current(snapshot.manifest.id)?;
            }
            Some(Arc::new(RestorePlan { snapshot, state }))
        }
    };
    let table = source_table(settings);
    let provenance: crate::lake::writer::ProvenanceFn =
        Arc::new(move |source, offset| table.provenance(Position { source, offset }).to_string());
    let shared = Arc::new(LakeShared::new(
        opened,
        lake.keep,
        settings.params.clone(),
        provenance,
    ));
    Ok(LakeRun {
        shared,
        plan,
        interval: lake.interval,
        next_id,
    })
}

/// A snapshot requested and not yet published.
struct PendingSnapshot {
    id: u64,
    epoch: u64,
    sources: Sources,
}

/// Worker 0's snapshot bookkeeping.
pub struct Snapshots {
    pending: std::collections::VecDeque<PendingSnapshot>,
    pub previous: Option<Snapshot>,
    pub full_rewrite_from: Option<i64>,
    pub published: u64,
    pub last: Option<crate::lake::Manifest>,
    pub error: Option<anyhow::Error>,
    /// Published since [`Snapshots::take_published`] was last called.
    fresh: Option<crate::lake::Manifest>,
}

impl Snapshots {
    pub fn new(plan: Option<&RestorePlan>, peers: usize) -> Snapshots {
        Snapshots {
            pending: Default::default(),
            previous: plan.map(|p| p.snapshot.clone()),
            full_rewrite_from: plan
                .filter(|p| p.rewrites_open_days(peers))
                .map(|p| p.first_open_day()),
            published: 0,
            last: None,
            error: None,
            fresh: None,
        }
    }

    /// The newest snapshot published since the last call, if any.
    pub fn take_published(&mut self) -> Option<crate::lake::Manifest> {
        self.fresh.take()
    }

    /// Whether a requested snapshot is not yet published.
    pub fn in_flight(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether a requested snapshot's epoch is finished (it can be published).
    pub fn ready(&self, graph: &Graph) -> bool {
        self.pending
            .front()
            .is_some_and(|next| !graph.probe.less_equal(&next.epoch))
    }

    /// Asks for snapshot `id` of epoch `epoch` (sent on the control input, still open at it),
    /// unless a snapshot already failed (the run is stopping with that error).
    pub fn request(&mut self, graph: &mut Graph, id: u64, epoch: u64, sources: Sources) {
        if self.error.is_some() {
            return;
        }
        graph.control.send(Control::Snapshot(id));
        self.pending
            .push_back(PendingSnapshot { id, epoch, sources });
    }

    /// Publishes every requested snapshot whose epoch the whole graph has finished.
    pub fn publish_ready(
        &mut self,
        graph: &Graph,
        lake: &LakeRun,
        peers: usize,
        stop: &AtomicBool,
    ) {
        while let Some(next) = self.pending.front() {
            if graph.probe.less_equal(&next.epoch) {
                break;
            }
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            if self.error.is_some() {
                continue;
            }
            let result = lake.shared.finalize(crate::lake::writer::Publish {
                id: next.id,
                frontier: next.epoch,
                sources: next.sources,
                workers: peers,
                previous: self.previous.as_ref(),
                full_rewrite_from: self.full_rewrite_from,
            });
            match result {
                Ok(manifest) => {
                    tracing::info!(
                        id = manifest.id,
                        frontier = manifest.frontier,
                        "snapshot published"
                    );
                    self.full_rewrite_from = None;
                    self.published += 1;
                    self.previous = Some(Snapshot {
                        dir: lake
                            .shared
                            .lake
                            .snapshots_dir()
                            .join(crate::lake::snapshot_name(manifest.id)),
                        manifest: manifest.clone(),
                    });
                    self.fresh = Some(manifest.clone());
                    self.last = Some(manifest);
                }
                Err(error) => {
                    crate::logging::fail("snapshot", &format!("{error:#}"));
                    // Stop at the next epoch boundary; the run fails with this error.
                    stop.store(true, Ordering::SeqCst);
                    self.error = Some(error);
                }
            }
        }
    }
}

/// Sends the comments of a snapshot back into the graph (this worker's share of its files).
pub fn restore_into(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    plan: &RestorePlan,
    index: usize,
    peers: usize,
) -> Result<()> {
    let state = &plan.state;
    graph.ingest.borrow_mut().restore(
        state.entity_ids.clone(),
        state.catalog.clone(),
        state.progress,
        state.clock.clone(),
        state.evict_cut_ms,
        plan.rewrites_open_days(peers),
    );
    let key_of: std::collections::HashMap<&str, u32> = state
        .entity_ids
        .iter()
        .enumerate()
        .map(|(key, id)| (id.as_str(), key as u32))
        .collect();
    if index == 0 {
        let key = |id: &String| key_of.get(id.as_str()).copied().unwrap_or(u32::MAX);
        graph.table.borrow_mut().restore_state(TableState {
            progress: state.progress,
            active: state
                .active
                .iter()
                .map(|(id, window, alert)| ((key(id), *window), alert.clone()))
                .collect(),
            pending: state.pending.iter().map(|(w, id)| (*w, key(id))).collect(),
            event_counts: state.event_counts,
            sealed_total: state.sealed_total,
        });
    }
    let epoch = plan.snapshot.manifest.frontier;
    graph.comments.advance_to(epoch);
    graph.control.advance_to(epoch);
    if index == 0 {
        // Every worker must process the restore epoch itself (republish the catalog's labels,
        // report progress), even one that restores no comment: a control message at it does,
        // and this one changes nothing.
        graph.control.send(Control::Tick);
    }
    let window_ms = plan.state.params.window_ms;
    let horizon = state.progress.horizon_ms;
    let mut offset = 0u64;
    for (n, path) in plan.comment_files().iter().enumerate() {
        if n % peers != index {
            continue;
        }
        crate::lake::live::for_each_comment(path, |mut restored| {
            let created = restored.comment.created_at_ms;
            let window = dataflows::floor_window(created, window_ms);
            let live = state.evict_cut_ms.is_none_or(|cut| window >= cut);
            if !live {
                let day = dataflows::enrich::day_of(created);
                if day.saturating_add(dataflows::enrich::DAY_MS) <= horizon {
                    return;
                }
                restored.evicted = true;
            }
            offset += 1;
            graph.comments.send(Positioned {
                position: Position {
                    source: RESTORED,
                    offset,
                },
                event: dataflows::model::CommentEvent::Restore(Box::new(restored)),
            });
            // Let the graph take what was sent, so the rows do not pile up in channels.
            if offset.is_multiple_of(16 * 1024) {
                graph.comments.flush();
                worker.step();
            }
        })?;
    }
    if index == 0 {
        crate::lake::crash_point("restore");
    }
    Ok(())
}

/// Restores a snapshot into the graph and waits until the graph has taken it.
pub fn resume_from(
    worker: &mut timely::worker::Worker,
    graph: &mut Graph,
    plan: &RestorePlan,
    peers: usize,
    control: &RunControl,
) -> Result<(), super::driver::WorkerError> {
    let index = worker.index();
    let started = Instant::now();
    restore_into(worker, graph, plan, index, peers)?;
    let read = started.elapsed();
    let resumed = plan.snapshot.manifest.frontier + 1;
    advance(worker, graph, resumed, control)?;
    finish_before(worker, graph, resumed, control)?;
    if !plan.rewrites_open_days(peers) {
        // The restore epoch re-derived the rows the snapshot already holds.
        if let Some(lake) = graph.table.borrow_mut().lake.as_mut() {
            lake.dirty_days.clear();
        }
    }
    tracing::info!(
        worker = index,
        read_seconds = read.as_secs_f64(),
        total_seconds = started.elapsed().as_secs_f64(),
        "restored"
    );
    if index == 0 {
        if let Ok(mut slot) = control.restore_time.lock() {
            *slot = Some(started.elapsed());
        }
    }
    Ok(())
}

/// The source table of a run: what its positions' source keys stand for.
pub fn source_table(settings: &RunSettings) -> SourceTable {
    match &settings.kafka {
        Some(kafka) => SourceTable::Kafka {
            catalog: kafka.entities_topic.clone(),
            topics: kafka.topics.clone(),
        },
        None => SourceTable::Files {
            catalog: settings.entities.as_ref().map(|p| p.display().to_string()),
            inputs: settings.inputs.iter().map(InputSpec::name).collect(),
        },
    }
}
