//! The brief as one self-contained HTML page: inline CSS, inline SVG charts, no script, no
//! external asset. Every text from the data is escaped.

use super::data::{Brief, Change, EntityRow, Point};
use super::format::{change, dead_letters, number, pct, sentiment, when};
use std::fmt::Write;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'Iowan Old Style','Palatino Linotype',Georgia,serif;color:#1d2433;max-width:60rem;margin:2rem auto;padding:0 1.25rem;line-height:1.45}
h1{font-size:1.9rem;margin:0}h2{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:1px solid #d9dee8;padding-bottom:.2rem}
h3{font-size:1.02rem;margin:1.2rem 0 .4rem}.sub{color:#5b6478;margin:.3rem 0 1.5rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.92rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #e7eaf0;text-align:left;vertical-align:middle}
th{font-weight:600;color:#5b6478;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
td.n,th.n{text-align:right}.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:.8rem}
.card{border:1px solid #e1e5ee;border-radius:.5rem;padding:.7rem .9rem}.card .v{font-size:1.6rem;font-weight:600}
.card .l{color:#5b6478;font-size:.8rem;text-transform:uppercase}.up{color:#1a7f37}.down{color:#b42318}
blockquote{margin:.5rem 0;padding:.4rem .9rem;border-left:3px solid #c9d1e0;background:#f6f8fb;white-space:pre-wrap}
.who{color:#5b6478;font-size:.85rem}.empty{padding:1rem;border:1px dashed #c9d1e0;border-radius:.5rem}
footer{margin-top:2.5rem;color:#5b6478;font-size:.85rem}svg{display:block}
@media (max-width:40rem){.cards{grid-template-columns:repeat(2,1fr)}}";

fn card(out: &mut String, label: &str, c: &Change) {
    let class = match c.change_pct {
        Some(p) if p > 0.0 => "up",
        Some(p) if p < 0.0 => "down",
        _ => "",
    };
    let _ = write!(
        out,
        "<div class=card><div class=l>{label}</div><div class=v>{}</div><div class={class}>{} vs {}</div></div>",
        number(c.value),
        change(c.change_pct),
        number(c.previous)
    );
}

/// A small velocity chart over the period `[from_ms, to_ms)`: each window's mentions as a bar
/// at its time (windows without mentions have none), over the baseline band (mean ± std).
pub fn sparkline(points: &[Point], from_ms: i64, to_ms: i64) -> String {
    let (w, h) = (160.0, 32.0);
    if points.is_empty() || to_ms <= from_ms {
        return format!("<svg width={w} height={h} role=img aria-label=\"no windows\"></svg>");
    }
    let top = points
        .iter()
        .map(|p| (p.mentions as f64).max(p.baseline_mean + p.baseline_std))
        .fold(1.0, f64::max);
    let span = (to_ms - from_ms) as f64;
    let x = |ms: i64| ((ms - from_ms) as f64 / span * w).clamp(0.0, w);
    let y = |v: f64| h - (v / top * (h - 2.0)).min(h - 2.0);
    let mut band_top = String::new();
    let mut band_bottom = Vec::new();
    for p in points {
        let at = x(p.window_start_ms);
        let _ = write!(
            band_top,
            "{at:.1},{:.1} ",
            y(p.baseline_mean + p.baseline_std)
        );
        band_bottom.push(format!(
            "{at:.1},{:.1}",
            y((p.baseline_mean - p.baseline_std).max(0.0))
        ));
    }
    band_bottom.reverse();
    let mut svg = format!(
        "<svg width={w} height={h} viewBox=\"0 0 {w} {h}\" role=img aria-label=\"mentions per window against the baseline band\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fbfcfe\"/><polygon points=\"{band_top}{}\" fill=\"#dfe6f3\"/>",
        band_bottom.join(" ")
    );
    for p in points {
        let fill = if p.alert { "#c2410c" } else { "#3b6fd8" };
        let top = y(p.mentions as f64);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"1\" height=\"{:.1}\" fill=\"{fill}\"/>",
            x(p.window_start_ms),
            h - top
        );
    }
    svg.push_str("</svg>");
    svg
}

fn entities(out: &mut String, rows: &[EntityRow], brief: &Brief) {
    let parse = |t: &str| calendar::parse_rfc3339_ms(t).unwrap_or(0);
    let (from_ms, to_ms) = (parse(&brief.chart_from), parse(&brief.chart_to));
    out.push_str("<table><tr><th class=n>#</th><th>Entity</th><th class=n>Mentions</th><th class=n>vs previous</th><th class=n>Peak z</th><th>Velocity</th></tr>");
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td class=n>{}</td><td>{} <span class=who>{}</span></td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
            i + 1,
            escape(&r.entity_name),
            escape(&r.entity_id),
            number(r.mentions as f64),
            change(r.change_pct),
            pct(r.peak_z, 1),
            sparkline(&super::data::thin(&r.series, from_ms, to_ms, 100), from_ms, to_ms)
        );
    }
    out.push_str("</table>");
}

pub fn render(brief: &Brief) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>{} — {}</title><style>{STYLE}</style></head><body>",
        escape(&brief.title),
        escape(&brief.period)
    );
    let _ = write!(
        out,
        "<header><h1>{} — {}</h1><p class=sub>{} to {} UTC, compared with {} to {}. Snapshot {}, frontier {}.</p></header>",
        escape(&brief.title),
        escape(&brief.period),
        when(&brief.from),
        when(&brief.to),
        when(&brief.previous_from),
        when(&brief.previous_to),
        brief.quality.snapshot,
        brief.quality.frontier
    );
    if brief.empty {
        out.push_str("<p class=empty><strong>No comments in this period.</strong> The lake holds no comment created between these times: nothing to report.</p>");
    } else {
        body(&mut out, brief);
    }
    quality(&mut out, brief);
    out.push_str("</body></html>\n");
    out
}

fn body(out: &mut String, brief: &Brief) {
    let h = &brief.headline;
    out.push_str("<h2>Headline</h2><div class=cards>");
    card(out, "Comments", &h.comments);
    card(out, "Mentions", &h.mentions);
    card(out, "Entities mentioned", &h.entities_mentioned);
    card(out, "Alerts fired", &h.alerts_fired);
    out.push_str("</div><h2>Top entities by mentions</h2>");
    entities(out, &brief.top_by_mentions, brief);
    out.push_str("<h2>Top movers by peak velocity (z)</h2>");
    entities(out, &brief.top_by_velocity, brief);
    if !brief.watch.is_empty() {
        out.push_str("<h2>Watch list</h2>");
        entities(out, &brief.watch, brief);
    }
    let _ = write!(
        out,
        "<h2>Alert timeline ({} alerts)</h2>",
        brief.alerts.len()
    );
    if brief.alerts.is_empty() {
        out.push_str("<p>No alert in this period.</p>");
    } else {
        out.push_str("<table><tr><th>Window (UTC)</th><th>Entity</th><th>Lifecycle</th><th class=n>Peak mentions</th><th class=n>Baseline</th><th class=n>Peak z</th><th class=n>Ratio</th></tr>");
        for a in &brief.alerts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>×{}</td></tr>",
                when(&a.window_start),
                escape(&a.entity_name),
                a.kinds.join(" → "),
                number(a.peak_mentions as f64),
                pct(a.baseline_mean, 1),
                pct(a.peak_z, 1),
                pct(a.peak_ratio, 1)
            );
        }
        out.push_str("</table>");
    }
    evidence(out, brief);
    sentiment_and_channels(out, brief);
}

