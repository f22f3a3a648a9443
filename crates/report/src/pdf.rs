//! The brief as a typeset PDF: typst as a library, with a `World` of our own that holds one
//! template (`brief.typ`), one data file (`/brief.json`, the [`View`] below: every figure
//! already written as the other formats write it, and the charts' geometry computed here) and
//! the Libertinus Serif fonts shipped in `fonts/` (SIL OFL; no system font is looked up).
//! The template reads the data with `json()`, so a name holding `#` or `]` is text, never
//! code. No timestamp and a fixed document id: the same snapshot gives the same bytes.

use super::data::{Brief, Change, EntityRow, Point};
use super::format::{change, dead_letters, number, pct, sentiment, when};
use anyhow::{anyhow, Result};
use serde::Serialize;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

const TEMPLATE: &str = include_str!("brief.typ");
/// The only fonts the PDF uses (`fonts/README.md` says what each covers and its licence): the
/// text face, then the fallbacks typst picks a glyph from when the text face lacks it.
const FONTS: [&[u8]; 6] = [
    include_bytes!("fonts/LibertinusSerif-Regular.otf"),
    include_bytes!("fonts/LibertinusSerif-Bold.otf"),
    include_bytes!("fonts/LibertinusSerif-Italic.otf"),
    include_bytes!("fonts/LibertinusSerif-Semibold.otf"),
    include_bytes!("fonts/Symbola.ttf"),
    include_bytes!("fonts/DroidSansFallbackFull.ttf"),
];
/// A velocity chart's size in points.
const CHART_W: f64 = 90.0;
const CHART_H: f64 = 16.0;

/// A chart: bars `[x, y, w, h]` (alert windows apart) over the band's polygon `[x, y]`.
#[derive(Serialize, Default)]
struct Chart {
    bars: Vec<[f64; 4]>,
    alerts: Vec<[f64; 4]>,
    band: Vec<[f64; 2]>,
}

#[derive(Serialize)]
struct Row {
    cells: Vec<String>,
    chart: Chart,
}

#[derive(Serialize)]
struct Quote {
    text: String,
    who: String,
}

#[derive(Serialize)]
struct Evidence {
    heading: String,
    quotes: Vec<Quote>,
    also: String,
}

/// What the template reads: strings as the brief shows them.
#[derive(Serialize)]
struct View {
    title: String,
    period: String,
    subtitle: String,
    empty: bool,
    headline: Vec<[String; 4]>,
    top_mentions: Vec<Row>,
    top_velocity: Vec<Row>,
    watch: Vec<Row>,
    alerts: Vec<Vec<String>>,
    evidence: Vec<Evidence>,
    sentiment: Vec<Vec<String>>,
    channels: Vec<Vec<String>>,
    entrants: Vec<Vec<String>>,
    quality: Vec<String>,
    footer: String,
}

/// Emoji and CJK print from the fallback fonts. A character no font has becomes `·` (one for
/// a run of them), so nothing prints as an empty box; joiners, variation selectors and skin
/// tones no font has are dropped, as they only modify the emoji before them. The HTML and
/// Markdown keep every character.
struct Glyphs(Vec<Font>);

impl Glyphs {
    fn text(&self, text: &str) -> String {
        let covered = |c: char| {
            c.is_whitespace() || self.0.iter().any(|f| f.info().coverage.contains(c as u32))
        };
        let modifier = |c: char| matches!(c as u32, 0x200C | 0x200D | 0xFE00..=0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F);
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if covered(c) {
                out.push(if c == '\n' || c == '\r' { ' ' } else { c });
            } else if !modifier(c) && !out.ends_with('·') {
                out.push('·');
            }
        }
        out
    }
}

fn chart(points: &[Point], from_ms: i64, to_ms: i64) -> Chart {
    if points.is_empty() || to_ms <= from_ms {
        return Chart::default();
    }
    let top = (points.iter())
        .map(|p| (p.mentions as f64).max(p.baseline_mean + p.baseline_std))
        .fold(1.0, f64::max);
    let x =
        |ms: i64| ((ms - from_ms) as f64 / (to_ms - from_ms) as f64 * CHART_W).clamp(0.0, CHART_W);
    let y = |v: f64| CHART_H - (v / top * CHART_H).min(CHART_H);
    let mut c = Chart::default();
    let mut bottom = Vec::new();
    for p in points {
        let at = x(p.window_start_ms);
        c.band.push([at, y(p.baseline_mean + p.baseline_std)]);
        bottom.push([at, y((p.baseline_mean - p.baseline_std).max(0.0))]);
        let bar = [
            at,
            y(p.mentions as f64),
            0.6,
            CHART_H - y(p.mentions as f64),
        ];
        if p.alert {
            c.alerts.push(bar)
        } else {
            c.bars.push(bar)
        }
    }
    bottom.reverse();
    c.band.extend(bottom);
    c
}

fn rows(rows: &[EntityRow], glyphs: &Glyphs, from_ms: i64, to_ms: i64) -> Vec<Row> {
    (rows.iter().enumerate())
        .map(|(i, r)| Row {
            cells: vec![
                (i + 1).to_string(),
                format!(
                    "{} ({})",
                    glyphs.text(&r.entity_name),
                    glyphs.text(&r.entity_id)
                ),
                number(r.mentions as f64),
                change(r.change_pct),
                pct(r.peak_z, 1),
            ],
            chart: chart(
                &super::data::thin(&r.series, from_ms, to_ms, 100),
                from_ms,
                to_ms,
            ),
        })
        .collect()
}

fn headline(label: &str, c: &Change) -> [String; 4] {
    [
        label.into(),
        number(c.value),
        number(c.previous),
        change(c.change_pct),
    ]
}

