// Admin Security page: the "Audit" tab (latest run with its open findings counted by severity,
// "Run audit now", the findings with filters, mitigations, suppress / reopen, the run history), the
// "Detection" tab (?tab=detection: quarantined devices, violations, security profiles; in
// detect.js) and Device Detail's "Security findings" panel. The server enforces the admin role.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import {
  actionDoneText,
  checkNames,
  summaryCounts,
  findingActions,
  findingDeviceId,
  kFindingStatuses,
  kRunBadge,
  kSeverities,
  kSeverityBadge,
  keepsInList,
  shortId,
  statusActions,
  suppressBody,
} from '../audit.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { navigate } from '../router.js';
import { Button, Card, ConfirmDialog, Empty, Field, Notice, Select, Spinner, Tabs, Time } from '../ui.js';
import { ListFooter, usePagedList } from './admin.js';
import { DetectionTab } from './detect.js';
import { devicePath } from './devices.js';

const kRunPollMs = 1000; // while a run is going; runs take seconds

const label = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const kTabs = [
  { id: 'audit', label: 'Audit' },
  { id: 'detection', label: 'Detection' },
];

function SeverityBadge({ severity }) {
  return html`<span class=${`badge ${kSeverityBadge[severity] || 'badge-grey'}`} data-severity=${severity}>${label(severity || '?')}</span>`;
}

function FindingStatus({ f }) {
  if (f.status === 'suppressed') {
    return html`<span class="badge badge-grey">suppressed</span>
      <span class="hint">${f.suppressReason}${f.suppressedUntil ? html` · until <${Time} iso=${f.suppressedUntil} />` : null}</span>`;
  }
  if (f.status === 'resolved') return html`<span class="badge badge-green">resolved</span> <span class="hint"><${Time} iso=${f.resolvedAt} /></span>`;
  return html`<span class="badge badge-amber">${f.status}</span>`;
}

function Resource({ f }) {
  const device = findingDeviceId(f);
  const id = f.resourceType === 'device'
    ? html`<a href=${devicePath(f.resourceId)} class="mono">${f.resourceId}</a>`
    : html`<span class="mono" title=${f.resourceId}>${shortId(f.resourceId)}</span>`;
  // One element per cell: the phone layout puts a cell's children in a label / value grid.
  return html`<div><span class="badge badge-grey">${f.resourceType}</span> ${id}
    ${device && f.resourceType !== 'device' ? html`<div class="hint">device <a href=${devicePath(device)} class="mono">${device}</a></div>` : null}</div>`;
}

/** The latest run and the open findings counted by severity. */
function LatestRun({ run, counts, running }) {
  let body;
  if (run === null || counts === null) body = html`<${Spinner} label="Loading the latest audit…" />`;
  else if (!run) body = html`<${Empty} title="No audit has run yet.">Run one now, or wait for the daily run.<//>`;
  else
    body = html`<dl class="props props-row" data-testid="latest-run">
        <div><dt>Started</dt><dd><${Time} iso=${run.startedAt} /></dd></div>
        <div><dt>Finished</dt><dd><${Time} iso=${run.finishedAt} /></dd></div>
        <div><dt>Trigger</dt><dd>${run.trigger}</dd></div>
        <div><dt>Status</dt><dd><span class=${`badge ${kRunBadge[run.status] || 'badge-grey'}`} data-testid="latest-status">${run.status}</span></dd></div>
      </dl>
      ${run.error ? html`<${Notice} kind="error">${run.error}<//>` : null}`;
  return html`<${Card} title="Latest audit" id="audit-latest">
    ${running ? html`<p class="waiting" role="status"><span class="spinner spinner-sm" aria-hidden="true"></span>Audit run ${running} is running…</p>` : null}
    ${body}
    ${counts
      ? html`<ul class="sev-tiles" aria-label="Open findings by severity">${kSeverities.map(
          (s) => html`<li class=${`sev-tile sev-${s}`} data-testid=${`count-${s}`}><span class="sev-n">${counts.counts[s]}${counts.truncated ? '+' : ''}</span><span class="sev-label">${label(s)}</span></li>`,
        )}</ul>
        ${counts.truncated ? html`<p class="hint">Counted over the newest ${counts.total} open findings.</p>` : null}`
      : null}
  <//>`;
}

