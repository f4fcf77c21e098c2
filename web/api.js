// api.js - every call to the host's /v1 API goes through api(): it adds the token the user typed
// (kept in sessionStorage, so it lives as long as the tab), turns an error answer into an
// ApiError carrying the API's own message, and asks for a token when the host answers 401.

const TOKEN_KEY = 'tarry.token';
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }
export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const t = token();
  return t ? {Authorization: 'Bearer ' + t} : {};
}

// api('GET', '/v1/executions?...') -> the decoded JSON. `body`: an object (sent as JSON) or a
// string that already is JSON (sent as typed, so a trigger's args keep their exact bytes).
export async function api(method, path, body, opts = {}) {
  const headers = authHeaders();
  const init = {method, headers, cache: 'no-store', signal: opts.signal};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let doc = null;
  if (text) {
    try { doc = JSON.parse(text); } catch { doc = null; }
  }
  if (res.status === 401) onUnauthorized();
  if (!res.ok) {
    const e = doc && doc.error;
    throw new ApiError(res.status, e ? e.code : 'http_' + res.status,
      e ? e.message : `${method} ${path}: HTTP ${res.status}`);
  }
  return doc;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const patch = (path, body) => api('PATCH', path, body === undefined ? {} : body);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.append(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}
