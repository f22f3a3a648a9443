//! The lake (SPEC §3.3): consistent Parquet snapshots that are also the checkpoint.
//!
//! ```text
//! lake/
//!   LAKE                              marks the directory as a chatter lake (format version)
//!   current -> snapshots/<id>         symlink, swapped atomically (rename over it)
//!   snapshots/<id>/manifest.json      frontier, watermark, input positions, files + checksums
//!   snapshots/<id>/state.json         catalog and alert state (what restore needs besides rows)
//!   snapshots/<id>/<table>/date=YYYY-MM-DD/part-*.parquet
//!   snapshots/.tmp-<id>/              a snapshot being written (removed on start)
//! ```
//!
//! A snapshot is written into `.tmp-<id>`, fsynced, renamed to `<id>`, and only then does
//! `current` move to it; files of partitions that did not change are hard links to the
//! previous snapshot's. A crash at any point leaves the previous snapshot intact; start-up
//! removes leftovers and restores from the newest snapshot whose checksums hold.

pub mod backup;
pub mod read;
pub mod tables;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tables::FileEntry;

/// Content of the `LAKE` marker file.
pub const LAKE_MARKER: &str = "chatter-lake 1\n";
/// Snapshots kept by default.
pub const DEFAULT_KEEP: usize = 10;

/// Where one input stood when a snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// The input as given (a path, or "-" for stdin).
    pub input: String,
    /// Lines consumed (the next line to read is `line + 1`).
    pub line: u64,
    /// Bytes consumed (of the decompressed stream for gzip inputs).
    pub byte_offset: u64,
    /// Whether the input was read to its end.
    pub complete: bool,
}

/// Input positions of a snapshot: resuming from them gives exactly-once results. The JSON is
/// the format's (one object with `batch_records`, `global_line`, `files`, `end_of_input` and,
/// for Kafka, `kafka`), read and written through [`SourcesJson`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SourcesJson", into = "SourcesJson")]
pub struct Sources {
    /// Whether the end of every input was reached (and the final watermark flushed).
    pub end_of_input: bool,
    pub positions: SourcePositions,
}

/// Where each input of a run stood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePositions {
    /// The file source: lines per epoch, lines consumed over all inputs, and each input's
    /// position (every worker reads every file, so these are the whole run's).
    Files {
        batch_records: u64,
        global_line: u64,
        files: Vec<FilePosition>,
    },
    /// The Kafka source: the next offset to read of every topic-partition read so far (a
    /// partition absent here is read from its beginning).
    Kafka(Vec<KafkaPosition>),
}

impl Default for SourcePositions {
    fn default() -> Self {
        SourcePositions::Files {
            batch_records: 0,
            global_line: 0,
            files: Vec::new(),
        }
    }
}

impl Sources {
    /// The file inputs' positions (none for Kafka).
    pub fn files(&self) -> &[FilePosition] {
        match &self.positions {
            SourcePositions::Files { files, .. } => files,
            SourcePositions::Kafka(_) => &[],
        }
    }

    /// Comment lines consumed over all file inputs (0 for Kafka).
    pub fn global_line(&self) -> u64 {
        match &self.positions {
            SourcePositions::Files { global_line, .. } => *global_line,
            SourcePositions::Kafka(_) => 0,
        }
    }

    /// The Kafka positions (none for files).
    pub fn kafka(&self) -> &[KafkaPosition] {
        match &self.positions {
            SourcePositions::Kafka(positions) => positions,
            SourcePositions::Files { .. } => &[],
        }
    }
}

/// `sources` of `manifest.json` as written since format 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourcesJson {
    /// Lines per epoch of the run that wrote it (file source).
    #[serde(default)]
    pub batch_records: u64,
    /// Comment lines consumed over all inputs (file source).
    #[serde(default)]
    pub global_line: u64,
    #[serde(default)]
    pub files: Vec<FilePosition>,
    #[serde(default)]
    pub end_of_input: bool,
    /// Kafka sources (absent for files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<Vec<KafkaPosition>>,
}

impl From<SourcesJson> for Sources {
    fn from(json: SourcesJson) -> Sources {
        // Kafka runs wrote `kafka` (older ones left it out while it was empty, with no files).
        let kafka = json
            .kafka
            .filter(|k| !k.is_empty() || json.files.is_empty());
        let positions = match kafka {
            Some(kafka) if json.batch_records == 0 => SourcePositions::Kafka(kafka),
            _ => SourcePositions::Files {
                batch_records: json.batch_records,
                global_line: json.global_line,
                files: json.files,
            },
        };
        Sources {
            end_of_input: json.end_of_input,
            positions,
        }
    }
}

