// My Devices, New Device Registration (form + connection instructions) and Device Detail.
// Connectivity arrives live over /api/ws (a push also re-reads a device whose registration may
// have changed with it); the pages poll every 10 s only while the socket is down, or while a
// registration waits for its activation (just-in-time registration is not pushed).
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { useLive, useLivePoll } from '../live-session.js';
import { usePoll } from '../poll.js';
import { navigate } from '../router.js';
import { Button, Card, Code, ConfirmDialog, Empty, Field, Notice, Select, Spinner, Tabs, Time } from '../ui.js';
import { CommandsPanel, ConnBadge, ShadowViewer, StatusCard } from './device-control.js';
import { EventLog } from './events.js';
import { DeviceQuarantine, DeviceViolations } from './detect.js';
import { DeviceFindings } from './security.js';
import { TelemetryPanel } from './telemetry.js';
import { QueryForm, useDeviceQuery } from './device-search.js';
import { claimCodeProblem, deviceNameProblem, modelNumberProblem, serialProblem } from '../validate.js';

const kPollMs = 10000;
const kDefaultBrokerPort = 8883; // until GET /api/connection-info answers

const seg = (s) => encodeURIComponent(s).replace(/%3A/gi, ':');
export const devicePath = (id) => `/devices/${seg(id)}`;
const registrationPath = (id) => `/devices/registration?deviceId=${encodeURIComponent(id)}`;

const isConnected = (d) => !!(d && d.connectivity && d.connectivity.connected);
const nameOf = (d) => (d.attributes && d.attributes.deviceName) || d.thingName;
const modelOf = (d) => (d.attributes && d.attributes.modelNumber) || '';

const kStatusBadge = { pending: 'badge-amber', complete: 'badge-green', deleted: 'badge-red' };
function StatusBadge({ status }) {
  return html`<span class=${`badge ${kStatusBadge[status] || 'badge-grey'}`}>${status || 'unknown'}</span>`;
}

// ---- My Devices -------------------------------------------------------------------------------

function DeviceCard({ d, onDelete }) {
  const tid = `dev-${d.thingName}`;
  const conn = d.connectivity || {};
  return html`<li><article class="card device-card" aria-labelledby=${tid}>
    <header class="card-head"><h2 id=${tid}>${nameOf(d)}</h2></header>
    <div class="card-body">
      <dl class="props props-compact">
        <div><dt>Serial Number</dt><dd class="mono">${d.thingName}</dd></div>
        <div><dt>Model Number</dt><dd>${modelOf(d)}</dd></div>
        <div><dt>Connectivity</dt><dd><${ConnBadge} connected=${!!conn.connected} since=${conn.timestamp} /></dd></div>
        <div><dt>Registration</dt><dd><${StatusBadge} status=${d.status} /></dd></div>
      </dl>
    </div>
    <footer class="card-foot device-actions">
      <a class="btn btn-secondary btn-sm" href=${devicePath(d.thingName)} aria-label=${`Detail of ${nameOf(d)}`}>Detail</a>
      <${Button} small kind="danger-ghost" label=${`Delete ${nameOf(d)}`} onClick=${() => onDelete(d)}>Delete<//>
    </footer>
  </article></li>`;
}

