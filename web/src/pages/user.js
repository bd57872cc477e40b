// User Setting: account summary, change password, the alert preference levels and the
// notification channels (email, SMS with the phone number, webhook; a test notification).
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Button, Card, Checkbox, CopyButton, Field, Notice, Spinner, Switch, Time } from '../ui.js';
import { changePasswordProblems, kMinPasswordLength, normalisePhone, phoneProblem } from '../validate.js';

export const kAlertLevels = [
  { value: 'error', label: 'Error' },
  { value: 'warning', label: 'Warning' },
  { value: 'info', label: 'Info' },
  { value: 'diagnostic', label: 'Diagnostic' },
];
// What the server writes for a new user (seed post-confirmation trigger).
const kDefaultSetting = { alertLevel: ['error', 'warning'], sendNotification: false };

function Account({ user }) {
  return html`<${Card} title="Account" id="account">
    <dl class="props">
      <div><dt>Name</dt><dd>${user.name || html`<span class="muted">—</span>`}</dd></div>
      <div><dt>Email</dt><dd>${user.email}</dd></div>
      <div><dt>Phone</dt><dd>${user.phone || html`<span class="muted">Not set</span>`}</dd></div>
      <div><dt>Role</dt><dd><span class=${`badge ${user.role === 'admin' ? 'badge-blue' : 'badge-grey'}`}>${user.role || 'user'}</span></dd></div>
      <div><dt>Member since</dt><dd><${Time} iso=${user.createdAt} /></dd></div>
    </dl>
  <//>`;
}

