// Pages for signed-out users: sign in, sign up, verify email, forgot / reset password.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { takeFlash, setFlash } from '../flash.js';
import { html } from '../html.js';
import { navigate } from '../router.js';
import { Button, Field, Logo, Notice } from '../ui.js';
import { emailProblem, normalisePhone, passwordProblem, phoneProblem, kMinPasswordLength } from '../validate.js';

function AuthLayout({ title, subtitle, children, footer }) {
  useEffect(() => {
    document.title = `${title} · Smart Product`;
  }, [title]);
  return html`<div class="auth-page">
    <main class="auth-card" id="main">
      <div class="auth-brand"><${Logo} size=${36} /><span>Smart Product</span></div>
      <h1>${title}</h1>
      ${subtitle ? html`<p class="auth-sub">${subtitle}</p>` : null}
      ${children}
    </main>
    ${footer ? html`<p class="auth-footer">${footer}</p>` : null}
  </div>`;
}

function useFlash() {
  const [flash] = useState(takeFlash);
  return flash;
}

const hasErrors = (p) => Object.values(p).some(Boolean);

export function SignIn({ query }) {
  const flash = useFlash();
  const [email, setEmail] = useState(query.get('email') || '');
  const [password, setPassword] = useState('');
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const p = { email: emailProblem(email.trim()), password: password ? null : 'Enter your password.' };
    setProblems(p);
    if (hasErrors(p)) return;
    setBusy(true);
    setError(null);
    try {
      await api.signIn(email.trim(), password);
      // App reacts to the session change and shows the requested page.
    } catch (err) {
      setBusy(false);
      if (err.status === 403 && err.error === 'EmailNotVerified') {
        setFlash('info', 'Your email address is not verified yet. Enter the code we sent you.');
        navigate(`/verify?email=${encodeURIComponent(email.trim())}`);
        return;
      }
      setError(err.status === 401 ? 'Incorrect email or password.' : api.errorText(err));
    }
  }

  return html`<${AuthLayout} title="Sign in" subtitle="Sign in to manage your devices."
      footer=${html`New to Smart Product? <a href="/signup">Create an account</a>`}>
    ${flash ? html`<${Notice} kind=${flash.kind}>${flash.text}<//>` : null}
    <${Notice} kind="error">${error}<//>
    <form onSubmit=${submit} novalidate>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${email}
        onInput=${setEmail} error=${problems.email} autofocus />
      <${Field} label="Password" name="password" type="password" autocomplete="current-password" required
        value=${password} onInput=${setPassword} error=${problems.password} />
      <div class="form-row-end"><a href=${`/forgot${email ? `?email=${encodeURIComponent(email.trim())}` : ''}`}>Forgot password?</a></div>
      <${Button} type="submit" busy=${busy} kind="primary block">Sign in<//>
    </form>
  <//>`;
}

