// The alert stream (EventSource on /api/v1/alerts/stream): the browser resumes with
// Last-Event-ID; after an HTTP error it gives up, so the page checks the status and reopens
// with ?since=<last sequence>, backing off up to 30 s. The header badge shows its state.

import { ApiError, get, url } from './api.js';
import { setText, $ } from './dom.js';
import { state } from './state.js';
import { showError, clearError, handleError } from './errors.js';
import { alertsPoller, onLiveEvent } from './alerts.js';

const STREAM_TEXT = { off: 'offline', connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', offline: 'offline', paused: 'paused' };

export function setStream(s) {
  state.stream = s;
  renderStreamBadge();
}

export function renderStreamBadge() {
  const el = $('#stream');
  const s = state.paused ? 'paused' : state.stream;
  const text = STREAM_TEXT[s] || s;
  el.className = 'live live-' + s;
  setText($('#stream-text'), text);
  el.title = 'Alert stream: ' + text;
}

export function closeStream() {
  if (state.es) {
    state.es.close();
    state.es = null;
  }
  clearTimeout(state.streamRetry);
  state.streamRetry = null;
}

function retryLater() {
  const delay = state.streamBackoff;
  state.streamBackoff = Math.min(30000, state.streamBackoff * 2);
  state.streamRetry = setTimeout(reopenStream, delay);
}

export function openStream() {
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
      retryLater();
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
    retryLater();
    return;
  }
  openStream();
}
