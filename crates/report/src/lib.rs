//! `chatter report`: the weekly brief (SPEC §3.5) from one lake snapshot. It reads only the
//! period and the one before it through the lake's read library (`data`), then renders the
//! same [`data::Brief`] as Markdown or HTML, written atomically (a temporary file renamed over
//! the output). It depends on the lake's read library only: no timely, no Kafka.

pub mod data;
pub mod format;
pub mod html;
pub mod markdown;
pub mod pdf;

pub use data::Step;

use anyhow::{anyhow, bail, Context, Result};
use chatter_lake::read::{LakeReader, TimeRange};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Pdf,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format> {
        match text.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" | "htm" => Ok(Format::Html),
            "pdf" => Ok(Format::Pdf),
            other => bail!("unknown format {other:?}: use md, html or pdf (--format, or the extension of --out)"),
        }
    }

    /// From `--format`, else the output's extension.
    pub fn of(format: Option<&str>, out: &Path) -> Result<Format> {
        if let Some(format) = format {
            return Format::parse(format);
        }
        let extension = out.extension().and_then(|e| e.to_str()).unwrap_or("");
        Format::parse(extension).map_err(|_| {
            anyhow!(
                "{} has no known extension: name it .md, .html or .pdf, or give --format",
                out.display()
            )
        })
    }
}

/// What `chatter report` was asked.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub lake: PathBuf,
    pub snapshot: Option<u64>,
    pub week: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub entities: Vec<String>,
    pub top: usize,
    pub out: PathBuf,
    pub format: Option<String>,
}

/// The period asked for: `--week`, or `--from` and `--to`.
pub fn period(settings: &ReportSettings) -> Result<(String, TimeRange)> {
    match (&settings.week, &settings.from, &settings.to) {
        (Some(week), None, None) => {
            let range = TimeRange::iso_week(week.trim()).map_err(|e| anyhow!("--week: {e}"))?;
            Ok((week.trim().to_string(), range))
        }
        (None, Some(from), Some(to)) => {
            let parse = |name: &str, text: &str| {
                calendar::parse_rfc3339_ms(text.trim()).ok_or_else(|| {
                    anyhow!("--{name} {text:?} is not an RFC 3339 time: write it like 2021-01-25T00:00:00Z")
                })
            };
            let (from_ms, to_ms) = (parse("from", from)?, parse("to", to)?);
            if from_ms >= to_ms {
                bail!("--to must be later than --from");
            }
            Ok((
                format!("{} to {}", format::when(from), format::when(to)),
                TimeRange::new(from_ms, to_ms),
            ))
        }
        (None, None, None) => bail!("give the period: --week 2021-W04, or --from and --to"),
        _ => bail!("give either --week, or both --from and --to"),
    }
}

/// Runs the report; returns the brief for the caller to summarise. `progress` hears each
/// [`Step`] as it starts.
pub fn run(settings: &ReportSettings, progress: &dyn Fn(Step)) -> Result<data::Brief> {
    let format = Format::of(settings.format.as_deref(), &settings.out)?;
    let (label, range) = period(settings)?;
    if settings.top == 0 {
        bail!("--top 0 shows nothing: give at least 1 (default 10)");
    }
    progress(Step::Open);
    let lake = LakeReader::open(&settings.lake).map_err(|e| anyhow!("--lake: {e}"))?;
    let snapshot = match settings.snapshot {
        Some(id) => lake.snapshot(id),
        None => lake.current(),
    }
    .map_err(|e| anyhow!("{e}"))?;
    check_inside(&snapshot, range, &label)?;
    let request = data::Request {
        week: settings.week.is_some(),
        label,
        range,
        watch: settings.entities.clone(),
        top: settings.top,
    };
    let brief = data::compute(&snapshot, &request, progress).map_err(|e| anyhow!("{e}"))?;
    progress(Step::Render);
    let bytes = match format {
        Format::Markdown => markdown::render(&brief).into_bytes(),
        Format::Html => html::render(&brief).into_bytes(),
        Format::Pdf => pdf::render(&brief)?,
    };
    progress(Step::Write);
    write_atomically(&settings.out, &bytes)?;
    Ok(brief)
}

/// A period entirely outside the days the snapshot holds is an error (a period inside them
/// with no comment is a short brief).
fn check_inside(
    snapshot: &chatter_lake::read::SnapshotReader,
    range: TimeRange,
    label: &str,
) -> Result<()> {
    let days = snapshot.days(chatter_lake::read::Table::Comments);
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(());
    };
    let day = 86_400_000;
    let (from, to) = (
        range.from_ms.unwrap_or(i64::MIN),
        range.to_ms.unwrap_or(i64::MAX),
    );
    if to <= *first || from >= last + day {
        let name = |ms: i64| calendar::format_rfc3339_ms(ms)[..10].to_string();
        bail!(
            "{label} is outside the lake: snapshot {} holds comments from {} to {}",
            snapshot.id(),
            name(*first),
            name(*last)
        );
    }
    Ok(())
}

/// Writes `bytes` to a temporary file next to `out` and renames it over `out`: a reader
/// never sees half a brief, and a failure leaves no file behind.
pub fn write_atomically(out: &Path, bytes: &[u8]) -> Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("--out {} is not a file name", out.display()))?;
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, out)?;
        Ok(())
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(error).with_context(|| {
            format!(
                "cannot write {}: give a writable path with --out",
                out.display()
            )
        });
    }
    Ok(())
}
