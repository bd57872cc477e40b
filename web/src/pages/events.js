// Event Alerts (grouped open alerts), Event History (every event) and Device Detail's Event Log.
// Lists scroll on by themselves (a sentinel after the table loads the next page with
// `lastevalkey`); reading an event never acknowledges it: the detail dialog's button does.
// New events and alert counts arrive over the live socket; nothing here polls.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { useLive } from '../live-session.js';
import { Button, Card, ConfirmDialog, Dialog, Empty, Notice, Select, Spinner, Time } from '../ui.js';

const kPageSize = 20;

export const kEventTypes = [
  { value: '', label: 'All' },
  { value: 'error', label: 'Error' },
  { value: 'warning', label: 'Warning' },
  { value: 'info', label: 'Info' },
  { value: 'diagnostic', label: 'Diagnostic' },
];
const kTypeBadge = { error: 'badge-red', warning: 'badge-amber', info: 'badge-blue', diagnostic: 'badge-grey' };

function TypeBadge({ type }) {
  return html`<span class=${`badge ${kTypeBadge[type] || 'badge-grey'}`}>${type}</span>`;
}

/**
 * A cursor-paged list that loads its next page when `sentinel` (an element after the list)
 * scrolls into view. deps: a change starts again from the first page.
 */
export function useInfiniteList(fetchPage, deps = []) {
  const [items, setItems] = useState(null);
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  // gen: answers to requests made before a reset are dropped.
  const st = useRef({ gen: 0, cursor: undefined, busy: false });
  const sentinel = useRef(null);

  async function load(reset) {
    const s = st.current;
    if (reset) {
      s.gen += 1;
      s.cursor = undefined;
    } else if (s.busy || s.cursor === undefined) {
      return;
    }
    const gen = s.gen;
    s.busy = true;
    setLoading(true);
    try {
      const res = await fetchPage(kPageSize, reset ? undefined : s.cursor);
      if (gen !== s.gen) return;
      const page = res && Array.isArray(res.Items) ? res.Items : [];
      s.cursor = res && res.LastEvaluatedKey != null ? res.LastEvaluatedKey : undefined;
      setItems((old) => (reset || !old ? page : old.concat(page)));
      setHasMore(s.cursor !== undefined);
      setError(null);
    } catch (err) {
      if (gen !== s.gen) return;
      setError(api.errorText(err));
      if (reset) setItems((old) => old || []);
    } finally {
      if (gen === s.gen) {
        s.busy = false;
        setLoading(false);
      }
    }
  }

  useEffect(() => {
    load(true);
  }, deps);

  // A new observer reports the sentinel's state at once, so observing again after each page
  // keeps loading while the sentinel is still in view (a short page, a filter hiding rows).
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasMore || loading || typeof IntersectionObserver !== 'function') return undefined;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) load(false);
    });
    io.observe(el);
    return () => io.disconnect();
  }, [hasMore, loading, items]);

  return { items, setItems, hasMore, error, loading, sentinel, reload: () => load(true), more: () => load(false) };
}

function ListEnd({ list }) {
  if (!list.hasMore) return null;
  return html`<div class="list-more" ref=${list.sentinel}>
    <${Button} kind="secondary" busy=${list.loading} onClick=${list.more}>Load more<//></div>`;
}

function KeyValues({ value }) {
  const entries = value && typeof value === 'object' ? Object.entries(value) : [];
  if (!entries.length) return html`<span class="muted">—</span>`;
  return html`<dl class="props props-compact">${entries.map(
    ([k, v]) => html`<div key=${k}><dt>${k}</dt><dd>${v !== null && typeof v === 'object' ? html`<span class="mono">${JSON.stringify(v)}</span>` : String(v)}</dd></div>`,
  )}</dl>`;
}

const deviceLabel = (e) => e.deviceName || e.deviceId;

