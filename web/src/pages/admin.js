// Admin-only pages: user management and the audit log. The server enforces the role; the console
// only hides what a non-admin cannot use.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Button, Card, ConfirmDialog, Empty, Notice, Spinner, Time } from '../ui.js';

const kPageSize = 50;

/** Loads a cursor-paginated list ({Items, LastEvaluatedKey?}); "Load more" follows the cursor. */
export function usePagedList(fetchPage) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(undefined);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);

  async function load(reset) {
    setLoading(true);
    setError(null);
    try {
      const res = await fetchPage(kPageSize, reset ? undefined : cursor);
      const page = (res && Array.isArray(res.Items) ? res.Items : []);
      setItems((old) => (reset || !old ? page : old.concat(page)));
      setCursor(res && res.LastEvaluatedKey != null ? res.LastEvaluatedKey : undefined);
    } catch (err) {
      setError(api.errorText(err));
      if (reset) setItems((old) => old || []);
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => {
    load(true);
  }, []);
  return { items, setItems, hasMore: cursor !== undefined, error, loading, reload: () => load(true), more: () => load(false) };
}

export function ListFooter({ list }) {
  if (!list.hasMore) return null;
  return html`<div class="list-more"><${Button} kind="secondary" busy=${list.loading} onClick=${list.more}>Load more<//></div>`;
}

function StatusBadges({ u }) {
  return html`<span class="badges">
    <span class=${`badge ${u.enabled === false ? 'badge-red' : 'badge-green'}`}>${u.enabled === false ? 'Disabled' : 'Enabled'}</span>
    ${u.verified ? null : html`<span class="badge badge-amber">Unverified</span>`}
  </span>`;
}

export function AdminUsers({ user: me }) {
  const list = usePagedList(api.listUsers);
  const [busyId, setBusyId] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [toDelete, setToDelete] = useState(null);
  const [deleting, setDeleting] = useState(false);

  function replace(u) {
    list.setItems((items) => items.map((x) => (x.userId === u.userId ? { ...x, ...u } : x)));
  }

  async function patch(u, body) {
    setBusyId(u.userId);
    setActionError(null);
    try {
      const res = await api.patchUser(u.userId, body);
      replace(res && res.userId ? res : { ...u, ...body });
    } catch (err) {
      setActionError(`${u.email}: ${api.errorText(err)}`);
    } finally {
      setBusyId(null);
    }
  }

  async function confirmDelete() {
    const u = toDelete;
    setDeleting(true);
    setActionError(null);
    try {
      await api.deleteUser(u.userId);
      list.setItems((items) => items.filter((x) => x.userId !== u.userId));
      setToDelete(null);
    } catch (err) {
      setToDelete(null);
      setActionError(`${u.email}: ${api.errorText(err)}`);
    } finally {
      setDeleting(false);
    }
  }

  let body;
  if (!list.items) body = html`<${Spinner} label="Loading users…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No users found." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive">
      <caption class="visually-hidden">Users</caption>
      <thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${list.items.map((u) => {
        const self = u.userId === me.userId;
        const busy = busyId === u.userId;
        return html`<tr key=${u.userId}>
          <td data-label="Email"><span class="strong">${u.email}</span>${self ? html` <span class="badge badge-grey">you</span>` : null}</td>
          <td data-label="Name">${u.name || html`<span class="muted">—</span>`}</td>
          <td data-label="Role"><span class=${`badge ${u.role === 'admin' ? 'badge-blue' : 'badge-grey'}`}>${u.role || 'user'}</span></td>
          <td data-label="Status"><${StatusBadges} u=${u} /></td>
          <td data-label="Created"><${Time} iso=${u.createdAt} /></td>
          <td class="actions">
            <${Button} small kind="secondary" disabled=${self || busy} label=${`${u.enabled === false ? 'Enable' : 'Disable'} ${u.email}`}
              onClick=${() => patch(u, { enabled: u.enabled === false })}>${u.enabled === false ? 'Enable' : 'Disable'}<//>
            <${Button} small kind="secondary" disabled=${self || busy} label=${`${u.role === 'admin' ? 'Make user' : 'Make admin'}: ${u.email}`}
              onClick=${() => patch(u, { role: u.role === 'admin' ? 'user' : 'admin' })}>${u.role === 'admin' ? 'Make user' : 'Make admin'}<//>
            <${Button} small kind="danger-ghost" disabled=${self || busy} label=${`Delete ${u.email}`} onClick=${() => setToDelete(u)}>Delete<//>
          </td>
        </tr>`;
      })}</tbody>
    </table></div>`;

  return html`<${PageHeader} title="Users">
      <${Button} kind="secondary" busy=${list.loading && !!list.items} onClick=${list.reload}>Refresh<//>
    <//>
    <${Notice} kind="error">${list.error || actionError}<//>
    <${Card}>${body}<${ListFooter} list=${list} /><//>
    <${ConfirmDialog} open=${!!toDelete} title="Delete user?" confirmLabel="Delete user" danger busy=${deleting}
      onConfirm=${confirmDelete} onCancel=${() => setToDelete(null)}>
      <p>This permanently deletes <strong>${toDelete && toDelete.email}</strong> and signs them out. This cannot be undone.</p>
    <//>`;
}

