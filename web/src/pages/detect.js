// Detection in the console (admins only; the server enforces the role): the Security page's
// "Detection" tab (quarantined devices with Release, the violations with a status filter, the
// security profiles editor) and Device Detail's Quarantine and Security violations cards. The
// logic (forms <-> JSON, checks, texts) is in detect.js, unit-tested in test/.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import {
  errorKey,
  formToRule,
  formsChanged,
  kActionBadge,
  kActions,
  kComparisons,
  kMaxProfiles,
  kMaxRules,
  kStatistics,
  kViolationBadge,
  kViolationStatuses,
  metricOptions,
  newProfileForm,
  newRuleForm,
  problemKey,
  profilesBody,
  profilesToForms,
  quarantineBody,
  quarantineOf,
  quarantineSourceText,
  ruleSummary,
  violationValueText,
  violationsFilter,
} from '../detect.js';
import { html } from '../html.js';
import { Button, Card, ConfirmDialog, Empty, Field, Notice, Select, Spinner, Time } from '../ui.js';
import { ListFooter, usePagedList } from './admin.js';
import { devicePath } from './devices.js';

const label = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const kKindOptions = [
  { value: 'static', label: 'Static threshold' },
  { value: 'statistical', label: 'Statistical (baseline)' },
];
const kComparisonOptions = kComparisons.map((c) => ({ value: c.value, label: `${c.symbol} ${c.label}` }));
const kStatisticOptions = kStatistics.map((s) => ({ value: s, label: s }));
const kActionOptions = kActions.map((a) => ({ value: a, label: label(a) }));

function ActionBadge({ action }) {
  return html`<span class=${`badge ${kActionBadge[action] || 'badge-grey'}`}>${action || '?'}</span>`;
}

function FieldError({ error }) {
  return error ? html`<p class="field-error">${error}</p>` : null;
}

// ---- security profiles editor ------------------------------------------------------------------

/** One rule of a profile: its fields in a grid; the kind decides comparison + value or statistic + samples. */
function RuleEditor({ profile, rule, index, metrics, problems, onChange, onRemove }) {
  const err = (field) => problems[problemKey(profile, rule, field)];
  const set = (k) => (v) => onChange(k, v);
  const ok = formToRule(rule, metrics).rule;
  const metricList = metricOptions(metrics, [rule.metric]).map((m) => ({ value: m, label: m }));
  return html`<fieldset class="rule-edit" data-rule-key=${rule.key}>
    <legend>Rule ${index + 1}</legend>
    ${ok ? html`<p class="hint rule-summary">${ruleSummary(ok)}</p>` : null}
    <${FieldError} error=${err('rule')} />
    <div class="rule-grid">
      <${Field} label="Rule name" name="ruleName" required value=${rule.name} onInput=${set('name')} error=${err('name')} autocomplete="off" />
      <div><${Select} label="Metric" name="metric" value=${rule.metric} onChange=${set('metric')} options=${metricList} /><${FieldError} error=${err('metric')} /></div>
      <div><${Select} label="Kind" name="kind" value=${rule.kind} onChange=${set('kind')} options=${kKindOptions} /></div>
      ${rule.kind === 'statistical'
        ? html`<div><${Select} label="Statistic" name="statistic" value=${rule.statistic} onChange=${set('statistic')} options=${kStatisticOptions} /><${FieldError} error=${err('statistic')} /></div>
            <${Field} label="Minimum samples" name="minSamples" required inputmode="numeric" value=${rule.minSamples} onInput=${set('minSamples')}
              error=${err('minSamples')} hint="Windows learned before the rule applies." autocomplete="off" />`
        : html`<div><${Select} label="Comparison" name="comparison" value=${rule.comparison} onChange=${set('comparison')} options=${kComparisonOptions} /><${FieldError} error=${err('comparison')} /></div>
            <${Field} label="Value" name="value" required inputmode="decimal" value=${rule.value} onInput=${set('value')} error=${err('value')} autocomplete="off" />`}
      <${Field} label="Window (seconds)" name="durationSeconds" required inputmode="numeric" value=${rule.durationSeconds} onInput=${set('durationSeconds')}
        error=${err('durationSeconds')} hint="The metric is summed over this window." autocomplete="off" />
      <div><${Select} label="Action" name="action" value=${rule.action} onChange=${set('action')} options=${kActionOptions} /><${FieldError} error=${err('action')} /></div>
      <${Field} label="Clear after (seconds)" name="clearAfterSeconds" required inputmode="numeric" value=${rule.clearAfterSeconds} onInput=${set('clearAfterSeconds')}
        error=${err('clearAfterSeconds')} hint="Normal behaviour this long clears the violation." autocomplete="off" />
    </div>
    <div class="btn-row btn-row-end"><${Button} small kind="danger-ghost" onClick=${onRemove}>Remove rule<//></div>
  </fieldset>`;
}