impl From<Sources> for SourcesJson {
    fn from(sources: Sources) -> SourcesJson {
        match sources.positions {
            SourcePositions::Files {
                batch_records,
                global_line,
                files,
            } => SourcesJson {
                batch_records,
                global_line,
                files,
                end_of_input: sources.end_of_input,
                kafka: None,
            },
            SourcePositions::Kafka(kafka) => SourcesJson {
                end_of_input: sources.end_of_input,
                kafka: Some(kafka),
                ..SourcesJson::default()
            },
        }
    }
}

/// Where a Kafka topic-partition was as of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KafkaPosition {
    pub topic: String,
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
}

/// Row and file counts of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
}

/// `manifest.json` of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "chatter-lake".
    pub format: String,
    pub schema_version: u32,
    pub chatter_version: String,
    pub id: u64,
    /// Wall-clock time the snapshot was published (RFC 3339).
    pub created_at: String,
    /// The frontier T: every table reflects all input of epochs <= T and nothing after.
    pub frontier: u64,
    pub watermark: String,
    pub watermark_ms: i64,
    /// Changes before it are refused; partitions of days ending at or before it are sealed.
    pub horizon_ms: i64,
    pub max_event_ms: i64,
    pub sources: Sources,
    /// Timely workers of the run that wrote it.
    pub workers: usize,
    pub tables: std::collections::BTreeMap<String, TableSummary>,
    /// Every file of the snapshot except the manifest itself.
    pub files: Vec<FileEntry>,
    /// What writing it cost (absent in snapshots of older versions).
    #[serde(default)]
    pub stats: SnapshotStats,
}

/// What writing one snapshot cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Longest time a worker spent writing its partitions (they write in parallel).
    pub parts_seconds: f64,
    /// Worker 0 publishing it: dead letters, state, hard links (the manifest write, fsyncs,
    /// rename and pointer swap that follow are not included).
    pub publish_seconds: f64,
    /// Files written anew, and their bytes.
    pub new_files: u64,
    pub new_bytes: u64,
    /// Files shared with the previous snapshot by hard link.
    pub linked_files: u64,
}

