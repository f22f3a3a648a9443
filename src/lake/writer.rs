//! Writing snapshots while the dataflow runs.
//!
//! A snapshot of epoch T is requested by sending `Control::Snapshot(id)` at T. Every worker's
//! ingest hook then writes its share of the `comments` and `mentions` partitions (the days
//! whose comments changed since the last snapshot) into the staging directory; worker 0's table
//! hook writes the changed `entity_windows` and `alerts` partitions. Both run inside the
//! operators at the end of epoch T, so they see exactly the state as of T. When the probe
//! passes T, worker 0 [`LakeShared::finalize`]s: dead letters, `state.json`, hard links for
//! every unchanged file of the previous snapshot, the manifest, fsync, rename, pointer swap.

use super::tables::{self, AlertRecord, DeadLetterRecord, FileEntry, WindowRecord};
use super::{crash_point, day_name, day_of_path, snapshot_name, sync_dir, Lake, Manifest};
use super::{KafkaPosition, SavedState, Snapshot, Sources, TableSummary};
use anyhow::{anyhow, Context, Result};
use dataflows::enrich::{day_of, IngestHook, IngestState, LiveComment, DAY_MS};
use dataflows::model::{Entity, EntityKey, Progress};
use dataflows::velocity::{TableHook, TableState, WindowTable};
use dataflows::Params;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What one worker's hooks staged for a snapshot. Written beside the parts as
/// `.staged/ingest-{worker}.json` (and `.staged/table.json` by the table hook), so that a
/// worker in another process of a cluster hands its share to worker 0 through the lake's
/// (shared) directory; [`LakeShared::finalize`] reads and removes them.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WorkerStage {
    files: Vec<FileEntry>,
    /// (table, day, file name or "*"): previous files these replace.
    rewritten: Vec<(String, i64, String)>,
    /// From worker 0: the catalog and event time (the same on every worker).
    ingest: Option<CatalogStage>,
    table: Option<TableState>,
    /// How long the hook took.
    hook_seconds: f64,
    /// The worker's Kafka positions as of the snapshot's epoch.
    kafka: Vec<KafkaPosition>,
    /// A hook failure: the snapshot fails with it.
    error: Option<String>,
}

/// Worker 0's share of `state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct CatalogStage {
    /// Entity ids by dense key.
    entity_ids: Vec<String>,
    catalog: Vec<Entity>,
    evict_cut_ms: Option<i64>,
    clock: dataflows::event_time::EventClock,
}

#[derive(Default)]
struct Inner {
    /// Dead letters of decoding by worker, with the epoch of their input record.
    dead_letters: BTreeMap<usize, Vec<(u64, DeadLetterRecord)>>,
    /// About how much memory `dead_letters` holds.
    dead_letter_bytes: usize,
}

/// About how much memory a held dead letter takes.
fn held_bytes(record: &DeadLetterRecord) -> usize {
    std::mem::size_of::<(u64, DeadLetterRecord)>()
        + record.raw.len()
        + record.error.len()
        + record.source.len()
}

/// A worker's input positions as of an epoch (Kafka: next offsets of its partitions).
pub type PositionsFn = Box<dyn FnMut(u64) -> Vec<KafkaPosition>>;

/// How a dead letter's source is named: (source index, offset) → provenance.
pub type ProvenanceFn = Arc<dyn Fn(u32, u64) -> String + Send + Sync>;

/// Dead letters held for the next snapshot past which one is taken early.
pub const DEAD_LETTERS_HELD_BYTES: usize = 8 << 20;

/// The lake writer shared by the workers of this process.
pub struct LakeShared {
    pub lake: Lake,
    pub keep: usize,
    pub params: Params,
    /// Names a refused record's source, for dead-letter provenance.
    pub provenance: ProvenanceFn,
    inner: Mutex<Inner>,
}

