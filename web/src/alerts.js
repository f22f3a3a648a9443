// The recent alerts list: events from GET /api/v1/alerts and the stream (stream.js),
// deduplicated by content and grouped by alert id, newest first; a row opens the alert's
// evidence (evidence.js). While paused, events wait in `state.pending`.

import { get, url } from './api.js';
import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';
import { state, params } from './state.js';
import { Poller } from './poller.js';
import { handleError } from './errors.js';
import { Evidence } from './evidence.js';

const ALERTS_FALLBACK_MS = 15000;
const ALERTS_LIMIT = 50;
const MAX_GROUPS = 500;
const MAX_PENDING = 10000;
const KIND_RANK = { fired: 0, updated: 1, retracted: 2 };

// Every distinct event (by content key) grouped by alert id.
const seen = new Set();
const groups = new Map(); // alert_id → {id, events, latest, dirty, fresh, el}

/** The evidence drawer (made by initEvidence once the page is there). */
export let evidence = null;

export function initEvidence() {
  evidence = new Evidence({
    drawer: $('#drawer'),
    body: $('#drawer-body'),
    title: $('#drawer-title'),
    sub: $('#drawer-sub'),
    closeBtn: $('#drawer-close'),
    isPaused: () => state.paused,
    params,
    onAuth: (e) => handleError('evidence', e),
  });
}

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
export function ingest(ev) {
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

/** Forgets every alert (signed out). */
export function clearAlerts() {
  seen.clear();
  groups.clear();
  $('#alert-list').replaceChildren();
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
      h('span', { class: 'alert-entity', title: ev.entity_name || ev.entity_id }, ev.entity_name || ev.entity_id),
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

/** The groups newest first, keeping at most MAX_GROUPS (the rest are forgotten). */
function orderedGroups() {
  let ordered = [...groups.values()].sort(compareGroups);
  if (ordered.length > MAX_GROUPS) {
    for (const g of ordered.slice(MAX_GROUPS)) {
      groups.delete(g.id);
      if (g.el) g.el.remove();
    }
    ordered = ordered.slice(0, MAX_GROUPS);
  }
  return ordered;
}

function updateItem(g) {
  if (!g.el) g.el = h('li', { class: 'alert-item', dataset: { alertId: g.id } });
  if (!g.dirty) return;
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

export function renderAlerts() {
  const list = $('#alert-list');
  const ordered = orderedGroups();
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.alert-row');
  const focusedId = focused ? focused.dataset.alertId : null;
  for (const g of ordered) updateItem(g);
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

export const alertsPoller = new Poller('alerts', ALERTS_FALLBACK_MS, pollAlertsFallback);

/** An event from the stream: shown now, or kept while paused. */
export function onLiveEvent(ev) {
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

/** The paused bar's count of the events waiting. */
export function renderPaused() {
  const n = state.pending.length;
  setText($('#paused-pending'), n ? fmt.plural(n, 'new alert event') + ' waiting' : 'nothing new yet');
}
