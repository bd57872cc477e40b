// The admin Datasets page's logic (no DOM): schedules in words, the next run relative to now, the
// define / edit forms' checks and bodies, which field a server error belongs to, and the download
// of a run's file. Unit tests in test/.

export const kFormats = ['csv', 'jsonl'];
export const kNamePattern = /^[A-Za-z0-9_-]{1,64}$/;
export const kRunBadge = { succeeded: 'badge-green', running: 'badge-blue', failed: 'badge-red' };

const kUnits = { minute: 60000, hour: 3600000, day: 86400000 };

/**
 * A schedule as the server takes it: 'off', 'rate(N minute(s)|hour(s)|day(s))' or 'cron(M H DOM MON DOW)'
 * (five fields, UTC). Answers {kind: 'off'} | {kind: 'rate', n, unit} | {kind: 'cron', fields} | null.
 */
export function parseSchedule(s) {
  const t = String(s == null ? '' : s).trim();
  if (t === 'off') return { kind: 'off' };
  let m = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    return n >= 1 ? { kind: 'rate', n, unit: m[2] } : null;
  }
  m = /^cron\((.*)\)$/.exec(t);
  if (m) {
    const fields = m[1].trim().split(/\s+/);
    if (fields.length === 5 && fields.every((f) => /^[0-9A-Za-z*,/?-]+$/.test(f))) return { kind: 'cron', fields };
  }
  return null;
}