impl LakeShared {
    pub fn new(lake: Lake, keep: usize, params: Params, provenance: ProvenanceFn) -> LakeShared {
        LakeShared {
            lake,
            keep,
            params,
            provenance,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The directory snapshot `id` is staged in.
    pub fn staging(&self, id: u64) -> PathBuf {
        self.lake
            .snapshots_dir()
            .join(format!(".tmp-{}", snapshot_name(id)))
    }

    /// Records a dead letter of decoding (read by `worker`) for the next snapshot that
    /// covers `epoch`.
    pub fn dead_letter(&self, worker: usize, epoch: u64, record: DeadLetterRecord) {
        let mut inner = self.lock();
        inner.dead_letter_bytes += held_bytes(&record);
        inner
            .dead_letters
            .entry(worker)
            .or_default()
            .push((epoch, record));
    }

    /// About how many bytes of dead letters wait for a snapshot (worker 0 asks for one early
    /// when they pass [`DEAD_LETTERS_HELD_BYTES`], so a flood of bad input keeps memory flat).
    pub fn held_dead_letter_bytes(&self) -> usize {
        self.lock().dead_letter_bytes
    }

    /// Takes `worker`'s dead letters of epochs up to `epoch`.
    fn take_dead_letters(&self, worker: usize, epoch: u64) -> Vec<DeadLetterRecord> {
        let mut inner = self.lock();
        let Some(all) = inner.dead_letters.get_mut(&worker) else {
            return Vec::new();
        };
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(all)
            .into_iter()
            .partition(|(at, _)| *at <= epoch);
        *all = later;
        let taken: usize = now.iter().map(|(_, record)| held_bytes(record)).sum();
        inner.dead_letter_bytes = inner.dead_letter_bytes.saturating_sub(taken);
        now.into_iter().map(|(_, record)| record).collect()
    }

    /// Writes a worker's stage file (see [`WorkerStage`]).
    fn write_stage(&self, id: u64, name: &str, stage: &WorkerStage) {
        let dir = self.staging(id).join(STAGE_DIR);
        let result = std::fs::create_dir_all(&dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(serde_json::to_vec(stage)?))
            .and_then(|bytes| Ok(std::fs::write(dir.join(name), bytes)?));
        if let Err(error) = result {
            // finalize reports the missing stage file as the snapshot's failure.
            tracing::error!(kind = "lake_write", %error, snapshot = id, "cannot write the stage file {name}");
        }
    }

    /// The hook every worker's ingest operator runs for a snapshot. `positions` gives the
    /// worker's input positions as of an epoch (Kafka sources; the file source's positions
    /// are worker 0's to give).
    pub fn ingest_hook(
        self: &Arc<Self>,
        worker: usize,
        mut positions: Option<PositionsFn>,
        mut before: Option<Box<dyn FnMut()>>,
    ) -> IngestHook {
        let shared = self.clone();
        // Catalog changes counted so far (a restored run starts at 0 with its catalog as the
        // snapshot wrote it; a fresh run's first snapshot has new days to write anyway).
        let mut last_catalog_changes = 0;
        Box::new(move |state: &mut IngestState, progress: Progress| {
            let Some(id) = progress.snapshot else { return };
            if let Some(before) = before.as_mut() {
                before();
            }
            let started = std::time::Instant::now();
            let catalog_changed = last_catalog_changes != state.counters.catalog_changes;
            last_catalog_changes = state.counters.catalog_changes;
            let mut stage = WorkerStage::default();
            if let Err(error) =
                shared.write_ingest_part(id, worker, state, progress, catalog_changed, &mut stage)
            {
                stage.error = Some(format!("worker {worker}: {error:#}"));
            }
            if let Some(positions) = positions.as_mut() {
                stage.kafka = positions(progress.time);
            }
            stage.hook_seconds = started.elapsed().as_secs_f64();
            shared.write_stage(id, &format!("ingest-{worker}.json"), &stage);
        })
    }

    fn write_ingest_part(
        &self,
        id: u64,
        worker: usize,
        state: &mut IngestState,
        progress: Progress,
        catalog_changed: bool,
        stage: &mut WorkerStage,
    ) -> Result<()> {
        let dir = self.staging(id);
        let received = crate::sink::now_ms();
        let Some(lake) = state.lake.as_mut() else {
            return Ok(());
        };
        let mut dead: Vec<DeadLetterRecord> = self.take_dead_letters(worker, progress.time);
        let refusals = std::mem::take(&mut lake.refusals)
            .into_iter()
            .map(|refusal| DeadLetterRecord {
                received_at_ms: received,
                source: (self.provenance)(refusal.position.source, refusal.position.offset),
                reason: refusal.reason.code(),
                error: refusal.detail,
                raw: crate::sink::input_json(&refusal.event),
            });
        dead.extend(refusals);
        // Dead letters: append-only, one new file per day per snapshot and worker.
        let mut by_day: BTreeMap<i64, Vec<DeadLetterRecord>> = BTreeMap::new();
        for record in dead {
            by_day
                .entry(day_of(record.received_at_ms))
                .or_default()
                .push(record);
        }
        for (day, rows) in by_day {
            stage.files.push(tables::write_parquet(
                &dir,
                &format!(
                    "dead_letters/date={}/part-{}-{worker}.parquet",
                    day_name(day),
                    snapshot_name(id)
                ),
                "dead_letters",
                &tables::dead_letters_batch(&rows)?,
            )?);
        }
        let lake = state.lake.as_ref().expect("checked above");
        let mut days: BTreeMap<i64, Vec<&LiveComment>> = lake
            .dirty_days
            .iter()
            .map(|day| (*day, Vec::new()))
            .collect();
        let open = |day: i64| day.saturating_add(DAY_MS) > progress.horizon_ms;
        if catalog_changed {
            // Mentions carry the entities' current names: every open day is rewritten.
            for live in state.comments.values() {
                let day = day_of(live.comment.created_at_ms);
                if open(day) {
                    days.entry(day).or_default();
                }
            }
            for day in lake.evicted.keys() {
                if open(*day) {
                    days.entry(*day).or_default();
                }
            }
        }
        for live in state.comments.values() {
            if let Some(rows) = days.get_mut(&day_of(live.comment.created_at_ms)) {
                rows.push(live);
            }
        }
        for (day, evicted) in &lake.evicted {
            if let Some(rows) = days.get_mut(day) {
                rows.extend(evicted.iter().map(|b| &**b));
            }
        }
        let mut files = Vec::new();
        let mut rewritten = Vec::new();
        let name = format!("part-{worker}.parquet");
        let schema =
            |table| tables::schema_of(table)?.ok_or_else(|| anyhow!("no schema for table {table}"));
        let (comments_schema, mentions_schema) = (schema("comments")?, schema("mentions")?);
        let by_key = crate::lake::live::entities_by_key(&state.entity_ids, &state.catalog);
        for (day, rows) in days {
            // Rows in the order the state holds them: sorting 1M rows by id cost ~1 s of a
            // snapshot, and readers do not need it.
            for table in ["comments", "mentions"] {
                rewritten.push((table.to_string(), day, name.clone()));
            }
            if rows.is_empty() {
                continue;
            }
            let date = day_name(day);
            // A chunk at a time: the Arrow copy of a day stays small.
            const CHUNK: usize = 64 * 1024;
            files.push(tables::write_parquet_chunks(
                &dir,
                &format!("comments/date={date}/{name}"),
                "comments",
                comments_schema.clone(),
                rows.chunks(CHUNK)
                    .map(|chunk| crate::lake::live::comments_batch(chunk, &state.entity_ids)),
            )?);
            let mentions = rows.iter().any(|r| !r.facts.entities.is_empty());
            if mentions {
                let entry = tables::write_parquet_chunks(
                    &dir,
                    &format!("mentions/date={date}/{name}"),
                    "mentions",
                    mentions_schema.clone(),
                    rows.chunks(CHUNK)
                        .map(|chunk| crate::lake::live::mentions_batch(chunk, &by_key)),
                )?;
                if entry.rows > 0 {
                    files.push(entry);
                } else {
                    let _ = std::fs::remove_file(dir.join(&entry.path));
                }
            }
        }
        let ingest = (worker == 0).then(|| CatalogStage {
            entity_ids: state.entity_ids.clone(),
            catalog: state.catalog.values().cloned().collect(),
            evict_cut_ms: state.evict_cut_ms,
            clock: state.clock.clone(),
        });
        stage.files.extend(files);
        stage.rewritten.extend(rewritten);
        stage.ingest = ingest;
        Ok(())
    }

    /// The hook of worker 0's table operator. `restored` carries the sealed window rows and
    /// alert events of days still open in the snapshot restored from.
    /// `rewrite_all`: the first snapshot rewrites every open day (after a restore with another
    /// worker count).
    pub fn table_hook(
        self: &Arc<Self>,
        restored: Option<TableLakeState>,
        rewrite_all: bool,
    ) -> TableHook {
        let shared = self.clone();
        let mut hook_state = restored.unwrap_or_default();
        let mut first = rewrite_all;
        Box::new(move |table: &mut WindowTable, progress: Progress| {
            let Some(id) = progress.snapshot else { return };
            let started = std::time::Instant::now();
            let mut stage = WorkerStage::default();
            let result =
                shared.write_table_part(id, table, progress, &mut hook_state, first, &mut stage);
            first = false;
            if let Err(error) = result {
                stage.error = Some(format!("window table: {error:#}"));
            }
            stage.hook_seconds = started.elapsed().as_secs_f64();
            shared.write_stage(id, "table.json", &stage);
        })
    }

    fn write_table_part(
        &self,
        id: u64,
        table: &mut WindowTable,
        progress: Progress,
        hs: &mut TableLakeState,
        first: bool,
        stage: &mut WorkerStage,
    ) -> Result<()> {
        let dir = self.staging(id);
        let params = &self.params;
        let Some(lake) = table.lake.as_mut() else {
            return Ok(());
        };
        let mut window_days = std::mem::take(&mut lake.dirty_days);
        let sealed = std::mem::take(&mut lake.sealed);
        let events = std::mem::take(&mut lake.events);
        for ((_, window), (label, stat)) in sealed {
            hs.sealed.entry(day_of(window)).or_default().insert(
                (label.id.clone(), window),
                crate::lake::live::window_record(&label, window, &stat, params),
            );
        }
        let mut alert_days = BTreeSet::new();
        if first {
            window_days.extend(hs.sealed.keys().copied());
            alert_days.extend(hs.alerts.keys().copied());
        }
        let now = crate::sink::now_ms();
        for event in &events {
            let day = day_of(event.window_start_ms);
            hs.alerts
                .entry(day)
                .or_default()
                .push(crate::lake::live::alert_record(event, now));
            alert_days.insert(day);
        }
        let mut rows: BTreeMap<i64, Vec<WindowRecord>> =
            window_days.iter().map(|d| (*d, Vec::new())).collect();
        for ((_, window), (label, stat)) in &table.live {
            if let Some(day_rows) = rows.get_mut(&day_of(*window)) {
                day_rows.push(crate::lake::live::window_record(
                    label, *window, stat, params,
                ));
            }
        }
        let mut files = Vec::new();
        let mut rewritten = Vec::new();
        for (day, mut day_rows) in rows {
            if let Some(sealed) = hs.sealed.get(&day) {
                day_rows.extend(sealed.values().cloned());
            }
            day_rows.sort_by(|a, b| {
                (a.entity_id.as_str(), a.window_start_ms)
                    .cmp(&(b.entity_id.as_str(), b.window_start_ms))
            });
            rewritten.push(("entity_windows".to_string(), day, "*".to_string()));
            if !day_rows.is_empty() {
                files.push(tables::write_parquet(
                    &dir,
                    &format!("entity_windows/date={}/part-0.parquet", day_name(day)),
                    "entity_windows",
                    &tables::windows_batch(&day_rows)?,
                )?);
            }
        }
        for day in alert_days {
            rewritten.push(("alerts".to_string(), day, "*".to_string()));
            if let Some(day_rows) = hs.alerts.get(&day).filter(|r| !r.is_empty()) {
                files.push(tables::write_parquet(
                    &dir,
                    &format!("alerts/date={}/part-0.parquet", day_name(day)),
                    "alerts",
                    &tables::alerts_batch(day_rows)?,
                )?);
            }
        }
        // Days that are sealed now were written whole (above or earlier): forget them.
        let open = |day: &i64| day.saturating_add(DAY_MS) > progress.horizon_ms;
        hs.sealed.retain(|day, _| open(day));
        hs.alerts.retain(|day, _| open(day));
        stage.files.extend(files);
        stage.rewritten.extend(rewritten);
        stage.table = Some(table.export_state());
        Ok(())
    }

    /// Publishes a snapshot (after every hook for it has run).
    pub fn finalize(&self, publish: Publish<'_>) -> Result<Manifest> {
        let id = publish.id;
        let dir = self.staging(id);
        let result = self.finalize_in(&dir, publish);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result.map_err(|error| {
            anyhow!(
                "snapshot {id} could not be written: {error:#}; the lake still holds its previous snapshot: fix the cause (free space, permissions) and restart to resume from it"
            )
        })
    }

    fn finalize_in(&self, dir: &Path, publish: Publish<'_>) -> Result<Manifest> {
        let Publish {
            id,
            frontier,
            sources,
            workers,
            previous,
            full_rewrite_from,
        } = publish;
        let started = std::time::Instant::now();
        let mut sources = sources;
        let staged = read_stages(dir, id, workers)?;
        if let super::SourcePositions::Kafka(kafka) = &mut sources.positions {
            kafka.extend(staged.kafka);
            kafka.sort();
            kafka.dedup();
        }
        crash_point("snapshot-parts");
        let mut files = staged.files;
        // state.json
        let CatalogStage {
            entity_ids,
            catalog,
            evict_cut_ms,
            clock,
        } = staged
            .ingest
            .ok_or_else(|| anyhow!("worker 0 staged no catalog for snapshot {id}"))?;
        let table = staged
            .table
            .ok_or_else(|| anyhow!("the table staged no state for snapshot {id}"))?;
        let id_of = |key: EntityKey| entity_ids.get(key as usize).cloned().unwrap_or_default();
        let state = SavedState {
            params: self.params.clone(),
            active: table
                .active
                .iter()
                .map(|((entity, window), alert)| (id_of(*entity), *window, alert.clone()))
                .collect(),
            pending: table
                .pending
                .iter()
                .map(|(window, entity)| (*window, id_of(*entity)))
                .collect(),
            event_counts: table.event_counts,
            sealed_total: table.sealed_total,
            progress: table.progress,
            evict_cut_ms,
            clock,
            catalog,
            entity_ids,
        };
        let state_bytes = serde_json::to_vec(&state)?;
        files.push(write_bytes(dir, "state.json", "state", &state_bytes)?);
        // Unchanged files of the previous snapshot: hard links.
        let fresh: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
        let (new_files, new_bytes) = (
            files.len() as u64,
            files.iter().map(|f| f.bytes).sum::<u64>(),
        );
        if let Some(previous) = previous {
            link_unchanged(
                dir,
                previous,
                &staged.rewritten,
                full_rewrite_from,
                &fresh,
                &mut files,
            )?;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut summaries: BTreeMap<String, TableSummary> = tables::TABLES
            .iter()
            .map(|t| (t.to_string(), TableSummary::default()))
            .collect();
        for file in &files {
            if let Some(summary) = summaries.get_mut(&file.table) {
                summary.rows += file.rows;
                summary.files += 1;
                summary.bytes += file.bytes;
            }
        }
        let progress = table.progress;
        let manifest = Manifest {
            format: "chatter-lake".into(),
            schema_version: tables::SCHEMA_VERSION,
            chatter_version: env!("CARGO_PKG_VERSION").into(),
            id,
            created_at: dataflows::format_rfc3339_ms(crate::sink::now_ms()),
            frontier,
            watermark: dataflows::format_rfc3339_ms(progress.watermark_ms),
            watermark_ms: progress.watermark_ms,
            horizon_ms: progress.horizon_ms,
            max_event_ms: progress.max_event_ms,
            sources,
            workers,
            tables: summaries,
            stats: super::SnapshotStats {
                parts_seconds: staged.hook_seconds,
                publish_seconds: 0.0,
                linked_files: files.len() as u64 - new_files,
                new_files,
                new_bytes,
            },
            files,
        };
        let mut manifest = manifest;
        manifest.stats.publish_seconds = started.elapsed().as_secs_f64();
        let bytes = serde_json::to_vec_pretty(&manifest)?;
        write_bytes(dir, "manifest.json", "manifest", &bytes)?;
        sync_tree(dir)?;
        crash_point("snapshot-manifest");
        let final_dir = self.lake.snapshots_dir().join(snapshot_name(id));
        std::fs::rename(dir, &final_dir).with_context(|| {
            format!("cannot rename {} to {}", dir.display(), final_dir.display())
        })?;
        sync_dir(&self.lake.snapshots_dir())?;
        crash_point("snapshot-renamed");
        self.lake.point_current(id)?;
        crash_point("snapshot-published");
        self.lake.prune(self.keep)?;
        Ok(manifest)
    }
}

/// Where the hooks' stage files go inside a staging directory.
const STAGE_DIR: &str = ".staged";

/// Every worker's stage, merged.
#[derive(Default)]
struct Staged {
    files: Vec<FileEntry>,
    rewritten: BTreeSet<(String, i64, String)>,
    ingest: Option<CatalogStage>,
    table: Option<TableState>,
    hook_seconds: f64,
    kafka: Vec<KafkaPosition>,
}

/// Hard-links the previous snapshot's files that this one did not rewrite into `dir` (files
/// of an older schema version are rewritten with this version's columns instead), adding
/// them to `files`.
fn link_unchanged(
    dir: &Path,
    previous: &Snapshot,
    rewritten: &BTreeSet<(String, i64, String)>,
    full_rewrite_from: Option<i64>,
    fresh: &BTreeSet<String>,
    files: &mut Vec<FileEntry>,
) -> Result<()> {
    // A snapshot of an older schema version: files whose columns differ from this
    // version's are rewritten with them (new columns are nullable: null), so that
    // every file of a table has one schema, as readers without options need.
    let migrate = previous.manifest.schema_version < tables::SCHEMA_VERSION;
    for (n, file) in previous.manifest.files.iter().enumerate() {
        if file.table == "state" || fresh.contains(&file.path) {
            continue;
        }
        let day = day_of_path(&file.path);
        let name = file.path.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(day) = day {
            let replaced = rewritten.contains(&(file.table.clone(), day, name.clone()))
                || rewritten.contains(&(file.table.clone(), day, "*".to_string()))
                || (file.table != "dead_letters"
                    && full_rewrite_from.is_some_and(|from| day >= from));
            if replaced {
                continue;
            }
        }
        if migrate {
            let source = previous.dir.join(&file.path);
            if let Some(rewritten) = tables::migrate_file(&source, dir, file)? {
                files.push(rewritten);
                continue;
            }
        }
        let target = dir.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::hard_link(previous.dir.join(&file.path), &target).with_context(|| {
            format!(
                "cannot link {} into the new snapshot",
                previous.dir.join(&file.path).display()
            )
        })?;
        if n == previous.manifest.files.len() / 2 {
            crash_point("snapshot-links");
        }
        files.push(file.clone());
    }
    Ok(())
}

/// Reads the stage files of all `workers` workers and the table, then removes them; fails
/// when one is missing or reports a failure.
fn read_stages(dir: &Path, id: u64, workers: usize) -> Result<Staged> {
    let stage_dir = dir.join(STAGE_DIR);
    let read = |name: &str| -> Result<WorkerStage> {
        let path = stage_dir.join(name);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "a hook staged nothing for snapshot {id} ({} is missing)",
                path.display()
            )
        })?;
        let stage: WorkerStage = serde_json::from_slice(&bytes)
            .with_context(|| format!("cannot parse {}", path.display()))?;
        match &stage.error {
            Some(error) => Err(anyhow!("{error}")),
            None => Ok(stage),
        }
    };
    let mut staged = Staged::default();
    for name in (0..workers)
        .map(|w| format!("ingest-{w}.json"))
        .chain(["table.json".to_string()])
    {
        let stage = read(&name)?;
        staged.files.extend(stage.files);
        staged.rewritten.extend(stage.rewritten);
        staged.kafka.extend(stage.kafka);
        staged.hook_seconds = staged.hook_seconds.max(stage.hook_seconds);
        if stage.ingest.is_some() {
            staged.ingest = stage.ingest;
        }
        if stage.table.is_some() {
            staged.table = stage.table;
        }
    }
    std::fs::remove_dir_all(&stage_dir)
        .with_context(|| format!("cannot remove {}", stage_dir.display()))?;
    Ok(staged)
}

