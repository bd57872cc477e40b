// API client and session handling.
//
// The access token lives only in this module's memory. The refresh token is an HttpOnly cookie the
// server sets on login/refresh; page scripts never see it. A reload therefore restores the session
// with POST /api/auth/refresh, and the token is refreshed shortly before it expires.

const API = '/api';

/** An error answered by the API ({code, error, message}) or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const message =
      (body && typeof body.message === 'string' && body.message) ||
      (status === 0 ? 'Cannot reach the server. Check your connection and try again.' : `Request failed (HTTP ${status}).`);
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.error = (body && body.error) || (status === 0 ? 'NetworkError' : 'HttpError');
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** Turns an error into a sentence for the user. */
export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) {
      const s = err.retryAfter;
      return s ? `Too many attempts. Try again in ${s} second${s === 1 ? '' : 's'}.` : 'Too many attempts. Try again later.';
    }
    return err.message;
  }
  return (err && err.message) || String(err);
}

// ---- session state ----------------------------------------------------------------------------

let accessToken = null;
let user = null; // GET /api/auth/me
let refreshTimer = null;
let refreshInFlight = null;
const listeners = new Set();
const tokenListeners = new Set();

/** The current access token (for the live WebSocket's auth message), or null. */
export const currentToken = () => accessToken;

/** Calls fn whenever a new access token arrives (sign-in, refresh); returns the unsubscribe function. */
export function onToken(fn) {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

// Tells other tabs of this console about a sign-out so they do not keep a dead session on screen.
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('smartproduct-auth') : null;
if (channel) {
  channel.onmessage = (ev) => {
    if (ev.data === 'logout' && accessToken) clearSession('signed-out');
  };
}

/** Current session snapshot: {user, signedIn}. */
export function session() {
  return { user, signedIn: !!(accessToken && user) };
}

/** Subscribes to session changes; returns the unsubscribe function. reason: 'signed-in' | 'signed-out' | 'expired' | 'user'. */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(reason) {
  for (const fn of listeners) fn(reason);
}

function clearSession(reason) {
  accessToken = null;
  user = null;
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
  emit(reason);
}

function scheduleRefresh(expiresIn) {
  if (refreshTimer) clearTimeout(refreshTimer);
  const life = Number(expiresIn) > 0 ? Number(expiresIn) * 1000 : 300000;
  // A minute ahead for normal lifetimes, a quarter ahead for very short ones; never hammer.
  const delay = Math.max(5000, Math.max(life - 60000, life * 0.75));
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh().catch(() => {
      /* refresh() already ended the session when the server refused it */
    });
  }, delay);
}

function acceptTokens(body) {
  if (!body || typeof body.accessToken !== 'string' || !body.accessToken) {
    throw new ApiError(502, { message: 'The server sent an invalid sign-in response.' });
  }
  accessToken = body.accessToken;
  scheduleRefresh(body.expiresIn);
  for (const fn of tokenListeners) fn(accessToken);
}

// ---- HTTP -------------------------------------------------------------------------------------

async function send(path, { method = 'GET', body, auth = true, text: asText = false, blob: asBlob = false } = {}) {
  const headers = { Accept: asText || asBlob ? 'text/csv, application/x-ndjson, application/json' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, null);
  }
  let data = null;
  if (asText && res.ok) return res.text();
  if (asBlob && res.ok) return { blob: await res.blob(), disposition: res.headers.get('Content-Disposition') };
  if (res.status !== 204) {
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
  }
  if (!res.ok) {
    const ra = parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(res.status, data, Number.isFinite(ra) ? ra : undefined);
  }
  return data;
}

/**
 * Calls the API with the access token. A 401 triggers one refresh and one retry; only a refused
 * refresh ends the session (a 401 on the retry, e.g. a wrong current password, is just an error).
 */
export async function api(path, opts = {}) {
  try {
    return await send(path, opts);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || opts.auth === false || !accessToken) throw e;
  }
  await refresh(); // throws (and ends the session) when the refresh token is no longer valid
  return send(path, opts);
}

/** Exchanges the refresh cookie for a new access token; single-flight. */
export function refresh() {
  if (!refreshInFlight) {
    refreshInFlight = (async () => {
      try {
        acceptTokens(await send('/auth/refresh', { method: 'POST', body: {}, auth: false }));
      } catch (e) {
        if (e instanceof ApiError && (e.status === 400 || e.status === 401 || e.status === 403)) {
          if (accessToken || user) clearSession('expired');
        }
        throw e;
      } finally {
        refreshInFlight = null;
      }
    })();
  }
  return refreshInFlight;
}