function ProfileEditor({ profile, index, metrics, problems, onChange, onRuleChange, onAddRule, onRemoveRule, onRemove }) {
  const err = (field) => problems[problemKey(profile, null, field)];
  return html`<fieldset class="profile-edit" data-profile-key=${profile.key}>
    <legend>Profile ${index + 1}</legend>
    <${FieldError} error=${err('profile')} />
    <div class="rule-grid">
      <${Field} label="Profile name" name="profileName" required value=${profile.name} onInput=${(v) => onChange('name', v)} error=${err('name')}
        autocomplete="off" hint="Letters, digits, _ . and -; at most 64." />
      <${Field} label="Model" name="model" value=${profile.model} onInput=${(v) => onChange('model', v)} error=${err('model')}
        autocomplete="off" hint="A model number; empty: every device." />
    </div>
    ${profile.rules.length ? null : html`<p class="muted">No rules: the profile watches nothing.</p>`}
    ${profile.rules.map(
      (r, j) => html`<${RuleEditor} key=${r.key} profile=${profile} rule=${r} index=${j} metrics=${metrics} problems=${problems}
        onChange=${(k, v) => onRuleChange(r.key, k, v)} onRemove=${() => onRemoveRule(r.key)} />`,
    )}
    <${FieldError} error=${err('rules')} />
    <div class="btn-row btn-row-end">
      <${Button} small kind="secondary" disabled=${profile.rules.length >= kMaxRules} onClick=${onAddRule}>Add rule<//>
      <${Button} small kind="danger-ghost" onClick=${onRemove}>Remove profile<//>
    </div>
  </fieldset>`;
}

