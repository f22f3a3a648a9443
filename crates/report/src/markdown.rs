//! The brief as Markdown, for email and chat: tables, no images. Every text from the data is
//! escaped, so a comment or an entity name is shown as written and never becomes markup.

use super::data::{Brief, Change, EntityRow};
use super::format::{change, dead_letters, number, pct, sentiment, signed, when};
use std::fmt::Write;

/// Escapes what Markdown (and the HTML it may carry) would read as markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn headline_row(out: &mut String, name: &str, c: &Change) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} |",
        number(c.value),
        number(c.previous),
        change(c.change_pct)
    );
}

fn entity_table(out: &mut String, rows: &[EntityRow]) {
    out.push_str("| # | Entity | Mentions | vs previous | Peak z | Sentiment |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|\n");
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {} | {} | {} | {} |",
            i + 1,
            escape(&r.entity_name),
            escape(&r.entity_id),
            number(r.mentions as f64),
            change(r.change_pct),
            pct(r.peak_z, 1),
            r.sentiment_mean.map_or("—".into(), |s| signed(s, 2)),
        );
    }
    out.push('\n');
}

pub fn render(brief: &Brief) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} — {}\n", brief.title, escape(&brief.period));
    let _ = writeln!(
        out,
        "{} to {} (UTC), compared with {} to {}. Snapshot {}, frontier {}.\n",
        when(&brief.from),
        when(&brief.to),
        when(&brief.previous_from),
        when(&brief.previous_to),
        brief.quality.snapshot,
        brief.quality.frontier
    );
    if brief.empty {
        out.push_str("**No comments in this period.** The lake holds no comment created between these times: nothing to report.\n\n");
        quality(&mut out, brief);
        return out;
    }
    out.push_str("## Headline\n\n| | This period | Previous | Change |\n|---|---:|---:|---:|\n");
    let h = &brief.headline;
    headline_row(&mut out, "Comments", &h.comments);
    headline_row(&mut out, "Mentions", &h.mentions);
    headline_row(&mut out, "Entities mentioned", &h.entities_mentioned);
    headline_row(&mut out, "Alerts fired", &h.alerts_fired);
    out.push_str("\n## Top entities by mentions\n\n");
    entity_table(&mut out, &brief.top_by_mentions);
    out.push_str("## Top movers by peak velocity (z)\n\n");
    entity_table(&mut out, &brief.top_by_velocity);
    if !brief.watch.is_empty() {
        out.push_str("## Watch list\n\n");
        entity_table(&mut out, &brief.watch);
    }
    alerts(&mut out, brief);
    evidence(&mut out, brief);
    sentiment_and_channels(&mut out, brief);
    quality(&mut out, brief);
    out
}

fn alerts(out: &mut String, brief: &Brief) {
    let _ = writeln!(out, "## Alert timeline ({} alerts)\n", brief.alerts.len());
    if brief.alerts.is_empty() {
        out.push_str("No alert in this period.\n\n");
        return;
    }
    out.push_str(
        "| Window (UTC) | Entity | Lifecycle | Peak mentions | Baseline | Peak z | Ratio |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|\n");
    for a in &brief.alerts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | ×{} |",
            when(&a.window_start),
            escape(&a.entity_name),
            a.kinds.join(" → "),
            number(a.peak_mentions as f64),
            pct(a.baseline_mean, 1),
            pct(a.peak_z, 1),
            pct(a.peak_ratio, 1),
        );
    }
    out.push('\n');
}

fn evidence(out: &mut String, brief: &Brief) {
    if brief.evidence.is_empty() {
        return;
    }
    out.push_str("## Why the top alerts fired\n\n");
    for e in &brief.evidence {
        let _ = writeln!(
            out,
            "### {} at {} — {} comments\n",
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
            let _ = writeln!(
                out,
                "> {}\n>\n> — {who} in {place}, {}{score}\n",
                escape(&q.text),
                when(&q.created_at)
            );
        }
        if !e.co_mentioned.is_empty() {
            let names: Vec<String> = (e.co_mentioned.iter())
                .map(|(id, n)| format!("{} ({n})", escape(id)))
                .collect();
            let _ = writeln!(out, "Also mentioned: {}.\n", names.join(", "));
        }
    }
}

fn sentiment_and_channels(out: &mut String, brief: &Brief) {
    out.push_str(
        "## Sentiment by entity\n\n| Entity | Mean | Previous | Change |\n|---|---:|---:|---:|\n",
    );
    for r in &brief.top_by_mentions {
        let [now, then, delta] = sentiment(r);
        let _ = writeln!(
            out,
            "| {} | {now} | {then} | {delta} |",
            escape(&r.entity_name)
        );
    }
    out.push_str("\n## Channels\n\n| Channel | Comments | Share |\n|---|---:|---:|\n");
    for c in &brief.channels {
        let _ = writeln!(
            out,
            "| {} | {} | {}% |",
            escape(&c.channel),
            number(c.comments as f64),
            pct(c.share_pct, 1)
        );
    }
    out.push_str("\n## New entrants\n\n");
    if brief.new_entrants.is_empty() {
        out.push_str("No entity new to this period.\n\n");
    } else {
        out.push_str("Entities with at least 3 mentions this period and none in the previous one.\n\n| Entity | Mentions |\n|---|---:|\n");
        for r in &brief.new_entrants {
            let _ = writeln!(
                out,
                "| {} ({}) | {} |",
                escape(&r.entity_name),
                escape(&r.entity_id),
                number(r.mentions as f64)
            );
        }
        out.push('\n');
    }
}

fn quality(out: &mut String, brief: &Brief) {
    let q = &brief.quality;
    out.push_str("## Data quality\n\n");
    let dead = dead_letters(&q.dead_letters, escape);
    let _ = writeln!(out, "- Dead letters in the lake: {dead}");
    let _ = writeln!(out, "- Watermark: {}", when(&q.watermark));
    let _ = writeln!(
        out,
        "- Snapshot {} (frontier {}), written {}",
        q.snapshot,
        q.frontier,
        when(&q.snapshot_created_at)
    );
    let _ = writeln!(
        out,
        "- Late corrections applied: {} alert events updated or retracted an earlier one",
        number(q.corrections as f64)
    );
}
