// Admin: certificate authorities that sign device certificates (the AWS IoT flow, self-hosted):
// the registration code for the proof-of-possession certificate, the list with activate /
// deactivate, auto-registration and deregistration, and the register form.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Button, Card, Checkbox, Code, ConfirmDialog, CopyButton, Empty, Field, Notice, Spinner, TextArea, Time } from '../ui.js';

const kStatusBadge = { ACTIVE: 'badge-green', INACTIVE: 'badge-amber', DEREGISTERED: 'badge-grey' };
const kPemCert = /^\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;

function RegistrationCode() {
  const [code, setCode] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api.caRegistrationCode().then(
      (r) => setCode((r && r.registrationCode) || ''),
      (err) => setError(api.errorText(err)),
    );
  }, []);
  const cn = code || 'REGISTRATION_CODE';
  return html`<${Card} title="Registration code" id="ca-code">
    <${Notice} kind="error">${error}<//>
    <p>To register your own CA, prove you hold its key: sign a verification certificate whose common name is this code.</p>
    <div class="reg-code">
      ${code === null && !error ? html`<${Spinner} />` : html`<span class="mono strong" data-testid="registration-code">${code}</span>`}
      ${code ? html`<${CopyButton} text=${code} label="Copy code" />` : null}
    </div>
    <p>With the CA's key and certificate (<span class="mono">ca.key</span>, <span class="mono">ca.crt</span>):</p>
    <${Code} label="Make the verification certificate">${`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout verification.key -subj "/CN=${cn}" -out verification.csr
openssl x509 -req -in verification.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -sha256 -out verification.crt`}<//>
    <p class="hint">Then paste <span class="mono">ca.crt</span> and <span class="mono">verification.crt</span> below. Or let the platform
      create and keep a CA (registered, active, auto-registration on): <span class="mono">smartproductctl ca create --config smartproduct.toml --name NAME</span>.</p>
  <//>`;
}