function ChangePassword({ user }) {
  const empty = { current: '', next: '', confirm: '' };
  const [f, setF] = useState(empty);
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((o) => ({ ...o, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const p = changePasswordProblems(f, user.email);
    setProblems(p);
    setDone(null);
    if (Object.keys(p).length) return;
    setBusy(true);
    setError(null);
    try {
      await api.changePassword(f.current, f.next);
      setF(empty);
      setDone('Your password was changed.');
    } catch (err) {
      setError(err.status === 401 || err.status === 403 ? err.message || 'The current password is not correct.' : api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${Card} title="Change Password" id="password">
    <form onSubmit=${submit} novalidate>
      <${Notice} kind="error">${error}<//>
      <${Notice} kind="success">${done}<//>
      <input type="text" name="username" autocomplete="username" value=${user.email} class="visually-hidden" tabindex="-1" aria-hidden="true" readonly />
      <${Field} label="Current password" name="currentPassword" type="password" autocomplete="current-password" required
        value=${f.current} onInput=${set('current')} error=${problems.current} />
      <${Field} label="New password" name="newPassword" type="password" autocomplete="new-password" required
        value=${f.next} onInput=${set('next')} error=${problems.next} hint=${`At least ${kMinPasswordLength} characters, not your email address.`} />
      <${Field} label="Confirm new password" name="confirmPassword" type="password" autocomplete="new-password" required
        value=${f.confirm} onInput=${set('confirm')} error=${problems.confirm} />
      <div class="form-actions"><${Button} type="submit" busy=${busy}>Change Password<//></div>
    </form>
  <//>`;
}

function AlertPreferences({ user }) {
  const [levels, setLevels] = useState(null); // Set of enabled levels once loaded
  const [sms, setSms] = useState(false);
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);

  useEffect(() => {
    let live = true;
    setLoadError(null);
    api
      .getSetting(user.userId)
      .then((res) => {
        if (!live) return;
        const s = (res && res.setting) || kDefaultSetting;
        setLevels(new Set(Array.isArray(s.alertLevel) ? s.alertLevel : kDefaultSetting.alertLevel));
        setSms(s.sendNotification === true);
      })
      .catch((err) => {
        if (!live) return;
        setLoadError(api.errorText(err));
      });
    return () => {
      live = false;
    };
  }, [user.userId, reloadKey]);

  function toggle(level, on) {
    setDone(null);
    setLevels((old) => {
      const s = new Set(old);
      if (on) s.add(level);
      else s.delete(level);
      return s;
    });
  }

  async function save(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    // Keep the canonical order so the stored value does not depend on click order.
    const setting = { alertLevel: kAlertLevels.map((l) => l.value).filter((v) => levels.has(v)), sendNotification: sms };
    try {
      const res = await api.putSetting(user.userId, setting);
      if (res && res.setting) {
        setLevels(new Set(res.setting.alertLevel || []));
        setSms(res.setting.sendNotification === true);
      }
      setDone('Alert preferences saved.');
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  let body;
  if (loadError) {
    body = html`<${Notice} kind="error">Could not load your alert preferences: ${loadError}<//>
      <div class="form-actions"><${Button} kind="secondary" onClick=${() => setReloadKey((k) => k + 1)}>Try again<//></div>`;
  } else if (!levels) {
    body = html`<${Spinner} label="Loading preferences…" />`;
  } else {
    body = html`<form onSubmit=${save} novalidate>
      <${Notice} kind="error">${error}<//>
      <${Notice} kind="success">${done}<//>
      <fieldset class="checks">
        <legend>Alert me about events of these types</legend>
        ${kAlertLevels.map(
          (l) => html`<${Checkbox} name=${`level-${l.value}`} label=${l.label} checked=${levels.has(l.value)} onChange=${(on) => toggle(l.value, on)} />`,
        )}
      </fieldset>
      <${Switch} name="sendNotification" label="Get SMS (Message rates may apply)" checked=${sms}
        onChange=${(on) => { setSms(on); setDone(null); }}
        hint=${user.phone ? `Text messages go to ${user.phone}.` : 'Your account has no phone number, so no SMS can be sent.'} />
      <p class="hint">SMS delivery depends on the SMS gateway configured for this installation.</p>
      <div class="form-actions"><${Button} type="submit" busy=${busy}>Update Alert Level<//></div>
    </form>`;
  }
  return html`<${Card} title="Alert Profile Preference Level" id="alerts">${body}<//>`;
}

// The server's field errors, shown under their input.
const kChannelFieldErrors = { InvalidPhone: 'phone', InvalidWebhookUrl: 'webhookUrl' };

function channelProblems(f) {
  const p = {};
  const phoneWhy = phoneProblem(f.phone);
  if (phoneWhy) p.phone = phoneWhy;
  else if (f.smsEnabled && !f.phone) p.phone = 'Enter a phone number to get SMS.';
  if (f.webhookUrl && !/^https?:\/\/[^\s/?#@]+/.test(f.webhookUrl)) p.webhookUrl = 'Enter the webhook URL, e.g. https://example.com/hooks/smartproduct.';
  return p;
}

/** GET/PUT /api/notifications/channels; the webhook secret is shown once, after the save that made it. */
function NotificationChannels() {
  const [f, setF] = useState(null);
  const [info, setInfo] = useState(null); // the last answer: email, availability, webhookSecretSet
  const [loadError, setLoadError] = useState(null);
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [secret, setSecret] = useState(null);
  const [busy, setBusy] = useState(false);
  const [testing, setTesting] = useState(false);

  function accept(res) {
    setInfo(res);
    setF({ emailEnabled: !!res.emailEnabled, smsEnabled: !!res.smsEnabled, phone: res.phone || '', webhookUrl: res.webhookUrl || '', rotate: false });
  }
  useEffect(() => {
    api.getChannels().then(accept, (err) => setLoadError(api.errorText(err)));
  }, []);
  const set = (k) => (v) => {
    setF((o) => ({ ...o, [k]: v }));
    setDone(null);
    if (problems[k]) setProblems((p) => ({ ...p, [k]: null }));
  };

  async function save(e) {
    e.preventDefault();
    const v = { ...f, phone: normalisePhone(f.phone.trim()), webhookUrl: f.webhookUrl.trim() };
    const p = channelProblems(v);
    setProblems(p);
    setError(null);
    setDone(null);
    setSecret(null);
    if (Object.keys(p).length) return;
    setBusy(true);
    try {
      const body = { emailEnabled: v.emailEnabled, smsEnabled: v.smsEnabled, phone: v.phone, webhookUrl: v.webhookUrl || null };
      if (v.rotate && v.webhookUrl) body.rotateWebhookSecret = true;
      const res = await api.putChannels(body);
      const phoneChanged = res.phone !== info.phone;
      accept(res);
      // The phone number is the account's: Account and the SMS hint read it from the session.
      if (phoneChanged) api.reloadUser().catch(() => {});
      if (res.webhookSecret) setSecret(res.webhookSecret);
      setDone('Notification channels saved.');
    } catch (err) {
      const field = err instanceof api.ApiError && kChannelFieldErrors[err.error];
      if (field) setProblems({ [field]: err.message });
      else setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  async function sendTest() {
    setTesting(true);
    setError(null);
    setDone(null);
    try {
      await api.testNotification();
      setDone('A test notification is on its way to your channels.');
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setTesting(false);
    }
  }

  let body;
  if (loadError) body = html`<${Notice} kind="error">Could not load your notification channels: ${loadError}<//>`;
  else if (!f) body = html`<${Spinner} label="Loading channels…" />`;
  else {
    body = html`<form onSubmit=${save} novalidate>
      <${Notice} kind="error">${error}<//>
      <${Notice} kind="success">${done}<//>
      ${secret
        ? html`<div class="notice notice-warning" role="status" data-testid="webhook-secret">
            <p>Your webhook signing secret. Copy it now: it is not shown again.</p>
            <p class="mono secret">${secret}</p><${CopyButton} text=${secret} />
          </div>`
        : null}
      <${Switch} name="emailEnabled" label=${`Email to ${info.email}`} checked=${f.emailEnabled} onChange=${set('emailEnabled')}
        hint=${info.emailAvailable ? null : 'This server has no mail server configured, so no email is sent.'} />
      <${Switch} name="smsEnabled" label="SMS" checked=${f.smsEnabled} onChange=${set('smsEnabled')}
        hint=${info.smsAvailable ? null : 'This server has no SMS gateway configured, so no SMS is sent.'} />
      <${Field} label="Phone number" name="phone" type="tel" autocomplete="tel" value=${f.phone} onInput=${set('phone')}
        error=${problems.phone} hint="International format, e.g. +15551234567." />
      <${Field} label="Webhook URL" name="webhookUrl" type="url" value=${f.webhookUrl} onInput=${set('webhookUrl')}
        error=${problems.webhookUrl} hint=${info.webhookSecretSet ? 'A signing secret is set (X-Smartproduct-Signature). Empty the URL to remove the webhook.' : 'An https URL that receives each alert as a signed JSON POST.'} />
      ${info.webhookSecretSet ? html`<${Checkbox} name="rotate" label="Create a new signing secret" checked=${f.rotate} onChange=${set('rotate')} />` : null}
      <div class="form-actions">
        <${Button} kind="secondary" busy=${testing} onClick=${sendTest}>Send test notification<//>
        <${Button} type="submit" busy=${busy}>Save channels<//>
      </div>
    </form>`;
  }
  return html`<${Card} title="Notification channels" id="channels">${body}<//>`;
}

export function UserSetting({ user }) {
  return html`<${PageHeader} title="User Setting" />
    <div class="grid-2">
      <div class="stack"><${AlertPreferences} user=${user} /><${Account} user=${user} /></div>
      <div class="stack"><${NotificationChannels} /><${ChangePassword} user=${user} /></div>
    </div>`;
}
