// Device state and remote commands on the Device Detail page: the seed's Status card (mode, actual
// and target temperature from the reported shadow state, connectivity), the Commands tab (set mode /
// set temperature as the seed, and the command log whose statuses update without a reload) and a
// shadow viewer (desired / reported / delta, version, last update).
//
// The command log is polled every 2 s while the page is visible and a command is pending; each such
// beat also re-reads the status, so the Status card follows the device as it applies a command.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { Button, Card, ConfirmDialog, Empty, Notice, Select, Spinner, Time } from '../ui.js';
import {
  connectedOf,
  declaredCommand,
  declaredCommands,
  fmtTemp,
  kMaxTemp,
  kMinTemp,
  kModes,
  modeCommand,
  num,
  reportedOf,
  round2,
  tempCommand,
} from '../device-state.js';

const kFastPollMs = 2000;
const kShadowPollMs = 10000;
const kPageSize = 20;
// At most this many pending commands beyond the first page are re-read one by one per beat.
const kMaxSinglePolls = 10;

export const kOfflineText =
  'The device is offline: the command is queued and will be delivered when it reconnects (until it expires).';

// ---- Status card (General tab) -----------------------------------------------------------------

export function ConnBadge({ connected, since }) {
  return html`<span class=${`badge ${connected ? 'badge-green' : 'badge-grey'}`} title=${since ? `since ${new Date(since).toISOString()}` : undefined}>
    ${connected ? 'Connected' : 'Disconnected'}</span>`;
}

/** The seed's "Device Status" card: connectivity, then mode and temperatures from `reported`. */
export function StatusCard({ status, conn, deleted, error, details }) {
  const connected = !deleted && connectedOf(status, conn) === true;
  const rep = reportedOf(status);
  // A model with declared commands is no thermostat: every reported key, as the seed listed them.
  const generic = !!declaredCommands(details);
  return html`<${Card} title="Device Status" id="device-status">
    ${error ? html`<${Notice} kind="error">Status: ${error}<//>` : null}
    <dl class="props">
      <div><dt>Connectivity</dt><dd><${ConnBadge} connected=${connected} /></dd></div>
      ${conn && conn.timestamp && !deleted ? html`<div><dt>Since</dt><dd><${Time} iso=${conn.timestamp} /></dd></div>` : null}
      ${generic
        ? Object.entries(rep).map(([k, v]) => html`<div key=${k}><dt>${k}</dt><dd>${typeof v === 'object' ? html`<span class="mono">${JSON.stringify(v)}</span>` : String(v)}</dd></div>`)
        : html`<div><dt>Mode</dt><dd data-testid="status-mode">${rep.powerStatus ? html`<span class="badge badge-blue">${String(rep.powerStatus)}</span>` : html`<span class="muted">Not reported</span>`}</dd></div>
      <div><dt>Actual temperature</dt><dd data-testid="status-actual">${fmtTemp(rep.actualTemperature)}</dd></div>
      <div><dt>Target temperature</dt><dd data-testid="status-target">${fmtTemp(rep.targetTemperature)}</dd></div>`}
      ${status && status.timestamp ? html`<div><dt>Last update</dt><dd><${Time} iso=${status.timestamp} /></dd></div>` : null}
    </dl>
  <//>`;
}

// ---- Shadow viewer ----------------------------------------------------------------------------

function JsonBlock({ label, value }) {
  const empty = value === undefined || value === null || (typeof value === 'object' && !Object.keys(value).length);
  return html`<section class="shadow-part" aria-label=${label}>
    <h3>${label}</h3>
    ${empty ? html`<p class="muted">None</p>` : html`<pre class="json" tabindex="0">${JSON.stringify(value, null, 2)}</pre>`}
  </section>`;
}