fn evidence(out: &mut String, brief: &Brief) {
    if brief.evidence.is_empty() {
        return;
    }
    out.push_str("<h2>Why the top alerts fired</h2>");
    for e in &brief.evidence {
        let _ = write!(
            out,
            "<h3>{} at {} — {} comments</h3>",
            escape(&e.entity_name),
            when(&e.window_start),
            number(e.comments as f64)
        );
        for q in &e.quotes {
            let who = q
                .author
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "anonymous".into());
            let place = q.channel.as_deref().map(escape).unwrap_or_default();
            let score = q.score.map(|s| format!(", score {s}")).unwrap_or_default();
            let _ = write!(
                out,
                "<blockquote>{}<div class=who>— {who} in {place}, {}{score}</div></blockquote>",
                escape(&q.text),
                when(&q.created_at)
            );
        }
        if !e.co_mentioned.is_empty() {
            let names: Vec<String> = (e.co_mentioned.iter())
                .map(|(id, n)| format!("{} ({n})", escape(id)))
                .collect();
            let _ = write!(out, "<p>Also mentioned: {}.</p>", names.join(", "));
        }
    }
}

fn sentiment_and_channels(out: &mut String, brief: &Brief) {
    out.push_str("<h2>Sentiment by entity</h2><table><tr><th>Entity</th><th class=n>Mean</th><th class=n>Previous</th><th class=n>Change</th></tr>");
    for r in &brief.top_by_mentions {
        let [now, then, delta] = sentiment(r);
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=n>{now}</td><td class=n>{then}</td><td class=n>{delta}</td></tr>",
            escape(&r.entity_name),
        );
    }
    out.push_str("</table><h2>Channels</h2><table><tr><th>Channel</th><th class=n>Comments</th><th class=n>Share</th></tr>");
    for c in &brief.channels {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}%</td></tr>",
            escape(&c.channel),
            number(c.comments as f64),
            pct(c.share_pct, 1)
        );
    }
    out.push_str("</table><h2>New entrants</h2>");
    if brief.new_entrants.is_empty() {
        out.push_str("<p>No entity new to this period.</p>");
    } else {
        out.push_str("<p>Entities with at least 3 mentions this period and none in the previous one.</p><table><tr><th>Entity</th><th class=n>Mentions</th></tr>");
        for r in &brief.new_entrants {
            let _ = write!(
                out,
                "<tr><td>{} <span class=who>{}</span></td><td class=n>{}</td></tr>",
                escape(&r.entity_name),
                escape(&r.entity_id),
                number(r.mentions as f64)
            );
        }
        out.push_str("</table>");
    }
}

fn quality(out: &mut String, brief: &Brief) {
    let q = &brief.quality;
    let _ = write!(
        out,
        "<footer><h2>Data quality</h2><p>Dead letters in the lake: {}. Watermark {}. Snapshot {} (frontier {}), written {}. Late corrections applied: {} alert events updated or retracted an earlier one.</p></footer>",
        dead_letters(&q.dead_letters, escape),
        when(&q.watermark),
        q.snapshot,
        q.frontier,
        when(&q.snapshot_created_at),
        number(q.corrections as f64)
    );
}
