//! `chatter backup` and `chatter restore`: copy the current snapshot out of a lake (while
//! chatter runs) and install a copy into a lake, verifying every checksum both ways.

use super::{crash_point, load_snapshot, snapshot_name, sync_dir, Lake, Manifest, LAKE_MARKER};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Copies the snapshot in `from` into `to/snapshots/<id>` (via a temporary directory),
/// verifies the copies and returns its manifest.
fn copy_snapshot(from: &Path, to_root: &Path, id: u64) -> Result<Manifest> {
    let snapshot = load_snapshot(from, true)?;
    let tmp = to_root
        .join("snapshots")
        .join(format!(".tmp-{}", snapshot_name(id)));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    for file in snapshot
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(["manifest.json"])
    {
        let target = tmp.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(from.join(file), &target).with_context(|| {
            format!(
                "cannot copy {} to {}",
                from.join(file).display(),
                target.display()
            )
        })?;
        std::fs::File::open(&target)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", target.display()))?;
    }
    // The copy must verify on its own before it becomes visible.
    let copied = load_snapshot(&tmp, true).context("the copy does not verify")?;
    let mut manifest = copied.manifest;
    manifest.id = id;
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(tmp.join("manifest.json"), bytes)?;
    for entry in walk_dirs(&tmp)? {
        sync_dir(&entry)?;
    }
    let final_dir = to_root.join("snapshots").join(snapshot_name(id));
    std::fs::rename(&tmp, &final_dir)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), final_dir.display()))?;
    sync_dir(&to_root.join("snapshots"))?;
    Ok(manifest)
}

fn walk_dirs(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.extend(walk_dirs(&entry.path())?);
        }
    }
    Ok(out)
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// `chatter backup --lake LAKE --to DEST`: DEST becomes a lake holding a verified copy of
/// LAKE's current snapshot. Safe while chatter writes LAKE (snapshots are immutable; if the
/// one being copied is pruned meanwhile, the copy starts over from the new current).
pub fn backup(lake: &Path, dest: &Path) -> Result<Manifest> {
    let source = Lake::open_existing(lake)?;
    if dest.exists() && !is_empty_dir(dest) {
        if dest.join("LAKE").exists() {
            bail!(
                "{} already holds a lake: back up into a new or empty directory (or remove it first)",
                dest.display()
            );
        }
        bail!(
            "{} exists and is not empty: back up into a new or empty directory",
            dest.display()
        );
    }
    std::fs::create_dir_all(dest.join("snapshots")).with_context(|| {
        format!(
            "cannot create {}: check the path and permissions",
            dest.display()
        )
    })?;
    let mut last_error = None;
    for _attempt in 0..5 {
        if std::fs::symlink_metadata(lake.join("current")).is_err() {
            bail!(
                "{} has no snapshot yet (no {}/current): let chatter run on it first",
                lake.display(),
                lake.display()
            );
        }
        // The snapshot `current` names may be pruned while we read it: try the newer one.
        let current = match source.current() {
            Ok(current) => current,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        crash_point("backup");
        match copy_snapshot(&current.dir, dest, current.manifest.id) {
            Ok(manifest) => {
                std::fs::write(dest.join("LAKE"), LAKE_MARKER)?;
                Lake::open_existing(dest)?.point_current(manifest.id)?;
                return Ok(manifest);
            }
            Err(error) => {
                // Pruned while copying? Try the newer current.
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("backup failed")))
}

/// Why a restore installed nothing: the user's to fix (`Refused`: no backup at that path, a
/// lake another chatter holds, a lake with snapshots and no `force`; the command exits 2), or
/// a failure (`Failed`: a damaged backup, an I/O error; exit 1).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0:#}")]
    Refused(anyhow::Error),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

/// `chatter restore --from BACKUP --lake LAKE`: verifies BACKUP's current snapshot and installs
/// it as LAKE's newest snapshot (LAKE is created if missing). Refuses a damaged backup and
/// leaves LAKE untouched then. A lake that already has snapshots needs `force`.
pub fn restore(from: &Path, lake: &Path, force: bool) -> Result<Manifest, RestoreError> {
    let backup = Lake::open_existing(from)
        .with_context(|| {
            format!(
                "{} is not a backup made by `chatter backup`",
                from.display()
            )
        })
        .map_err(RestoreError::Refused)?;
    let snapshot = backup.current().with_context(|| {
        format!(
            "the backup {} is damaged and was not installed",
            from.display()
        )
    })?;
    let target = Lake::open_or_create(lake).map_err(RestoreError::Refused)?;
    let ids = target.snapshot_ids()?;
    if !ids.is_empty() && !force {
        return Err(RestoreError::Refused(anyhow::anyhow!(
            "{} already has {} snapshot(s): pass --force to install the backup as its newest snapshot (older ones stay)",
            lake.display(),
            ids.len()
        )));
    }
    let id = ids.last().map_or(snapshot.manifest.id, |last| {
        (last + 1).max(snapshot.manifest.id)
    });
    let manifest = copy_snapshot(&snapshot.dir, lake, id)?;
    target.point_current(id)?;
    Ok(manifest)
}
