// The chatter dashboard: polls /api/v1/status (2 s), the top entities and the selected
// entity's windows (5 s), follows the SSE alert stream, and shows an alert's evidence on
// demand. All data is rendered as text (see dom.js); the page is never reloaded.

import 'uplot/dist/uPlot.min.css';
import './style.css';

import { ApiError, get, url, signIn, signOut, authRequired } from './api.js';
import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';
import { LiveChart, entityChartOptions, lagChartOptions, drawSparkline, onThemeChange } from './charts.js';
import { Evidence } from './evidence.js';

const STATUS_MS = 2000;
const TOP_MS = 5000;
const ALERTS_FALLBACK_MS = 15000;
const TOP_LIMIT = 15;
const ALERTS_LIMIT = 50;
const MAX_GROUPS = 500;
const MAX_PENDING = 10000;
const LIVE_VIEW_MS = 6 * 3600 * 1000;

const state = {
  run: 'boot', // boot | live | signin
  paused: false,
  status: null,
  statusAt: 0,
  top: null,
  by: 'mentions',
  selected: null,
  pinned: false,
  windows: null,
  lastSeq: null,
  es: null,
  stream: 'off', // off | connecting | live | reconnecting | offline
  streamRetry: null,
  streamBackoff: 1000,
  alertsLoaded: false,
  streamOpened: false,
  needAlerts: false,
  pending: [],
  pendingOverflow: false,
  retryUntil: 0,
  authOn: false,
  authProbed: false,
};

// Alerts: every distinct event (by content key) grouped by alert id.
const seen = new Set();
const groups = new Map(); // alert_id → {id, events, latest, dirty, el}

// ---------------------------------------------------------------- errors banner

const errors = new Map(); // source → message

function showError(source, message) {
  if (errors.get(source) === message) return;
  errors.set(source, message);
  renderBanner();
}

function clearError(source) {
  if (errors.delete(source)) renderBanner();
}

const SOURCE_NAMES = {
  status: 'Status',
  top: 'Top entities',
  windows: 'Entity windows',
  alerts: 'Alerts',
  stream: 'Alert stream',
  session: 'Session',
};

function renderBanner() {
  const banner = $('#banner');
  if (!errors.size) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  banner.hidden = false;
  replace(
    banner,
    h('ul', { class: 'banner-list' },
      [...errors].map(([source, message]) =>
        h('li', null,
          h('strong', null, (SOURCE_NAMES[source] || source) + ': '),
          message,
          h('button', { type: 'button', class: 'btn-link banner-dismiss', 'aria-label': 'Dismiss', on: { click: () => clearError(source) } }, 'Dismiss'),
        ),
      ),
    ),
    h('p', { class: 'banner-note' }, 'Showing the last data received; retrying.'),
  );
}

function handleError(source, e) {
  if (e && e.name === 'AbortError') return;
  if (e instanceof ApiError) {
    if (e.status === 401) {
      toSignIn(state.run === 'live' ? 'Your session is no longer valid (' + e.message + '). Sign in again.' : null);
      return;
    }
    if (e.status === 429) state.retryUntil = Date.now() + 1000 * (e.retryAfter || 5);
    showError(source, e.message + (e.status ? ' (' + e.status + ' ' + e.code + ')' : ''));
  } else {
    showError(source, String((e && e.message) || e));
    // A bug of ours: let the console (and the browser test) see it.
    console.error(e);
  }
}

// ---------------------------------------------------------------- pollers

