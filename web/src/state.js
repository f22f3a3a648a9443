// The page's shared state: what the pollers, the stream, pause and sign-in read and set.
// Each panel module renders from it; nothing here touches the DOM.

/** How often the top entities and the selected entity's windows are fetched. */
export const TOP_MS = 5000;

export const state = {
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

/** The detection parameters of the run ({} until the status says). */
export function params() {
  return (state.status && state.status.params) || {};
}
