// Signed in or not: start() runs the pollers and the stream; a 401 anywhere (toSignIn)
// stops them and shows the sign-in form (POST /api/v1/session with the token; the server
// sets an HttpOnly cookie, the token is never stored). Sign out forgets the data.

import { ApiError, get, signIn, signOut, authRequired } from './api.js';
import { replace, setText, $ } from './dom.js';
import { state } from './state.js';
import { showError, clearErrors, handleError } from './errors.js';
import { statusPoller } from './status.js';
import { topPoller } from './top.js';
import { windowsPoller } from './entity.js';
import { alertsPoller, evidence, clearAlerts, renderAlerts } from './alerts.js';
import { openStream, closeStream, setStream } from './stream.js';

export const pollers = [statusPoller, topPoller, windowsPoller, alertsPoller];

export function start() {
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

export function toSignIn(message) {
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
  clearErrors();
  const err = $('#signin-error');
  err.hidden = !message;
  setText(err, message || '');
  $('#token').focus();
}

export async function onSignIn(ev) {
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

export async function onSignOut() {
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
  clearAlerts();
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
