// The top entities panel (GET /api/v1/entities/top every 5 s): the ranking with each
// entity's velocity sparkline; a click charts that entity (and pins it), otherwise the
// first of the ranking is charted.

import { get, url } from './api.js';
import { h, replace, setText, $ } from './dom.js';
import * as fmt from './format.js';
import { state, TOP_MS } from './state.js';
import { Poller } from './poller.js';
import { drawSparkline, onThemeChange } from './charts.js';
import { renderAsOf } from './status.js';
import { renderChart, windowsPoller } from './entity.js';

const TOP_LIMIT = 15;

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

export const topPoller = new Poller('top', TOP_MS, pollTop);

function select(entityId) {
  state.selected = entityId;
  state.pinned = true;
  if (!state.windows || state.windows.entity_id !== entityId) state.windows = null;
  renderTop();
  renderChart();
  windowsPoller.kick(true);
}

const narrow = matchMedia('(max-width: 640px)');

function entityRow(e, i, zThr) {
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
      h('button', { type: 'button', class: 'entity-btn', 'aria-pressed': selected ? 'true' : 'false', title: 'Chart ' + (e.entity_name ? e.entity_name + ' (' + e.entity_id + ')' : e.entity_id) },
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
}

function renderTop() {
  const res = state.top;
  if (!res) return;
  const ents = Array.isArray(res.entities) ? res.entities : [];
  const zThr = state.status && state.status.params ? state.status.params.z_threshold : null;
  $('#top-empty').hidden = ents.length > 0;
  setText($('#top-empty'), 'No entity has been mentioned in the live view yet.');
  setText($('#top-range'), res.from && res.to ? fmt.utcShort(res.from).slice(0, 11) + ' – ' + fmt.utcShort(res.to).slice(0, 11) + ' UTC' : '');
  const rows = ents.map((e, i) => entityRow(e, i, zThr));
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

narrow.addEventListener('change', () => renderTop());
onThemeChange(() => renderTop());
