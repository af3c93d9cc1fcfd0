// The API client: the bearer token (session storage only, never in a URL), JSON requests, and
// errors that say what went wrong.

const KEY = 'trellis.token';

export function getToken() {
  try { return sessionStorage.getItem(KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
  } catch { /* storage disabled: the token lives as long as the page */ }
  memory = t || '';
}

let memory = '';

function token() {
  return getToken() || memory;
}

export function authHeaders(extra) {
  const headers = Object.assign({}, extra);
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Called on any 401: the page shows the login box. */
export const hooks = { unauthorized: () => {} };

/** Build `/api/v1/PATH?k=v` leaving out empty values. */
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return `/api/v1/${path}${s ? `?${s}` : ''}`;
}

/** A raw request; throws ApiError on a non-2xx answer. */
export async function request(method, path, { params, body, signal, accept } = {}) {
  const headers = authHeaders({ Accept: accept || 'application/json' });
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, params), { method, headers, body: payload, signal, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && j.error) msg = `${j.error} (${res.status})`;
    } catch { /* not JSON */ }
    if (res.status === 401) hooks.unauthorized(msg);
    if (res.status === 403) msg = `not allowed for your role: ${msg}`;
    throw new ApiError(res.status, msg);
  }
  return res;
}

export async function get(path, params, signal) {
  const res = await request('GET', path, { params, signal });
  return res.json();
}

export async function post(path, body) {
  const res = await request('POST', path, { body: body === undefined ? {} : body });
  const text = await res.text();
  try { return JSON.parse(text); } catch { return { message: text }; }
}

export async function del(path) {
  const res = await request('DELETE', path);
  const text = await res.text();
  try { return JSON.parse(text); } catch { return { message: text }; }
}

export const enc = encodeURIComponent;

/** Whether `role` may change an Application of `project` (the server decides; this only hides
 * buttons that would be refused). */
export function maySync(role, project) {
  if (role === 'admin') return true;
  if (role && role.startsWith('project:')) return role.slice(8) === project;
  return false;
}
