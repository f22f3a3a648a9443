// The chatter dashboard: polls /api/v1/status (2 s), the top entities and the selected
// entity's windows (5 s), follows the SSE alert stream, and shows an alert's evidence on
// demand. All data is rendered as text (see dom.js); the page is never reloaded.
//
// This file starts the page; the panels and the feeds are modules of their own:
//   status.js  the header, footer and the status poller (lag.js, health.js: its panels)
//   top.js     top entities          entity.js  the selected entity's windows
//   alerts.js  the alerts list       stream.js  the alert stream
//   pause.js   pause / resume        session.js start, sign-in and sign-out
//   state.js, errors.js, poller.js   shared state, the errors banner, the pollers

import 'uplot/dist/uPlot.min.css';
import './style.css';

import { $ } from './dom.js';
import { state } from './state.js';
import { setUnauthorizedHandler, handleError } from './errors.js';
import { renderStatus, renderAges } from './status.js';
import { topPoller } from './top.js';
import { initEvidence, renderAlerts } from './alerts.js';
import { setPaused } from './pause.js';
import { start, toSignIn, onSignIn, onSignOut } from './session.js';

setUnauthorizedHandler(toSignIn);

function boot() {
  initEvidence();
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

  // Every feed starts at once (a 401 from any of them shows the sign-in form).
  start();
  renderStatus();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
