// The entity panel: the selected entity's windows over the live view (GET
// /api/v1/entities/{id}/windows every 5 s) against its baseline band and alert threshold,
// and the figures of its latest window.

import { ApiError, get, url } from './api.js';
import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';
import { state, params, TOP_MS } from './state.js';
import { Poller } from './poller.js';
import { LiveChart, entityChartOptions } from './charts.js';

const LIVE_VIEW_MS = 6 * 3600 * 1000;
/** At most this many window slots are drawn (the newest). */
const MAX_SLOTS = 1500;

/** The start of the live view: the top entities' `from`, else the watermark less 6 h. */
export function liveFrom() {
  if (state.top && state.top.from) return state.top.from;
  const wm = state.status && fmt.parseTime(state.status.watermark);
  if (wm == null) return null;
  return new Date(wm - LIVE_VIEW_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function pollWindows(force) {
  const id = state.selected;
  if (!id) {
    renderChart();
    return;
  }
  let res;
  try {
    res = await get(url('/api/v1/entities/' + encodeURIComponent(id) + '/windows', { from: liveFrom(), limit: 1000 }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) res = { entity_id: id, windows: [], missing: e.message };
    else throw e;
  }
  if ((state.paused && !force) || state.run !== 'live' || id !== state.selected) return;
  state.windows = { ...res, entity_id: id };
  renderChart();
}

export const windowsPoller = new Poller('windows', TOP_MS, pollWindows);

let entityChart = null;

function entityName(id) {
  const w = state.windows && state.windows.entity_id === id && state.windows.windows && state.windows.windows.find((r) => r.entity_name);
  if (w) return w.entity_name;
  const e = state.top && (state.top.entities || []).find((x) => x.entity_id === id);
  return e ? e.entity_name : null;
}

function stat(label, value, cls) {
  return h('div', cls ? { class: cls } : null, h('dt', null, label), h('dd', null, value));
}

/** The alert threshold of a window: baseline mean + z × max(std, 1); null without both. */
function thresholdOf(zThr) {
  return (r) => (zThr != null && r.baseline_mean != null ? r.baseline_mean + zThr * Math.max(r.baseline_std || 0, 1) : null);
}

export function renderChart() {
  const id = state.selected;
  const empty = $('#chart-empty');
  const chartEl = $('#chart');
  const name = id ? entityName(id) : null;
  replace($('#chart-entity'), id ? [name ? name + ' ' : '', h('span', { class: 'mono' }, '(' + id + ')')] : fmt.DASH);
  if (!id || !state.windows || state.windows.entity_id !== id) {
    empty.hidden = !!id;
    setText(empty, id ? '' : 'Select an entity to see its windows.');
    if (id && !state.windows) {
      empty.hidden = false;
      setText(empty, 'Loading ' + id + '…');
    }
    chartEl.hidden = !entityChart || !!(id && !state.windows);
    if (!id) replace($('#chart-stats'));
    return;
  }
  const rows = (state.windows.windows || []).slice().sort((a, b) => fmt.parseTime(a.window_start) - fmt.parseTime(b.window_start));
  if (!rows.length) {
    chartEl.hidden = true;
    empty.hidden = false;
    setText(empty, state.windows.missing || 'No windows with mentions of ' + id + ' in the live view.');
    replace($('#chart-stats'));
    return;
  }
  empty.hidden = true;
  chartEl.hidden = false;
  const p = params();
  const zThr = Number.isFinite(p.z_threshold) ? p.z_threshold : null;
  const threshold = thresholdOf(zThr);
  const data = chartData(rows, p, threshold);
  if (!entityChart) entityChart = new LiveChart(chartEl, entityChartOptions, 180);
  entityChart.set(data);
  renderChartStats(rows, data[0].length, zThr, threshold);
}

/** The time of every window slot to draw: the rows, plus the empty windows between them. */
function windowSlots(rows, p, byStart) {
  const first = fmt.parseTime(rows[0].window_start);
  const lastRow = rows[rows.length - 1];
  let last = fmt.parseTime(lastRow.window_start);
  let step = (p.window_seconds || 0) * 1000;
  if (!step) step = (fmt.parseTime(lastRow.window_end) || last) - last;
  const from = fmt.parseTime(liveFrom());
  const wm = state.status ? fmt.parseTime(state.status.watermark) : null;
  const slots = new Set(byStart.keys());
  if (step > 0) {
    let start = from != null ? Math.ceil(from / step) * step : first;
    if (start > first) start = first;
    if (wm != null) last = Math.max(last, Math.floor(wm / step) * step - step);
    if ((last - start) / step > MAX_SLOTS) start = last - MAX_SLOTS * step;
    for (let t = start; t <= last; t += step) slots.add(t);
  }
  return [...slots].sort((a, b) => a - b);
}

/** uPlot data: one slot per window (mentions 0 where there is no row). */
function chartData(rows, p, threshold) {
  const byStart = new Map(rows.map((r) => [fmt.parseTime(r.window_start), r]));
  const data = [[], [], [], [], [], [], []];
  for (const t of windowSlots(rows, p, byStart)) {
    const r = byStart.get(t);
    data[0].push(t / 1000);
    data[1].push(r ? r.mentions : 0);
    data[2].push(r && r.baseline_mean != null ? r.baseline_mean : null);
    data[3].push(r && r.baseline_mean != null ? r.baseline_mean + (r.baseline_std || 0) : null);
    data[4].push(r && r.baseline_mean != null ? Math.max(0, r.baseline_mean - (r.baseline_std || 0)) : null);
    data[5].push(r ? threshold(r) : null);
    data[6].push(r && r.alert ? r.mentions : null);
  }
  return data;
}

function renderChartStats(rows, slots, zThr, threshold) {
  const lastRow = rows[rows.length - 1];
  const alerts = rows.filter((r) => r.alert).length;
  setText($('#chart-range'), fmt.plural(slots, 'window') + ' · ' + fmt.plural(alerts, 'alert window'));
  replace(
    $('#chart-stats'),
    stat('Latest window', fmt.windowRange(lastRow.window_start, lastRow.window_end).slice(6)),
    stat('Mentions', fmt.int(lastRow.mentions)),
    stat('Baseline', fmt.num1(lastRow.baseline_mean) + ' ± ' + fmt.num1(lastRow.baseline_std)),
    stat('z', fmt.num1(lastRow.z), zThr != null && lastRow.z >= zThr ? 'hot' : null),
    stat('Ratio', fmt.ratio(lastRow.ratio)),
    stat('Threshold', fmt.num1(threshold(lastRow))),
  );
}
