// The errors banner: one line per source (status, top entities, …) with the API's own
// message; the last data stays on screen. A 401 goes to the sign-in form instead.

import { ApiError } from './api.js';
import { h, replace, $ } from './dom.js';
import { state } from './state.js';

const errors = new Map(); // source → message

const SOURCE_NAMES = {
  status: 'Status',
  top: 'Top entities',
  windows: 'Entity windows',
  alerts: 'Alerts',
  stream: 'Alert stream',
  session: 'Session',
};

let onUnauthorized = () => {};

/** What to do on a 401: `fn(message)` (the sign-in form, see session.js). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function showError(source, message) {
  if (errors.get(source) === message) return;
  errors.set(source, message);
  renderBanner();
}

export function clearError(source) {
  if (errors.delete(source)) renderBanner();
}

/** Forgets every error (on the way to the sign-in form). */
export function clearErrors() {
  errors.clear();
  renderBanner();
}

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

export function handleError(source, e) {
  if (e && e.name === 'AbortError') return;
  if (e instanceof ApiError) {
    if (e.status === 401) {
      onUnauthorized(state.run === 'live' ? 'Your session is no longer valid (' + e.message + '). Sign in again.' : null);
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
