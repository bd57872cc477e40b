// The signed-in layout: sidebar navigation (the seed's pages plus admin pages for role admin)
// and a top bar with the user's email and Log out.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { html } from './html.js';
import { startLive, stopLive, useLive, useLivePoll, useLiveUp } from './live-session.js';
import { Logo } from './ui.js';

const icons = {
  devices: 'M4 5h16v10H4zM9 19h6M12 15v4',
  alerts: 'M12 4a5 5 0 0 0-5 5v4l-2 3h14l-2-3V9a5 5 0 0 0-5-5zM10 19a2 2 0 0 0 4 0',
  history: 'M4 12a8 8 0 1 0 2.3-5.6M4 4v4h4M12 8v4l3 2',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 20a8 8 0 0 1 16 0',
  users: 'M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14a6.5 6.5 0 0 1 3.5 6',
  audit: 'M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7',
  catalog: 'M4 5h16v4H4zM4 11h16v4H4zM4 17h16v3H4zM7 7h.01M7 13h.01',
  cas: 'M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6zM9 12l2 2 4-4',
  security: 'M12 3l7 3v5c0 4.5-3 8-7 10-4-2-7-5.5-7-10V6zM12 8v5M12 16h.01',
  datasets: 'M5 6c0-1.7 3.1-3 7-3s7 1.3 7 3-3.1 3-7 3-7-1.3-7-3zM5 6v12c0 1.7 3.1 3 7 3s7-1.3 7-3V6M5 12c0 1.7 3.1 3 7 3s7-1.3 7-3',
};

function Icon({ name }) {
  return html`<svg class="nav-icon" width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <path d=${icons[name]} fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
  </svg>`;
}

export const kNav = [
  { path: '/devices', label: 'My Devices', icon: 'devices' },
  { path: '/alerts', label: 'Event Alerts', icon: 'alerts' },
  { path: '/history', label: 'Event History', icon: 'history' },
  { path: '/user', label: 'User Setting', icon: 'user' },
];

export const kAdminNav = [
  { path: '/admin/users', label: 'Users', icon: 'users' },
  { path: '/admin/audit', label: 'Audit log', icon: 'audit' },
  { path: '/admin/catalog', label: 'Catalog', icon: 'catalog' },
  { path: '/admin/cas', label: 'Certificate authorities', icon: 'cas' },
  { path: '/admin/security-events', label: 'Security events', icon: 'audit' },
  { path: '/admin/security', label: 'Security', icon: 'security' },
  { path: '/admin/datasets', label: 'Datasets', icon: 'datasets' },
];

function NavLink({ item, path }) {
  const active = path === item.path || path.startsWith(`${item.path}/`);
  return html`<li><a href=${item.path} class=${active ? 'active' : ''} aria-current=${active ? 'page' : undefined}>
    <${Icon} name=${item.icon} /><span>${item.label}</span></a></li>`;
}

const kAlertPollMs = 15000; // only while the live socket is down
const kToastMs = 8000;

/**
 * The open-alert count (GET /api/alerts/count, then the live pushes) and the seed's toast,
 * raised on the first count above zero and whenever the count rises.
 */
function useAlertCount() {
  const [count, setCount] = useState(null);
  const [toast, setToast] = useState(null);
  const last = useRef(null);
  // A push newer than a request in flight wins: answers to older requests are dropped.
  const seq = useRef(0);

  function accept(n) {
    if (!Number.isFinite(n)) return;
    const prev = last.current;
    last.current = n;
    setCount(n);
    if (n > 0 && (prev === null || n > prev)) setToast({ n, at: Date.now() });
  }
  async function load() {
    const my = ++seq.current;
    try {
      const res = await api.alertsCount();
      if (my === seq.current) accept(Number(res && res.alertsCount));
    } catch {
      /* the badge keeps its last value; the next push or poll corrects it */
    }
  }
  useLivePoll(load, kAlertPollMs);
  useLive('alerts', (m) => {
    if (typeof m.alertsCount !== 'number') return load();
    seq.current++;
    accept(m.alertsCount);
  });
  useEffect(() => {
    if (!toast) return undefined;
    const t = setTimeout(() => setToast(null), kToastMs);
    return () => clearTimeout(t);
  }, [toast]);
  return { count, toast, dismiss: () => setToast(null) };
}

