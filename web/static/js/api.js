// The public REST API (/api/v1) through the session cookie; writes carry the CSRF token.

let csrfToken = null;
let spec = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `Request failed (${status})`);
    this.status = status;
    this.code = error.code || 'http_' + status;
    this.details = error.details || {};
  }
}

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export async function api(method, path, { body, params } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch('/api/v1' + path + query(params), init);
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, params) => api('GET', path, { params });
export const post = (path, body) => api('POST', path, { body: body === undefined ? {} : body });
export const patch = (path, body) => api('PATCH', path, { body });
export const del = (path) => api('DELETE', path);

// A multipart upload with byte progress (fetch cannot report upload progress; XMLHttpRequest can).
export function upload(path, form, onProgress, method = 'POST') {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, '/api/v1' + path);
    xhr.responseType = 'json';
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrfToken) xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, null)));
    xhr.send(form);
  });
}

// Which optional endpoints this server offers, from its OpenAPI document (fetched once).
export async function loadSpec() {
  if (spec) return spec;
  try {
    const res = await fetch('/api/v1/openapi.json', { credentials: 'same-origin' });
    spec = res.ok ? await res.json() : { paths: {} };
  } catch {
    spec = { paths: {} };
  }
  return spec;
}

export function offers(method, path) {
  const item = spec && spec.paths && spec.paths['/api/v1' + path];
  return Boolean(item && item[method.toLowerCase()]);
}

// The first path of the spec matching a pattern, e.g. /\/artists\/\{[^}]+\}\/merge$/.
export function findPath(method, pattern) {
  if (!spec || !spec.paths) return null;
  for (const [p, item] of Object.entries(spec.paths)) {
    if (p.startsWith('/api/v1') && pattern.test(p.slice(7)) && item[method.toLowerCase()]) return p.slice(7);
  }
  return null;
}