class Poller {
  constructor(name, ms, fn) {
    Object.assign(this, { name, ms, fn, timer: null, busy: false, again: false, active: false });
  }
  start() {
    this.active = true;
    this.kick();
  }
  stop() {
    this.active = false;
    clearTimeout(this.timer);
    this.timer = null;
  }
  /** Runs now; `force` runs even while paused (an action of the user, not the feed). */
  kick(force = false) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.busy) {
      this.again = true;
      this.againForce = this.againForce || force;
    } else this.run(force);
  }
  async run(force = false) {
    if (!this.active) return;
    if ((force || !state.paused) && Date.now() >= state.retryUntil) {
      this.busy = true;
      try {
        await this.fn(force);
        clearError(this.name);
      } catch (e) {
        handleError(this.name, e);
      } finally {
        this.busy = false;
      }
    }
    if (!this.active) return;
    if (this.again) {
      const f = this.againForce;
      this.again = false;
      this.againForce = false;
      this.run(f);
    } else {
      this.timer = setTimeout(() => this.run(), this.ms);
    }
  }
}

const statusPoller = new Poller('status', STATUS_MS, pollStatus);
const topPoller = new Poller('top', TOP_MS, pollTop);
const windowsPoller = new Poller('windows', TOP_MS, pollWindows);
const alertsPoller = new Poller('alerts', ALERTS_FALLBACK_MS, pollAlertsFallback);
const pollers = [statusPoller, topPoller, windowsPoller, alertsPoller];

// ---------------------------------------------------------------- status

async function pollStatus() {
  const s = await get('/api/v1/status');
  if (state.paused || state.run !== 'live') return;
  state.status = s;
  state.statusAt = Date.now();
  renderStatus();
}

function phaseClass(s) {
  if (!s) return 'badge-muted';
  if (s.phase === 'running' && s.ready) return 'badge-ok';
  if (s.phase === 'finished' || s.phase === 'stopping') return 'badge-muted';
  return 'badge-warn';
}