export function SignUp() {
  const [f, setF] = useState({ name: '', email: '', phone: '', password: '', confirm: '' });
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((o) => ({ ...o, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const email = f.email.trim();
    const phone = normalisePhone(f.phone.trim());
    const p = {
      name: f.name.trim() ? null : 'Enter your name.',
      email: emailProblem(email),
      phone: phoneProblem(phone),
      password: passwordProblem(f.password, email),
      confirm: f.confirm ? (f.confirm === f.password ? null : 'The passwords do not match.') : 'Confirm your password.',
    };
    setProblems(p);
    if (hasErrors(p)) return;
    setBusy(true);
    setError(null);
    try {
      const body = { email, password: f.password, name: f.name.trim() };
      if (phone) body.phone = phone;
      await api.signUp(body);
      setFlash('success', `We sent a verification code to ${email}. Enter it below to activate your account.`);
      navigate(`/verify?email=${encodeURIComponent(email)}`);
    } catch (err) {
      setBusy(false);
      setError(api.errorText(err));
    }
  }

  return html`<${AuthLayout} title="Create your account" footer=${html`Already have an account? <a href="/signin">Sign in</a>`}>
    <${Notice} kind="error">${error}<//>
    <form onSubmit=${submit} novalidate>
      <${Field} label="Name" name="name" autocomplete="name" required value=${f.name} onInput=${set('name')} error=${problems.name} autofocus />
      <${Field} label="Email" name="email" type="email" autocomplete="email" required value=${f.email} onInput=${set('email')} error=${problems.email} />
      <${Field} label="Phone number" name="phone" type="tel" autocomplete="tel" inputmode="tel" value=${f.phone}
        onInput=${set('phone')} error=${problems.phone} hint="International format, e.g. +15551234567. Used only for SMS alerts." />
      <${Field} label="Password" name="password" type="password" autocomplete="new-password" required value=${f.password}
        onInput=${set('password')} error=${problems.password} hint=${`At least ${kMinPasswordLength} characters, not your email address.`} />
      <${Field} label="Confirm password" name="confirm" type="password" autocomplete="new-password" required value=${f.confirm}
        onInput=${set('confirm')} error=${problems.confirm} />
      <${Button} type="submit" busy=${busy} kind="primary block">Create account<//>
    </form>
  <//>`;
}

export function Verify({ query }) {
  const flash = useFlash();
  const [email, setEmail] = useState(query.get('email') || '');
  const [code, setCode] = useState('');
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [info, setInfo] = useState(null);
  const [busy, setBusy] = useState(false);
  const [resending, setResending] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const p = { email: emailProblem(email.trim()), code: code.trim() ? null : 'Enter the verification code.' };
    setProblems(p);
    if (hasErrors(p)) return;
    setBusy(true);
    setError(null);
    setInfo(null);
    try {
      await api.verifyEmail(email.trim(), code.trim());
      setFlash('success', 'Your email address is verified. You can sign in now.');
      navigate(`/signin?email=${encodeURIComponent(email.trim())}`);
    } catch (err) {
      setBusy(false);
      setError(api.errorText(err));
    }
  }

  async function resend() {
    const pe = emailProblem(email.trim());
    setProblems({ email: pe });
    if (pe) return;
    setResending(true);
    setError(null);
    setInfo(null);
    try {
      await api.resendCode(email.trim());
      setInfo(`If ${email.trim()} has an unverified account, a new code is on its way.`);
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setResending(false);
    }
  }

  return html`<${AuthLayout} title="Verify your email" subtitle="Enter the code we sent to your email address."
      footer=${html`<a href="/signin">Back to sign in</a>`}>
    ${flash ? html`<${Notice} kind=${flash.kind}>${flash.text}<//>` : null}
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="success">${info}<//>
    <form onSubmit=${submit} novalidate>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${email} onInput=${setEmail} error=${problems.email} />
      <${Field} label="Verification code" name="code" autocomplete="one-time-code" inputmode="numeric" required value=${code}
        onInput=${setCode} error=${problems.code} autofocus />
      <${Button} type="submit" busy=${busy} kind="primary block">Verify<//>
      <div class="form-row-center"><${Button} kind="link" busy=${resending} onClick=${resend}>Resend code<//></div>
    </form>
  <//>`;
}

export function Forgot({ query }) {
  const [email, setEmail] = useState(query.get('email') || '');
  const [problem, setProblem] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const p = emailProblem(email.trim());
    setProblem(p);
    if (p) return;
    setBusy(true);
    setError(null);
    try {
      await api.forgotPassword(email.trim());
      setFlash('success', `If ${email.trim()} has an account, we sent it a code to reset the password.`);
      navigate(`/reset?email=${encodeURIComponent(email.trim())}`);
    } catch (err) {
      setBusy(false);
      setError(api.errorText(err));
    }
  }

  return html`<${AuthLayout} title="Reset your password" subtitle="We will send a reset code to your email address."
      footer=${html`<a href="/signin">Back to sign in</a>`}>
    <${Notice} kind="error">${error}<//>
    <form onSubmit=${submit} novalidate>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${email} onInput=${setEmail} error=${problem} autofocus />
      <${Button} type="submit" busy=${busy} kind="primary block">Send reset code<//>
      <div class="form-row-center"><a href=${`/reset${email ? `?email=${encodeURIComponent(email.trim())}` : ''}`}>I already have a code</a></div>
    </form>
  <//>`;
}

export function Reset({ query }) {
  const flash = useFlash();
  const [f, setF] = useState({ email: query.get('email') || '', code: '', password: '', confirm: '' });
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((o) => ({ ...o, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const email = f.email.trim();
    const p = {
      email: emailProblem(email),
      code: f.code.trim() ? null : 'Enter the code from the email.',
      password: passwordProblem(f.password, email),
      confirm: f.confirm ? (f.confirm === f.password ? null : 'The passwords do not match.') : 'Confirm the new password.',
    };
    setProblems(p);
    if (hasErrors(p)) return;
    setBusy(true);
    setError(null);
    try {
      await api.resetPassword(email, f.code.trim(), f.password);
      setFlash('success', 'Your password was reset. Sign in with the new password.');
      navigate(`/signin?email=${encodeURIComponent(email)}`);
    } catch (err) {
      setBusy(false);
      setError(api.errorText(err));
    }
  }

  return html`<${AuthLayout} title="Choose a new password" footer=${html`<a href="/signin">Back to sign in</a>`}>
    ${flash ? html`<${Notice} kind=${flash.kind}>${flash.text}<//>` : null}
    <${Notice} kind="error">${error}<//>
    <form onSubmit=${submit} novalidate>
      <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${f.email} onInput=${set('email')} error=${problems.email} />
      <${Field} label="Reset code" name="code" autocomplete="one-time-code" inputmode="numeric" required value=${f.code}
        onInput=${set('code')} error=${problems.code} autofocus />
      <${Field} label="New password" name="password" type="password" autocomplete="new-password" required value=${f.password}
        onInput=${set('password')} error=${problems.password} hint=${`At least ${kMinPasswordLength} characters, not your email address.`} />
      <${Field} label="Confirm new password" name="confirm" type="password" autocomplete="new-password" required value=${f.confirm}
        onInput=${set('confirm')} error=${problems.confirm} />
      <${Button} type="submit" busy=${busy} kind="primary block">Reset password<//>
    </form>
  <//>`;
}