export function MyDevices() {
  const [devices, setDevices] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [keyword, setKeyword] = useState('');
  const [status, setStatus] = useState('all');
  const [sort, setSort] = useState('asc');
  const [toDelete, setToDelete] = useState(null);
  const [deleting, setDeleting] = useState(false);
  const query = useDeviceQuery();
  // Answers to polls started before a delete would bring the deleted card back: each change
  // bumps the sequence and older answers are dropped.
  const seq = useRef(0);

  async function load() {
    const my = ++seq.current;
    try {
      const res = await api.listDevices();
      if (my !== seq.current) return;
      setDevices(Array.isArray(res) ? res : []);
      setError(null);
    } catch (err) {
      if (my !== seq.current) return;
      setError(api.errorText(err));
      setDevices((old) => old || []);
    }
  }
  const live = useLivePoll(load, kPollMs);
  // Activation by just-in-time registration is not pushed: poll while one waits for it.
  usePoll(load, live && (devices || []).some((d) => d.status === 'pending') ? kPollMs : 0, [], { immediate: false });
  useLive('connectivity', (m) => {
    const known = (devices || []).find((d) => d.thingName === m.deviceId);
    // A device not listed yet or not complete: its registration changed too, read the list.
    if (!known || known.status !== 'complete') return load();
    setDevices((list) => list.map((d) => (d.thingName === m.deviceId ? { ...d, connectivity: { connected: m.connected, timestamp: m.timestamp } } : d)));
  });

  async function confirmDelete() {
    const d = toDelete;
    setDeleting(true);
    setDone(null);
    try {
      await api.deleteDevice(d.thingName);
      seq.current++;
      setDevices((list) => list.filter((x) => x.thingName !== d.thingName));
      query.remove(d.thingName);
      setDone(`${nameOf(d)} was deleted.`);
      setError(null);
    } catch (err) {
      setError(`${nameOf(d)}: ${api.errorText(err)}`);
    } finally {
      setToDelete(null);
      setDeleting(false);
    }
  }

  // Case-insensitive (the seed matched case-sensitively, so "kitchen" missed "Kitchen").
  const kw = keyword.trim().toLowerCase();
  // With a fleet query the cards are its results (paged); the filters below still apply to them.
  const source = query.query ? query.items : devices;
  const shown = (source || [])
    .filter((d) => {
      if (kw && ![nameOf(d), d.thingName, modelOf(d)].some((s) => String(s).toLowerCase().includes(kw))) return false;
      if (status === 'connected' && !isConnected(d)) return false;
      if (status === 'disconnected' && isConnected(d)) return false;
      return true;
    })
    .sort((a, b) => (sort === 'desc' ? -1 : 1) * (nameOf(a).localeCompare(nameOf(b), undefined, { sensitivity: 'base', numeric: true }) || a.thingName.localeCompare(b.thingName)));

  let body;
  if (query.query && query.error && !query.items) body = null;
  else if (!source) body = html`<${Card}><${Spinner} label=${query.query ? 'Searching…' : 'Loading devices…'} /><//>`;
  else if (!shown.length)
    body = html`<${Card}><${Empty} title="No device found.">${query.query && !source.length
      ? 'No device matches the query.'
      : source.length
        ? 'No device matches the filters.'
        : 'Register a device to see it here with its connection status.'}<//><//>`;
  else body = html`<ul class="device-grid" aria-label="Devices">${shown.map((d) => html`<${DeviceCard} key=${d.thingName} d=${d} onDelete=${setToDelete} />`)}</ul>`;
  const more = query.query && query.items && query.hasMore
    ? html`<div class="list-more list-more-plain"><${Button} kind="secondary" busy=${query.busy} onClick=${() => query.more()}>Load more<//></div>`
    : null;
  const summary = query.query && query.items
    ? html`<p class="muted" role="status" data-testid="query-summary">${query.items.length} device${query.items.length === 1 ? '' : 's'} match${query.items.length === 1 ? 'es' : ''} the query${query.hasMore ? ' so far' : ''}.</p>`
    : null;

  return html`<${PageHeader} title=${`My Devices (${devices ? devices.length : 0})`}>
      <a class="btn btn-primary" href="/devices/registration">Register a Device</a>
    <//>
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${done}<//>
    <${QueryForm} q=${query} />
    <div class="toolbar" role="search" aria-label="Filter devices">
      <div class="field field-inline field-grow">
        <label for="dev-kw">Search</label>
        <input id="dev-kw" type="search" value=${keyword} placeholder="Name, serial or model" onInput=${(e) => setKeyword(e.currentTarget.value)} />
      </div>
      <${Select} inline label="Status" name="status" value=${status} onChange=${setStatus}
        options=${[{ value: 'all', label: 'All' }, { value: 'connected', label: 'Connected' }, { value: 'disconnected', label: 'Disconnected' }]} />
      <${Select} inline label="Sort" name="sort" value=${sort} onChange=${setSort}
        options=${[{ value: 'asc', label: 'A-Z' }, { value: 'desc', label: 'Z-A' }]} />
    </div>
    ${summary}
    ${body}
    ${more}
    <${ConfirmDialog} open=${!!toDelete} title="Delete device?" confirmLabel="Delete" danger busy=${deleting}
      onConfirm=${confirmDelete} onCancel=${() => setToDelete(null)}>
      <p>Delete <strong>${toDelete && nameOf(toDelete)}</strong> (<span class="mono">${toDelete && toDelete.thingName}</span>)?
        Its certificates are revoked and it is disconnected at once. Its history is kept; the serial number can be registered again.</p>
    <//>`;
}

