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
use super::{SavedState, Snapshot, Sources, TableSummary};
use anyhow::{anyhow, Context, Result};
use dataflows::enrich::{day_of, IngestHook, IngestState, LiveComment, DAY_MS};
use dataflows::model::{Entity, EntityKey, Progress};
use dataflows::velocity::{TableHook, TableState, WindowTable};
use dataflows::Params;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the hooks of one snapshot staged.
#[derive(Default)]
struct Staged {
    files: Vec<FileEntry>,
    /// (table, day, file name or "*"): previous files these replace.
    rewritten: BTreeSet<(String, i64, String)>,
    refusals: Vec<DeadLetterRecord>,
    /// From worker 0: entity ids by key, the catalog, the eviction cut.
    ingest: Option<(Vec<String>, Vec<Entity>, Option<i64>)>,
    table: Option<TableState>,
    /// Longest time a hook took.
    hook_seconds: f64,
}

#[derive(Default)]
struct Inner {
    /// Dead letters of decoding, with the epoch of their input line.
    dead_letters: Vec<(u64, DeadLetterRecord)>,
    staged: BTreeMap<u64, Staged>,
    /// The first failure of a hook (a snapshot with it fails).
    error: Option<String>,
}

/// The lake writer shared by the workers of this process.
pub struct LakeShared {
    pub lake: Lake,
    pub keep: usize,
    pub params: Params,
    /// Names of the inputs by source index (0 = catalog), for dead-letter provenance.
    pub source_names: Vec<String>,
    inner: Mutex<Inner>,
}