/// What [`LakeShared::finalize`] publishes.
pub struct Publish<'a> {
    pub id: u64,
    /// The epoch T the snapshot is of.
    pub frontier: u64,
    pub sources: Sources,
    pub workers: usize,
    /// The previous snapshot, whose unchanged files are shared.
    pub previous: Option<&'a Snapshot>,
    /// The first snapshot after a restore does not carry the previous snapshot's files of days
    /// from this one on (they were all rewritten).
    pub full_rewrite_from: Option<i64>,
}

/// The table hook's own state: sealed rows and alert events of days still open.
#[derive(Debug, Default)]
pub struct TableLakeState {
    pub sealed: BTreeMap<i64, BTreeMap<(String, i64), WindowRecord>>,
    pub alerts: BTreeMap<i64, Vec<AlertRecord>>,
}

/// Writes a small file (fsynced) and describes it.
pub fn write_bytes(dir: &Path, rel: &str, table: &str, bytes: &[u8]) -> Result<FileEntry> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let path = dir.join(rel);
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let digest = Sha256::digest(bytes);
    Ok(FileEntry {
        path: rel.to_string(),
        table: table.to_string(),
        rows: 0,
        bytes: bytes.len() as u64,
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// fsync every directory under `dir` (files were synced as they were written).
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// What a worker needs to restore from a snapshot.
pub struct RestorePlan {
    pub snapshot: Snapshot,
    pub state: SavedState,
}

impl RestorePlan {
    /// The `comments` files a restore reads (days that may hold live or open rows).
    pub fn comment_files(&self) -> Vec<PathBuf> {
        let from = self.state.evict_cut_ms.map(day_of);
        self.snapshot
            .manifest
            .files
            .iter()
            .filter(|f| f.table == "comments")
            .filter(|f| match (from, day_of_path(&f.path)) {
                (Some(from), Some(day)) => day >= from,
                _ => true,
            })
            .map(|f| self.snapshot.dir.join(&f.path))
            .collect()
    }

    /// Whether this run must rewrite every open day: the snapshot's part files are per worker,
    /// so a run with another worker count cannot keep them.
    pub fn rewrites_open_days(&self, peers: usize) -> bool {
        self.snapshot.manifest.workers != peers
    }

    /// The first day that was open at the snapshot.
    pub fn first_open_day(&self) -> i64 {
        let horizon = self.state.progress.horizon_ms;
        if horizon == i64::MIN {
            i64::MIN
        } else {
            day_of(horizon)
        }
    }

    /// Sealed window rows and alert events of the days still open, for the table hook.
    pub fn table_lake_state(&self) -> Result<TableLakeState> {
        let from = self.first_open_day();
        let horizon = self.state.progress.horizon_ms;
        let mut state = TableLakeState::default();
        for file in &self.snapshot.manifest.files {
            let Some(day) = day_of_path(&file.path) else {
                continue;
            };
            if day < from {
                continue;
            }
            let path = self.snapshot.dir.join(&file.path);
            match file.table.as_str() {
                "entity_windows" => {
                    for row in tables::read_windows(&path)? {
                        if row.window_end_ms <= horizon {
                            state
                                .sealed
                                .entry(day)
                                .or_default()
                                .insert((row.entity_id.clone(), row.window_start_ms), row);
                        }
                    }
                }
                "alerts" => state
                    .alerts
                    .entry(day)
                    .or_default()
                    .extend(tables::read_alerts(&path)?),
                _ => {}
            }
        }
        Ok(state)
    }
}