/** The shadow document: desired, reported and delta side by side, with version and last update. */
export function ShadowViewer({ deviceId }) {
  const [doc, setDoc] = useState(undefined); // undefined: loading, null: no shadow yet
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);

  async function load() {
    const my = ++seq.current;
    setBusy(true);
    try {
      const d = await api.getShadow(deviceId);
      if (my !== seq.current) return;
      setDoc(d || null);
      setError(null);
    } catch (err) {
      if (my !== seq.current) return;
      if (err.status === 404 && err.error === 'ShadowNotFound') {
        setDoc(null);
        setError(null);
      } else {
        setError(api.errorText(err));
        setDoc((d) => (d === undefined ? null : d));
      }
    } finally {
      if (my === seq.current) setBusy(false);
    }
  }
  usePoll(load, kShadowPollMs, [deviceId]);

  let body;
  if (doc === undefined) body = html`<${Spinner} label="Loading the shadow…" />`;
  else if (doc === null) body = error ? null : html`<${Empty} title="No shadow yet.">The device has not reported its state, and no desired state was set.<//>`;
  else {
    const st = doc.state || {};
    body = html`<dl class="props props-compact shadow-meta">
        <div><dt>Version</dt><dd data-testid="shadow-version">${doc.version}</dd></div>
        <div><dt>Last update</dt><dd><${Time} iso=${doc.timestamp} /></dd></div>
      </dl>
      <div class="shadow-grid">
        <${JsonBlock} label="Desired" value=${st.desired} />
        <${JsonBlock} label="Reported" value=${st.reported} />
        <${JsonBlock} label="Delta" value=${st.delta} />
      </div>`;
  }
  return html`<${Card} title="Shadow" id="device-shadow"
      footer=${html`<div class="device-actions"><${Button} small kind="secondary" busy=${busy} onClick=${load}>Refresh<//></div>`}>
    <${Notice} kind="error">${error}<//>
    ${body}
  <//>`;
}

// ---- Commands tab -----------------------------------------------------------------------------

const statusOf = (c) => c.commandStatus || c.status || 'unknown';
const kCmdBadge = { pending: 'badge-amber', success: 'badge-green', failed: 'badge-red', superseded: 'badge-grey' };
function CommandBadge({ status }) {
  return html`<span class=${`badge ${kCmdBadge[status] || 'badge-grey'}`}>${status}</span>`;
}

const kFilters = [
  { value: '', label: 'All' },
  { value: 'pending', label: 'Pending' },
  { value: 'success', label: 'Success' },
  { value: 'failed', label: 'Failed' },
  { value: 'superseded', label: 'Superseded' },
];

