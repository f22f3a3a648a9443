// The JSON API client (docs/api.md): same-origin fetches that carry the session cookie, and
// errors turned into ApiError with the server's own `error.message`.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function request(path, { method = 'GET', headers = {}, credentials = 'same-origin', signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...headers },
      credentials,
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the chatter server (' + (e && e.message ? e.message : 'network error') + ').');
  }
  if (res.status === 204) return { status: 204, body: null };
  let body = null;
  const text = await res.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const err = body && typeof body === 'object' ? body.error : null;
    const retry = Number(res.headers.get('Retry-After'));
    throw new ApiError(
      res.status,
      (err && err.code) || 'http_' + res.status,
      (err && err.message) || 'The server answered ' + res.status + (res.statusText ? ' ' + res.statusText : '') + '.',
      Number.isFinite(retry) ? retry : null,
    );
  }
  return { status: res.status, body };
}

/** GET a JSON resource. */
export async function get(path, opts) {
  return (await request(path, opts)).body;
}

/** Builds "/api/v1/x?a=1&b=2" skipping null values. */
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? path + '?' + s : path;
}

/** POST /api/v1/session with the token; the server answers 204 and sets the session cookie. */
export async function signIn(token) {
  await request('/api/v1/session', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
}

/** DELETE /api/v1/session: the server forgets the session and clears the cookie. */
export async function signOut() {
  await request('/api/v1/session', { method: 'DELETE' });
}

/**
 * Whether auth is on: the status without any cookie answers 401 then. (Used once, to know
 * whether to offer "Sign out" when the page was opened with a session already set.)
 */
export async function authRequired() {
  try {
    await request('/api/v1/status', { credentials: 'omit' });
    return false;
  } catch (e) {
    return e instanceof ApiError && e.status === 401;
  }
}