/** The detail dialog of an event or an alert; "Mark as read" is the only thing that acknowledges. */
function EventDialog({ event, alert, onClose, onAcked }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => setError(null), [event]);
  const e = event || {};

  async function ack() {
    setBusy(true);
    setError(null);
    try {
      const res = await api.ackEvent(e.deviceId, e.id);
      onAcked({ ...e, ...(res && res.id ? res : {}), ack: true });
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const row = (label, value) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`;
  const actions = event && !e.ack ? html`<${Button} busy=${busy} onClick=${ack}>Mark as read<//>` : null;
  return html`<${Dialog} open=${!!event} wide title=${alert ? 'Alert Detail' : 'Event Detail'} onClose=${onClose} actions=${actions}>
    <${Notice} kind="error">${error}<//>
    ${event
      ? html`<dl class="props">
          ${row('Id', html`<span class="mono">${e.id}</span>`)}
          ${row('Device', html`${deviceLabel(e)} <span class="mono muted">${e.deviceName ? e.deviceId : ''}</span>`)}
          ${row('Message', e.message)}
          ${row('Type', html`<${TypeBadge} type=${e.type} />`)}
          ${alert ? row('Occurrences', html`<span data-testid="dialog-occurrences">${e.occurrences}</span>`) : null}
          ${alert ? row('First seen', html`<${Time} iso=${e.firstSeenAt} />`) : null}
          ${alert ? row('Last seen', html`<${Time} iso=${e.lastSeenAt} />`) : null}
          ${row('Created', html`<${Time} iso=${e.createdAt} />`)}
          ${row('Sent at', html`<${Time} iso=${e.sentAt} />`)}
          ${row('Updated', html`<${Time} iso=${e.updatedAt} />`)}
          ${row('Acknowledged', html`<span data-testid="dialog-ack">${e.ack ? 'Read' : 'Unread'}</span>`)}
          ${row('Details', html`<${KeyValues} value=${e.details} />`)}
        </dl>`
      : null}
  <//>`;
}

/** The events (or alerts) table; a message opens the detail dialog. */
function EventTable({ items, alerts, showDevice = true, onOpen, caption }) {
  return html`<div class="table-wrap"><table class="table responsive">
    <caption class="visually-hidden">${caption}</caption>
    <thead><tr>
      <th scope="col">Message</th>
      ${showDevice ? html`<th scope="col">Device</th>` : null}
      <th scope="col">Type</th>
      ${alerts
        ? html`<th scope="col">Occurrences</th><th scope="col">First seen</th><th scope="col">Last seen</th>`
        : html`<th scope="col">Created</th><th scope="col">Read</th>`}
    </tr></thead>
    <tbody>${items.map(
      (e) => html`<tr key=${e.id} class=${e.ack ? '' : 'unread'}>
        <td data-label="Message"><button type="button" class="link-btn" onClick=${() => onOpen(e)}>${e.message || '(no message)'}</button></td>
        ${showDevice ? html`<td data-label="Device">${deviceLabel(e)}</td>` : null}
        <td data-label="Type"><${TypeBadge} type=${e.type} /></td>
        ${alerts
          ? html`<td data-label="Occurrences">${e.occurrences}</td><td data-label="First seen"><${Time} iso=${e.firstSeenAt} /></td><td data-label="Last seen"><${Time} iso=${e.lastSeenAt} /></td>`
          : html`<td data-label="Created"><${Time} iso=${e.createdAt} /></td><td data-label="Read">${e.ack ? 'Read' : 'Unread'}</td>`}
      </tr>`,
    )}</tbody>
  </table></div>`;
}

/** The type filter and, with `devices` ([{value, label}]), the seed's device filter. */
function TypeFilter({ value, onChange, devices, device, onDevice }) {
  return html`<div class="toolbar" role="search" aria-label="Filter events">
    ${devices ? html`<${Select} inline label="Device" name="deviceId" value=${device} onChange=${onDevice} options=${[{ value: '', label: 'All' }, ...devices]} />` : null}
    <${Select} inline label="Type" name="eventType" value=${value} onChange=${onChange} options=${kEventTypes} />
  </div>`;
}

/** The caller's devices as filter options (name shown, serial used). */
function useDeviceOptions(enabled) {
  const [options, setOptions] = useState(null);
  useEffect(() => {
    if (!enabled) return;
    api.listDevices().then(
      (list) => setOptions((Array.isArray(list) ? list : []).map((d) => ({ value: d.thingName, label: (d.attributes && d.attributes.deviceName) || d.thingName }))),
      () => setOptions([]),
    );
  }, [enabled]);
  return options;
}

function ListBody({ list, shown, empty, children }) {
  if (!list.items) return html`<${Spinner} />`;
  if (!shown.length && !list.hasMore) return html`<${Empty} title=${empty} />`;
  return html`${children}<${ListEnd} list=${list} />`;
}

// ---- Event Alerts -----------------------------------------------------------------------------

export function Alerts() {
  const [type, setType] = useState('');
  const [open, setOpen] = useState(null);
  const [confirmAll, setConfirmAll] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const list = useInfiniteList((limit, cursor) => api.listAlerts(limit, cursor, type), [type]);
  // The count changed (a new alert, or one acknowledged elsewhere): read the list again, once
  // per burst (a device repeating an event pushes a change per occurrence).
  const reloadTimer = useRef(null);
  useLive('alerts', () => {
    if (!reloadTimer.current) reloadTimer.current = setTimeout(() => {
      reloadTimer.current = null;
      list.reload();
    }, 300);
  });
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  async function markAll() {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const res = await api.ackAllEvents(type);
      const n = (res && res.alertsAcknowledged) || 0;
      setDone(`${n} alert${n === 1 ? '' : 's'} marked read.`);
      list.reload();
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
      setConfirmAll(false);
    }
  }

  const shown = list.items || [];
  const kind = type ? `${type} ` : '';
  return html`<${PageHeader} title="Event Alerts">
      <${Button} kind="secondary" disabled=${!shown.length} onClick=${() => setConfirmAll(true)}>Mark all read<//>
    <//>
    <${Notice} kind="error">${error || list.error}<//>
    <${Notice} kind="success">${done}<//>
    <${TypeFilter} value=${type} onChange=${setType} />
    <${Card}>
      <${ListBody} list=${list} shown=${shown} empty="No alerts found.">
        <${EventTable} items=${shown} alerts caption="Open alerts" onOpen=${setOpen} />
      <//>
    <//>
    <${EventDialog} event=${open} alert onClose=${() => setOpen(null)} onAcked=${(e) => {
      setOpen(null);
      list.setItems((items) => items.filter((x) => x.id !== e.id));
    }} />
    <${ConfirmDialog} open=${confirmAll} title="Mark all read?" confirmLabel="Mark all read" busy=${busy}
      onConfirm=${markAll} onCancel=${() => setConfirmAll(false)}>
      <p>Every unread ${kind}event of your devices is marked read and its alert closed.</p>
    <//>`;
}