/** The suppress form's dialog: a reason (required) and an optional end date. */
function SuppressDialog({ finding, onDone, onCancel }) {
  const [reason, setReason] = useState('');
  const [until, setUntil] = useState('');
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setReason('');
    setUntil('');
    setProblems({});
    setError(null);
  }, [finding && finding.id]);

  async function submit() {
    const r = suppressBody(reason, until);
    setProblems(r.problems || {});
    if (r.problems) return;
    setBusy(true);
    setError(null);
    try {
      onDone(await api.updateAuditFinding(finding.id, r.body));
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${ConfirmDialog} open=${!!finding} title="Suppress finding?" confirmLabel="Suppress" busy=${busy} onConfirm=${submit} onCancel=${onCancel}>
    <p>${finding ? html`<span class="mono">${finding.check}</span> on ${finding.resourceType} <span class="mono">${shortId(finding.resourceId)}</span>` : null}
      leaves the open findings. Later runs keep updating it; it reopens by itself after the end date.</p>
    <${Notice} kind="error">${error}<//>
    <${Field} label="Reason" name="reason" required value=${reason} onInput=${setReason} error=${problems.reason} autocomplete="off" />
    <${Field} label="Suppressed until" name="until" type="date" value=${until} onInput=${setUntil} error=${problems.until}
      hint="Until 00:00 UTC of that day; empty: until reopened." />
  <//>`;
}

/** The findings table for one filter; the parent remounts it (key) when the filter changes. */
function Findings({ filter, onChanged }) {
  const list = usePagedList((limit, cursor) => api.listAuditFindings(limit, cursor, filter));
  const [ask, setAsk] = useState(null); // {finding, action: findingActions() entry}
  const [busy, setBusy] = useState(false);
  const [toSuppress, setToSuppress] = useState(null);
  const [busyId, setBusyId] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);

  function replace(updated) {
    list.setItems((items) =>
      keepsInList(updated, filter.status) ? items.map((x) => (x.id === updated.id ? updated : x)) : items.filter((x) => x.id !== updated.id),
    );
    onChanged();
  }

  async function act() {
    const { finding, action } = ask;
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const res = await api.auditAction(finding.id, action.action);
      setDone(actionDoneText(action.action, finding, res));
    } catch (err) {
      setError(`${action.label}: ${api.errorText(err)}`);
    } finally {
      setBusy(false);
      setAsk(null);
    }
  }

  async function reopen(f) {
    setBusyId(f.id);
    setError(null);
    setDone(null);
    try {
      replace(await api.updateAuditFinding(f.id, { status: 'open' }));
      setDone(`Finding ${f.id} is open again.`);
    } catch (err) {
      setError(`Reopen: ${api.errorText(err)}`);
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (!list.items) body = html`<${Spinner} label="Loading findings…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No findings match." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="findings">
      <caption class="visually-hidden">Audit findings, newest first</caption>
      <thead><tr><th scope="col">Check</th><th scope="col">Severity</th><th scope="col">Resource</th><th scope="col">Reason</th>
        <th scope="col">First / last seen</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${list.items.map((f) => html`<tr key=${f.id} data-finding-id=${f.id} data-check=${f.check}>
        <td data-label="Check"><span class="mono">${f.check}</span></td>
        <td data-label="Severity"><${SeverityBadge} severity=${f.severity} /></td>
        <td data-label="Resource"><${Resource} f=${f} /></td>
        <td data-label="Reason">${f.reason}</td>
        <td data-label="First / last seen"><div><div class="nowrap"><${Time} iso=${f.firstSeen} /></div><div class="nowrap"><${Time} iso=${f.lastSeen} /></div></div></td>
        <td data-label="Status"><div><${FindingStatus} f=${f} /></div></td>
        <td class="actions"><div class="btn-row">
          ${findingActions(f).map((a) => html`<${Button} small kind="danger-ghost" onClick=${() => setAsk({ finding: f, action: a })}>${a.label}<//>`)}
          ${statusActions(f).map((s) => (s === 'suppress'
            ? html`<${Button} small kind="secondary" onClick=${() => setToSuppress(f)}>Suppress<//>`
            : html`<${Button} small kind="secondary" busy=${busyId === f.id} onClick=${() => reopen(f)}>Reopen<//>`))}
        </div></td>
      </tr>`)}</tbody>
    </table></div>`;

  return html`<${Notice} kind="error">${list.error || error}<//>
    <${Notice} kind="success">${done}<//>
    ${body}<${ListFooter} list=${list} />
    <${ConfirmDialog} open=${!!ask} title=${ask ? ask.action.title : ''} confirmLabel=${ask ? ask.action.label : 'Confirm'} danger busy=${busy}
      onConfirm=${act} onCancel=${() => setAsk(null)}>
      <p>${ask ? ask.action.text : null}</p>
    <//>
    <${SuppressDialog} finding=${toSuppress} onCancel=${() => setToSuppress(null)} onDone=${(f) => {
      setToSuppress(null);
      setDone(`Finding ${f.id} is suppressed.`);
      replace(f);
    }} />`;
}

function RunHistory() {
  const list = usePagedList(api.listAuditRuns);
  let body;
  if (!list.items) body = html`<${Spinner} label="Loading runs…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No runs yet." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="runs">
      <caption class="visually-hidden">Audit runs, newest first</caption>
      <thead><tr><th scope="col">Run</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col">Trigger</th><th scope="col">Status</th>
        <th scope="col">Findings</th><th scope="col">Error / notes</th></tr></thead>
      <tbody>${list.items.map((r) => {
        const notes = Array.isArray(r.notes) ? r.notes : [];
        return html`<tr key=${r.id} data-run-id=${r.id}>
        <td data-label="Run">${r.id}</td>
        <td data-label="Started"><${Time} iso=${r.startedAt} /></td>
        <td data-label="Finished"><${Time} iso=${r.finishedAt} /></td>
        <td data-label="Trigger">${r.trigger}</td>
        <td data-label="Status"><span class=${`badge ${kRunBadge[r.status] || 'badge-grey'}`}>${r.status}</span></td>
        <td data-label="Findings">${r.findingsCount}</td>
        <td data-label="Error / notes"><div>${r.error ? html`<span class="text-danger">${r.error}</span>` : null}
          ${notes.length ? html`<ul class="notes">${notes.map((n) => html`<li>${typeof n === 'string' ? n : JSON.stringify(n)}</li>`)}</ul>` : null}
          ${!r.error && !notes.length ? html`<span class="muted">—</span>` : null}</div></td>
      </tr>`;
      })}</tbody>
    </table></div>`;
  return html`<${Notice} kind="error">${list.error}<//>${body}<${ListFooter} list=${list} />`;
}

export function AdminSecurity({ query }) {
  const tab = query && query.get('tab') === 'detection' ? 'detection' : 'audit';
  const [detectGen, setDetectGen] = useState(0); // the Detection tab's Refresh
  const [run, setRun] = useState(null); // null: loading, false: none yet
  const [counts, setCounts] = useState(null); // null: loading, false: failed
  const [running, setRunning] = useState(null); // id of the run being polled
  const [starting, setStarting] = useState(false);
  const [gen, setGen] = useState(0); // bumped to reload the lists
  const [countGen, setCountGen] = useState(0);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [filter, setFilter] = useState({ check: '', severity: '', status: 'open' });

  useEffect(() => {
    let stale = false;
    api.listAuditRuns(1).then(
      (res) => {
        if (stale) return;
        const latest = (res && res.Items && res.Items[0]) || false;
        setRun(latest);
        if (latest && latest.status === 'running') setRunning(latest.id);
      },
      (err) => !stale && (setRun(false), setError(api.errorText(err))),
    );
    return () => {
      stale = true;
    };
  }, [gen]);

  useEffect(() => {
    let stale = false;
    api.getAuditSummary().then(
      (summary) => !stale && setCounts(summaryCounts(summary)),
      (err) => !stale && (setCounts(false), setError(api.errorText(err))),
    );
    return () => {
      stale = true;
    };
  }, [gen, countGen]);

  // A run is going (started here, by smartproductctl or the schedule): poll it until it ends,
  // then read everything again. One request at a time, so an ending run is reported once.
  const polling = useRef(false);
  usePoll(
    async () => {
      if (polling.current) return;
      polling.current = true;
      try {
        const r = await api.getAuditRun(running);
        if (r.status === 'running') return;
        setRunning(null);
        if (r.status === 'completed') setDone(`Audit run ${r.id} completed: ${r.findingsCount} finding${r.findingsCount === 1 ? '' : 's'}.`);
        else setError(`Audit run ${r.id} ${r.status}${r.error ? `: ${r.error}` : '.'}`);
        setGen((g) => g + 1);
      } catch (err) {
        setError(api.errorText(err));
        setRunning(null);
      } finally {
        polling.current = false;
      }
    },
    running ? kRunPollMs : 0,
    [running],
    { immediate: false },
  );

  async function start() {
    setStarting(true);
    setError(null);
    setDone(null);
    try {
      const res = await api.startAuditRun();
      setRunning(res.runId);
      setRun((r) => ({ ...(r || {}), id: res.runId, status: 'running', trigger: 'manual', startedAt: new Date().toISOString(), finishedAt: null, error: undefined }));
    } catch (err) {
      setError(api.errorText(err));
      if (err.status === 409) setGen((g) => g + 1); // AuditRunning: follow the run that is going
    } finally {
      setStarting(false);
    }
  }

  const set = (k) => (v) => setFilter((f) => ({ ...f, [k]: v }));
  const checks = checkNames(run, counts && counts.checks, filter.check);
  const tabs = html`<${Tabs} id="security" tabs=${kTabs} active=${tab}
    onSelect=${(t) => navigate(t === 'audit' ? '/admin/security' : `/admin/security?tab=${t}`, { replace: true })} />`;
  if (tab === 'detection')
    return html`<${PageHeader} title="Security">
        <${Button} kind="secondary" onClick=${() => setDetectGen((g) => g + 1)}>Refresh<//>
      <//>
      ${tabs}
      <div id="security-panel" role="tabpanel" aria-labelledby="security-tab-detection"><${DetectionTab} gen=${detectGen} /></div>`;
  return html`<${PageHeader} title="Security">
      <${Button} kind="secondary" onClick=${() => setGen((g) => g + 1)}>Refresh<//>
      <${Button} busy=${starting || !!running} onClick=${start}>Run audit now<//>
    <//>
    ${tabs}
    <div id="security-panel" role="tabpanel" aria-labelledby="security-tab-audit">
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${done}<//>
    <${LatestRun} run=${run} counts=${counts} running=${running} />
    <${Card} title="Findings" id="audit-findings">
      <div class="toolbar toolbar-card" role="search" aria-label="Filter findings">
        <${Select} inline label="Check" name="check" value=${filter.check} onChange=${set('check')}
          options=${[{ value: '', label: 'All checks' }, ...checks.map((c) => ({ value: c, label: c }))]} />
        <${Select} inline label="Severity" name="severity" value=${filter.severity} onChange=${set('severity')}
          options=${[{ value: '', label: 'All' }, ...kSeverities.map((s) => ({ value: s, label: label(s) }))]} />
        <${Select} inline label="Status" name="status" value=${filter.status} onChange=${set('status')}
          options=${[{ value: '', label: 'All' }, ...kFindingStatuses.map((s) => ({ value: s, label: label(s) }))]} />
      </div>
      <${Findings} key=${`${filter.check}|${filter.severity}|${filter.status}|${gen}`} filter=${filter} onChanged=${() => setCountGen((g) => g + 1)} />
    <//>
    <${Card} title="Run history" id="audit-runs"><${RunHistory} key=${gen} /><//>
    </div>`;
}

/** Device Detail's "Security findings": the device's open findings (admins only). */
export function DeviceFindings({ deviceId }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stale = false;
    api.listAuditFindings(100, undefined, { deviceId, status: 'open' }).then(
      (res) => !stale && setItems((res && res.Items) || []),
      (err) => !stale && (setItems([]), setError(api.errorText(err))),
    );
    return () => {
      stale = true;
    };
  }, [deviceId]);

  let body;
  if (!items) body = html`<${Spinner} label="Loading findings…" />`;
  else if (!items.length && !error) body = html`<p class="muted" data-testid="device-findings-none">No open security findings.</p>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="device-findings">
      <caption class="visually-hidden">Open security findings of the device</caption>
      <thead><tr><th scope="col">Check</th><th scope="col">Severity</th><th scope="col">Reason</th><th scope="col">Last seen</th></tr></thead>
      <tbody>${items.map((f) => html`<tr key=${f.id} data-finding-id=${f.id}>
        <td data-label="Check"><span class="mono">${f.check}</span></td>
        <td data-label="Severity"><${SeverityBadge} severity=${f.severity} /></td>
        <td data-label="Reason">${f.reason}</td>
        <td data-label="Last seen"><${Time} iso=${f.lastSeen} /></td>
      </tr>`)}</tbody>
    </table></div>`;
  return html`<${Card} title="Security findings" id="device-findings"
      footer=${html`<a class="btn btn-secondary btn-sm" href="/admin/security">Security page</a>`}>
    <${Notice} kind="error">${error}<//>
    ${body}
  <//>`;
}