fn view(brief: &Brief, glyphs: &Glyphs) -> View {
    let parse = |t: &str| calendar::parse_rfc3339_ms(t).unwrap_or(0);
    let (from_ms, to_ms) = (parse(&brief.chart_from), parse(&brief.chart_to));
    let h = &brief.headline;
    let q = &brief.quality;
    View {
        title: brief.title.clone(),
        period: glyphs.text(&brief.period),
        subtitle: format!(
            "{} to {} UTC, compared with {} to {}",
            when(&brief.from),
            when(&brief.to),
            when(&brief.previous_from),
            when(&brief.previous_to)
        ),
        empty: brief.empty,
        headline: vec![
            headline("Comments", &h.comments),
            headline("Mentions", &h.mentions),
            headline("Entities mentioned", &h.entities_mentioned),
            headline("Alerts fired", &h.alerts_fired),
        ],
        top_mentions: rows(&brief.top_by_mentions, glyphs, from_ms, to_ms),
        top_velocity: rows(&brief.top_by_velocity, glyphs, from_ms, to_ms),
        watch: rows(&brief.watch, glyphs, from_ms, to_ms),
        alerts: (brief.alerts.iter())
            .map(|a| {
                vec![
                    when(&a.window_start),
                    glyphs.text(&a.entity_name),
                    a.kinds.join(" → "),
                    number(a.peak_mentions as f64),
                    pct(a.baseline_mean, 1),
                    pct(a.peak_z, 1),
                    format!("×{}", pct(a.peak_ratio, 1)),
                ]
            })
            .collect(),
        evidence: evidence(brief, glyphs),
        sentiment: (brief.top_by_mentions.iter())
            .map(|r| {
                let [now, then, delta] = sentiment(r);
                vec![glyphs.text(&r.entity_name), now, then, delta]
            })
            .collect(),
        channels: (brief.channels.iter())
            .map(|c| {
                vec![
                    glyphs.text(&c.channel),
                    number(c.comments as f64),
                    format!("{}%", pct(c.share_pct, 1)),
                ]
            })
            .collect(),
        entrants: (brief.new_entrants.iter())
            .map(|r| {
                vec![
                    format!(
                        "{} ({})",
                        glyphs.text(&r.entity_name),
                        glyphs.text(&r.entity_id)
                    ),
                    number(r.mentions as f64),
                ]
            })
            .collect(),
        quality: vec![
            format!(
                "Dead letters in the lake: {}",
                dead_letters(&q.dead_letters, |r| glyphs.text(r))
            ),
            format!("Watermark: {}", when(&q.watermark)),
            format!(
                "Snapshot {} (frontier {}), written {}",
                q.snapshot,
                q.frontier,
                when(&q.snapshot_created_at)
            ),
            format!(
                "Late corrections applied: {} alert events updated or retracted an earlier one",
                number(q.corrections as f64)
            ),
        ],
        footer: format!(
            "chatter · snapshot {} · frontier {}",
            q.snapshot, q.frontier
        ),
    }
}

fn evidence(brief: &Brief, glyphs: &Glyphs) -> Vec<Evidence> {
    (brief.evidence.iter())
        .map(|e| Evidence {
            heading: format!(
                "{} at {} — {} comments",
                glyphs.text(&e.entity_name),
                when(&e.window_start),
                number(e.comments as f64)
            ),
            quotes: (e.quotes.iter())
                .map(|q| Quote {
                    text: glyphs.text(&q.text),
                    who: format!(
                        "— {} in {}, {}{}",
                        q.author
                            .as_deref()
                            .map(|a| glyphs.text(a))
                            .unwrap_or_else(|| "anonymous".into()),
                        q.channel
                            .as_deref()
                            .map(|c| glyphs.text(c))
                            .unwrap_or_default(),
                        when(&q.created_at),
                        q.score.map(|s| format!(", score {s}")).unwrap_or_default()
                    ),
                })
                .collect(),
            also: if e.co_mentioned.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = (e.co_mentioned.iter())
                    .map(|(id, n)| format!("{} ({n})", glyphs.text(id)))
                    .collect();
                format!("Also mentioned: {}.", names.join(", "))
            },
        })
        .collect()
}

/// The world typst compiles in: the template, the data and the shipped fonts, nothing else.
struct BriefWorld {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    data_id: FileId,
    data: Bytes,
}

impl World for BriefWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotFound(
                "only the brief's template is available".into(),
            ))
        }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else {
            Err(FileError::NotFound("only /brief.json is available".into()))
        }
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

fn file_id(path: &str) -> Result<FileId> {
    let vpath = VirtualPath::new(path).map_err(|e| anyhow!("{path}: {e:?}"))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

/// Typesets the brief.
pub fn render(brief: &Brief) -> Result<Vec<u8>> {
    let fonts: Vec<Font> = FONTS
        .iter()
        .flat_map(|bytes| Font::iter(Bytes::new(*bytes)))
        .collect();
    let glyphs = Glyphs(fonts.clone());
    let data = serde_json::to_vec(&view(brief, &glyphs))?;
    let world = BriefWorld {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        main: Source::new(file_id("/brief.typ")?, TEMPLATE.to_string()),
        data_id: file_id("/brief.json")?,
        data: Bytes::new(data),
    };
    let document = typst::compile::<PagedDocument>(&world)
        .output
        .map_err(|errors| {
            anyhow!(
                "the brief's template failed: {}",
                messages(errors.as_slice())
            )
        })?;
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(format!(
            "chatter-brief-{}-{}",
            brief.period, brief.quality.snapshot
        )),
        timestamp: None,
        ..typst_pdf::PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options)
        .map_err(|errors| anyhow!("cannot write the PDF: {}", messages(errors.as_slice())))
}

fn messages(errors: &[typst::diag::SourceDiagnostic]) -> String {
    let list: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    list.join("; ")
}