function Bell({ count }) {
  const n = count || 0;
  // data-live tells (tests, curious users) whether the badge follows pushes or polls.
  const up = useLiveUp();
  return html`<a href="/alerts" class="bell" data-testid="alerts-bell" data-live=${up ? 'up' : 'down'} aria-label=${`Event Alerts: ${n} open`} title=${`${n} open alert${n === 1 ? '' : 's'}`}>
    <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d=${icons.alerts} fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" /></svg>
    ${n > 0 ? html`<span class="bell-count" data-testid="alerts-count" aria-hidden="true">${n > 99 ? '99+' : n}</span>` : null}
  </a>`;
}

function AlertToast({ toast, onClose }) {
  return html`<div class="toast-region" role="status" aria-live="polite">
    ${toast
      ? html`<div class="toast" data-testid="alerts-toast">
          <span>You have ${toast.n} new alerts.</span>
          <a href="/alerts" onClick=${onClose}>View</a>
          <button type="button" class="btn btn-ghost btn-sm" aria-label="Dismiss" onClick=${onClose}>×</button>
        </div>`
      : null}
  </div>`;
}

export function Frame({ path, user, children }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const [leaving, setLeaving] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    startLive();
    return stopLive;
  }, []);
  const alerts = useAlertCount();

  async function logout() {
    setLeaving(true);
    await api.signOut();
  }

  return html`<div class=${`app${menuOpen ? ' menu-open' : ''}`}>
    <a class="skip-link" href="#main" data-external>Skip to content</a>
    <aside class="sidebar" id="sidebar">
      <div class="brand"><${Logo} /><span>Smart Product</span></div>
      <nav aria-label="Main">
        <ul class="nav">${kNav.map((item) => html`<${NavLink} item=${item} path=${path} />`)}</ul>
        ${user.role === 'admin'
          ? html`<p class="nav-section" id="nav-admin">Administration</p>
              <ul class="nav" aria-labelledby="nav-admin">${kAdminNav.map((item) => html`<${NavLink} item=${item} path=${path} />`)}</ul>`
          : null}
      </nav>
    </aside>
    <div class="scrim" onClick=${() => setMenuOpen(false)} aria-hidden="true"></div>
    <div class="main-col">
      <header class="topbar">
        <button type="button" class="menu-btn" aria-controls="sidebar" aria-expanded=${menuOpen ? 'true' : 'false'}
          aria-label="Menu" onClick=${() => setMenuOpen(!menuOpen)}>
          <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 7h16M4 12h16M4 17h16" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>
        </button>
        <div class="topbar-brand"><${Logo} size=${24} /><span>Smart Product</span></div>
        <div class="topbar-right">
          <${Bell} count=${alerts.count} />
          <span class="user-chip" title=${user.name || user.email}>
            <span class="avatar" aria-hidden="true">${(user.name || user.email || '?').trim().charAt(0).toUpperCase()}</span>
            <span class="user-email" data-testid="user-email">${user.email}</span>
          </span>
          <button type="button" class="btn btn-ghost btn-sm" onClick=${logout} disabled=${leaving}>Log out</button>
        </div>
      </header>
      <main id="main" class="content" tabindex="-1">${children}</main>
    </div>
    <${AlertToast} toast=${alerts.toast} onClose=${alerts.dismiss} />
  </div>`;
}

/**
 * Page heading; sets the document title. back: href of a back button; danger: red title (a
 * deleted device); badge: an element after the title.
 */
export function PageHeader({ title, children, back, danger, badge }) {
  useEffect(() => {
    document.title = `${title} · Smart Product`;
  }, [title]);
  const h1 = html`<h1 class=${danger ? 'text-danger' : undefined}>${title}</h1>`;
  const head = back || badge
    ? html`<div class="page-title">${back ? html`<a class="btn btn-ghost btn-sm" href=${back}><span aria-hidden="true">←</span> Back</a>` : null}${h1}${badge}</div>`
    : h1;
  return html`<div class="page-head">${head}${children ? html`<div class="page-actions">${children}</div>` : null}</div>`;
}