/** The profiles editor: edits a copy of GET …/security-profiles and saves all of it with PUT. */
export function SecurityProfiles() {
  const [forms, setForms] = useState(null);
  const [saved, setSaved] = useState(null);
  const [metrics, setMetrics] = useState([]);
  const [problems, setProblems] = useState({});
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null); // the server's refusal or the form's problems, by Save
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const [gen, setGen] = useState(0);

  function accept(res) {
    const s = profilesToForms(res);
    setForms(s.forms);
    setSaved(s.forms);
    setMetrics(s.metrics);
    setProblems({});
  }

  useEffect(() => {
    let stale = false;
    setLoadError(null);
    api.getSecurityProfiles().then(
      (res) => !stale && accept(res),
      (err) => !stale && setLoadError(api.errorText(err)),
    );
    return () => {
      stale = true;
    };
  }, [gen]);

  const edited = () => {
    setDone(null);
    setError(null);
  };
  const dropProblem = (k) => setProblems((p) => (p[k] ? { ...p, [k]: undefined } : p));
  const updateProfile = (p, k, v) => {
    edited();
    dropProblem(problemKey(p, null, k));
    setForms((list) => list.map((x) => (x.key === p.key ? { ...x, [k]: v } : x)));
  };
  const updateRule = (p, rkey, k, v) => {
    edited();
    dropProblem(`${p.key}.${rkey}.${k}`);
    setForms((list) => list.map((x) => (x.key === p.key ? { ...x, rules: x.rules.map((r) => (r.key === rkey ? { ...r, [k]: v } : r)) } : x)));
  };
  const addRule = (p) => {
    edited();
    setForms((list) => list.map((x) => (x.key === p.key ? { ...x, rules: [...x.rules, newRuleForm(metrics)] } : x)));
  };
  const removeRule = (p, rkey) => {
    edited();
    setForms((list) => list.map((x) => (x.key === p.key ? { ...x, rules: x.rules.filter((r) => r.key !== rkey) } : x)));
  };
  const addProfile = () => {
    edited();
    setForms((list) => [...list, newProfileForm(metrics)]);
  };
  const removeProfile = (p) => {
    edited();
    setForms((list) => list.filter((x) => x.key !== p.key));
  };

  function discard() {
    edited();
    setGen((g) => g + 1);
  }

  async function save(e) {
    e.preventDefault();
    const r = profilesBody(forms, metrics);
    setDone(null);
    setError(null);
    setProblems(r.problems || {});
    if (r.problems) {
      setError(r.problems.form || `Check the marked field${r.count === 1 ? '' : 's'} (${r.count}).`);
      return;
    }
    setBusy(true);
    try {
      const res = await api.putSecurityProfiles(r.body.profiles);
      accept(res && Array.isArray(res.profiles) ? res : { profiles: r.body.profiles, metrics });
      const n = r.body.profiles.length;
      setDone(`Saved ${n} profile${n === 1 ? '' : 's'}.`);
    } catch (err) {
      const text = api.errorText(err);
      setError(text);
      // 422 names the field ("profiles[0].rules[1].value must be …"): mark it too.
      const k = err.status === 422 ? errorKey(err.message, forms) : null;
      if (k) setProblems({ [k]: text.replace(/^\S+\s+/, '') });
    } finally {
      setBusy(false);
    }
  }

  let body;
  if (loadError && !saved)
    // Never offer Save over a list that did not load: the PUT replaces every profile.
    body = html`<${Notice} kind="error">${loadError}<//>
      <div class="btn-row"><${Button} kind="secondary" onClick=${() => setGen((g) => g + 1)}>Try again<//></div>`;
  else if (!forms) body = html`<${Spinner} label="Loading security profiles…" />`;
  else
    body = html`<form onSubmit=${save} novalidate data-testid="profiles-form">
      <${Notice} kind="error">${loadError}<//>
      ${!forms.length
        ? html`<${Empty} title="No security profiles.">Add one to watch the devices' behaviour: messages, bytes, failures, connections.<//>`
        : forms.map(
            (p, i) => html`<${ProfileEditor} key=${p.key} profile=${p} index=${i} metrics=${metrics} problems=${problems}
              onChange=${(k, v) => updateProfile(p, k, v)} onRuleChange=${(rkey, k, v) => updateRule(p, rkey, k, v)}
              onAddRule=${() => addRule(p)} onRemoveRule=${(rkey) => removeRule(p, rkey)} onRemove=${() => removeProfile(p)} />`,
          )}
      <div class="btn-row"><${Button} kind="secondary" disabled=${forms.length >= kMaxProfiles} onClick=${addProfile}>Add profile<//></div>
      <div class="spacer"></div>
      <${Notice} kind="error">${error}<//>
      <${Notice} kind="success">${done}<//>
      <div class="form-actions">
        <${Button} kind="secondary" disabled=${busy || !saved || !formsChanged(forms, saved, metrics)} onClick=${discard}>Discard changes<//>
        <${Button} type="submit" busy=${busy}>Save profiles<//>
      </div>
    </form>`;
  return html`<${Card} title="Security profiles" id="detect-profiles">
    <p class="card-intro">Rules over each device's behaviour as the broker reports it. A rule is violated when its metric
      crosses the value (static) or the device's own p90 / p99 (statistical) over the window; the action runs once per violation.</p>
    ${body}
  <//>`;
}

// ---- violations --------------------------------------------------------------------------------

