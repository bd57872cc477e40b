// Entry point of the console: restores the session, then routes between the signed-out pages and
// the app frame.
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { setFlash } from './flash.js';
import { Frame } from './frame.js';
import { html } from './html.js';
import { navigate, useLocation } from './router.js';
import { AdminAudit, AdminSecurityEvents, AdminUsers } from './pages/admin.js';
import { Forgot, Reset, SignIn, SignUp, Verify } from './pages/auth.js';
import { AdminCas } from './pages/cas.js';
import { AdminCatalog } from './pages/catalog.js';
import { AdminDatasets } from './pages/datasets.js';
import { DeviceDetail, MyDevices, Registration } from './pages/devices.js';
import { Alerts, History } from './pages/events.js';
import { AdminSecurity } from './pages/security.js';
import { UserSetting } from './pages/user.js';
import { Spinner } from './ui.js';

const kPublic = { '/signin': SignIn, '/signup': SignUp, '/verify': Verify, '/forgot': Forgot, '/reset': Reset };
const kPages = {
  '/devices': MyDevices,
  '/devices/registration': Registration,
  '/alerts': Alerts,
  '/history': History,
  '/user': UserSetting,
};
const kAdminPages = { '/admin/users': AdminUsers, '/admin/audit': AdminAudit, '/admin/catalog': AdminCatalog, '/admin/cas': AdminCas, '/admin/security-events': AdminSecurityEvents, '/admin/security': AdminSecurity, '/admin/datasets': AdminDatasets };
const kHome = '/devices';

function pageFor(path, user) {
  if (kPages[path]) return kPages[path];
  if (/^\/devices\/[^/]+$/.test(path)) return DeviceDetail; // /devices/<serial>
  if (user.role === 'admin' && kAdminPages[path]) return kAdminPages[path];
  return null;
}

function App() {
  const [ready, setReady] = useState(false);
  const [sess, setSess] = useState(api.session);
  const { path, query } = useLocation();

  useEffect(() => {
    const off = api.onSession((reason) => {
      if (reason === 'expired') setFlash('info', 'Your session has expired. Please sign in again.');
      if (reason === 'signed-out') {
        setFlash('success', 'You have been signed out.');
        navigate('/signin', { replace: true });
      }
      setSess(api.session());
    });
    api.restoreSession().finally(() => setReady(true));
    return off;
  }, []);

  // Redirects: signed-out users go to sign-in (and come back afterwards), signed-in users leave
  // the auth pages, unknown paths go to My Devices.
  let redirect = null;
  if (ready) {
    if (!sess.signedIn) {
      if (!kPublic[path]) {
        const known = pageFor(path, { role: 'admin' });
        redirect = known && path !== kHome ? `/signin?next=${encodeURIComponent(path)}` : '/signin';
      }
    } else if (kPublic[path]) {
      const next = query.get('next');
      redirect = next && next.startsWith('/') && !next.startsWith('//') ? next : kHome;
    } else if (!pageFor(path, sess.user)) {
      redirect = kHome;
    }
  }
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  if (!ready || redirect) return html`<div class="boot"><${Spinner} /></div>`;
  if (!sess.signedIn) {
    const Page = kPublic[path];
    return html`<${Page} query=${query} key=${path} />`;
  }
  const Page = pageFor(path, sess.user);
  return html`<${Frame} path=${path} user=${sess.user}><${Page} user=${sess.user} query=${query} path=${path} key=${path} /><//>`;
}

render(html`<${App} />`, document.getElementById('app'));
