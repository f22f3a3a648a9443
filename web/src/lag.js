// The lag panel: records waiting, watermark lag, epoch latency, the 10-minute trend chart
// and the per-source table, all from the status.

import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';
import { LiveChart, lagChartOptions } from './charts.js';

let lagChart = null;

export function renderLag(s) {
  setText($('#lag-records'), fmt.int(s.lag_records));
  setText($('#lag-watermark'), fmt.duration(s.watermark_lag_seconds));
  const el = s.epoch_latency_ms || {};
  setText($('#lag-epoch'), el.epochs ? fmt.num1(el.p50) + ' / ' + fmt.num1(el.p99) + ' ms' : fmt.DASH);
  renderLagChart(s.trend || []);
  renderSources(Array.isArray(s.sources) ? s.sources : []);
}

function renderLagChart(trend) {
  const rows = trend.filter((t) => fmt.parseTime(t.at) != null);
  $('#lag-empty').hidden = rows.length > 0;
  $('#lag-chart').hidden = rows.length === 0;
  if (!rows.length) return;
  if (!lagChart) lagChart = new LiveChart($('#lag-chart'), lagChartOptions, 124);
  lagChart.set([
    rows.map((t) => fmt.parseTime(t.at) / 1000),
    rows.map((t) => t.lag_records ?? null),
    rows.map((t) => t.watermark_lag_seconds ?? null),
  ]);
}

function renderSources(sources) {
  replace(
    $('#sources-body'),
    sources.length
      ? sources.map((src) =>
          h('tr', null,
            h('td', { class: 'mono wrap' }, src.source),
            h('td', { class: 'num' }, fmt.int(src.records)),
            h('td', { class: 'num' }, fmt.int(src.lag_records)),
          ),
        )
      : h('tr', null, h('td', { colspan: 3, class: 'empty-cell' }, 'No sources yet.')),
  );
}