/** The violations of a filter ({status, deviceId}), newest first, paged; remounted (key) on changes. */
export function ViolationList({ status, deviceId }) {
  const list = usePagedList((limit, cursor) => api.listViolations(limit, cursor, violationsFilter(status, deviceId)));
  if (!list.items) return html`<${Spinner} label="Loading violations…" />`;
  let body;
  if (!list.items.length && !list.error) body = deviceId
    ? html`<p class="muted" data-testid="device-violations-none">No violations.</p>`
    : html`<${Empty} title="No violations match." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="violations">
      <caption class="visually-hidden">Security violations, newest first</caption>
      <thead><tr>${deviceId ? null : html`<th scope="col">Device</th>`}<th scope="col">Profile / rule</th><th scope="col">Value</th>
        <th scope="col">Action</th><th scope="col">Status</th><th scope="col">Started / last</th></tr></thead>
      <tbody>${list.items.map((v) => html`<tr key=${v.id} data-violation-id=${v.id}>
        ${deviceId ? null : html`<td data-label="Device"><a href=${devicePath(v.deviceId)} class="mono">${v.deviceId}</a></td>`}
        <td data-label="Profile / rule"><div><span class="mono strong">${v.profile}</span> / <span class="mono">${v.rule}</span>
          <div class="hint mono">${v.metric}</div></div></td>
        <td data-label="Value"><span>${violationValueText(v)}</span></td>
        <td data-label="Action"><${ActionBadge} action=${v.action} /></td>
        <td data-label="Status"><div><span class=${`badge ${kViolationBadge[v.status] || 'badge-grey'}`}>${v.status}</span>
          ${v.clearedAt ? html`<div class="hint nowrap"><${Time} iso=${v.clearedAt} /></div>` : null}</div></td>
        <td data-label="Started / last"><div><div class="nowrap"><${Time} iso=${v.startedAt} /></div><div class="nowrap"><${Time} iso=${v.lastViolationAt} /></div></div></td>
      </tr>`)}</tbody>
    </table></div>`;
  return html`<${Notice} kind="error">${list.error}<//>${body}<${ListFooter} list=${list} />`;
}

function Violations({ gen }) {
  const [status, setStatus] = useState('active');
  return html`<${Card} title="Violations" id="detect-violations">
    <div class="toolbar toolbar-card" role="search" aria-label="Filter violations">
      <${Select} inline label="Status" name="violationStatus" value=${status} onChange=${setStatus}
        options=${[...kViolationStatuses.map((s) => ({ value: s, label: label(s) })), { value: '', label: 'All' }]} />
    </div>
    <${ViolationList} key=${`${status}|${gen}`} status=${status} />
  <//>`;
}

// ---- quarantine --------------------------------------------------------------------------------

