// Detection's console logic (no DOM): the security profiles' edit forms <-> the JSON of
// GET / PUT /api/admin/security-profiles and their checks, and the texts of the violations and the
// quarantine. Unit tests in test/detect.test.mjs.

/** The server's metrics (GET …/security-profiles answers the list; this one is the fallback). */
export const kMetrics = [
  'messages-sent',
  'messages-received',
  'bytes-sent',
  'message-byte-size',
  'authorization-failures',
  'connection-attempts',
  'disconnects',
  'source-ip-addresses',
];

export const kComparisons = [
  { value: 'greater-than', symbol: '>', label: 'greater than' },
  { value: 'greater-than-equals', symbol: '≥', label: 'at least' },
  { value: 'less-than', symbol: '<', label: 'less than' },
  { value: 'less-than-equals', symbol: '≤', label: 'at most' },
];
export const kStatistics = ['p90', 'p99'];
export const kActions = ['notify', 'quarantine', 'revoke'];
export const kKinds = ['static', 'statistical'];
/** Statuses the violations filter offers; '' = all. */
export const kViolationStatuses = ['active', 'cleared'];

export const kNamePattern = /^[A-Za-z0-9_.-]{1,64}$/;
export const kMaxProfiles = 50;
export const kMaxRules = 20;

export const kActionBadge = { notify: 'badge-blue', quarantine: 'badge-amber', revoke: 'badge-red' };
export const kViolationBadge = { active: 'badge-red', cleared: 'badge-green' };
export const kSourceText = { detect: 'Detection', admin: 'Administrator', audit: 'Audit' };

const kBytesMetrics = new Set(['bytes-sent', 'message-byte-size']);

// ---- the profiles editor ------------------------------------------------------------------------

let keySeq = 0;
/** A key for a form row (profile or rule) that stays while the list around it changes. */
const nextKey = (p) => `${p}${++keySeq}`;

const str = (v) => (v === undefined || v === null ? '' : String(v));

/** The metrics the editor offers: the server's list, else kMetrics; `also` (a rule's own) kept. */
export function metricOptions(metrics, also = []) {
  const list = Array.isArray(metrics) && metrics.length ? metrics.filter((m) => typeof m === 'string' && m) : [...kMetrics];
  for (const m of also) if (m && !list.includes(m)) list.push(m);
  return list;
}

/** A new rule's form: a static "greater than" rule on the first metric that notifies. */
export function newRuleForm(metrics) {
  return {
    key: nextKey('r'),
    name: '',
    metric: metricOptions(metrics)[0],
    kind: 'static',
    comparison: 'greater-than',
    value: '',
    statistic: 'p99',
    minSamples: '20',
    durationSeconds: '300',
    action: 'notify',
    clearAfterSeconds: '600',
  };
}

/** A new profile's form: no name, every model, one empty rule. */
export function newProfileForm(metrics) {
  return { key: nextKey('p'), name: '', model: '', rules: [newRuleForm(metrics)] };
}

/**
 * A rule of the API as the editor's form (strings for the inputs). The other kind's fields keep
 * their defaults, so switching the kind in the form starts from sensible values.
 */
export function ruleToForm(rule, metrics) {
  const r = rule || {};
  const f = newRuleForm(metrics);
  f.name = str(r.name);
  if (r.metric) f.metric = String(r.metric);
  f.kind = r.statistic ? 'statistical' : 'static';
  if (r.comparison) f.comparison = String(r.comparison);
  if (r.value !== undefined && r.value !== null) f.value = String(r.value);
  if (r.statistic) f.statistic = String(r.statistic);
  if (r.minSamples !== undefined && r.minSamples !== null) f.minSamples = String(r.minSamples);
  if (r.durationSeconds !== undefined && r.durationSeconds !== null) f.durationSeconds = String(r.durationSeconds);
  if (r.action) f.action = String(r.action);
  if (r.clearAfterSeconds !== undefined && r.clearAfterSeconds !== null) f.clearAfterSeconds = String(r.clearAfterSeconds);
  return f;
}

/** A profile of the API as the editor's form; model null (every device) is ''. */
export function profileToForm(profile, metrics) {
  const p = profile || {};
  return {
    key: nextKey('p'),
    name: str(p.name),
    model: str(p.model),
    rules: (Array.isArray(p.rules) ? p.rules : []).map((r) => ruleToForm(r, metrics)),
  };
}

/** GET …/security-profiles as the editor's state: {forms, metrics}. */
export function profilesToForms(res) {
  const metrics = metricOptions(res && res.metrics);
  const profiles = res && Array.isArray(res.profiles) ? res.profiles : [];
  return { forms: profiles.map((p) => profileToForm(p, metrics)), metrics };
}