export function Details({ value }) {
  if (value === undefined || value === null || value === '') return html`<span class="muted">—</span>`;
  if (typeof value !== 'object') return html`<span class="mono">${String(value)}</span>`;
  const entries = Object.entries(value);
  if (!entries.length) return html`<span class="muted">—</span>`;
  return html`<span class="kv">${entries.map(
    ([k, v]) => html`<span class="kv-item"><span class="kv-k">${k}</span> <span class="mono">${typeof v === 'object' ? JSON.stringify(v) : String(v)}</span></span>`,
  )}</span>`;
}

/** Refused connections and other device security incidents (JITR refusals, broker refusals). */
export function AdminSecurityEvents() {
  const list = usePagedList(api.listSecurityEvents);
  let body;
  if (!list.items) body = html`<${Spinner} label="Loading security events…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No security events." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive">
      <caption class="visually-hidden">Security events, newest first</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Device</th><th scope="col">Certificate</th><th scope="col">Details</th></tr></thead>
      <tbody>${list.items.map(
        (e) => html`<tr key=${e.id}>
          <td data-label="Time"><${Time} iso=${e.at} /></td>
          <td data-label="Kind"><span class="badge badge-grey mono">${e.kind}</span></td>
          <td data-label="Device"><span class="mono">${e.deviceId || '—'}</span></td>
          <td data-label="Certificate"><span class="mono" title=${e.certFingerprint}>${e.certFingerprint ? `${e.certFingerprint.slice(0, 16)}…` : '—'}</span></td>
          <td data-label="Details">${e.detail}</td>
        </tr>`,
      )}</tbody>
    </table></div>`;
  return html`<${PageHeader} title="Security events">
      <${Button} kind="secondary" busy=${list.loading && !!list.items} onClick=${list.reload}>Refresh<//>
    <//>
    <${Notice} kind="error">${list.error}<//>
    <${Card}>${body}<${ListFooter} list=${list} /><//>`;
}

export function AdminAudit() {
  const list = usePagedList(api.listAudit);
  let body;
  if (!list.items) body = html`<${Spinner} label="Loading audit log…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No audit entries yet." />`;
  else
    body = html`<div class="table-wrap"><table class="table responsive">
      <caption class="visually-hidden">Audit log, newest first</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Details</th></tr></thead>
      <tbody>${list.items.map(
        (a) => html`<tr key=${a.id}>
          <td data-label="Time"><${Time} iso=${a.createdAt} /></td>
          <td data-label="Actor">${a.actorEmail || html`<span class="mono">${a.actorId || '—'}</span>`}</td>
          <td data-label="Action"><span class="badge badge-grey mono">${a.action}</span></td>
          <td data-label="Target"><span class="mono">${a.targetId || '—'}</span></td>
          <td data-label="Details"><${Details} value=${a.details} /></td>
        </tr>`,
      )}</tbody>
    </table></div>`;
  return html`<${PageHeader} title="Audit log">
      <${Button} kind="secondary" busy=${list.loading && !!list.items} onClick=${list.reload}>Refresh<//>
    <//>
    <${Notice} kind="error">${list.error}<//>
    <${Card}>${body}<${ListFooter} list=${list} /><//>`;
}