/// Renders a day start (ms) as `YYYY-MM-DD`.
pub fn day_name(day_ms: i64) -> String {
    let (y, m, d) = calendar::civil_from_days(day_ms.div_euclid(calendar::DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` to a day start (ms).
pub fn parse_day(name: &str) -> Option<i64> {
    let mut parts = name.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    Some(calendar::days_from_civil(y, m, d) * calendar::DAY_MS)
}

/// The day of a file path `table/date=YYYY-MM-DD/part…`.
pub fn day_of_path(path: &str) -> Option<i64> {
    let dir = path.split('/').nth(1)?;
    parse_day(dir.strip_prefix("date=")?)
}

/// Snapshot directory name for an id (sorts by id).
pub fn snapshot_name(id: u64) -> String {
    format!("{id:010}")
}

/// Fault injection for the crash tests: with `CHATTER_CRASH_AT=NAME` (or `NAME:K` for the
/// K-th time, 1-based) the process kills itself with SIGKILL when it reaches that point. With
/// `CHATTER_PAUSE_AT=NAME[:K]` it stops there for 3 s instead (saying so on stderr), for a
/// signal to land at that point (SIGTERM during a snapshot).
pub fn crash_point(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static CRASH: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PAUSE: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static CRASH_HITS: AtomicU64 = AtomicU64::new(0);
    static PAUSE_HITS: AtomicU64 = AtomicU64::new(0);
    let spec = |var: &str| {
        let spec = std::env::var(var).ok()?;
        match spec.rsplit_once(':') {
            Some((p, k)) if k.parse::<u64>().is_ok() => Some((p.to_string(), k.parse().ok()?)),
            _ => Some((spec, 1)),
        }
    };
    let reached = |target: &Option<(String, u64)>, hits: &AtomicU64| {
        target.as_ref().is_some_and(|(point, k)| {
            point == name && hits.fetch_add(1, Ordering::SeqCst) + 1 == *k
        })
    };
    if reached(PAUSE.get_or_init(|| spec("CHATTER_PAUSE_AT")), &PAUSE_HITS) {
        eprintln!("chatter: CHATTER_PAUSE_AT={name}: pausing 3 s");
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    if reached(CRASH.get_or_init(|| spec("CHATTER_CRASH_AT")), &CRASH_HITS) {
        eprintln!("chatter: CHATTER_CRASH_AT={name}: killing myself with SIGKILL");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// fsync a directory (so a rename or new entry in it is durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    pub root: PathBuf,
    /// Held while this process writes the lake (`LAKE.lock`, an advisory file lock).
    _lock: Option<std::sync::Arc<std::fs::File>>,
}

/// A snapshot found on disk and verified.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Snapshot {
    /// Reads and checks its `state.json` (its type is the engine's: this crate does not know it).
    pub fn state<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let path = self.dir.join("state.json");
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} does not parse: the snapshot is damaged; restore from a backup or move it away",
                path.display()
            )
        })
    }
}

impl Lake {
    /// Opens `root` for writing: creates it (with its marker) when missing or empty, refuses a
    /// directory that holds something else, and removes leftovers of interrupted snapshots.
    pub fn open_or_create(root: &Path) -> Result<Lake> {
        let marker = root.join("LAKE");
        if root.exists() {
            if !root.is_dir() {
                bail!(
                    "{} is not a directory: give --lake a directory (it is created if missing)",
                    root.display()
                );
            }
            if !marker.exists() {
                let mut entries = std::fs::read_dir(root)
                    .with_context(|| format!("cannot read {}", root.display()))?;
                if entries.next().is_some() {
                    bail!(
                        "{} is not a chatter lake (no LAKE marker) and not empty: give --lake a new or empty directory",
                        root.display()
                    );
                }
            }
        }
        std::fs::create_dir_all(root.join("snapshots")).with_context(|| {
            format!(
                "cannot create the lake {}: check that the parent directory exists and is writable",
                root.display()
            )
        })?;
        if !marker.exists() {
            std::fs::write(&marker, LAKE_MARKER)
                .with_context(|| format!("cannot write {}", marker.display()))?;
        }
        // One writer per lake: a second one would remove the first's snapshot in progress.
        let lock_path = root.join("LAKE.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "another chatter process is writing to the lake {} (it holds {}): stop it first, or give this run another --lake",
                root.display(),
                lock_path.display()
            );
        }
        let lake = Lake {
            root: root.to_path_buf(),
            _lock: Some(std::sync::Arc::new(lock)),
        };
        lake.remove_leftovers()?;
        Ok(lake)
    }

    /// Opens an existing lake for reading (backup, report, readers).
    pub fn open_existing(root: &Path) -> Result<Lake> {
        if !root.join("LAKE").exists() {
            bail!(
                "{} is not a chatter lake (no LAKE marker): point at the directory given to `chatter run --lake`",
                root.display()
            );
        }
        Ok(Lake {
            root: root.to_path_buf(),
            _lock: None,
        })
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    fn remove_leftovers(&self) -> Result<()> {
        for entry in std::fs::read_dir(self.snapshots_dir())
            .with_context(|| format!("cannot read {}", self.snapshots_dir().display()))?
        {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                tracing::info!(path = %entry.path().display(), "removing an interrupted snapshot");
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            }
        }
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("current.tmp")
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Ids of the published snapshot directories, ascending.
    pub fn snapshot_ids(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let dir = self.snapshots_dir();
        if !dir.exists() {
            return Ok(ids);
        }
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let name = entry?.file_name();
            if let Ok(id) = name.to_string_lossy().parse::<u64>() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Loads and verifies one snapshot: the manifest parses and every file it lists exists with
    /// its size and checksum (`full`: also recompute the checksums).
    pub fn load(&self, id: u64, full: bool) -> Result<Snapshot> {
        let dir = self.snapshots_dir().join(snapshot_name(id));
        load_snapshot(&dir, full)
    }

    /// The newest snapshot that verifies; damaged ones are skipped with a warning. A snapshot
    /// of a newer lake schema is an error ([`NewerSchema`]), not damage.
    pub fn newest_valid(&self) -> Result<Option<Snapshot>> {
        for id in self.snapshot_ids()?.into_iter().rev() {
            match self.load(id, true) {
                Ok(snapshot) => return Ok(Some(snapshot)),
                Err(error) if error.downcast_ref::<NewerSchema>().is_some() => return Err(error),
                Err(error) => {
                    tracing::warn!("skipping snapshot {id}: {error:#}");
                    eprintln!("chatter: warning: skipping damaged snapshot {id}: {error:#}");
                }
            }
        }
        Ok(None)
    }

    /// The snapshot `current` points at.
    pub fn current(&self) -> Result<Snapshot> {
        let link = self.root.join("current");
        let target = std::fs::read_link(&link).with_context(|| {
            format!(
                "{} has no snapshot yet (no {}): run chatter on it first",
                self.root.display(),
                link.display()
            )
        })?;
        load_snapshot(&self.root.join(target), true)
    }

    /// Points `current` at snapshot `id` atomically (a new symlink renamed over the old one).
    pub fn point_current(&self, id: u64) -> Result<()> {
        let tmp = self.root.join(format!("current.tmp-{id}"));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("snapshots/{}", snapshot_name(id)), &tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        crash_point("pointer-tmp");
        std::fs::rename(&tmp, self.root.join("current"))
            .with_context(|| format!("cannot swap {}/current", self.root.display()))?;
        sync_dir(&self.root)
    }

    /// Removes all but the newest `keep` snapshots.
    pub fn prune(&self, keep: usize) -> Result<()> {
        let ids = self.snapshot_ids()?;
        let excess = ids.len().saturating_sub(keep.max(1));
        for id in &ids[..excess] {
            crash_point("prune");
            let dir = self.snapshots_dir().join(snapshot_name(*id));
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove old snapshot {}", dir.display()))?;
        }
        Ok(())
    }
}

/// Loads and verifies the snapshot in `dir`.
pub fn load_snapshot(dir: &Path, full: bool) -> Result<Snapshot> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest = parse_manifest(dir, &bytes)?;
    for file in &manifest.files {
        verify_file(dir, file, full)?;
    }
    Ok(Snapshot {
        dir: dir.to_path_buf(),
        manifest,
    })
}

/// Parses the manifest of the snapshot in `dir` and checks what it can without the files: its
/// format, a schema version this chatter reads, and that every path it lists stays inside the
/// snapshot. Any bytes give a manifest or an error naming the file and the fix, never a panic
/// (fuzzed: `fuzz/fuzz_targets/manifest_parse.rs`).
pub fn parse_manifest(dir: &Path, bytes: &[u8]) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let manifest: Manifest = serde_json::from_slice(bytes).with_context(|| {
        format!(
            "{} does not parse: the snapshot is damaged; restore from a backup or move it away",
            path.display()
        )
    })?;
    if manifest.format != "chatter-lake" {
        bail!("{} is not a chatter lake manifest", path.display());
    }
    if manifest.schema_version > tables::SCHEMA_VERSION {
        return Err(NewerSchema {
            manifest: path,
            found: manifest.schema_version,
        }
        .into());
    }
    for file in &manifest.files {
        check_inside_snapshot(dir, &file.path)?;
    }
    Ok(manifest)
}

/// A snapshot written by a newer chatter, with a lake schema this one does not know: never
/// skipped as damaged (a run would fall back to an older snapshot and then prune the newer
/// ones), always refused.
#[derive(Debug)]
pub struct NewerSchema {
    pub manifest: PathBuf,
    pub found: u32,
}

impl std::fmt::Display for NewerSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} has lake schema version {}, newer than this chatter's {}: run the chatter that wrote it (or a newer one); to roll back, restore a backup taken before the upgrade into a new directory",
            self.manifest.display(),
            self.found,
            tables::SCHEMA_VERSION
        )
    }
}

impl std::error::Error for NewerSchema {}

/// A manifest's file path must stay inside its snapshot: relative, with no `..`, no root and
/// no empty part. A crafted or damaged manifest (a backup from elsewhere, say) could otherwise
/// make verify, backup or restore read or write outside the lake.
pub(crate) fn check_inside_snapshot(dir: &Path, listed: &str) -> Result<()> {
    use std::path::Component;
    let path = Path::new(listed);
    let normal = !listed.is_empty()
        && !listed.contains('\\')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !normal {
        bail!(
            "{}: the manifest lists {listed:?}, a path outside the snapshot: the manifest is damaged or crafted; restore from a backup you trust",
            dir.join("manifest.json").display()
        );
    }
    Ok(())
}

/// Checks one file of a snapshot against its manifest entry.
pub fn verify_file(dir: &Path, file: &FileEntry, full: bool) -> Result<()> {
    check_inside_snapshot(dir, &file.path)?;
    let path = dir.join(&file.path);
    let meta = std::fs::metadata(&path).map_err(|e| {
        anyhow!(
            "{} is listed in the manifest but missing ({e}): the snapshot is incomplete",
            path.display()
        )
    })?;
    if meta.len() != file.bytes {
        bail!(
            "{} has {} bytes, the manifest says {}: the file is damaged",
            path.display(),
            meta.len(),
            file.bytes
        );
    }
    if full {
        let (sum, _) = tables::checksum(&path)?;
        if sum != file.sha256 {
            bail!(
                "{} fails its checksum (sha256 {sum}, the manifest says {}): the file is damaged",
                path.display(),
                file.sha256
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_must_stay_inside_the_snapshot() {
        let dir = Path::new("/lake/snapshots/0000000001");
        for inside in ["comments/date=2021-01-04/part-0.parquet", "state.json"] {
            assert!(check_inside_snapshot(dir, inside).is_ok(), "{inside}");
        }
        for outside in [
            "../../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "",
            "./x",
            "a\\..\\b",
        ] {
            let error = check_inside_snapshot(dir, outside).unwrap_err().to_string();
            assert!(error.contains("outside the snapshot"), "{outside}: {error}");
        }
        let crafted = FileEntry {
            path: "../0000000002/state.json".into(),
            table: "comments".into(),
            rows: 0,
            bytes: 0,
            sha256: String::new(),
        };
        assert!(verify_file(dir, &crafted, false).is_err());
    }
}
