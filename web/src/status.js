// The run's status (GET /api/v1/status every 2 s): the header, the footer, and the panels
// drawn from it (lag, alerts by kind and dead letters, state and health).

import { get } from './api.js';
import { setText, $ } from './dom.js';
import * as fmt from './format.js';
import { state } from './state.js';
import { Poller } from './poller.js';
import { renderLag } from './lag.js';
import { renderOps, renderHealth } from './health.js';

const STATUS_MS = 2000;

async function pollStatus() {
  const s = await get('/api/v1/status');
  if (state.paused || state.run !== 'live') return;
  state.status = s;
  state.statusAt = Date.now();
  renderStatus();
}

export const statusPoller = new Poller('status', STATUS_MS, pollStatus);

function phaseClass(s) {
  if (!s) return 'badge-muted';
  if (s.phase === 'running' && s.ready) return 'badge-ok';
  if (s.phase === 'finished' || s.phase === 'stopping') return 'badge-muted';
  return 'badge-warn';
}

export function renderStatus() {
  const s = state.status;
  if (!s) return;
  renderHeader(s);
  renderLag(s);
  renderOps(s);
  renderHealth(s);
  renderAsOf(s.as_of);
}

function renderHeader(s) {
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
}

/**
 * The footer: the frontier and watermark of the latest answer, and the lake's last snapshot
 * from the status (an answer computed from live state alone says `snapshot: null` even when
 * the lake has one).
 */
export function renderAsOf(a) {
  if (!a) return;
  let snapshot = a.snapshot;
  if (state.status) {
    const snap = state.status.last_snapshot;
    snapshot = snap && snap.id != null ? snap.id : null;
  }
  setText(
    $('#foot-asof'),
    'as of frontier ' + fmt.int(a.frontier) + ' · watermark ' + fmt.utc(a.watermark) + ' · ' + (snapshot == null ? 'no snapshot' : 'snapshot #' + snapshot),
  );
}

/** The ages that move with the clock (frozen while paused). */
export function renderAges() {
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