// ---- New Device Registration ------------------------------------------------------------------

function Steps({ step }) {
  const item = (n, label) => html`<li class=${n === step ? 'active' : n < step ? 'done' : ''} aria-current=${n === step ? 'step' : undefined}>
    <span class="step-n" aria-hidden="true">${n}</span>${label}</li>`;
  return html`<ol class="steps" aria-label="Registration steps">${item(1, 'Register')}${item(2, 'Connect the device')}</ol>`;
}

function RegisterForm() {
  const [f, setF] = useState({ deviceId: '', deviceName: '', modelNumber: '', claimCode: '' });
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => {
    setF((o) => ({ ...o, [k]: v }));
    if (problems[k]) setProblems((p) => ({ ...p, [k]: null }));
  };

  async function submit(e) {
    e.preventDefault();
    const v = { deviceId: f.deviceId.trim(), deviceName: f.deviceName.trim(), modelNumber: f.modelNumber.trim(), claimCode: f.claimCode.trim() };
    const p = {
      deviceId: serialProblem(v.deviceId),
      deviceName: deviceNameProblem(v.deviceName),
      modelNumber: modelNumberProblem(v.modelNumber),
      claimCode: claimCodeProblem(v.claimCode),
    };
    setProblems(p);
    if (Object.values(p).some(Boolean)) return;
    setBusy(true);
    setError(null);
    try {
      const body = { deviceId: v.deviceId, deviceName: v.deviceName, modelNumber: v.modelNumber };
      if (v.claimCode) body.claimCode = v.claimCode;
      const reg = await api.register(body);
      navigate(registrationPath((reg && reg.deviceId) || v.deviceId));
    } catch (err) {
      setError(api.errorText(err));
      setBusy(false);
    }
  }

  return html`<${Card}>
    <form onSubmit=${submit} novalidate class="form-narrow">
      <${Notice} kind="error">${error}<//>
      <${Field} label="Serial Number" name="deviceId" required autofocus value=${f.deviceId} onInput=${set('deviceId')} error=${problems.deviceId}
        hint="As printed on the product. Letters, digits and - _ :" autocomplete="off" />
      <${Field} label="Device Name" name="deviceName" required value=${f.deviceName} onInput=${set('deviceName')} error=${problems.deviceName}
        hint="Your name for it, e.g. Kitchen-Thermostat. No spaces." autocomplete="off" />
      <${Field} label="Model Number" name="modelNumber" required value=${f.modelNumber} onInput=${set('modelNumber')} error=${problems.modelNumber}
        autocomplete="off" />
      <${Field} label="Claim code" name="claimCode" value=${f.claimCode} onInput=${set('claimCode')} error=${problems.claimCode}
        hint="Only if the product came with one." autocomplete="off" />
      <div class="form-actions">
        <${Button} kind="secondary" onClick=${() => navigate('/devices')} disabled=${busy}>Cancel<//>
        <${Button} type="submit" busy=${busy}>Register<//>
      </div>
    </form>
  <//>`;
}

/** The broker host as the browser reached this server (IPv6 literals without brackets). */
function brokerHost() {
  return location.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** A link that downloads `text` as a file (the root CA PEM). */
function DownloadLink({ name, text, children }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    const u = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [text]);
  return url ? html`<a href=${url} download=${name}>${children}</a>` : null;
}