impl LakeShared {
    pub fn new(lake: Lake, keep: usize, params: Params, source_names: Vec<String>) -> LakeShared {
        LakeShared {
            lake,
            keep,
            params,
            source_names,
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

    /// Records a dead letter of decoding for the next snapshot that covers `epoch`.
    pub fn dead_letter(&self, epoch: u64, record: DeadLetterRecord) {
        self.lock().dead_letters.push((epoch, record));
    }

    fn hook_took(&self, id: u64, started: std::time::Instant) {
        let took = started.elapsed().as_secs_f64();
        let mut inner = self.lock();
        let staged = inner.staged.entry(id).or_default();
        staged.hook_seconds = staged.hook_seconds.max(took);
    }

    fn fail(&self, error: anyhow::Error) {
        let mut inner = self.lock();
        inner.error.get_or_insert_with(|| format!("{error:#}"));
    }

    /// The hook every worker's ingest operator runs for a snapshot.
    pub fn ingest_hook(self: &Arc<Self>, worker: usize) -> IngestHook {
        let shared = self.clone();
        // Catalog changes counted so far (a restored run starts at 0 with its catalog as the
        // snapshot wrote it; a fresh run's first snapshot has new days to write anyway).
        let mut last_catalog_changes = 0;
        Box::new(move |state: &mut IngestState, progress: Progress| {
            let Some(id) = progress.snapshot else { return };
            let started = std::time::Instant::now();
            let catalog_changed = last_catalog_changes != state.counters.catalog_changes;
            last_catalog_changes = state.counters.catalog_changes;
            if let Err(error) =
                shared.write_ingest_part(id, worker, state, progress, catalog_changed)
            {
                shared.fail(error);
            }
            shared.hook_took(id, started);
        })
    }

    fn write_ingest_part(
        &self,
        id: u64,
        worker: usize,
        state: &mut IngestState,
        progress: Progress,
        catalog_changed: bool,
    ) -> Result<()> {
        let dir = self.staging(id);
        let received = crate::sink::now_ms();
        let Some(lake) = state.lake.as_mut() else {
            return Ok(());
        };
        let refusals: Vec<DeadLetterRecord> = std::mem::take(&mut lake.refusals)
            .into_iter()
            .map(|refusal| DeadLetterRecord {
                received_at_ms: received,
                source: crate::sink::file_source(
                    self.source_names
                        .get(refusal.position.source as usize)
                        .map_or("", String::as_str),
                    refusal.position.offset,
                ),
                reason: refusal.reason.code(),
                error: refusal.detail,
                raw: crate::sink::input_json(&refusal.event),
            })
            .collect();
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
                    .map(|chunk| tables::comments_batch(chunk, &state.entity_ids)),
            )?);
            let mentions = rows.iter().any(|r| !r.facts.entities.is_empty());
            if mentions {
                let entry = tables::write_parquet_chunks(
                    &dir,
                    &format!("mentions/date={date}/{name}"),
                    "mentions",
                    mentions_schema.clone(),
                    rows.chunks(CHUNK).map(|chunk| {
                        tables::mentions_batch(chunk, &state.entity_ids, &state.catalog)
                    }),
                )?;
                if entry.rows > 0 {
                    files.push(entry);
                } else {
                    let _ = std::fs::remove_file(dir.join(&entry.path));
                }
            }
        }
        let ingest = (worker == 0).then(|| {
            (
                state.entity_ids.clone(),
                state.catalog.values().cloned().collect(),
                state.evict_cut_ms,
            )
        });
        let mut inner = self.lock();
        let staged = inner.staged.entry(id).or_default();
        staged.files.extend(files);
        staged.rewritten.extend(rewritten);
        staged.refusals.extend(refusals);
        if ingest.is_some() {
            staged.ingest = ingest;
        }
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
            let result = shared.write_table_part(id, table, progress, &mut hook_state, first);
            first = false;
            if let Err(error) = result {
                shared.fail(error);
            }
            shared.hook_took(id, started);
        })
    }

    fn write_table_part(
        &self,
        id: u64,
        table: &mut WindowTable,
        progress: Progress,
        hs: &mut TableLakeState,
        first: bool,
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
                WindowRecord::new(&label, window, &stat, params),
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
                .push(AlertRecord::new(event, now));
            alert_days.insert(day);
        }
        let mut rows: BTreeMap<i64, Vec<WindowRecord>> =
            window_days.iter().map(|d| (*d, Vec::new())).collect();
        for ((_, window), (label, stat)) in &table.live {
            if let Some(day_rows) = rows.get_mut(&day_of(*window)) {
                day_rows.push(WindowRecord::new(label, *window, stat, params));
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
        let exported = table.export_state();
        let mut inner = self.lock();
        let staged = inner.staged.entry(id).or_default();
        staged.files.extend(files);
        staged.rewritten.extend(rewritten);
        staged.table = Some(exported);
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
        let (staged, dead) = {
            let mut inner = self.lock();
            if let Some(error) = inner.error.take() {
                return Err(anyhow!(error));
            }
            let staged = inner.staged.remove(&id).unwrap_or_default();
            let all = std::mem::take(&mut inner.dead_letters);
            let (dead, later): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|(epoch, _)| *epoch <= frontier);
            inner.dead_letters = later;
            (staged, dead)
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        crash_point("snapshot-parts");
        let mut files = staged.files;
        // Dead letters: append-only, one new file per day per snapshot.
        let mut by_day: BTreeMap<i64, Vec<DeadLetterRecord>> = BTreeMap::new();
        for record in dead.into_iter().map(|(_, r)| r).chain(staged.refusals) {
            by_day
                .entry(day_of(record.received_at_ms))
                .or_default()
                .push(record);
        }
        for (day, rows) in by_day {
            files.push(tables::write_parquet(
                dir,
                &format!(
                    "dead_letters/date={}/part-{}.parquet",
                    day_name(day),
                    snapshot_name(id)
                ),
                "dead_letters",
                &tables::dead_letters_batch(&rows)?,
            )?);
        }
        // state.json
        let (entity_ids, catalog, evict_cut_ms) = staged
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
                    let replaced =
                        staged
                            .rewritten
                            .contains(&(file.table.clone(), day, name.clone()))
                            || staged.rewritten.contains(&(
                                file.table.clone(),
                                day,
                                "*".to_string(),
                            ))
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