// ---- Event History and Event Log ----------------------------------------------------------------

/** Events of every device (deviceId unset) or of one; new events are prepended from the live socket. */
function EventList({ deviceId, caption }) {
  const [type, setType] = useState('');
  const [device, setDevice] = useState(''); // Event History's device filter
  const [open, setOpen] = useState(null);
  const devices = useDeviceOptions(!deviceId);
  const only = deviceId || device;
  const list = useInfiniteList(
    (limit, cursor) => (deviceId ? api.listDeviceEvents(deviceId, limit, cursor, type) : api.listEvents(limit, cursor, type, device)),
    [only, type],
  );
  useLive('event', (m) => {
    const e = m.event;
    if (!e || !e.id || (only && m.deviceId !== only) || (type && e.type !== type)) return;
    list.setItems((items) => {
      if (!items || items.some((x) => x.id === e.id)) return items;
      const named = items.find((x) => x.deviceId === e.deviceId && x.deviceName);
      return [{ ...e, deviceName: e.deviceName || (named && named.deviceName) || '' }, ...items];
    });
  });
  const acked = (e) => {
    setOpen(e);
    list.setItems((items) => items.map((x) => (x.id === e.id ? { ...x, ...e } : x)));
  };
  const items = list.items || [];
  return html`<${Notice} kind="error">${list.error}<//>
    <${TypeFilter} value=${type} onChange=${setType} devices=${deviceId ? null : devices || []} device=${device} onDevice=${setDevice} />
    <${ListBody} list=${list} shown=${items} empty="No events found.">
      <${EventTable} items=${items} showDevice=${!deviceId} caption=${caption} onOpen=${setOpen} />
    <//>
    <${EventDialog} event=${open} onClose=${() => setOpen(null)} onAcked=${acked} />`;
}

export function History() {
  return html`<${PageHeader} title="Event History" />
    <${Card}><${EventList} caption="Events of your devices" /><//>`;
}

/** Device Detail's Event Log tab. */
export function EventLog({ deviceId }) {
  return html`<${Card} title="Event Log" id="device-events"><${EventList} deviceId=${deviceId} caption="Events of the device" /><//>`;
}