function RegisterCa({ onRegistered }) {
  const empty = { caCertificate: '', verificationCertificate: '', name: '', setAsActive: true, allowAutoRegistration: true };
  const [f, setF] = useState(empty);
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((o) => ({ ...o, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const p = {
      caCertificate: kPemCert.test(f.caCertificate) ? null : 'Paste the CA certificate in PEM form (-----BEGIN CERTIFICATE----- …).',
      verificationCertificate: kPemCert.test(f.verificationCertificate) ? null : 'Paste the verification certificate in PEM form.',
    };
    setProblems(p);
    if (Object.values(p).some(Boolean)) return;
    setBusy(true);
    setError(null);
    try {
      const body = {
        caCertificate: f.caCertificate.trim() + '\n',
        verificationCertificate: f.verificationCertificate.trim() + '\n',
        setAsActive: f.setAsActive,
        allowAutoRegistration: f.allowAutoRegistration,
      };
      if (f.name.trim()) body.name = f.name.trim();
      const ca = await api.registerCa(body);
      setF(empty);
      onRegistered(ca);
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${Card} title="Register a CA" id="ca-register">
    <form onSubmit=${submit} novalidate>
      <${Notice} kind="error">${error}<//>
      <${TextArea} label="CA certificate (PEM)" name="caCertificate" required rows=${6} value=${f.caCertificate}
        onInput=${set('caCertificate')} error=${problems.caCertificate} placeholder="-----BEGIN CERTIFICATE-----" />
      <${TextArea} label="Verification certificate (PEM)" name="verificationCertificate" required rows=${6} value=${f.verificationCertificate}
        onInput=${set('verificationCertificate')} error=${problems.verificationCertificate} placeholder="-----BEGIN CERTIFICATE-----" />
      <${Field} label="Name" name="name" value=${f.name} onInput=${set('name')} hint="Defaults to the CA's common name." autocomplete="off" />
      <${Checkbox} label="Activate now" name="setAsActive" checked=${f.setAsActive} onChange=${set('setAsActive')} />
      <${Checkbox} label="Allow auto-registration" name="allowAutoRegistration" checked=${f.allowAutoRegistration} onChange=${set('allowAutoRegistration')}
        hint="Devices with a certificate from this CA are recorded at their first connection (just-in-time registration)." />
      <div class="form-actions"><${Button} type="submit" busy=${busy}>Register CA<//></div>
    </form>
  <//>`;
}

export function AdminCas() {
  const [cas, setCas] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busyId, setBusyId] = useState(null);
  const [toRemove, setToRemove] = useState(null);
  const [removing, setRemoving] = useState(false);
  const [loading, setLoading] = useState(false);

  async function load() {
    setLoading(true);
    try {
      const r = await api.listCas();
      setCas((r && r.Items) || []);
      setError(null);
    } catch (err) {
      setError(api.errorText(err));
      setCas((old) => old || []);
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => {
    load();
  }, []);

  const replace = (ca) => setCas((list) => list.map((x) => (x.caId === ca.caId ? { ...x, ...ca } : x)));

  async function patch(ca, body, what) {
    setBusyId(ca.caId);
    setError(null);
    setDone(null);
    try {
      const res = await api.patchCa(ca.caId, body);
      replace(res && res.caId ? res : { ...ca, ...body });
      setDone(`${ca.name}: ${what}.`);
    } catch (err) {
      setError(`${ca.name}: ${api.errorText(err)}`);
    } finally {
      setBusyId(null);
    }
  }

  async function confirmRemove() {
    const ca = toRemove;
    setRemoving(true);
    setError(null);
    setDone(null);
    try {
      const res = await api.deregisterCa(ca.caId);
      replace(res && res.caId ? res : { ...ca, status: 'DEREGISTERED', autoRegistration: false });
      setDone(`${ca.name} was deregistered.`);
    } catch (err) {
      setError(`${ca.name}: ${api.errorText(err)}`);
    } finally {
      setToRemove(null);
      setRemoving(false);
    }
  }

  let body;
  if (!cas) body = html`<${Spinner} label="Loading certificate authorities…" />`;
  else if (!cas.length) body = html`<${Empty} title="No certificate authority registered.">Register one below or create one with the CLI.<//>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive">
      <caption class="visually-hidden">Certificate authorities</caption>
      <thead><tr><th scope="col">Name / subject</th><th scope="col">Status</th><th scope="col">Auto-registration</th>
        <th scope="col">Devices</th><th scope="col">Valid until</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${cas.map((ca) => {
        const gone = ca.status === 'DEREGISTERED';
        const busy = busyId === ca.caId;
        return html`<tr key=${ca.caId}>
          <td data-label="Name"><div><span class="strong">${ca.name}</span>${ca.managed ? html` <span class="badge badge-blue" title="Created and kept by the platform">managed</span>` : null}</div>
            <div class="dn muted" title=${`fingerprint ${ca.fingerprint}\nserial ${ca.serial}\nissuer ${ca.issuer}`}>${ca.subject}</div></td>
          <td data-label="Status"><span class=${`badge ${kStatusBadge[ca.status] || 'badge-grey'}`}>${ca.status}</span></td>
          <td data-label="Auto-registration"><span class="cell-toggle">
            ${gone ? html`<span class="muted">—</span>` : ca.autoRegistration ? html`<span class="badge badge-green">On</span>` : html`<span class="badge badge-grey">Off</span>`}
            ${gone
              ? null
              : html`<${Button} small kind="link" disabled=${busy} label=${`Turn auto-registration ${ca.autoRegistration ? 'off' : 'on'} for ${ca.name}`}
                  onClick=${() => patch(ca, { autoRegistration: !ca.autoRegistration }, `auto-registration ${ca.autoRegistration ? 'off' : 'on'}`)}>
                  ${ca.autoRegistration ? 'Turn off' : 'Turn on'}<//>`}
          </span></td>
          <td data-label="Devices">${ca.deviceCount ?? 0}</td>
          <td data-label="Valid until"><${Time} iso=${ca.notAfter} dateOnly /></td>
          <td class="actions">${gone
            ? null
            : html`<${Button} small kind="secondary" disabled=${busy} label=${`${ca.status === 'ACTIVE' ? 'Deactivate' : 'Activate'} ${ca.name}`}
                onClick=${() => patch(ca, { status: ca.status === 'ACTIVE' ? 'INACTIVE' : 'ACTIVE' }, ca.status === 'ACTIVE' ? 'deactivated' : 'activated')}>
                ${ca.status === 'ACTIVE' ? 'Deactivate' : 'Activate'}<//>
              <${Button} small kind="danger-ghost" disabled=${busy} label=${`Deregister ${ca.name}`} onClick=${() => setToRemove(ca)}>Deregister<//>`}</td>
        </tr>`;
      })}</tbody>
    </table></div>`;

  return html`<${PageHeader} title="Certificate authorities">
      <${Button} kind="secondary" busy=${loading && !!cas} onClick=${load}>Refresh<//>
    <//>
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${done}<//>
    <${Card} title="Registered CAs" id="ca-list">${body}<//>
    <div class="grid-2">
      <${RegistrationCode} />
      <${RegisterCa} onRegistered=${(ca) => {
        if (ca && ca.caId) setCas((list) => [ca].concat((list || []).filter((x) => x.caId !== ca.caId)));
        else load();
        setDone(`${(ca && ca.name) || 'The CA'} was registered.`);
      }} />
    </div>
    <${ConfirmDialog} open=${!!toRemove} title="Deregister CA?" confirmLabel="Deregister" danger busy=${removing}
      onConfirm=${confirmRemove} onCancel=${() => setToRemove(null)}>
      <p>Devices with certificates from <strong>${toRemove && toRemove.name}</strong> (${toRemove ? toRemove.deviceCount ?? 0 : 0}) are refused
        from now on and disconnected at once. This cannot be undone.</p>
    <//>`;
}