function renderStatus() {
  const s = state.status;
  if (!s) return;
  const phase = $('#phase');
  setText(phase, (s.phase || 'unknown') + (s.ready ? ' · ready' : ' · not ready'));
  phase.className = 'badge ' + phaseClass(s);
  phase.title = s.reason ? 'Not ready: ' + s.reason : 'Run phase';

  setText($('#k-watermark'), fmt.utc(s.watermark));
  $('#k-watermark').title = 'max event time ' + fmt.utc(s.max_event_time) + '; horizon ' + fmt.utc(s.horizon);
  setText($('#k-frontier'), fmt.int(s.frontier));
  setText($('#k-records'), fmt.int(s.records));
  setText($('#k-rate'), fmt.rate(s.records_per_second));
  renderAges();

  // Lag
  setText($('#lag-records'), fmt.int(s.lag_records));
  setText($('#lag-watermark'), fmt.duration(s.watermark_lag_seconds));
  const el = s.epoch_latency_ms || {};
  setText($('#lag-epoch'), el.epochs ? fmt.num1(el.p50) + ' / ' + fmt.num1(el.p99) + ' ms' : fmt.DASH);
  renderLagChart(s.trend || []);
  const sources = Array.isArray(s.sources) ? s.sources : [];
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

  // Alerts by kind, dead letters
  const kinds = s.alerts || {};
  for (const k of ['fired', 'updated', 'retracted']) setText($('#kc-' + k), fmt.int(kinds[k] || 0));
  const dl = Object.entries(s.dead_letters || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const dlMax = Math.max(1, ...dl.map(([, n]) => n));
  setText($('#dl-total'), fmt.int(s.dead_letters_total ?? dl.reduce((a, [, n]) => a + n, 0)));
  $('#dl-empty').hidden = dl.length > 0;
  replace(
    $('#dead-letters'),
    dl.map(([reason, n]) => {
      const fill = h('span', { class: 'bar-fill' });
      fill.style.width = Math.max(1.5, (100 * n) / dlMax) + '%';
      return h('li', { class: 'bar-row' },
        h('span', { class: 'bar-label mono' }, reason),
        h('span', { class: 'bar-track', 'aria-hidden': 'true' }, fill),
        h('span', { class: 'bar-value num' }, fmt.int(n)),
      );
    }),
  );

  // State & health
  const st = s.state || {};
  setText($('#st-comments'), fmt.int(st.live_comments));
  setText($('#st-windows'), fmt.int(st.window_rows));
  setText($('#st-rss'), fmt.bytes(st.resident_bytes));
  setText($('#st-uptime'), fmt.duration(s.uptime_seconds));
  setText($('#st-epochs'), fmt.int(el.epochs));
  setText($('#st-epoch-max'), el.epochs ? fmt.num1(el.max) + ' ms' : fmt.DASH);
  const p = s.params || {};
  setText(
    $('#st-params'),
    p.window_seconds
      ? [
          'window ' + fmt.duration(p.window_seconds),
          'baseline ' + fmt.plural(p.baseline_windows, 'window'),
          'at least ' + fmt.plural(p.min_mentions, 'mention'),
          'z ≥ ' + fmt.num1(p.z_threshold),
          'ratio ≥ ' + fmt.ratio(p.ratio_threshold),
        ].join(' · ')
      : fmt.DASH,
  );
  const reason = $('#st-reason');
  reason.hidden = !s.reason;
  setText(reason, s.reason ? 'Not ready: ' + s.reason : '');
  renderAsOf(s.as_of);
}

function renderAsOf(a) {
  if (!a) return;
  setText(
    $('#foot-asof'),
    'as of frontier ' + fmt.int(a.frontier) + ' · watermark ' + fmt.utc(a.watermark) + ' · snapshot ' + (a.snapshot == null ? 'none' : '#' + a.snapshot),
  );
}

/** The ages that move with the clock (frozen while paused). */
function renderAges() {
  const s = state.status;
  if (!s) return;
  const since = (Date.now() - state.statusAt) / 1000;
  const snap = s.last_snapshot;
  setText(
    $('#k-snapshot'),
    snap ? '#' + snap.id + ' · ' + fmt.ago((snap.age_seconds || 0) + since) : 'none yet',
  );
  if (snap) $('#k-snapshot').title = 'frontier ' + fmt.int(snap.frontier) + ', ' + fmt.bytes(snap.bytes) + ', written in ' + fmt.duration(snap.seconds);
  const upd = $('#updated');
  setText(upd, 'updated ' + fmt.ago(since));
  upd.classList.toggle('stale', since > 10);
}

let lagChart = null;
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

// ---------------------------------------------------------------- top entities

async function pollTop(force) {
  const by = state.by;
  const res = await get(url('/api/v1/entities/top', { by, limit: TOP_LIMIT }));
  if ((state.paused && !force) || state.run !== 'live' || by !== state.by) return;
  state.top = res;
  const ents = Array.isArray(res.entities) ? res.entities : [];
  if (!state.pinned || !state.selected) {
    const first = ents.length ? ents[0].entity_id : null;
    if (first !== state.selected) {
      state.selected = first;
      state.windows = null;
      windowsPoller.kick(force);
    }
  }
  renderTop();
  if (res.as_of) renderAsOf(res.as_of);
}

function select(entityId) {
  state.selected = entityId;
  state.pinned = true;
  if (!state.windows || state.windows.entity_id !== entityId) state.windows = null;
  renderTop();
  renderChart();
  windowsPoller.kick(true);
}

function renderTop() {
  const res = state.top;
  if (!res) return;
  const ents = Array.isArray(res.entities) ? res.entities : [];
  const zThr = state.status && state.status.params ? state.status.params.z_threshold : null;
  $('#top-empty').hidden = ents.length > 0;
  setText($('#top-empty'), 'No entity has been mentioned in the live view yet.');
  setText($('#top-range'), res.from && res.to ? fmt.utcShort(res.from).slice(0, 11) + ' – ' + fmt.utcShort(res.to).slice(0, 11) + ' UTC' : '');
  const rows = ents.map((e, i) => {
    const selected = e.entity_id === state.selected;
    const spark = e.sparkline && Array.isArray(e.sparkline.mentions) ? e.sparkline.mentions : [];
    const canvas = h('canvas', { class: 'spark', 'aria-hidden': 'true' });
    const last = spark.length ? spark[spark.length - 1] : null;
    const max = spark.length ? Math.max(...spark) : null;
    const tr = h('tr', {
      class: ['entity-row', selected && 'selected'],
      on: { click: () => select(e.entity_id) },
    },
      h('td', { class: 'num muted' }, i + 1),
      h('td', { class: 'entity-cell' },
        h('button', { type: 'button', class: 'entity-btn', 'aria-pressed': selected ? 'true' : 'false', title: 'Chart ' + e.entity_id },
          h('span', { class: 'entity-name' }, e.entity_name || e.entity_id),
          h('span', { class: 'entity-id mono' }, e.entity_id),
        ),
      ),
      h('td', { class: 'num strong' }, fmt.int(e.mentions)),
      h('td', { class: 'num' }, fmt.int(e.authors)),
      h('td', { class: ['num', zThr != null && e.peak_z >= zThr && 'hot'] }, fmt.num1(e.peak_z)),
      h('td', { class: 'num' }, e.alert_windows ? h('span', { class: 'pill pill-fired' }, fmt.int(e.alert_windows)) : h('span', { class: 'muted' }, '0')),
      h('td', { class: 'spark-cell' },
        h('span', { class: 'spark-wrap' },
          canvas,
          h('span', { class: 'spark-nums' },
            h('span', { class: 'num strong', title: 'mentions in the latest window' }, fmt.int(last)),
            h('span', { class: 'num muted small', title: 'the highest window' }, '↑' + fmt.int(max)),
          ),
        ),
      ),
    );
    if (e.sparkline) {
      canvas.title = spark.length + ' points from ' + fmt.utc(e.sparkline.start) + ', ' + fmt.duration(e.sparkline.step_seconds) + ' each';
    }
    drawSparkline(canvas, spark, { width: narrow.matches ? 64 : 84, height: 22, alerted: e.alert_windows > 0 });
    return tr;
  });
  const body = $('#top-body');
  // Keep the focus on the entity button across refreshes.
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('#top-body')
    ? document.activeElement.closest('tr').querySelector('.entity-id').textContent
    : null;
  replace(body, rows);
  if (focusedId) {
    const btn = [...body.querySelectorAll('.entity-btn')].find((b) => b.querySelector('.entity-id').textContent === focusedId);
    if (btn) btn.focus();
  }
}

const narrow = matchMedia('(max-width: 640px)');
narrow.addEventListener('change', () => renderTop());
onThemeChange(() => renderTop());

// ---------------------------------------------------------------- entity windows

function liveFrom() {
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

function renderChart() {
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
  const p = (state.status && state.status.params) || {};
  const zThr = Number.isFinite(p.z_threshold) ? p.z_threshold : null;
  const threshold = (r) =>
    zThr != null && r.baseline_mean != null ? r.baseline_mean + zThr * Math.max(r.baseline_std || 0, 1) : null;

  // One slot per window: the rows, plus empty windows between them (mentions 0).
  const byStart = new Map(rows.map((r) => [fmt.parseTime(r.window_start), r]));
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
    if ((last - start) / step > 1500) start = last - 1500 * step;
    for (let t = start; t <= last; t += step) slots.add(t);
  }
  const xs = [...slots].sort((a, b) => a - b);
  const data = [[], [], [], [], [], [], []];
  for (const t of xs) {
    const r = byStart.get(t);
    data[0].push(t / 1000);
    data[1].push(r ? r.mentions : 0);
    data[2].push(r && r.baseline_mean != null ? r.baseline_mean : null);
    data[3].push(r && r.baseline_mean != null ? r.baseline_mean + (r.baseline_std || 0) : null);
    data[4].push(r && r.baseline_mean != null ? Math.max(0, r.baseline_mean - (r.baseline_std || 0)) : null);
    data[5].push(r ? threshold(r) : null);
    data[6].push(r && r.alert ? r.mentions : null);
  }
  if (!entityChart) entityChart = new LiveChart(chartEl, entityChartOptions, 180);
  entityChart.set(data);

  const alerts = rows.filter((r) => r.alert).length;
  setText($('#chart-range'), fmt.plural(xs.length, 'window') + ' · ' + fmt.plural(alerts, 'alert window'));
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

// ---------------------------------------------------------------- alerts

const KIND_RANK = { fired: 0, updated: 1, retracted: 2 };

function eventKey(ev) {
  return [ev.alert_id, ev.kind, ev.as_of, ev.emitted_at, ev.mentions, ev.z].join('\u0001');
}

function compareEvents(a, b) {
  const ta = fmt.parseTime(a.as_of) ?? 0;
  const tb = fmt.parseTime(b.as_of) ?? 0;
  if (ta !== tb) return ta - tb;
  if (a.sequence != null && b.sequence != null && a.sequence !== b.sequence) return a.sequence - b.sequence;
  return (KIND_RANK[a.kind] ?? 9) - (KIND_RANK[b.kind] ?? 9);
}

function compareGroups(a, b) {
  const c = compareEvents(b.latest, a.latest);
  if (c) return c;
  const wa = fmt.parseTime(a.latest.window_start) ?? 0;
  const wb = fmt.parseTime(b.latest.window_start) ?? 0;
  if (wa !== wb) return wb - wa;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Adds an event; false when it was already known. */
function ingest(ev) {
  if (!ev || typeof ev !== 'object' || typeof ev.alert_id !== 'string') return false;
  if (typeof ev.sequence === 'number') state.lastSeq = Math.max(state.lastSeq ?? 0, ev.sequence);
  const key = eventKey(ev);
  if (seen.has(key)) return false;
  seen.add(key);
  let g = groups.get(ev.alert_id);
  if (!g) {
    g = { id: ev.alert_id, events: [], latest: ev, dirty: true, el: null, fresh: state.alertsLoaded };
    groups.set(ev.alert_id, g);
  }
  g.events.push(ev);
  g.events.sort(compareEvents);
  g.latest = g.events[g.events.length - 1];
  g.dirty = true;
  if (state.alertsLoaded) g.fresh = true;
  return true;
}

function lifecycle(events) {
  const parts = [];
  for (const ev of events) {
    const last = parts[parts.length - 1];
    if (last && last.kind === ev.kind) last.n += 1;
    else parts.push({ kind: ev.kind, n: 1 });
  }
  return parts.map((p) => h('span', { class: 'life-step kind-text-' + p.kind }, p.kind + (p.n > 1 ? ' ×' + p.n : '')));
}

function joinArrows(nodes) {
  const out = [];
  nodes.forEach((n, i) => {
    if (i) out.push(h('span', { class: 'life-arrow', 'aria-hidden': 'true' }, ' → '));
    out.push(n);
  });
  return out;
}

/** The window, without its date when the event's as_of is on the same day. */
function windowLabel(ev) {
  const w = fmt.windowRange(ev.window_start, ev.window_end);
  return fmt.utcShort(ev.as_of).slice(0, 5) === w.slice(0, 5) ? w.slice(6) : w;
}

function alertRow(g) {
  const ev = g.latest;
  const kind = ['fired', 'updated', 'retracted'].includes(ev.kind) ? ev.kind : 'other';
  const btn = h('button', { type: 'button', class: 'alert-row', dataset: { alertId: g.id }, on: { click: () => evidence.open(g.id, btn) } },
    h('span', { class: 'alert-line1' },
      h('span', { class: 'badge badge-' + kind }, ev.kind),
      ev.provisional ? h('span', { class: 'pill pill-muted', title: 'decided before the window was final' }, 'provisional') : null,
      h('span', { class: 'alert-entity' }, ev.entity_name || ev.entity_id),
      h('span', { class: 'alert-eid mono muted' }, ev.entity_id),
      h('time', { class: 'alert-asof num muted', datetime: ev.as_of || '', title: 'as of ' + fmt.utc(ev.as_of) }, fmt.utcShort(ev.as_of)),
    ),
    h('span', { class: 'alert-line2' },
      h('span', { class: 'num', title: 'window ' + fmt.utc(ev.window_start) + ' to ' + fmt.utc(ev.window_end) }, windowLabel(ev)),
      h('span', null, h('span', { class: 'num strong' }, fmt.int(ev.mentions)), ' mentions'),
      h('span', null, 'z ', h('span', { class: 'num strong' }, fmt.num1(ev.z))),
      h('span', { class: 'num' }, fmt.ratio(ev.ratio)),
    ),
    g.events.length > 1 ? h('span', { class: 'alert-life' }, joinArrows(lifecycle(g.events))) : null,
  );
  return btn;
}

function renderAlerts() {
  const list = $('#alert-list');
  let ordered = [...groups.values()].sort(compareGroups);
  if (ordered.length > MAX_GROUPS) {
    for (const g of ordered.slice(MAX_GROUPS)) {
      groups.delete(g.id);
      if (g.el) g.el.remove();
    }
    ordered = ordered.slice(0, MAX_GROUPS);
  }
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.alert-row');
  const focusedId = focused ? focused.dataset.alertId : null;
  for (const g of ordered) {
    if (!g.el) g.el = h('li', { class: 'alert-item', dataset: { alertId: g.id } });
    if (g.dirty) {
      replace(g.el, alertRow(g));
      g.el.classList.toggle('is-retracted', g.latest.kind === 'retracted');
      if (g.fresh) {
        g.el.classList.remove('is-new');
        void g.el.offsetWidth; // restart the highlight animation
        g.el.classList.add('is-new');
        g.fresh = false;
      }
      g.dirty = false;
    }
  }
  // Put the items in order, moving only those out of place.
  let cursor = list.firstElementChild;
  for (const g of ordered) {
    if (g.el === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(g.el, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
  if (focusedId) {
    const again = list.querySelector('.alert-row[data-alert-id="' + CSS.escape(focusedId) + '"]');
    if (again && again !== document.activeElement) again.focus();
  }
  const events = ordered.reduce((n, g) => n + g.events.length, 0);
  list.dataset.count = String(ordered.length);
  list.dataset.events = String(events);
  $('#alerts-empty').hidden = ordered.length > 0;
  setText($('#alerts-count'), ordered.length ? fmt.plural(ordered.length, 'alert') + ' · ' + fmt.plural(events, 'event') : '');
}

async function loadAlerts() {
  const res = await get(url('/api/v1/alerts', { limit: ALERTS_LIMIT }));
  if (state.run !== 'live') return;
  const list = Array.isArray(res.alerts) ? res.alerts : [];
  if (state.paused) {
    state.pending.push(...list);
    renderPaused();
    return;
  }
  const wasLoaded = state.alertsLoaded;
  state.alertsLoaded = false; // a page of history is not "new"
  for (const ev of list) ingest(ev);
  state.alertsLoaded = true;
  if (!wasLoaded) for (const g of groups.values()) g.fresh = false;
  renderAlerts();
}

async function pollAlertsFallback() {
  // The stream brings alerts; this fetches the list at start, after a reset, and while the
  // stream is down.
  if (state.alertsLoaded && state.stream === 'live' && !state.needAlerts) return;
  state.needAlerts = false;
  await loadAlerts();
}

function onLiveEvent(ev) {
  if (state.paused) {
    if (state.pending.length < MAX_PENDING) state.pending.push(ev);
    else state.pendingOverflow = true;
    renderPaused();
    return;
  }
  if (ingest(ev)) {
    renderAlerts();
    if (evidence.alertId === ev.alert_id) evidence.refresh();
  }
}

// ---------------------------------------------------------------- the stream

function setStream(s) {
  state.stream = s;
  renderStreamBadge();
}

function renderStreamBadge() {
  const el = $('#stream');
  const s = state.paused ? 'paused' : state.stream;
  const text = { off: 'offline', connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', offline: 'offline', paused: 'paused' }[s] || s;
  el.className = 'live live-' + s;
  setText($('#stream-text'), text);
  el.title = 'Alert stream: ' + text;
}

function closeStream() {
  if (state.es) {
    state.es.close();
    state.es = null;
  }
  clearTimeout(state.streamRetry);
  state.streamRetry = null;
}

function openStream() {
  closeStream();
  const src = state.lastSeq != null ? url('/api/v1/alerts/stream', { since: state.lastSeq }) : '/api/v1/alerts/stream';
  const es = new EventSource(src);
  state.es = es;
  setStream('connecting');
  es.addEventListener('open', () => {
    if (state.es !== es) return;
    setStream('live');
    clearError('stream');
    state.streamBackoff = 1000;
    // Subscribed: a list fetched now covers everything before, the stream everything
    // after (on the first connection; reconnections resume from the last id).
    if (!state.streamOpened) {
      state.streamOpened = true;
      state.needAlerts = true;
    }
    if (!state.alertsLoaded || state.needAlerts) alertsPoller.kick();
  });
  es.addEventListener('alert', (e) => {
    if (state.es !== es) return;
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch {
      return;
    }
    const seq = e.lastEventId === '' ? NaN : Number(e.lastEventId);
    if (Number.isFinite(seq)) {
      if (ev.sequence == null) ev.sequence = seq;
      state.lastSeq = Math.max(state.lastSeq ?? 0, seq);
    }
    onLiveEvent(ev);
  });
  es.addEventListener('reset', () => {
    if (state.es !== es) return;
    // Our last id left the buffer (or the server restarted): what follows is the whole
    // buffer; fetch the list too in case more was missed.
    state.lastSeq = null;
    state.needAlerts = true;
    alertsPoller.kick();
  });
  es.addEventListener('error', () => {
    if (state.es !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // The browser gives up on an HTTP error (401, 503…): find out why, then retry.
      es.close();
      state.es = null;
      setStream('offline');
      state.needAlerts = true;
      const delay = state.streamBackoff;
      state.streamBackoff = Math.min(30000, state.streamBackoff * 2);
      state.streamRetry = setTimeout(reopenStream, delay);
    } else {
      setStream('reconnecting');
    }
  });
}

async function reopenStream() {
  state.streamRetry = null;
  if (state.run !== 'live') return;
  try {
    await get('/api/v1/status');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      handleError('stream', e);
      return;
    }
    showError('stream', 'The alert stream is down (' + e.message + '); retrying.');
    const delay = state.streamBackoff;
    state.streamBackoff = Math.min(30000, state.streamBackoff * 2);
    state.streamRetry = setTimeout(reopenStream, delay);
    return;
  }
  openStream();
}

// ---------------------------------------------------------------- pause

function setPaused(paused) {
  if (state.paused === paused) return;
  state.paused = paused;
  document.body.classList.toggle('is-paused', paused);
  const btn = $('#pause');
  btn.setAttribute('aria-pressed', paused ? 'true' : 'false');
  setText(btn, paused ? 'Resume' : 'Pause');
  $('#paused-bar').hidden = !paused;
  renderStreamBadge();
  if (paused) {
    renderPaused();
    const upd = $('#updated');
    upd.classList.remove('stale');
    setText(upd, 'frozen at ' + new Date().toLocaleTimeString());
    return;
  }
  renderAges();
  // Catch up: the events that came while paused, then fresh figures.
  const pending = state.pending;
  state.pending = [];
  let changed = false;
  for (const ev of pending) changed = ingest(ev) || changed;
  if (state.pendingOverflow) {
    state.pendingOverflow = false;
    state.needAlerts = true;
  }
  if (changed) renderAlerts();
  for (const p of pollers) if (p.active) p.kick();
  if (evidence.alertId) evidence.refresh();
}

function renderPaused() {
  const n = state.pending.length;
  setText($('#paused-pending'), n ? fmt.plural(n, 'new alert event') + ' waiting' : 'nothing new yet');
}

// ---------------------------------------------------------------- auth

function toSignIn(message) {
  if (state.run === 'signin') {
    // Already there (several requests can answer 401 at once): keep the first message.
    if (message) {
      $('#signin-error').hidden = false;
      setText($('#signin-error'), message);
    }
    return;
  }
  state.run = 'signin';
  for (const p of pollers) p.stop();
  closeStream();
  setStream('off');
  evidence.close(false);
  $('#dashboard').hidden = true;
  $('#signin').hidden = false;
  document.body.classList.add('signed-out');
  $('#signout').hidden = true;
  $('#pause').hidden = true;
  const phase = $('#phase');
  setText(phase, 'sign-in required');
  phase.className = 'badge badge-warn';
  errors.clear();
  renderBanner();
  const err = $('#signin-error');
  err.hidden = !message;
  setText(err, message || '');
  $('#token').focus();
}

async function onSignIn(ev) {
  ev.preventDefault();
  const input = $('#token');
  const token = input.value.trim();
  const err = $('#signin-error');
  if (!token) {
    err.hidden = false;
    setText(err, 'Enter the access token.');
    return;
  }
  const btn = $('#signin-submit');
  btn.disabled = true;
  setText(btn, 'Signing in…');
  try {
    await signIn(token);
    input.value = '';
    err.hidden = true;
    state.authOn = true;
    state.authProbed = true;
    start();
  } catch (e) {
    err.hidden = false;
    setText(err, e instanceof ApiError ? e.message : String(e));
    input.select();
  } finally {
    btn.disabled = false;
    setText(btn, 'Sign in');
  }
}

async function onSignOut() {
  try {
    await signOut();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      handleError('session', e);
      return;
    }
  }
  resetData();
  try {
    await get('/api/v1/status');
    // Auth is off on this server: nothing to sign out of.
    state.authOn = false;
    $('#signout').hidden = true;
    showError('session', 'This server does not require signing in.');
    start();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) toSignIn(null);
    else handleError('status', e);
  }
}

function resetData() {
  seen.clear();
  groups.clear();
  $('#alert-list').replaceChildren();
  state.alertsLoaded = false;
  state.streamOpened = false;
  state.lastSeq = null;
  state.pending = [];
  state.top = null;
  state.windows = null;
  state.selected = null;
  state.pinned = false;
  replace($('#top-body'));
  renderAlerts();
}

// ---------------------------------------------------------------- start

function start() {
  state.run = 'live';
  $('#signin').hidden = true;
  $('#dashboard').hidden = false;
  document.body.classList.remove('signed-out');
  $('#pause').hidden = false;
  $('#signout').hidden = !state.authOn;
  for (const p of pollers) p.start();
  openStream();
  if (!state.authProbed) {
    state.authProbed = true;
    authRequired().then((on) => {
      state.authOn = on;
      if (state.run === 'live') $('#signout').hidden = !on;
    });
  }
}

let evidence;

async function boot() {
  evidence = new Evidence({
    drawer: $('#drawer'),
    body: $('#drawer-body'),
    title: $('#drawer-title'),
    sub: $('#drawer-sub'),
    closeBtn: $('#drawer-close'),
    isPaused: () => state.paused,
    params: () => (state.status && state.status.params) || {},
    onAuth: (e) => handleError('evidence', e),
  });
  $('#pause').addEventListener('click', () => setPaused(!state.paused));
  $('#resume').addEventListener('click', () => setPaused(false));
  $('#signin-form').addEventListener('submit', onSignIn);
  $('#signout').addEventListener('click', onSignOut);
  $('#rank').addEventListener('change', (e) => {
    state.by = e.target.value;
    topPoller.kick(true);
  });
  setInterval(() => {
    if (!state.paused && state.run === 'live') renderAges();
  }, 1000);
  renderAlerts();

  try {
    state.status = await get('/api/v1/status');
    state.statusAt = Date.now();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      toSignIn(null);
      return;
    }
    handleError('status', e);
  }
  start();
  renderStatus();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