async function loadUser() {
  user = await send('/auth/me', { auth: true });
}

/** On page load: restores a session from the refresh cookie. Resolves to true when signed in. */
export async function restoreSession() {
  try {
    acceptTokens(await send('/auth/refresh', { method: 'POST', body: {}, auth: false }));
    await loadUser();
    emit('signed-in');
    return true;
  } catch {
    accessToken = null;
    user = null;
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = null;
    return false;
  }
}

export async function signIn(email, password) {
  acceptTokens(await send('/auth/login', { method: 'POST', body: { email, password }, auth: false }));
  try {
    await loadUser();
  } catch (e) {
    clearSession('signed-out');
    throw e;
  }
  emit('signed-in');
}

export async function signOut() {
  try {
    // api() refreshes an expired access token first, so the server really clears the cookie.
    if (accessToken) await api('/auth/logout', { method: 'POST', body: {} });
    else await send('/auth/logout', { method: 'POST', body: {}, auth: false });
  } catch {
    // The local session ends regardless; the server clears the cookie when it can.
  }
  if (channel) channel.postMessage('logout');
  clearSession('signed-out');
}

/** Re-reads /auth/me (e.g. after a profile change). */
export async function reloadUser() {
  user = await api('/auth/me');
  emit('user');
  return user;
}

// ---- unauthenticated account flows ------------------------------------------------------------

export const signUp = (fields) => send('/auth/signup', { method: 'POST', body: fields, auth: false });
export const verifyEmail = (email, code) => send('/auth/verify', { method: 'POST', body: { email, code }, auth: false });
export const resendCode = (email) => send('/auth/verify/resend', { method: 'POST', body: { email }, auth: false });
export const forgotPassword = (email) => send('/auth/password/forgot', { method: 'POST', body: { email }, auth: false });
export const resetPassword = (email, code, newPassword) =>
  send('/auth/password/reset', { method: 'POST', body: { email, code, newPassword }, auth: false });

// ---- authenticated calls ----------------------------------------------------------------------

export const changePassword = (currentPassword, newPassword) =>
  api('/auth/password/change', { method: 'POST', body: { currentPassword, newPassword } });

export const getSetting = (id) => api(`/admin/settings/config/${encodeURIComponent(id)}`);
export const putSetting = (id, setting) =>
  api(`/admin/settings/config/${encodeURIComponent(id)}`, { method: 'PUT', body: setting });

