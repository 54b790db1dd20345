// api.js - the REST client of the dashboard. The session cookie (HttpOnly)
// authenticates every call; every call that changes something also sends
// the CSRF token the server handed out at sign-in.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || ('HTTP ' + status));
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const state = { session: null, onUnauthenticated: null };

export function session() { return state.session; }

export function setUnauthenticatedHandler(fn) { state.onUnauthenticated = fn; }

// True when the signed-in token may do `scope` (admin implies every scope).
export function can(scope) {
  const s = state.session;
  if (!s) return false;
  return s.scopes.includes('admin') || s.scopes.includes(scope);
}

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.session && state.session.csrf_token)
    headers['X-CSRF-Token'] = state.session.csrf_token;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(resp.status, err.code, err.message || resp.statusText, err.details);
    if (resp.status === 401 && path !== '/api/v1/session' && state.onUnauthenticated) {
      state.session = null;
      state.onUnauthenticated();
    }
    throw e;
  }
  return data;
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body === undefined ? {} : body),
  put: (path, body) => request('PUT', path, body),
  del: (path) => request('DELETE', path),
};

// Builds a path from segments (each URL-encoded) and an optional query.
export function path(segments, query) {
  let p = '/api/v1/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
  const q = Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null && v !== '');
  if (q.length) p += '?' + q.map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(String(v))).join('&');
  return p;
}

// ---- session ----

export async function loadSession() {
  try {
    const s = await request('GET', '/api/v1/session');
    if (s && s.csrf_token) {
      state.session = s;
      return s;
    }
  } catch (e) {
    if (e.status !== 401 && e.status !== 403) throw e;
  }
  state.session = null;
  return null;
}

export async function signIn(token) {
  const s = await request('POST', '/api/v1/session', { token });
  state.session = s;
  return s;
}

export async function signOut() {
  try {
    await request('DELETE', '/api/v1/session');
  } finally {
    state.session = null;
  }
}

// RFC 3339 of now minus `seconds`, without milliseconds.
export function isoAgo(seconds) {
  return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}