/** The quarantined devices, paged, with Release; remounted (key) by Refresh. */
function Quarantined() {
  const list = usePagedList(api.listQuarantine);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busyId, setBusyId] = useState(null);
  const items = list.items;

  async function release(q) {
    setBusyId(q.deviceId);
    setError(null);
    setDone(null);
    try {
      await api.releaseDevice(q.deviceId);
      list.setItems((old) => old.filter((x) => x.deviceId !== q.deviceId));
      setDone(`${q.deviceId} is released from quarantine.`);
    } catch (err) {
      setError(`Release ${q.deviceId}: ${api.errorText(err)}`);
      if (err.status === 404) list.setItems((old) => old.filter((x) => x.deviceId !== q.deviceId));
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (!items) body = html`<${Spinner} label="Loading quarantined devices…" />`;
  else if (!items.length) body = list.error ? null : html`<p class="muted" data-testid="quarantine-none">No device is in quarantine.</p>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="quarantine">
      <caption class="visually-hidden">Quarantined devices</caption>
      <thead><tr><th scope="col">Device</th><th scope="col">Reason</th><th scope="col">By</th><th scope="col">Since</th>
        <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${items.map((q) => html`<tr key=${q.deviceId} data-device-id=${q.deviceId}>
        <td data-label="Device"><a href=${devicePath(q.deviceId)} class="mono">${q.deviceId}</a></td>
        <td data-label="Reason">${q.reason || html`<span class="muted">—</span>`}</td>
        <td data-label="By">${quarantineSourceText(q)}</td>
        <td data-label="Since"><${Time} iso=${q.since} /></td>
        <td class="actions"><${Button} small kind="secondary" busy=${busyId === q.deviceId} label=${`Release ${q.deviceId}`} onClick=${() => release(q)}>Release<//></td>
      </tr>`)}</tbody>
    </table></div>`;
  return html`<${Card} title="Quarantined devices" id="detect-quarantine">
    <${Notice} kind="error">${list.error || error}<//>
    <${Notice} kind="success">${done}<//>
    ${body}<${ListFooter} list=${list} />
  <//>`;
}

/**
 * The Security page's Detection tab; `gen` (bumped by Refresh) reloads the lists. The profiles
 * editor keeps its edits (it has its own Discard changes).
 */
export function DetectionTab({ gen }) {
  return html`<${Quarantined} key=${gen} />
    <${Violations} gen=${gen} />
    <${SecurityProfiles} />`;
}

// ---- Device Detail -----------------------------------------------------------------------------

/**
 * The device's quarantine entry, or null: GET /api/admin/quarantine/{id} (404 NotQuarantined, or
 * MissingDevice for a device the platform does not know), else the first page of the list.
 */
async function quarantineState(deviceId) {
  try {
    return await api.getQuarantine(deviceId);
  } catch (err) {
    if (err.status !== 404) throw err;
    if (err.error === 'NotQuarantined' || err.error === 'MissingDevice') return null;
  }
  return quarantineOf(await api.listQuarantine(100), deviceId);
}

/** Device Detail's "Quarantine" card: the device's state with Quarantine / Release (admins only). */
export function DeviceQuarantine({ deviceId, deleted }) {
  const [entry, setEntry] = useState(undefined); // undefined: loading, null: not quarantined
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let stale = false;
    quarantineState(deviceId).then(
      (q) => !stale && setEntry(q),
      (err) => !stale && (setEntry(null), setError(api.errorText(err))),
    );
    return () => {
      stale = true;
    };
  }, [deviceId]);

  async function quarantine() {
    const r = quarantineBody(reason);
    setProblem(r.problems ? r.problems.reason : null);
    if (r.problems) return;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const res = await api.quarantineDevice(deviceId, r.body);
      setEntry(res && res.deviceId ? res : { deviceId, reason: r.body.reason || '', source: 'admin', since: new Date().toISOString() });
      setDone(`${deviceId} is in quarantine.`);
      setAsking(false);
    } catch (err) {
      setError(`Quarantine: ${api.errorText(err)}`);
      setAsking(false);
    } finally {
      setBusy(false);
    }
  }

  async function release() {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await api.releaseDevice(deviceId);
      setEntry(null);
      setDone(`${deviceId} is released from quarantine.`);
    } catch (err) {
      setError(`Release: ${api.errorText(err)}`);
      if (err.status === 404) setEntry(null);
    } finally {
      setBusy(false);
    }
  }

  let body;
  if (entry === undefined) body = html`<${Spinner} label="Loading the quarantine state…" />`;
  else if (!entry)
    body = html`<p data-testid="device-quarantine-state"><span class="badge badge-green">Not quarantined</span></p>
      ${deleted ? null : html`<p class="hint">In quarantine the broker refuses the device's publishes except to its shadow and command responses.</p>`}`;
  else
    body = html`<dl class="props" data-testid="device-quarantine-state">
      <div><dt>State</dt><dd><span class="badge badge-amber">Quarantined</span></dd></div>
      <div><dt>Reason</dt><dd>${entry.reason || html`<span class="muted">—</span>`}</dd></div>
      <div><dt>By</dt><dd>${quarantineSourceText(entry)}</dd></div>
      <div><dt>Since</dt><dd><${Time} iso=${entry.since} /></dd></div>
    </dl>`;
  const actions = entry === undefined
    ? null
    : entry
      ? html`<${Button} small kind="secondary" busy=${busy} onClick=${release}>Release<//>`
      : deleted
        ? null
        : html`<${Button} small kind="danger" onClick=${() => { setReason(''); setProblem(null); setAsking(true); }}>Quarantine<//>`;
  return html`<${Card} title="Quarantine" id="device-quarantine"
      footer=${html`<div class="btn-row btn-row-spread">${actions || html`<span></span>`}<a class="btn btn-secondary btn-sm" href="/admin/security?tab=detection">All quarantined devices</a></div>`}>
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${done}<//>
    ${body}
    <${ConfirmDialog} open=${asking} title="Quarantine the device?" confirmLabel="Quarantine" danger busy=${busy}
      onConfirm=${quarantine} onCancel=${() => setAsking(false)}>
      <p>The broker refuses the publishes of <span class="mono">${deviceId}</span> from now on, except to its shadow and command
        responses, until an admin releases it. It stays connected.</p>
      <${Field} label="Reason" name="quarantineReason" value=${reason} onInput=${(v) => { setReason(v); setProblem(null); }} error=${problem} autocomplete="off" />
    <//>
  <//>`;
}

/** Device Detail's "Security violations" card: the device's violations, every status (admins only). */
export function DeviceViolations({ deviceId }) {
  return html`<${Card} title="Security violations" id="device-violations">
    <${ViolationList} key=${deviceId} deviceId=${deviceId} status="" />
  <//>`;
}