function pageQuery(limit, cursor) {
  const q = new URLSearchParams();
  if (limit) q.set('limit', String(limit));
  if (cursor !== undefined && cursor !== null) q.set('lastevalkey', typeof cursor === 'string' ? cursor : JSON.stringify(cursor));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const listUsers = (limit, cursor) => api(`/admin/users${pageQuery(limit, cursor)}`);
export const patchUser = (id, patch) => api(`/admin/users/${encodeURIComponent(id)}`, { method: 'PATCH', body: patch });
export const deleteUser = (id) => api(`/admin/users/${encodeURIComponent(id)}`, { method: 'DELETE' });
export const listAudit = (limit, cursor) => api(`/admin/audit${pageQuery(limit, cursor)}`);
/** Security events page in the shape usePagedList expects (the API pages with `next` / `before`). */
export async function listSecurityEvents(limit, cursor) {
  const r = await api(`/admin/security-events?limit=${limit}${cursor != null ? `&before=${cursor}` : ''}`);
  return { Items: r.Items, LastEvaluatedKey: r.next };
}

// ---- devices, registration, certificates ------------------------------------------------------

// Serials may contain ':'; it is legal in a path segment, so it stays readable in URLs and logs.
const seg = (s) => encodeURIComponent(s).replace(/%3A/gi, ':');

export const register = (fields) => api('/registration', { method: 'POST', body: fields });
export const listRegistrations = () => api('/registration');
export const listDevices = () => api('/devices');
export const connectionInfo = () => api('/connection-info');
export const getDevice = (id) => api(`/devices/${seg(id)}`);
export const deleteDevice = (id) => api(`/devices/${seg(id)}`, { method: 'DELETE' });
export const listCertificates = (id) => api(`/devices/${seg(id)}/certificates`);
export const revokeCertificate = (id, fingerprint) =>
  api(`/devices/${seg(id)}/certificates/${seg(fingerprint)}/revoke`, { method: 'POST', body: {} });

// ---- device state and commands ----------------------------------------------------------------

/** The seed's status: the shadow document plus `connected`; `{}` while the device has no shadow. */
export const getStatus = (id) => api(`/devices/${seg(id)}/status`);
/** The shadow document (404 ShadowNotFound while there is none). */
export const getShadow = (id) => api(`/devices/${seg(id)}/shadow`);
/** body: {commandDetails:{command, value}, shadowDetails:{powerStatus, actualTemperature, targetTemperature}} */
export const sendCommand = (id, body) => api(`/devices/${seg(id)}/commands`, { method: 'POST', body });
export const getCommand = (id, commandId) => api(`/devices/${seg(id)}/commands/${seg(commandId)}`);
/** A page of commands, newest first; status '' = every status. */
export function listCommands(id, limit, cursor, status) {
  const q = new URLSearchParams(pageQuery(limit, cursor).slice(1));
  if (status) q.set('commandStatus', status);
  const s = q.toString();
  return api(`/devices/${seg(id)}/commands${s ? `?${s}` : ''}`);
}
/** A page of the devices matching a fleet query (`GET /api/devices?q=`); 422 names the error position. */
export function searchDevices(query, limit, cursor) {
  const q = new URLSearchParams(pageQuery(limit, cursor).slice(1));
  q.set('q', query);
  return api(`/devices?${q.toString()}`);
}

// ---- admin: reference catalog and certificate authorities --------------------------------------

export function listCatalog(limit, cursor, modelNumber) {
  const q = new URLSearchParams(pageQuery(limit, cursor).slice(1));
  if (modelNumber) q.set('modelNumber', modelNumber);
  const s = q.toString();
  return api(`/admin/catalog${s ? `?${s}` : ''}`);
}
export const addCatalogEntry = (entry) => api('/admin/catalog', { method: 'POST', body: entry });
// The query form: a model number may contain '/', which the server refuses encoded in a path.
export const deleteCatalogEntry = (deviceId, modelNumber) =>
  api(`/admin/catalog/${seg(deviceId)}?modelNumber=${encodeURIComponent(modelNumber)}`, { method: 'DELETE' });

export const caRegistrationCode = () => api('/admin/cas/registration-code');
export const listCas = () => api('/admin/cas');
export const registerCa = (fields) => api('/admin/cas', { method: 'POST', body: fields });
export const patchCa = (id, patch) => api(`/admin/cas/${seg(id)}`, { method: 'PATCH', body: patch });
export const deregisterCa = (id) => api(`/admin/cas/${seg(id)}`, { method: 'DELETE' });

// ---- events, alerts and notification channels --------------------------------------------------

function withQuery(path, limit, cursor, extra = {}) {
  const q = new URLSearchParams(pageQuery(limit, cursor).slice(1));
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  const s = q.toString();
  return `${path}${s ? `?${s}` : ''}`;
}

export const alertsCount = () => api('/alerts/count');
/** A page of the caller's open alerts (grouped), newest activity first. */
export const listAlerts = (limit, cursor, eventType) => api(withQuery('/alerts', limit, cursor, { eventType }));
/** A page of the caller's events, newest first; eventType '' = every type, deviceId '' = every device. */
export const listEvents = (limit, cursor, eventType, deviceId) => api(withQuery('/events', limit, cursor, { eventType, deviceId }));
export const listDeviceEvents = (id, limit, cursor, eventType) =>
  api(withQuery(`/devices/${seg(id)}/events`, limit, cursor, { eventType }));
/** Marks one event read (its alert group with it). */
export const ackEvent = (deviceId, eventId) =>
  api(`/devices/${seg(deviceId)}/events/${seg(eventId)}`, { method: 'PATCH', body: { ack: true } });
/** "Mark all read": every unread event of the caller (of one type when eventType is set). */
export const ackAllEvents = (eventType) => api('/events/ack', { method: 'POST', body: eventType ? { all: true, eventType } : { all: true } });

export const getChannels = () => api('/notifications/channels');
export const putChannels = (body) => api('/notifications/channels', { method: 'PUT', body });
export const testNotification = () => api('/notifications/test', { method: 'POST', body: {} });

// ---- telemetry --------------------------------------------------------------------------------

/** A page of the device's telemetry: raw samples or 1m/1h/1d rollups ({points, LastEvaluatedKey?}). */
export const getTelemetry = (id, { from, to, interval, fields, limit }, cursor) =>
  api(withQuery(`/devices/${seg(id)}/telemetry`, limit, cursor, { from: String(from), to: String(to), interval, fields }));
export const getTelemetryLatest = (id) => api(`/devices/${seg(id)}/telemetry/latest`);
/** The raw samples of a range as CSV text. */
export const getTelemetryCsv = (id, { from, to, fields }) =>
  api(withQuery(`/devices/${seg(id)}/telemetry.csv`, 10000, undefined, { from: String(from), to: String(to), fields }), { text: true });

// ---- admin: security audit --------------------------------------------------------------------

/** Starts an audit run: {runId, status: "running"} (409 AuditRunning while one runs). */
export const startAuditRun = () => api('/admin/audit/runs', { method: 'POST', body: {} });
export const getAuditRun = (id) => api(`/admin/audit/runs/${seg(String(id))}`);
/** A page of audit runs, newest first. */
export const listAuditRuns = (limit, cursor) => api(withQuery('/admin/audit/runs', limit, cursor));
/** A page of findings, newest first; filter: {check, severity, status, deviceId} ('' = any). */
/** Live findings by severity and check, and the newest run. */
export const getAuditSummary = () => api('/admin/audit/summary');
export const listAuditFindings = (limit, cursor, filter = {}) => api(withQuery('/admin/audit/findings', limit, cursor, filter));
/** {status: "suppressed", reason, until?} or {status: "open"}; answers the finding. */
export const updateAuditFinding = (id, body) => api(`/admin/audit/findings/${seg(String(id))}`, { method: 'PUT', body });
/** A mitigation: action = revoke-certificate | disable-ca | kick-device | quarantine-device. */
export const auditAction = (id, action) => api(`/admin/audit/findings/${seg(String(id))}/actions`, { method: 'POST', body: { action } });

// ---- admin: datasets --------------------------------------------------------------------------

export const listDatasets = () => api('/admin/datasets');
/** {name, query, schedule?, format?, retentionDays?, enabled?}: 201 the dataset; 409 DatasetExists, 422 names the query's column. */
export const createDataset = (body) => api('/admin/datasets', { method: 'POST', body });
export const getDataset = (name) => api(`/admin/datasets/${seg(name)}`);
/** Only the changed fields of {query, schedule, format, retentionDays, enabled}; answers the dataset. */
export const updateDataset = (name, body) => api(`/admin/datasets/${seg(name)}`, { method: 'PUT', body });
export const deleteDataset = (name) => api(`/admin/datasets/${seg(name)}`, { method: 'DELETE' });
/** Starts a run: {runId, status: "running"} (409 while one runs). */
export const runDataset = (name) => api(`/admin/datasets/${seg(name)}/run`, { method: 'POST', body: {} });
/** A page of the dataset's runs, newest first. */
export const listDatasetRuns = (name, limit, cursor) => api(withQuery(`/admin/datasets/${seg(name)}/contents`, limit, cursor));
export const getDatasetRun = (name, runId) => api(`/admin/datasets/${seg(name)}/contents/${seg(String(runId))}`);
/** A run's file with the token: {blob, disposition}. path: under /api (datasets.js downloadPath). */
export const downloadDatasetFile = (path) => api(path, { blob: true });

// ---- admin: detection (security profiles, violations, quarantine) ------------------------------

/** {profiles: [{name, model, rules}], metrics: [names]}. */
export const getSecurityProfiles = () => api('/admin/security-profiles');
/** Replaces every profile; answers like GET (422 InvalidSecurityProfile names the field). */
export const putSecurityProfiles = (profiles) => api('/admin/security-profiles', { method: 'PUT', body: { profiles } });
/** A page of violations, newest first; filter: {status, deviceId} ('' = any). */
export const listViolations = (limit, cursor, filter = {}) => api(withQuery('/admin/security-violations', limit, cursor, filter));
/** A page of the quarantined devices: {Items: [{deviceId, reason, source, violationId, since, by}], LastEvaluatedKey?}. */
export const listQuarantine = (limit, cursor) => api(withQuery('/admin/quarantine', limit, cursor));
/** One device's quarantine entry (404 NotQuarantined when it is not in quarantine). */
export const getQuarantine = (id) => api(`/admin/quarantine/${seg(id)}`);
/** Quarantines a device by hand (body {reason?}); answers the entry (404 MissingDevice). */
export const quarantineDevice = (id, body = {}) => api(`/admin/quarantine/${seg(id)}`, { method: 'PUT', body });
/** Releases a device: {deviceId, status: "RELEASED"} (404 NotQuarantined). */
export const releaseDevice = (id) => api(`/admin/quarantine/${seg(id)}`, { method: 'DELETE' });