function wholeNumber(v, min) {
  const t = str(v).trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

function decimal(v) {
  const t = str(v).trim();
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/**
 * One rule form as the API's rule, or {problems} (field → message). Checks the shape only; the
 * server judges the limits (durations up to a day, clearAfterSeconds ≥ durationSeconds, …) and its
 * 422 names the field (errorPath). A statistical rule has no comparison and no value.
 */
export function formToRule(form, metrics) {
  const f = form || {};
  const problems = {};
  const name = str(f.name).trim();
  if (!name) problems.name = 'Enter a rule name.';
  else if (!kNamePattern.test(name)) problems.name = 'Use 1–64 letters, digits, _ . or -.';
  const metric = str(f.metric);
  if (!metric || !metricOptions(metrics).includes(metric)) problems.metric = 'Choose a metric.';
  const rule = { name, metric };
  if (f.kind === 'statistical') {
    if (!kStatistics.includes(f.statistic)) problems.statistic = 'Choose p90 or p99.';
    else rule.statistic = f.statistic;
  } else {
    if (!kComparisons.some((c) => c.value === f.comparison)) problems.comparison = 'Choose a comparison.';
    else rule.comparison = f.comparison;
    const value = decimal(f.value);
    if (value === null || value < 0) problems.value = 'Enter a number (0 or more).';
    else rule.value = value;
  }
  const duration = wholeNumber(f.durationSeconds, 1);
  if (duration === null) problems.durationSeconds = 'Enter a whole number of seconds (1 or more).';
  else rule.durationSeconds = duration;
  if (f.kind === 'statistical') {
    const n = wholeNumber(f.minSamples, 1);
    if (n === null) problems.minSamples = 'Enter a whole number of windows (1 or more).';
    else rule.minSamples = n;
  }
  if (!kActions.includes(f.action)) problems.action = 'Choose notify, quarantine or revoke.';
  else rule.action = f.action;
  const clear = wholeNumber(f.clearAfterSeconds, 0);
  if (clear === null) problems.clearAfterSeconds = 'Enter a whole number of seconds.';
  else rule.clearAfterSeconds = clear;
  if (Object.keys(problems).length) return { problems };
  return { rule };
}

/** The key of a problem in profilesBody()'s map: `${profile.key}.${field}` or `${profile.key}.${rule.key}.${field}`. */
export const problemKey = (p, r, field) => (r ? `${p.key}.${r.key}.${field}` : `${p.key}.${field}`);

/**
 * The PUT body of the editor, or {problems} (problemKey → message) and `count`. Profile names are
 * unique, rule names unique within their profile; model '' is null (every device). A profile
 * without rules is allowed (the server keeps it; it matches nothing).
 */
export function profilesBody(forms, metrics) {
  const problems = {};
  const list = Array.isArray(forms) ? forms : [];
  const profiles = [];
  const names = new Set();
  if (list.length > kMaxProfiles) problems.form = `At most ${kMaxProfiles} profiles.`;
  for (const p of list) {
    const name = str(p.name).trim();
    if (!name) problems[problemKey(p, null, 'name')] = 'Enter a profile name.';
    else if (!kNamePattern.test(name)) problems[problemKey(p, null, 'name')] = 'Use 1–64 letters, digits, _ . or -.';
    else if (names.has(name)) problems[problemKey(p, null, 'name')] = `Another profile is named ${name}.`;
    names.add(name);
    const model = str(p.model).trim();
    if (model.length > 128) problems[problemKey(p, null, 'model')] = 'A model number has at most 128 characters.';
    const rules = [];
    const ruleNames = new Set();
    const ruleForms = Array.isArray(p.rules) ? p.rules : [];
    if (ruleForms.length > kMaxRules) problems[problemKey(p, null, 'rules')] = `At most ${kMaxRules} rules per profile.`;
    for (const rf of ruleForms) {
      const r = formToRule(rf, metrics);
      if (r.problems) {
        for (const [field, msg] of Object.entries(r.problems)) problems[problemKey(p, rf, field)] = msg;
        continue;
      }
      if (ruleNames.has(r.rule.name)) {
        problems[problemKey(p, rf, 'name')] = `Another rule of this profile is named ${r.rule.name}.`;
        continue;
      }
      ruleNames.add(r.rule.name);
      rules.push(r.rule);
    }
    profiles.push({ name, model: model || null, rules });
  }
  const count = Object.keys(problems).length;
  if (count) return { problems, count };
  return { body: { profiles } };
}

/**
 * Where a 422 InvalidSecurityProfile points in the editor: its message starts with the field's
 * path, "profiles[1].rules[0].clearAfterSeconds must be …". Answers the problemKey of that field in
 * `forms` (the list that was sent), or null when the message names no field of it. A message about
 * a whole rule or profile ("profiles[0].rules[1] has both …") gives the field 'rule' / 'profile'.
 */
export function errorKey(message, forms) {
  const m = /^profiles\[(\d+)\](?:\.rules\[(\d+)\])?(?:\.([A-Za-z]+))?/.exec(str(message));
  const list = Array.isArray(forms) ? forms : [];
  if (!m) return null;
  const p = list[Number(m[1])];
  if (!p) return null;
  if (m[2] === undefined) return problemKey(p, null, m[3] || 'profile');
  const r = (p.rules || [])[Number(m[2])];
  if (!r) return problemKey(p, null, 'rules');
  return problemKey(p, r, m[3] || 'rule');
}

/** The editor's state differs from `saved` in what a PUT would send (keys and blanks aside). */
export function formsChanged(forms, saved, metrics) {
  const canon = (list) =>
    JSON.stringify(
      (Array.isArray(list) ? list : []).map((p) => ({
        name: str(p.name).trim(),
        model: str(p.model).trim(),
        rules: (p.rules || []).map((rf) => {
          const r = formToRule(rf, metrics);
          return r.rule || { ...rf, key: undefined };
        }),
      })),
    );
  return canon(forms) !== canon(saved);
}

// ---- texts ------------------------------------------------------------------------------------

/** A number for tables: integers as they are, others with at most two decimals. */
export function formatNumber(n) {
  const x = Number(n);
  if (n === null || n === undefined || n === '' || !Number.isFinite(x)) return '—';
  if (Number.isInteger(x)) return String(x);
  return String(Math.round(x * 100) / 100);
}

/** Seconds in words: "45 s", "5 min", "1 h 30 min", "2 d 3 h". */
export function formatSeconds(sec) {
  const s = Number(sec);
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60 || s % 60) return `${formatNumber(s)} s`;
  const min = s / 60;
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** A metric's value with its unit where it has one: "812", "1200 bytes". */
export function metricValue(metric, n) {
  const v = formatNumber(n);
  return kBytesMetrics.has(metric) && v !== '—' ? `${v} bytes` : v;
}

export const comparisonSymbol = (c) => (kComparisons.find((x) => x.value === c) || { symbol: c || '?' }).symbol;

/** A rule in one line: "messages-sent > 600 in 5 min → quarantine (clears after 10 min)". */
export function ruleSummary(rule) {
  const r = rule || {};
  const cond = r.statistic
    ? `${r.metric} above the device's ${r.statistic} (after ${formatNumber(r.minSamples)} windows)`
    : `${r.metric} ${comparisonSymbol(r.comparison)} ${metricValue(r.metric, r.value)}`;
  const clear = r.clearAfterSeconds !== undefined && r.clearAfterSeconds !== null ? ` (clears after ${formatSeconds(r.clearAfterSeconds)})` : '';
  return `${cond} in ${formatSeconds(r.durationSeconds)} → ${r.action}${clear}`;
}

/** A violation's measured value against its threshold: "812 (limit 600)", "95 (p99 baseline 40)". */
export function violationValueText(v) {
  if (!v) return '';
  const value = metricValue(v.metric, v.value);
  const threshold = metricValue(v.metric, v.threshold);
  return v.statistic ? `${value} (${v.statistic} baseline ${threshold})` : `${value} (limit ${threshold})`;
}

/** The violations list's query: status '' = every status; deviceId '' = every device. */
export function violationsFilter(status, deviceId) {
  const f = {};
  if (status) f.status = status;
  if (deviceId) f.deviceId = deviceId;
  return f;
}

/** The device's entry in GET /api/admin/quarantine's answer, or null. */
export function quarantineOf(res, deviceId) {
  const items = res && Array.isArray(res.Items) ? res.Items : Array.isArray(res) ? res : [];
  return items.find((q) => q && q.deviceId === deviceId) || null;
}

/** Who put a device in quarantine: "Detection (violation 12)", "Administrator (user-id)". */
export function quarantineSourceText(q) {
  if (!q) return '';
  const who = kSourceText[q.source] || q.source || '?';
  if (q.violationId !== undefined && q.violationId !== null) return `${who} (violation ${q.violationId})`;
  if (q.by && q.by !== q.source && q.by !== 'detect') return `${who} (${q.by})`;
  return who;
}

/** The quarantine form's PUT body: {reason} when one is given, or {problems}. */
export function quarantineBody(reason) {
  const r = str(reason).trim();
  if (r.length > 500) return { problems: { reason: 'The reason must have at most 500 characters.' } };
  return { body: r ? { reason: r } : {} };
}