function Instructions({ sn, ca }) {
  const caName = ca || 'CA_NAME';
  const [conn, setConn] = useState(null);
  useEffect(() => {
    api.connectionInfo().then(setConn, () => setConn(null));
  }, []);
  const host = conn?.mqttHost || brokerHost();
  const port = conn?.mqttPort || kDefaultBrokerPort;
  const telemetryTopic = conn?.telemetryTopic || 'smartproduct/telemetry';
  return html`<ol class="howto">
    <li>
      <h3>Get a device certificate</h3>
      <p>Its common name (CN) must be the serial number <span class="mono strong">${sn}</span> and it must be
        issued by a certificate authority registered on this server. Either ask the administrator to issue one
        (on the server):</p>
      <${Code} label="Issue a device key and certificate">${`smartproductctl device-cert issue --config smartproduct.toml --ca ${caName} --serial ${sn} --out .`}<//>
      <p>It writes <span class="mono">${sn}.crt</span> (with the CA chain) and <span class="mono">${sn}.key</span>.
        Or keep the private key on your side and bring a certificate request:</p>
      <${Code} label="Create a key and certificate request">${`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${sn}.key -subj "/CN=${sn}" -out ${sn}.csr`}<//>
      <p>and have the administrator sign it:</p>
      <${Code} label="Sign the request">${`smartproductctl device-cert issue --config smartproduct.toml --ca ${caName} --serial ${sn} --csr ${sn}.csr --out .`}<//>
      ${ca ? null : html`<p class="hint">CA_NAME is the name of the manufacturer's certificate authority (Administration → Certificate authorities).</p>`}
    </li>
    <li>
      <h3>Get the server's root certificate</h3>
      <p>The broker proves its identity with a certificate from this server's root CA:${' '}
        ${conn?.rootCaPem
          ? html`<${DownloadLink} name="root-ca.crt" text=${conn.rootCaPem}>download root-ca.crt<//>`
          : html`<span class="mono">root-ca.crt</span> (the file <span class="mono">pki/root-ca.crt</span> of the instance; ask the administrator for it)`}.</p>
    </li>
    <li>
      <h3>Connect</h3>
      <p>Publish a first reading over MQTT with TLS client authentication:</p>
      <${Code} label="Connect and publish">${`mosquitto_pub -V mqttv5 -h ${host} -p ${port} --cafile root-ca.crt --cert ${sn}.crt --key ${sn}.key -i ${sn} -t ${telemetryTopic}/${sn} -m '{"actualTemperature":71.5}'`}<//>
      <p>The first connection activates the device: the broker accepts it at once and the registration turns${' '}
        <strong>complete</strong> (no failed first connection to retry, unlike AWS IoT's just-in-time registration).
        The device shows as Connected in My Devices while it is online.</p>
    </li>
  </ol>`;
}

function ConnectStep({ deviceId, user }) {
  const [reg, setReg] = useState(null);
  const [error, setError] = useState(null);
  const [ca, setCa] = useState(null);

  usePoll(async () => {
    try {
      setReg(await api.getDevice(deviceId));
      setError(null);
    } catch (err) {
      setError(api.errorText(err));
    }
  }, kPollMs, [deviceId]);

  // Admins can see the CAs: name the active, platform-kept one in the commands.
  useEffect(() => {
    if (user.role !== 'admin') return;
    api.listCas().then(
      (res) => {
        const items = (res && res.Items) || [];
        const pick = items.find((c) => c.status === 'ACTIVE' && c.managed && c.autoRegistration) || items.find((c) => c.status === 'ACTIVE');
        if (pick && pick.name) setCa(pick.name);
      },
      () => {},
    );
  }, []);

  const complete = reg && reg.status === 'complete';
  return html`<${PageHeader} title="New Device Registration" />
    <${Steps} step=${2} />
    <${Notice} kind="error">${error}<//>
    <${Card}>
      <div class="reg-summary">
        <dl class="props props-compact">
          <div><dt>Serial Number</dt><dd class="mono" data-testid="reg-serial">${deviceId}</dd></div>
          ${reg ? html`<div><dt>Device Name</dt><dd>${reg.deviceName}</dd></div>` : null}
          <div><dt>Status</dt><dd>${reg ? html`<${StatusBadge} status=${reg.status} />` : html`<span class="muted">—</span>`}</dd></div>
        </dl>
        ${reg && reg.status === 'pending'
          ? html`<p class="waiting"><span class="spinner spinner-sm" aria-hidden="true"></span>Waiting for the device's first connection…</p>`
          : null}
        ${complete ? html`<${Notice} kind="success">The device is activated (<${Time} iso=${reg.activatedAt} />).<//>` : null}
      </div>
    <//>
    <${Card} title="Connect your device">
      <${Instructions} sn=${deviceId} ca=${ca} />
    <//>
    <div class="form-actions">
      <a class="btn btn-secondary" href="/devices">My Devices</a>
      <${Button} onClick=${() => navigate(devicePath(deviceId))}>Finish<//>
    </div>`;
}

export function Registration({ query, user }) {
  const deviceId = query.get('deviceId');
  if (deviceId) return html`<${ConnectStep} key=${deviceId} deviceId=${deviceId} user=${user} />`;
  return html`<${PageHeader} title="New Device Registration" back="/devices" />
    <${Steps} step=${1} />
    <${RegisterForm} />`;
}

// ---- Device Detail ----------------------------------------------------------------------------

function shortFingerprint(fp) {
  if (!fp) return '';
  const hex = fp.replace(/[^0-9a-fA-F]/g, '');
  return hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-8)}` : fp;
}

const kCertBadge = { ACTIVE: 'badge-green', PENDING_ACTIVATION: 'badge-amber', REVOKED: 'badge-red', REFUSED: 'badge-red' };
const revocable = (c) => c.status === 'ACTIVE' || c.status === 'PENDING_ACTIVATION';

function KeyValues({ value }) {
  const entries = value && typeof value === 'object' ? Object.entries(value) : [];
  if (!entries.length) return html`<p class="muted">Not found</p>`;
  return html`<dl class="props">${entries.map(
    ([k, v]) => html`<div><dt>${k}</dt><dd>${v !== null && typeof v === 'object' ? html`<span class="mono">${JSON.stringify(v)}</span>` : String(v)}</dd></div>`,
  )}</dl>`;
}

function Certificates({ certs, deleted, onRevoke }) {
  if (!certs) return html`<${Spinner} label="Loading certificates…" />`;
  if (!certs.length) {
    return deleted
      ? html`<${Empty} title="No certificate." />`
      : html`<${Empty} title="No certificate yet.">The device's first connection records its certificate.<//>`;
  }
  return html`<div class="table-wrap"><table class="table responsive">
    <caption class="visually-hidden">Certificates of the device</caption>
    <thead><tr><th scope="col">Fingerprint</th><th scope="col">Issuer</th><th scope="col">Serial</th><th scope="col">Valid</th>
      <th scope="col">Status</th><th scope="col">Last seen</th>${deleted ? null : html`<th scope="col"><span class="visually-hidden">Actions</span></th>`}</tr></thead>
    <tbody>${certs.map(
      (c) => html`<tr key=${c.fingerprint}>
        <td data-label="Fingerprint"><span class="mono" title=${c.fingerprint}>${shortFingerprint(c.fingerprint)}</span></td>
        <td data-label="Issuer"><span class="dn">${c.issuer}</span></td>
        <td data-label="Serial"><span class="mono" title=${c.serial}>${shortFingerprint(c.serial)}</span></td>
        <td data-label="Valid"><span class="nowrap"><${Time} iso=${c.notBefore} dateOnly /> –</span> <span class="nowrap"><${Time} iso=${c.notAfter} dateOnly /></span></td>
        <td data-label="Status"><span class=${`badge ${kCertBadge[c.status] || 'badge-grey'}`} title=${c.statusReason || undefined}>${c.status}</span></td>
        <td data-label="Last seen"><${Time} iso=${c.lastSeenAt} /></td>
        ${deleted
          ? null
          : html`<td class="actions">${revocable(c)
              ? html`<${Button} small kind="danger-ghost" label=${`Revoke certificate ${shortFingerprint(c.fingerprint)}`} onClick=${() => onRevoke(c)}>Revoke<//>`
              : null}</td>`}
      </tr>`,
    )}</tbody>
  </table></div>`;
}

const kDetailTabs = [
  { id: 'general', label: 'General' },
  { id: 'commands', label: 'Commands' },
  { id: 'shadow', label: 'Shadow' },
  { id: 'events', label: 'Event Log' },
  { id: 'telemetry', label: 'Telemetry' },
];

export function DeviceDetail({ path, user }) {
  const deviceId = decodeURIComponent(path.slice('/devices/'.length));
  const [reg, setReg] = useState(null);
  const [fatal, setFatal] = useState(null);
  const [error, setError] = useState(null);
  const [conn, setConn] = useState(null);
  const [certs, setCerts] = useState(null);
  const [status, setStatus] = useState(null);
  const [statusError, setStatusError] = useState(null);
  const [tab, setTab] = useState('general');
  const [toRevoke, setToRevoke] = useState(null);
  const [revoking, setRevoking] = useState(false);
  const [done, setDone] = useState(null);

  async function load() {
    let r;
    try {
      r = await api.getDevice(deviceId);
      setReg(r);
      setFatal(null);
    } catch (err) {
      // Unknown or someone else's device: nothing more to show.
      if (err.status === 403 || err.status === 404) {
        setFatal(api.errorText(err));
        return;
      }
      setError(api.errorText(err));
      return;
    }
    const [devs, cs] = await Promise.allSettled([api.listDevices(), api.listCertificates(deviceId), loadStatus(r)]);
    if (devs.status === 'fulfilled') {
      const d = Array.isArray(devs.value) ? devs.value.find((x) => x.thingName === deviceId) : null;
      setConn((d && d.connectivity) || { connected: false });
    }
    if (cs.status === 'fulfilled') setCerts((cs.value && cs.value.Items) || []);
    const failed = [devs, cs].find((x) => x.status === 'rejected');
    setError(failed ? api.errorText(failed.reason) : null);
  }
  const live = useLivePoll(load, kPollMs, [deviceId]);
  usePoll(load, live && reg && reg.status === 'pending' ? kPollMs : 0, [deviceId], { immediate: false });
  useLive('connectivity', (m) => {
    if (m.deviceId !== deviceId) return;
    setConn({ connected: m.connected, timestamp: m.timestamp });
    setStatus((st) => (st && typeof st.connected === 'boolean' ? { ...st, connected: m.connected } : st));
    load(); // the registration (activation) and the certificates' last use change with it
  });
  // The Status card reads the shadow: a pushed change re-reads it.
  useLive('shadow', (m) => m.deviceId === deviceId && loadStatus());
  useLive('shadowDeleted', (m) => m.deviceId === deviceId && loadStatus());

  // GET /status (the shadow plus `connected`); a deleted device has none. Older answers than the
  // newest request are dropped, so a slow poll cannot undo a fresher state.
  const statusSeq = useRef(0);
  async function loadStatus(r = reg) {
    if (r && r.status === 'deleted') return;
    const my = ++statusSeq.current;
    try {
      const st = await api.getStatus(deviceId);
      if (my !== statusSeq.current) return;
      setStatus(st || {});
      setStatusError(null);
    } catch (err) {
      if (my === statusSeq.current) setStatusError(api.errorText(err));
    }
  }

  async function confirmRevoke() {
    const c = toRevoke;
    setRevoking(true);
    setDone(null);
    try {
      const res = await api.revokeCertificate(deviceId, c.fingerprint);
      setCerts((list) => list.map((x) => (x.fingerprint === c.fingerprint ? (res && res.fingerprint ? res : { ...x, status: 'REVOKED' }) : x)));
      setDone(`Certificate ${shortFingerprint(c.fingerprint)} was revoked.`);
      setError(null);
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setToRevoke(null);
      setRevoking(false);
    }
  }

  if (fatal)
    return html`<${PageHeader} title="Device" back="/devices" /><${Notice} kind="error">${fatal}<//>`;
  if (!reg) return html`<${PageHeader} title="Device" back="/devices" /><${Card}><${Spinner} label="Loading device…" /><//>`;

  const deleted = reg.status === 'deleted';
  return html`<${PageHeader} title=${reg.deviceName || deviceId} back="/devices" danger=${deleted}
      badge=${deleted ? html`<span class="badge badge-red">deleted</span>` : null} />
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${done}<//>
    <${Tabs} id="device" tabs=${deleted ? [{ id: 'general', label: 'General' }, { id: 'shadow', label: 'Shadow' }, { id: 'events', label: 'Event Log' }, { id: 'telemetry', label: 'Telemetry' }] : kDetailTabs} active=${tab} onSelect=${setTab} />
    <div id="device-panel" role="tabpanel" aria-labelledby=${`device-tab-${tab}`}>
      ${tab === 'commands' && !deleted
        ? html`<${CommandsPanel} deviceId=${deviceId} details=${reg.details} status=${status} conn=${conn} deleted=${deleted} onStateChanged=${() => loadStatus()} />`
        : null}
      ${tab === 'shadow' ? html`<${ShadowViewer} deviceId=${deviceId} />` : null}
      ${tab === 'events' ? html`<${EventLog} deviceId=${deviceId} />` : null}
      ${tab === 'telemetry' ? html`<${TelemetryPanel} deviceId=${deviceId} />` : null}
      ${tab === 'general' ? html`<div class="grid-2">
        <${Card} title="Device Detail" id="device-detail">
          <dl class="props">
            <div><dt>Serial Number</dt><dd class="mono">${reg.deviceId}</dd></div>
            <div><dt>Model Number</dt><dd>${reg.modelNumber}</dd></div>
            <div><dt>Status</dt><dd><${StatusBadge} status=${reg.status} /></dd></div>
            <div><dt>Created</dt><dd><${Time} iso=${reg.createdAt} /></dd></div>
            <div><dt>Activated</dt><dd><${Time} iso=${reg.activatedAt} /></dd></div>
            <div><dt>Updated</dt><dd><${Time} iso=${reg.updatedAt} /></dd></div>
          </dl>
          ${reg.status === 'pending'
            ? html`<div class="form-actions"><a class="btn btn-secondary btn-sm" href=${registrationPath(reg.deviceId)}>Back to Registration</a></div>`
            : null}
        <//>
        <div class="stack">
          <${Card} title="Details" id="device-details"><${KeyValues} value=${reg.details} /><//>
          <${StatusCard} status=${status} conn=${conn} deleted=${deleted} error=${statusError} details=${reg.details} />
        </div>
      </div>
      <div class="spacer"></div>
      <${Card} title="Certificates" id="device-certs">
        <${Certificates} certs=${certs} deleted=${deleted} onRevoke=${setToRevoke} />
      <//>
      ${user && user.role === 'admin'
        ? html`<${DeviceQuarantine} deviceId=${deviceId} deleted=${deleted} />
          <${DeviceFindings} deviceId=${deviceId} />
          <${DeviceViolations} deviceId=${deviceId} />`
        : null}` : null}
    </div>
    <${ConfirmDialog} open=${!!toRevoke} title="Revoke certificate?" confirmLabel="Revoke" danger busy=${revoking}
      onConfirm=${confirmRevoke} onCancel=${() => setToRevoke(null)}>
      <p>The certificate <span class="mono">${toRevoke && shortFingerprint(toRevoke.fingerprint)}</span> is refused from now on and a
        device connected with it is disconnected. The device needs a new certificate to connect again.</p>
    <//>`;
}