/** The schedule field's client-side check: a message, or null when the server may judge it. */
export function scheduleProblem(s) {
  const t = String(s == null ? '' : s).trim();
  if (!t) return 'Enter a schedule, or off.';
  if (parseSchedule(t)) return null;
  if (/^rate\(/.test(t)) return 'A rate is rate(N minutes), rate(N hours) or rate(N days) with N ≥ 1.';
  if (/^cron\(/.test(t)) return 'A cron schedule has five fields: cron(minute hour day-of-month month day-of-week), in UTC.';
  return 'Enter rate(…), cron(…) or off.';
}

const two = (x) => String(x).padStart(2, '0');
const isNum = (x) => /^\d+$/.test(x);

/** A schedule in words: "Every hour", "Every 5 minutes", "Daily at 03:00 UTC", "Off"; else the text. */
export function describeSchedule(s) {
  const p = parseSchedule(s);
  if (!p) return String(s == null ? '' : s);
  if (p.kind === 'off') return 'Off';
  if (p.kind === 'rate') return p.n === 1 ? `Every ${p.unit}` : `Every ${p.n} ${p.unit}s`;
  const [min, hour, dom, mon, dow] = p.fields;
  const rest = dom === '*' && mon === '*' && (dow === '*' || dow === '?');
  if (rest && isNum(min) && isNum(hour) && Number(min) < 60 && Number(hour) < 24) return `Daily at ${two(hour)}:${two(min)} UTC`;
  if (rest && isNum(min) && hour === '*' && Number(min) < 60) return `Hourly at :${two(min)}`;
  return `cron ${p.fields.join(' ')} (UTC)`;
}

/** A schedule's period in ms for rates (null otherwise). */
export function ratePeriodMs(s) {
  const p = parseSchedule(s);
  return p && p.kind === 'rate' ? p.n * kUnits[p.unit] : null;
}

/** A duration in ms, coarsely: "45 s", "5 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/**
 * The next run column: {text, title?}. No next run: why (off, disabled). A time in the past is
 * "due" (the scheduler takes it on its next pass).
 */
export function nextRunText(ds, nowMs = Date.now()) {
  if (!ds) return { text: '—' };
  if (!ds.nextRunAt) {
    if (ds.enabled === false) return { text: 'Disabled' };
    const p = parseSchedule(ds.schedule);
    if (p && p.kind === 'off') return { text: 'Not scheduled' };
    return { text: '—' };
  }
  const t = Date.parse(ds.nextRunAt);
  if (Number.isNaN(t)) return { text: String(ds.nextRunAt) };
  const iso = new Date(t).toISOString();
  if (t <= nowMs) return { text: 'Due now', title: iso };
  return { text: `in ${formatDuration(t - nowMs)}`, title: iso };
}

/** Bytes for tables: "812 B", "4.2 KB", "1.5 MB". */
export function formatBytes(n) {
  const b = Number(n);
  if (!Number.isFinite(b) || b < 0) return '—';
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KB`;
  if (b < 1024 * 1024 * 1024) return `${(b / 1024 / 1024).toFixed(1)} MB`;
  return `${(b / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

/** "1 row", "1,234 rows". */
export function rowsText(n) {
  const r = Number(n);
  if (!Number.isFinite(r)) return '—';
  return `${r.toLocaleString('en-US')} row${r === 1 ? '' : 's'}`;
}

/** What a finished run did, as a sentence. */
export function runDoneText(name, run) {
  if (!run) return '';
  if (run.status === 'succeeded') return `Run ${run.id} of ${name} succeeded: ${rowsText(run.rows)}.`;
  return `Run ${run.id} of ${name} ${run.status}${run.error ? `: ${run.error}` : '.'}`;
}

function retentionProblem(v) {
  const t = String(v == null ? '' : v).trim();
  if (!/^\d+$/.test(t) || Number(t) < 1) return 'Enter a whole number of days (1 or more).';
  return null;
}

/** The fields both forms have, trimmed and checked: {values: {query, schedule, format, retentionDays}, problems}. */
function checkFields(f) {
  const problems = {};
  const values = { query: String(f.query || '').trim(), schedule: String(f.schedule || '').trim(), format: f.format };
  if (!values.query) problems.query = 'Enter a query, e.g. SELECT * FROM telemetry.';
  const sp = scheduleProblem(values.schedule);
  if (sp) problems.schedule = sp;
  if (!kFormats.includes(f.format)) problems.format = 'Choose csv or jsonl.';
  const rp = retentionProblem(f.retentionDays);
  if (rp) problems.retentionDays = rp;
  else values.retentionDays = Number(String(f.retentionDays).trim());
  return { values, problems };
}

/**
 * The define form's POST body, or {problems} (field → message).
 * form: {name, query, schedule, format, retentionDays (string), enabled}.
 */
export function createBody(form) {
  const f = form || {};
  const { values, problems } = checkFields(f);
  const name = String(f.name || '').trim();
  if (!name) problems.name = 'Enter a name.';
  else if (!kNamePattern.test(name)) problems.name = 'Use 1–64 letters, digits, _ or -.';
  if (Object.keys(problems).length) return { problems };
  const body = { name, ...values };
  if (f.enabled === false) body.enabled = false;
  return { body };
}

/** The edit form's fields from a dataset. */
export function editForm(ds) {
  const d = ds || {};
  return {
    query: d.query || '',
    schedule: d.schedule || 'off',
    format: d.format || 'csv',
    retentionDays: d.retentionDays == null ? '' : String(d.retentionDays),
    enabled: d.enabled !== false,
  };
}

/**
 * The edit form's PUT body with only what changed, or {problems}; {body: null} when nothing did.
 */
export function updateBody(ds, form) {
  const before = editForm(ds);
  const f = form || {};
  const { values, problems } = checkFields(f);
  if (Object.keys(problems).length) return { problems };
  const body = {};
  if (values.query !== before.query.trim()) body.query = values.query;
  if (values.schedule !== before.schedule.trim()) body.schedule = values.schedule;
  if (values.format !== before.format) body.format = values.format;
  if (String(values.retentionDays) !== before.retentionDays) body.retentionDays = values.retentionDays;
  if (!!f.enabled !== before.enabled) body.enabled = !!f.enabled;
  return { body: Object.keys(body).length ? body : null };
}

/**
 * The form field a refused define / edit belongs under ('name', 'query', 'schedule', 'format',
 * 'retentionDays'), or null for the form's banner. err: {status, error (the name), message}.
 */
export function errorField(err) {
  if (!err || (err.status !== 400 && err.status !== 409 && err.status !== 422)) return null;
  const name = String(err.error || '');
  const msg = String(err.message || '').toLowerCase();
  if (/Query/.test(name)) return 'query';
  if (err.status === 409 && /Exists/.test(name)) return 'name';
  if (/Schedule/.test(name)) return 'schedule';
  if (/Format/.test(name)) return 'format';
  if (/Retention/.test(name)) return 'retentionDays';
  if (/Name/.test(name)) return 'name';
  if (/\bschedule\b/.test(msg)) return 'schedule';
  if (/\bformat\b/.test(msg)) return 'format';
  if (/retention/.test(msg)) return 'retentionDays';
  if (/\bquery\b|\bcolumn \d+/.test(msg)) return 'query';
  if (/\bname\b/.test(msg)) return 'name';
  return null;
}

/** The API path (under /api) of a run's file: the run's downloadUrl, else built; null when none. */
export function downloadPath(name, run) {
  if (!run || run.status !== 'succeeded') return null;
  const u = run.downloadUrl;
  if (typeof u === 'string' && u.startsWith('/api/')) return u.slice(4);
  if (u === null) return null;
  return `/admin/datasets/${encodeURIComponent(name)}/contents/${encodeURIComponent(String(run.id))}/download`;
}

/**
 * The file name for a download: the Content-Disposition filename when there is a safe one, else
 * <dataset>-<run>.<csv|jsonl>.
 */
export function downloadName(disposition, name, run, format) {
  const d = String(disposition || '');
  let m = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(d);
  let file = null;
  if (m) {
    try {
      file = decodeURIComponent(m[1].trim());
    } catch {
      file = null;
    }
  }
  if (!file) {
    m = /filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;\s]+)/i.exec(d);
    if (m) file = (m[1] != null ? m[1] : m[2]).trim();
  }
  if (file) file = file.replace(/^.*[/\\]/, '');
  if (file && /^[^\x00-\x1f]{1,200}$/.test(file) && file !== '.' && file !== '..') return file;
  return `${name}-${run && run.id != null ? run.id : 'run'}.${format === 'jsonl' ? 'jsonl' : 'csv'}`;
}

/** Datasets sorted by name (the table's order). */
export function sortDatasets(items) {
  return [...(items || [])].filter(Boolean).sort((a, b) => String(a.name).localeCompare(String(b.name)));
}
