//! Where the API's rows come from: the live view the runtime publishes (window rows of the last
//! [`WINDOW_VIEW_MS`] before the watermark, the newest alert events) and, for anything older,
//! the lake's current snapshot, read with partition pruning. Live rows win where both have a
//! window: they are newer. Lake reads are blocking file IO: callers run them with
//! `spawn_blocking`.

use crate::lake::read::{AlertFilter, LakeReader, ReadError, SnapshotReader, TimeRange};
use crate::lake::tables::{AlertRecord, WindowRecord};
use crate::runtime::{Status, WINDOW_VIEW_MS};
use std::path::PathBuf;
use std::sync::Mutex;

/// The lake, opened lazily (a run writes its first snapshot after it starts), with the current
/// snapshot kept open until a newer one is published.
pub struct Lake {
    root: Option<PathBuf>,
    current: Mutex<Option<SnapshotReader>>,
}

impl Lake {
    pub fn new(root: Option<PathBuf>) -> Lake {
        Lake {
            root,
            current: Mutex::new(None),
        }
    }

    pub fn configured(&self) -> bool {
        self.root.is_some()
    }

    pub fn reader(&self) -> Result<Option<LakeReader>, ReadError> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        match LakeReader::open(root) {
            Ok(reader) => Ok(Some(reader)),
            Err(ReadError::LakeMissing { .. } | ReadError::NoSnapshot { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The current snapshot (None: no lake, or no snapshot yet).
    pub fn current(&self) -> Result<Option<SnapshotReader>, ReadError> {
        let Some(reader) = self.reader()? else {
            return Ok(None);
        };
        let Some(id) = reader.current_id() else {
            return Ok(None);
        };
        let mut cached = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(snapshot) = cached.as_ref().filter(|s| s.id() == id) {
            return Ok(Some(snapshot.clone()));
        }
        let snapshot = match reader.current() {
            Ok(snapshot) => snapshot,
            Err(ReadError::NoSnapshot { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        *cached = Some(snapshot.clone());
        Ok(Some(snapshot))
    }

    /// Runs `read` on the current snapshot, picking it again once if it was removed meanwhile.
    pub fn with_current<T>(
        &self,
        read: impl Fn(&SnapshotReader) -> Result<T, ReadError>,
    ) -> Result<Option<(u64, T)>, ReadError> {
        for _ in 0..2 {
            let Some(snapshot) = self.current()? else {
                return Ok(None);
            };
            match read(&snapshot) {
                Ok(value) => return Ok(Some((snapshot.id(), value))),
                Err(ReadError::SnapshotRemoved { .. }) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(ReadError::SnapshotRemoved { id: 0 })
    }
}

/// The first window start the live view covers: older windows come from the lake.
pub fn live_from(status: &Status) -> i64 {
    status.watermark_ms.saturating_sub(WINDOW_VIEW_MS)
}

/// The window rows starting in `range` (all entities, or one), oldest first per entity, and
/// the snapshot read for the older part.
pub fn windows(
    status: &Status,
    lake: &Lake,
    entity_id: Option<&str>,
    range: TimeRange,
) -> Result<(Vec<WindowRecord>, Option<u64>), ReadError> {
    let cut = live_from(status);
    let mut rows: Vec<WindowRecord> = Vec::new();
    let mut snapshot = None;
    let older = TimeRange {
        from_ms: range.from_ms,
        to_ms: Some(range.to_ms.map_or(cut, |to| to.min(cut))),
    };
    if cut > i64::MIN && range.from_ms.is_none_or(|from| from < cut) && !older.is_empty() {
        if let Some((id, read)) = lake.with_current(|s| match entity_id {
            Some(entity_id) => s.windows(entity_id, older),
            None => s.all_windows(older),
        })? {
            snapshot = Some(id);
            rows.extend(read);
        }
    }
    let live = TimeRange {
        from_ms: Some(range.from_ms.map_or(cut, |from| from.max(cut))),
        to_ms: range.to_ms,
    };
    let mut add = |entity_rows: &Vec<WindowRecord>| {
        let in_range = entity_rows
            .iter()
            .filter(|w| live.contains(w.window_start_ms));
        rows.extend(in_range.cloned());
    };
    match entity_id {
        Some(id) => status.windows.get(id).into_iter().for_each(&mut add),
        None => status.windows.values().for_each(&mut add),
    }
    rows.sort_by(|a, b| (&a.entity_id, a.window_start_ms).cmp(&(&b.entity_id, b.window_start_ms)));
    Ok((rows, snapshot))
}

/// An alert event with its live sequence, if it has one.
pub type Sequenced = (AlertRecord, Option<u64>);

/// Alert events matching `filter` from the lake and the live buffer (each once), with their
/// live sequence where they have one, newest first.
pub fn alerts(
    status: &Status,
    lake: &Lake,
    filter: &AlertFilter,
) -> Result<(Vec<Sequenced>, Option<u64>), ReadError> {
    let (snapshot, stored) = match lake.with_current(|s| s.alerts(filter))? {
        Some((id, rows)) => (Some(id), rows),
        None => (None, Vec::new()),
    };
    let mut events: Vec<Sequenced> = Vec::new();
    let live: Vec<_> = status
        .recent_alerts
        .iter()
        .filter(|view| matches(&view.record, filter))
        .collect();
    for record in stored {
        let sequence = live
            .iter()
            .find(|view| same_event(&view.record, &record))
            .map(|v| v.sequence);
        events.push((record, sequence));
    }
    for view in &live {
        if !events
            .iter()
            .any(|(record, _)| same_event(record, &view.record))
        {
            events.push((view.record.clone(), Some(view.sequence)));
        }
    }
    events.sort_by(|(a, _), (b, _)| newest_first(a, b));
    Ok((events, snapshot))
}

/// The same event in the lake and the live buffer (their `emitted_at` may differ by the
/// moments between the two copies being made).
fn same_event(a: &AlertRecord, b: &AlertRecord) -> bool {
    AlertRecord {
        emitted_at_ms: b.emitted_at_ms,
        ..a.clone()
    } == *b
}

fn matches(record: &AlertRecord, filter: &AlertFilter) -> bool {
    filter.time.contains(record.window_start_ms)
        && filter
            .entity_id
            .as_ref()
            .is_none_or(|e| *e == record.entity_id)
        && filter.kind.as_ref().is_none_or(|k| *k == record.kind)
        && filter
            .alert_id
            .as_ref()
            .is_none_or(|a| *a == record.alert_id)
}

/// The order of `/api/v1/alerts`: newest decision first, then newest window, later kinds of a
/// lifecycle first, then by alert id.
pub fn newest_first(a: &AlertRecord, b: &AlertRecord) -> std::cmp::Ordering {
    sort_key(b)
        .cmp(&sort_key(a))
        .then_with(|| a.alert_id.cmp(&b.alert_id))
}

/// (as_of, window start, kind rank, emitted at): what the cursor of `/api/v1/alerts` holds.
pub fn sort_key(record: &AlertRecord) -> (i64, i64, usize, i64) {
    let rank = crate::lake::read::ALERT_KINDS
        .iter()
        .position(|k| *k == record.kind)
        .unwrap_or(0);
    (
        record.as_of_ms,
        record.window_start_ms,
        rank,
        record.emitted_at_ms,
    )
}
