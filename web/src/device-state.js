// Device state and command bodies, without any UI: what the Status card shows and what the
// Commands tab sends (POST /api/devices/{id}/commands, the seed's body). Unit tests in test/.

/** The seed thermostat's modes and the confirmation text of each. */
export const kModes = [
  { value: 'HEAT', ask: 'turn on the heat' },
  { value: 'AC', ask: 'turn on the AC' },
  { value: 'OFF', ask: 'turn off the device' },
];
export const kMinTemp = 50;
export const kMaxTemp = 110;

/** `state.reported` / `state.desired` of a status or shadow document ({} when none). */
export const reportedOf = (doc) => (doc && doc.state && doc.state.reported) || {};
export const desiredOf = (doc) => (doc && doc.state && doc.state.desired) || {};

/** A finite number, or a numeric string as one; null otherwise. */
export function num(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

export const round2 = (v) => Math.round(v * 100) / 100;

/** "72.5 °F", or "N/A" for a value that is not a number. */
export const fmtTemp = (v) => (num(v) === null ? 'N/A' : `${round2(num(v))} °F`);

/**
 * Connectivity: the status route's `connected` when it has one, else the device list's (the
 * status of a device without a shadow is `{}`); null while neither is known.
 */
export function connectedOf(status, conn) {
  if (status && typeof status.connected === 'boolean') return status.connected;
  if (conn && typeof conn.connected === 'boolean') return conn.connected;
  return null;
}

/** Client-side check of a target temperature, as the server's: a number, 50–110 °F. */
export function targetProblem(text) {
  const s = String(text ?? '').trim();
  if (!s) return 'Enter a target temperature.';
  const v = Number(s);
  if (!Number.isFinite(v)) return 'The target temperature must be a number.';
  if (v < kMinTemp || v > kMaxTemp) return `The target temperature must be between ${kMinTemp} and ${kMaxTemp} °F.`;
  return null;
}

function shadowDetails(powerStatus, actual, target) {
  const d = { powerStatus, targetTemperature: target };
  if (actual !== null) d.actualTemperature = actual;
  return d;
}

/**
 * The body of a "set mode" command: the last reported state with the new mode swapped in, as the
 * seed sent it. The server checks the target even for a mode change, so a device that never
 * reported one needs the desired one or one typed in (`targetText`).
 * Returns {body, ask} or {error}.
 */
export function modeCommand(status, mode, targetText) {
  const m = kModes.find((x) => x.value === mode);
  if (!m) return { error: 'Choose HEAT, AC or OFF.' };
  const rep = reportedOf(status);
  const t = num(rep.targetTemperature) ?? num(desiredOf(status).targetTemperature) ?? num(targetText);
  if (t === null || targetProblem(String(t))) return { error: targetProblem(targetText) || 'Enter a target temperature first.' };
  return {
    ask: m.ask,
    body: { commandDetails: { command: 'set-mode', value: mode }, shadowDetails: shadowDetails(mode, num(rep.actualTemperature), round2(t)) },
  };
}

/**
 * The body of a "set temperature" command (target rounded to 2 decimals, kept a number), with the
 * reported mode (or the desired one when none was reported). Returns {body, ask} or {error}.
 */
export function tempCommand(status, targetText) {
  const p = targetProblem(targetText);
  if (p) return { error: p };
  const t = round2(Number(targetText));
  const rep = reportedOf(status);
  const current = num(rep.targetTemperature);
  if (current !== null && round2(current) === t) return { error: `The target is already ${t} °F.` };
  const mode = rep.powerStatus ?? desiredOf(status).powerStatus;
  if (!kModes.some((x) => x.value === mode)) return { error: 'The device has not reported its mode yet: set a mode first.' };
  return {
    ask: `set the temperature to ${t} °F`,
    body: { commandDetails: { command: 'set-temp', value: t }, shadowDetails: shadowDetails(mode, num(rep.actualTemperature), t) },
  };
}

/**
 * The 0-based position of a fleet-query error, from the error body (`position`, or `offset` /
 * `column`) or, failing that, from "position N" in its message; null when it names none.
 */
export function queryErrorPosition(body) {
  const b = body || {};
  for (const k of ['position', 'offset', 'column']) {
    if (Number.isInteger(b[k]) && b[k] >= 0) return b[k];
  }
  const m = /\b(?:position|column|offset)\s+(\d+)/i.exec(typeof b.message === 'string' ? b.message : '');
  return m ? Number(m[1]) : null;
}

/**
 * The commands a catalog model declares in its `details.commands` (instead of the built-in
 * thermostat): [{name, field, type: number|string|enum, min?, max?, values?, maxLength?}], sorted
 * by name; null when the model declares none (or the declaration is not an object).
 */
export function declaredCommands(details) {
  const decl = details && typeof details === 'object' ? details.commands : undefined;
  if (!decl || typeof decl !== 'object' || Array.isArray(decl)) return null;
  const out = [];
  for (const [name, d] of Object.entries(decl)) {
    if (!d || typeof d !== 'object' || typeof d.field !== 'string') continue;
    if (!['number', 'string', 'enum'].includes(d.type)) continue;
    const spec = { name, field: d.field, type: d.type };
    if (d.type === 'number') {
      if (isFiniteNumber(d.min)) spec.min = d.min;
      if (isFiniteNumber(d.max)) spec.max = d.max;
    } else if (d.type === 'enum') {
      spec.values = Array.isArray(d.values) ? d.values.filter((v) => typeof v === 'string') : [];
      if (!spec.values.length) continue;
    } else {
      spec.maxLength = Number.isInteger(d.maxLength) && d.maxLength > 0 ? d.maxLength : 256;
    }
    out.push(spec);
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  return out.length ? out : null;
}

function isFiniteNumber(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The body of a declared command ({commandDetails:{command, value}}), checked as the server does. */
export function declaredCommand(spec, input) {
  let value;
  if (spec.type === 'number') {
    const s = String(input ?? '').trim();
    const v = s === '' ? NaN : Number(s);
    if (!Number.isFinite(v)) return { error: `${spec.name}: enter a number.` };
    const lo = spec.min !== undefined ? spec.min : null;
    const hi = spec.max !== undefined ? spec.max : null;
    if ((lo !== null && v < lo) || (hi !== null && v > hi)) {
      const range = lo !== null && hi !== null ? `from ${lo} to ${hi}` : lo !== null ? `at least ${lo}` : `at most ${hi}`;
      return { error: `${spec.name}: the value must be ${range}.` };
    }
    value = round2(v);
  } else if (spec.type === 'enum') {
    if (!spec.values.includes(input)) return { error: `${spec.name}: choose one of ${spec.values.join(', ')}.` };
    value = input;
  } else {
    value = String(input ?? '');
    if (new TextEncoder().encode(value).length > spec.maxLength) return { error: `${spec.name}: at most ${spec.maxLength} bytes.` };
  }
  return { ask: `send ${spec.name} ${JSON.stringify(value)}`, body: { commandDetails: { command: spec.name, value } } };
}

/** The UTF-16 index in `text` of a 0-based UTF-8 byte offset (the server counts bytes). */
export function byteOffsetToIndex(text, offset) {
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    if (bytes >= offset) return i;
    bytes += new TextEncoder().encode(ch).length;
    i += ch.length;
  }
  return text.length;
}
