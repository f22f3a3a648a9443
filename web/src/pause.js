// Pause freezes every panel (nothing is fetched or redrawn; stream events wait in
// `state.pending`); Resume applies what came in and fetches fresh figures.

import { setText, $ } from './dom.js';
import { state } from './state.js';
import { renderAges } from './status.js';
import { evidence, ingest, renderAlerts, renderPaused } from './alerts.js';
import { renderStreamBadge } from './stream.js';
import { pollers } from './session.js';

export function setPaused(paused) {
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