function detailValue(c) {
  const d = c.details || {};
  const v = d.value !== undefined ? d.value : d.powerStatus !== undefined ? d.powerStatus : d.targetTemperature;
  return v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function CommandLog({ items, hasMore, loading, onMore, error, filter, onFilter }) {
  let body;
  if (!items) body = html`<${Spinner} label="Loading commands…" />`;
  else if (!items.length) body = error ? null : html`<${Empty} title="No command yet.">${filter ? 'No command has this status.' : 'Commands sent to the device are listed here.'}<//>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" aria-label="Command log">
      <thead><tr><th scope="col">Command</th><th scope="col">Value</th><th scope="col">Status</th><th scope="col">Reason</th>
        <th scope="col">Created</th><th scope="col">Updated</th></tr></thead>
      <tbody>${items.map(
        (c) => html`<tr key=${c.commandId} data-command-id=${c.commandId}>
          <td data-label="Command"><span class="mono" title=${c.commandId}>${(c.details && c.details.command) || '—'}</span></td>
          <td data-label="Value">${detailValue(c)}</td>
          <td data-label="Status"><${CommandBadge} status=${statusOf(c)} /></td>
          <td data-label="Reason">${c.reason
            ? String(c.reason)
            : statusOf(c) === 'pending' && c.expiresAt
              ? html`<span class="muted">expires <${Time} iso=${c.expiresAt} /></span>`
              : html`<span class="muted">—</span>`}</td>
          <td data-label="Created"><${Time} iso=${c.createdAt} /></td>
          <td data-label="Updated"><${Time} iso=${c.updatedAt} /></td>
        </tr>`,
      )}</tbody>
    </table></div>`;
  return html`<${Card} title="Command Log" id="device-command-log">
    <div class="toolbar toolbar-card">
      <${Select} inline label="Command status" name="commandStatus" value=${filter} onChange=${onFilter} options=${kFilters} />
    </div>
    <${Notice} kind="error">${error}<//>
    ${body}
    ${hasMore ? html`<div class="list-more"><${Button} kind="secondary" busy=${loading} onClick=${onMore}>Load more<//></div>` : null}
  <//>`;
}

const shown = (v) => (v === undefined ? 'Not reported' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** One form per command a catalog model declares (instead of the thermostat's controls). */
function DeclaredCommand({ spec, current, disabled, onAsk }) {
  const [value, setValue] = useState(spec.type === 'enum' ? spec.values[0] : '');
  const [error, setError] = useState(null);
  const id = `cmd-${spec.name}`;
  function submit(e) {
    e.preventDefault();
    const c = declaredCommand(spec, value);
    setError(c.error || null);
    if (!c.error) onAsk(c.ask, c.body);
  }
  const onInput = (e) => {
    setValue(e.currentTarget.value);
    setError(null);
  };
  let input;
  if (spec.type === 'enum')
    input = html`<select id=${id} value=${value} disabled=${disabled} onChange=${onInput}>
      ${spec.values.map((v) => html`<option value=${v} selected=${v === value}>${v}</option>`)}</select>`;
  else
    input = html`<input id=${id} type=${spec.type === 'number' ? 'number' : 'text'} step=${spec.type === 'number' ? '0.01' : undefined}
      min=${spec.min} max=${spec.max} maxlength=${spec.maxLength} value=${value} disabled=${disabled}
      aria-invalid=${error ? 'true' : undefined} aria-describedby=${error ? `${id}-err` : undefined} onInput=${onInput} />`;
  return html`<form class="cmd-group" onSubmit=${submit} novalidate aria-label=${spec.name}>
    <h3>${spec.name}</h3>
    <p>Current ${spec.field}: <strong>${shown(current)}</strong></p>
    <div class=${`field${error ? ' has-error' : ''}`}>
      <label for=${id}>${spec.field}${spec.type === 'number' && (spec.min !== undefined || spec.max !== undefined)
        ? ` (${spec.min ?? '…'} to ${spec.max ?? '…'})` : ''}</label>
      ${input}
      ${error ? html`<p class="field-error" id=${`${id}-err`}>${error}</p>` : null}
    </div>
    <${Button} type="submit" disabled=${disabled} label=${`Send ${spec.name}`}>Send<//>
  </form>`;
}

function DeclaredControls({ specs, reported, disabled, onAsk }) {
  return html`${specs.map((s) => html`<${DeclaredCommand} key=${s.name} spec=${s} current=${reported[s.field]} disabled=${disabled} onAsk=${onAsk} />`)}`;
}

/**
 * The Commands tab. status/conn: the page's latest status and device-list connectivity;
 * onStateChanged: asks the page to re-read the status (a command moved or was sent).
 */
export function CommandsPanel({ deviceId, details, status, conn, deleted, onStateChanged }) {
  const declared = declaredCommands(details);
  const rep = reportedOf(status);
  const mode = rep.powerStatus ? String(rep.powerStatus) : null;
  const actual = num(rep.actualTemperature);
  const reportedTarget = num(rep.targetTemperature);
  const connected = connectedOf(status, conn);

  const [target, setTarget] = useState(reportedTarget === null ? '' : String(round2(reportedTarget)));
  const [targetError, setTargetError] = useState(null);
  const [confirm, setConfirm] = useState(null); // {text, body}
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState(null);
  const [sent, setSent] = useState(null); // {text, offline}

  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(undefined);
  const [filter, setFilter] = useState('');
  const [listError, setListError] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const seq = useRef(0);
  // Ids of commands known to be pending (from the list or sent from here), re-read while pending.
  const pendingIds = useRef(new Set());
  const extraPages = useRef(0); // pages loaded with "Load more"

  // The target field follows the device's reports until the user edits it.
  const edited = useRef(false);
  useEffect(() => {
    if (!edited.current && reportedTarget !== null) setTarget(String(round2(reportedTarget)));
  }, [reportedTarget]);

  function track(list) {
    for (const c of list) {
      if (statusOf(c) === 'pending') pendingIds.current.add(c.commandId);
      else pendingIds.current.delete(c.commandId);
    }
  }

  /** Reads the first page again (merging rows loaded below it) and re-reads other pending rows. */
  async function refresh() {
    const my = ++seq.current;
    const before = pendingIds.current.size;
    try {
      const res = await api.listCommands(deviceId, kPageSize, undefined, filter);
      if (my !== seq.current) return;
      const page = (res && Array.isArray(res.Items) ? res.Items : []);
      track(page);
      const onPage = new Set(page.map((c) => c.commandId));
      const others = [...pendingIds.current].filter((id) => !onPage.has(id)).slice(0, kMaxSinglePolls);
      const singles = await Promise.allSettled(others.map((id) => api.getCommand(deviceId, id)));
      if (my !== seq.current) return;
      // A command that no longer exists is no longer waited for.
      singles.forEach((r, i) => {
        if (r.status === 'rejected' && r.reason && r.reason.status === 404) pendingIds.current.delete(others[i]);
      });
      const fresh = singles.filter((r) => r.status === 'fulfilled' && r.value).map((r) => r.value);
      track(fresh);
      const byId = new Map(fresh.map((c) => [c.commandId, c]));
      if (extraPages.current === 0) {
        setItems(page);
        setCursor(res && res.LastEvaluatedKey != null ? res.LastEvaluatedKey : undefined);
      } else {
        // Rows loaded by "Load more" stay below the fresh first page (the cursor stays too).
        setItems((old) => page.concat((old || []).filter((c) => !onPage.has(c.commandId)).map((c) => byId.get(c.commandId) || c)));
      }
      setListError(null);
    } catch (err) {
      if (my !== seq.current) return;
      setListError(api.errorText(err));
      setItems((old) => old || []);
    }
    // A command finished (or is still moving): the device has reported, so show its new state.
    if (before > 0 || pendingIds.current.size > 0) onStateChanged();
  }

  async function more() {
    if (cursor === undefined) return;
    const my = ++seq.current;
    setLoadingMore(true);
    try {
      const res = await api.listCommands(deviceId, kPageSize, cursor, filter);
      if (my !== seq.current) return;
      const page = (res && Array.isArray(res.Items) ? res.Items : []);
      track(page);
      extraPages.current++;
      setItems((old) => {
        const ids = new Set((old || []).map((c) => c.commandId));
        return (old || []).concat(page.filter((c) => !ids.has(c.commandId)));
      });
      setCursor(res && res.LastEvaluatedKey != null ? res.LastEvaluatedKey : undefined);
      setListError(null);
    } catch (err) {
      if (my === seq.current) setListError(api.errorText(err));
    } finally {
      setLoadingMore(false);
    }
  }

  // A new filter starts the list again.
  useEffect(() => {
    setItems(null);
    setCursor(undefined);
    extraPages.current = 0;
    refresh();
  }, [deviceId, filter]);

  const anyPending = (items || []).some((c) => statusOf(c) === 'pending') || pendingIds.current.size > 0;
  usePoll(refresh, anyPending ? kFastPollMs : null, [deviceId, filter], { immediate: false });

  function ask(text, body) {
    setSendError(null);
    setSent(null);
    setConfirm({ text, body });
  }

  function askMode(m) {
    const c = modeCommand(status, m, target);
    if (c.error) setTargetError(c.error);
    else ask(c.ask, c.body);
  }

  function askTemp(e) {
    e.preventDefault();
    const c = tempCommand(status, target);
    if (c.error) {
      setTargetError(c.error);
      return;
    }
    setTargetError(null);
    ask(c.ask, c.body);
  }

  async function send() {
    const { body, text } = confirm;
    setSending(true);
    try {
      const row = await api.sendCommand(deviceId, body);
      if (row && row.commandId) {
        pendingIds.current.add(row.commandId);
        if (!filter || filter === statusOf(row)) setItems((old) => [row].concat((old || []).filter((c) => c.commandId !== row.commandId)));
      }
      setSent({ text: `Command sent: ${text}.`, offline: connected === false });
      edited.current = false;
      onStateChanged();
      refresh();
    } catch (err) {
      const name = err instanceof api.ApiError && err.status ? ` (${err.status} ${err.error})` : '';
      setSendError(`The command was not sent${name}: ${api.errorText(err)}`);
    } finally {
      setSending(false);
      setConfirm(null);
    }
  }

  const thermostat = html`<div role="group" aria-labelledby="cmd-mode-label" class="cmd-group">
          <h3 id="cmd-mode-label">Mode</h3>
          <p>Current mode: <strong data-testid="cmd-current-mode">${mode || 'Not reported'}</strong></p>
          <div class="btn-row">
            ${kModes.map(
              (m) => html`<${Button} kind=${m.value === mode ? 'primary' : 'secondary'} label=${`Set mode ${m.value}`}
                disabled=${deleted || sending || m.value === mode} onClick=${() => askMode(m.value)}>${m.value}<//>`,
            )}
          </div>
        </div>
        <form class="cmd-group" onSubmit=${askTemp} novalidate aria-labelledby="cmd-temp-label">
          <h3 id="cmd-temp-label">Temperature (°F)</h3>
          <p>Actual temperature: <strong data-testid="cmd-actual">${fmtTemp(actual)}</strong></p>
          <div class=${`field${targetError ? ' has-error' : ''}`}>
            <label for="cmd-target">Target temperature (°F)</label>
            <input id="cmd-target" name="targetTemperature" type="number" inputmode="decimal" min=${kMinTemp} max=${kMaxTemp} step="0.01"
              value=${target} disabled=${deleted} aria-invalid=${targetError ? 'true' : undefined}
              aria-describedby=${targetError ? 'cmd-target-err' : 'cmd-target-hint'}
              onInput=${(e) => { edited.current = true; setTarget(e.currentTarget.value); setTargetError(null); }} />
            ${targetError
              ? html`<p class="field-error" id="cmd-target-err">${targetError}</p>`
              : html`<p class="hint" id="cmd-target-hint">${kMinTemp} to ${kMaxTemp} °F, up to two decimals.</p>`}
          </div>
          <${Button} type="submit" disabled=${deleted || sending}>Set Temperature<//>
        </form>`;

  return html`<div class="grid-2">
      <${Card} title="Issue Remote Command" id="device-commands">
        ${deleted ? html`<${Notice} kind="info">The device was deleted: it takes no commands.<//>` : null}
        ${!deleted && connected === false ? html`<${Notice} kind="warning">${kOfflineText}<//>` : null}
        <${Notice} kind="error">${sendError}<//>
        ${sent ? html`<${Notice} kind="success">${sent.text}${sent.offline ? ' It is queued until the device reconnects.' : ''}<//>` : null}
        ${declared
          ? html`<${DeclaredControls} specs=${declared} reported=${rep} disabled=${deleted || sending} onAsk=${ask} />`
          : html`${thermostat}`}
      <//>
      <${CommandLog} items=${items} hasMore=${cursor !== undefined} loading=${loadingMore} onMore=${more} error=${listError}
        filter=${filter} onFilter=${setFilter} />
    </div>
    <${ConfirmDialog} open=${!!confirm} title="Send the command?" confirmLabel="Send" busy=${sending}
      onConfirm=${send} onCancel=${() => setConfirm(null)}>
      <p>Are you sure to ${confirm && confirm.text}?</p>
      ${connected === false ? html`<p>${kOfflineText}</p>` : null}
    <//>`;
}
