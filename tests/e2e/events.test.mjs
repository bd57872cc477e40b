// Events and alerts in the console against a real daemon and a real device (mosquitto_pub over
// mutual TLS with a certificate from a platform CA): the bell badge and the "You have N new
// alerts." toast follow the live socket; Event Alerts groups repeats, its dialog acknowledges only
// when asked, and acknowledging clears the badge in another tab; "mark all read"; Event History
// scrolls on by itself, filters by type and marks read; Device Detail's Event Log gets new events
// live; with the WebSocket unavailable the badge falls back to polling.
//
// Needs the instance's config and the CLI (user add, catalog import, ca create, device-cert issue)
// and mosquitto_pub, so it runs from run.mjs and is skipped otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'playwright-core';
import { baseUrl, ctl, openBrowser, shot, signIn, until } from './lib.mjs';

const config = process.env.SP_CONFIG;
const binDir = process.env.SP_BIN_DIR;
const haveMosquittoPub = !spawnSync('mosquitto_pub', ['--help']).error;
const enabled = !!(config && binDir && process.env.SP_BASE_URL && process.env.SP_MQTT_PORT && haveMosquittoPub);
const skip = !enabled && 'needs SP_CONFIG, SP_BIN_DIR, SP_MQTT_PORT of the instance and mosquitto_pub (run it through run.mjs)';

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `EV-${run}`;
const sn = (s) => `EV-${run}-${s}`;
const caName = `e2e-ev-${run.toLowerCase()}`;
const alice = { email: `e2e-events-a-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const carol = { email: `e2e-events-c-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const dave = { email: `e2e-events-d-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const admin = { email: `e2e-events-admin-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const bob = { email: `e2e-events-b-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

let work = null;
const devices = new Set();

/** An API client signed in as `who` (REST calls the tests make besides the page). */
async function apiAs(who) {
  const ctx = await request.newContext({ baseURL: baseUrl(), ignoreHTTPSErrors: true });
  const login = await ctx.post('/api/auth/login', { data: who });
  assert.equal(login.status(), 200, await login.text());
  const { accessToken } = await login.json();
  const headers = { Authorization: `Bearer ${accessToken}` };
  return {
    async get(p) {
      const r = await ctx.get(p, { headers });
      assert.equal(r.status(), 200, `${p}: ${await r.text()}`);
      return r.json();
    },
    async post(p, data) {
      const r = await ctx.post(p, { headers, data });
      assert.ok(r.status() < 300, `${p}: ${r.status()} ${await r.text()}`);
      return r.json();
    },
    dispose: () => ctx.dispose(),
  };
}

/**
 * Registers `serial` for the client's user (when `name` is given) and connects it with a
 * certificate issued once: one mosquitto_pub -l connection on the event topic, each
 * `send(type, message)` one QoS 1 message, `stop()` disconnects.
 */
// The broker plugin's state file: what it decides with (registered serials, ...).
async function pluginState() {
  try {
    return JSON.parse(await readFile(path.join(process.env.SP_INSTANCE_DIR, 'broker', 'state.json'), 'utf8'));
  } catch {
    return {};
  }
}

async function connectDevice(client, serial, name) {
  if (name) {
    await client.post('/api/registration', { deviceId: serial, deviceName: name, modelNumber: kModel });
    // JITR: the daemon tells the plugin about the registration asynchronously. A device whose
    // first publish arrives before that has no rights yet (PUBACK 0x87), and mosquitto_pub -l
    // does not resend: the event would be lost and the badge never come.
    await until(`${serial} known to the broker plugin`, async () => ((await pluginState()).registeredUsernames || []).includes(serial));
  }
  if (!existsSync(path.join(work, `${serial}.crt`))) {
    ctl(['device-cert', 'issue', '--config', config, '--ca', caName, '--serial', serial, '--out', work]);
  }
  const args = ['-V', 'mqttv5', '-h', 'localhost', '-p', process.env.SP_MQTT_PORT,
    '--cafile', path.join(process.env.SP_INSTANCE_DIR, 'pki/root-ca.crt'),
    '--cert', path.join(work, `${serial}.crt`), '--key', path.join(work, `${serial}.key`), '-i', serial,
    '-t', `smartproduct/event/${serial}`, '-q', '1', '-l'];
  const proc = spawn('mosquitto_pub', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  devices.add(proc);
  proc.stdin.on('error', () => {});
  return {
    send(type, message, value = 1) {
      const ev = { messageId: randomUUID(), type, message, details: { value }, timestamp: Date.now(), sentAt: new Date().toISOString() };
      proc.stdin.write(`${JSON.stringify(ev)}\n`);
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin.end(); // mosquitto_pub -l disconnects at the end of its input
      const t = setTimeout(() => proc.kill('SIGTERM'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-events-'));
  for (const who of [alice, bob, carol, dave]) ctl(['user', 'add', '--config', config, '--email', who.email, '--name', 'E2E Events', '--password-stdin'], `${who.password}\n`);
  ctl(['user', 'add', '--config', config, '--email', admin.email, '--name', 'E2E Admin', '--admin', '--password-stdin'], `${admin.password}\n`);
  const rows = ['deviceId,modelNumber,details', ...['A', 'B', 'C', 'D'].map((s) => `${sn(s)},${kModel},`)];
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  ctl(['ca', 'create', '--config', config, '--name', caName]);
});

after(async () => {
  for (const p of devices) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  if (work) await rm(work, { recursive: true, force: true });
});

/** Replaces the page's WebSocket with one that closes at once (the live socket never comes up). */
function breakWebSocket() {
  class DeadSocket {
    constructor() {
      this.readyState = 3;
      setTimeout(() => this.onclose && this.onclose({ code: 1006 }), 10);
    }
    send() {}
    close() {}
  }
  window.WebSocket = DeadSocket;
}

/** Runs fn(page) in a fresh browser signed in as `who` whose WebSocket never connects. */
async function withoutLive(who, fn) {
  const c = await openBrowser();
  try {
    await c.context.addInitScript(breakWebSocket);
    await signIn(c.page, who);
    await fn(c.page);
    assert.equal(await bell(c.page).getAttribute('data-live'), 'down');
    assert.deepEqual(c.problems, []);
  } finally {
    await c.close();
  }
}

const bell = (page) => page.getByTestId('alerts-bell');
const badgeIs = async (page, n) => (await bell(page).getAttribute('aria-label')) === `Event Alerts: ${n} open`;
const waitLive = (page) => until('the live socket', async () => (await bell(page).getAttribute('data-live')) === 'up');

test('bell badge and toast live, alerts grouped, dialog acknowledges, badge cleared in another tab, mark all read', { skip, timeout: 180000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const client = await apiAs(alice);
  const countRequests = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/alerts/count')) countRequests.push(r.url());
  });
  let dev = null;
  try {
    await signIn(page, alice);
    await waitLive(page);
    await until('badge 0', () => badgeIs(page, 0));
    assert.equal(await page.getByTestId('alerts-toast').count(), 0, 'no toast without alerts');
    const requestsBefore = countRequests.length;

    // --- a device raises an error event: badge 1 and the toast, pushed over the socket
    dev = await connectDevice(client, sn('A'), 'Boiler');
    dev.send('error', 'Temperature is exceeding upper threshold', 112);
    await until('badge 1', () => badgeIs(page, 1));
    assert.equal((await page.getByTestId('alerts-count').textContent()).trim(), '1');
    await page.getByTestId('alerts-toast').getByText('You have 1 new alerts.').waitFor();
    assert.equal(countRequests.length, requestsBefore, 'the new count came with the push, not from a request');
    await shot(page, 'events-01-badge-toast');

    // --- repeats fold into one alert (badge stays 1); another message is a second alert
    dev.send('error', 'Temperature is exceeding upper threshold', 113);
    dev.send('error', 'Temperature is exceeding upper threshold', 114);
    await until('three occurrences', async () => {
      const res = await client.get('/api/alerts');
      return res.Items.length === 1 && res.Items[0].occurrences === 3;
    });
    dev.send('warning', 'Temperature is slightly exceeding upper threshold', 101);
    await until('badge 2', () => badgeIs(page, 2));
    await page.getByTestId('alerts-toast').getByText('You have 2 new alerts.').waitFor();

    // --- a second tab (same session) on Event Alerts: two alerts, the grouped one with 3 occurrences
    const tab = await b.context.newPage();
    await tab.goto(`${baseUrl()}/alerts`);
    await tab.getByRole('heading', { level: 1, name: 'Event Alerts' }).waitFor();
    await waitLive(tab);
    const rows = tab.locator('tbody tr');
    await until('two alert rows', async () => (await rows.count()) === 2);
    const grouped = rows.filter({ hasText: 'Temperature is exceeding upper threshold' });
    assert.equal((await grouped.locator('td[data-label="Occurrences"]').textContent()).trim(), '3');
    assert.equal((await grouped.locator('td[data-label="Device"]').textContent()).trim(), 'Boiler');

    // --- the type filter
    await tab.getByLabel('Type', { exact: true }).selectOption('warning');
    await until('one warning row', async () => (await rows.count()) === 1);
    assert.match(await rows.first().textContent(), /slightly exceeding/);
    await tab.getByLabel('Type', { exact: true }).selectOption('');
    await until('two rows again', async () => (await rows.count()) === 2);

    // --- opening the dialog reads, it does not acknowledge
    await grouped.getByRole('button', { name: 'Temperature is exceeding upper threshold' }).click();
    const dialog = tab.getByRole('dialog', { name: 'Alert Detail' });
    await dialog.waitFor();
    assert.equal((await dialog.getByTestId('dialog-ack').textContent()).trim(), 'Unread');
    assert.equal((await dialog.getByTestId('dialog-occurrences').textContent()).trim(), '3');
    await dialog.getByText('114').waitFor(); // details of the newest occurrence
    assert.equal((await client.get('/api/alerts/count')).alertsCount, 2, 'opening the dialog acknowledged nothing');
    await shot(tab, 'events-02-alert-dialog');

    // --- "Mark as read": the row goes, both tabs' badges drop to 1 (the first one over the socket)
    await dialog.getByRole('button', { name: 'Mark as read' }).click();
    await until('one alert row', async () => (await rows.count()) === 1);
    await until('badge 1 in the other tab', () => badgeIs(page, 1));
    await until('badge 1 in this tab', () => badgeIs(tab, 1));
    assert.equal((await client.get('/api/alerts/count')).alertsCount, 1);

    // --- "Mark all read": empty list, no badge anywhere
    await tab.getByRole('button', { name: 'Mark all read' }).click();
    await tab.getByRole('dialog', { name: 'Mark all read?' }).getByRole('button', { name: 'Mark all read' }).click();
    await tab.getByText('No alerts found.').waitFor();
    await until('badge 0 in the other tab', () => badgeIs(page, 0));
    assert.equal(await page.getByTestId('alerts-count').count(), 0);
    assert.equal((await client.get('/api/alerts/count')).alertsCount, 0);
    await shot(page, 'events-03-cleared');
    assert.deepEqual(problems, []);
  } finally {
    if (dev) await dev.stop();
    await client.dispose();
    await b.close();
  }
});

test('event history scrolls on, filters by type and device and marks read; device event log live; badge polls when the socket is down', { skip, timeout: 180000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const client = await apiAs(bob);
  let dev = null;
  try {
    await signIn(page, bob);
    dev = await connectDevice(client, sn('B'), 'Heater');
    // 25 info events (more than one page of 20) and one error
    for (let i = 1; i <= 25; i++) dev.send('info', `Info number ${i}`, i);
    dev.send('error', 'Fan stopped', 0);
    await until('26 events stored', async () => (await client.get('/api/events?limit=100')).Items.length === 26);

    await page.getByRole('link', { name: 'Event History' }).click();
    await page.getByRole('heading', { level: 1, name: 'Event History' }).waitFor();
    const rows = page.locator('tbody tr');
    await until('a first page', async () => (await rows.count()) >= 20);
    // Scrolling to the end loads the rest (infinite scroll with lastevalkey)
    await until('all 26 rows', async () => {
      await page.locator('tbody tr').last().scrollIntoViewIfNeeded();
      await page.mouse.wheel(0, 5000);
      return (await rows.count()) === 26;
    });

    // --- type filter (server side)
    await page.getByLabel('Type', { exact: true }).selectOption('error');
    await until('one error row', async () => (await rows.count()) === 1);
    const row = rows.first();
    assert.match(await row.textContent(), /Fan stopped/);
    assert.equal((await row.locator('td[data-label="Read"]').textContent()).trim(), 'Unread');

    // --- the dialog marks read only when asked; the event stays in the list, now Read
    await row.getByRole('button', { name: 'Fan stopped' }).click();
    const dialog = page.getByRole('dialog', { name: 'Event Detail' });
    assert.equal((await dialog.getByTestId('dialog-ack').textContent()).trim(), 'Unread');
    await dialog.getByRole('button', { name: 'Mark as read' }).click();
    await until('Read in the dialog', async () => (await dialog.getByTestId('dialog-ack').textContent()).trim() === 'Read');
    await dialog.getByRole('button', { name: 'Close' }).click();
    assert.equal((await row.locator('td[data-label="Read"]').textContent()).trim(), 'Read');
    const fan = (await client.get('/api/events?eventType=error')).Items[0];
    assert.equal(fan.ack, true);
    await shot(page, 'events-04-history');

    // --- Device Detail, Event Log tab: a new event appears without a reload
    await page.goto(`${baseUrl()}/devices/${sn('B')}`);
    await page.getByRole('heading', { level: 1, name: 'Heater' }).waitFor();
    await page.getByRole('tab', { name: 'Event Log' }).click();
    const log = page.getByRole('region', { name: 'Event Log' });
    await until('the log\'s first page', async () => (await log.locator('tbody tr').count()) >= 20);
    await waitLive(page);
    await page.evaluate(() => {
      window.__spNoReload = true;
    });
    dev.send('warning', 'Filter dirty', 3);
    await log.getByRole('button', { name: 'Filter dirty' }).waitFor();
    assert.equal(await page.evaluate(() => window.__spNoReload), true, 'the page was not reloaded');
    assert.match(await log.locator('tbody tr').first().textContent(), /Filter dirty/);
    await shot(page, 'events-05-event-log');
    assert.deepEqual(problems, []);
  } finally {
    if (dev) await dev.stop();
    await b.close();
  }

  // --- a browser whose WebSocket never connects: the badge still follows, by polling
  try {
    await withoutLive(bob, async (p) => {
      await until('badge 1 (the warning)', () => badgeIs(p, 1));
      dev = await connectDevice(client, sn('C'), 'Cooler');
      dev.send('error', 'Compressor fault', 9);
      await until('badge 2 by polling', () => badgeIs(p, 2), 60000);
      // Event History's device filter (the seed's): only the Cooler's one event
      await p.getByRole('link', { name: 'Event History' }).click();
      const rows = p.locator('tbody tr');
      await until('the first page', async () => (await rows.count()) >= 20);
      await p.getByLabel('Device', { exact: true }).selectOption({ label: 'Cooler' });
      await until('one Cooler row', async () => (await rows.count()) === 1);
      assert.match(await rows.first().textContent(), /Compressor fault/);
      await p.getByLabel('Device', { exact: true }).selectOption({ label: 'Heater' });
      await until('the Heater\'s first page', async () => (await rows.count()) >= 20);
      assert.equal(await rows.filter({ hasText: 'Compressor fault' }).count(), 0);
    });
  } finally {
    if (dev) await dev.stop();
    await client.dispose();
  }
});

test('connectivity on My Devices and Device Detail follows the socket; polling only when it is down', { skip, timeout: 180000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const client = await apiAs(carol);
  const listRequests = [];
  page.on('request', (r) => {
    if (/\/api\/devices$/.test(r.url())) listRequests.push(r.url());
  });
  let dev = null;
  try {
    await signIn(page, carol);
    await waitLive(page);
    const card = page.locator('.device-card', { hasText: sn('D') });
    const cardConn = () => card.locator('dt:text-is("Connectivity") + dd').textContent();

    // --- first connection: registered, activated, connected, without a reload
    dev = await connectDevice(client, sn('D'), 'Fridge');
    await until('the card', async () => (await card.count()) === 1);
    await until('Connected on the card', async () => (await cardConn()).trim() === 'Connected');
    await until('registration complete', async () => /complete/.test(await card.textContent()));

    // --- disconnect and connect again: the pushes alone update the card (no list request)
    const before = listRequests.length;
    await dev.stop();
    await until('Disconnected on the card', async () => (await cardConn()).trim() === 'Disconnected');
    dev = await connectDevice(client, sn('D'));
    await until('Connected again', async () => (await cardConn()).trim() === 'Connected');
    assert.equal(listRequests.length, before, 'connectivity came with the pushes, not from GET /api/devices');
    await shot(page, 'events-06-devices-live');

    // --- Device Detail: the Status card follows too
    await card.getByRole('link', { name: 'Detail of Fridge' }).click();
    const status = page.getByRole('region', { name: 'Device Status' });
    await status.getByText('Connected', { exact: true }).waitFor();
    await dev.stop();
    await status.getByText('Disconnected', { exact: true }).waitFor();
    dev = await connectDevice(client, sn('D'));
    await status.getByText('Connected', { exact: true }).waitFor();
    await dev.stop();
    dev = null;
    await status.getByText('Disconnected', { exact: true }).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    if (dev) await dev.stop();
    await b.close();
  }

  // --- the WebSocket never connects: My Devices still follows, by its 10 s poll
  try {
    await withoutLive(carol, async (p) => {
      const card = p.locator('.device-card', { hasText: sn('D') });
      const cardConn = () => card.locator('dt:text-is("Connectivity") + dd').textContent();
      await until('Disconnected', async () => (await card.count()) === 1 && (await cardConn()).trim() === 'Disconnected');
      dev = await connectDevice(client, sn('D'));
      await until('Connected by polling', async () => (await cardConn()).trim() === 'Connected', 45000);
    });
  } finally {
    if (dev) await dev.stop();
    await client.dispose();
  }
});

test('notification channels: field errors, webhook secret shown once, test notification queued', { skip, timeout: 120000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const puts = [];
  page.on('request', (r) => {
    if (r.method() === 'PUT' && r.url().endsWith('/api/notifications/channels')) puts.push(r.url());
  });
  const client = await apiAs(dave);
  const adminClient = await apiAs(admin);
  try {
    await signIn(page, dave);
    await page.getByRole('link', { name: 'User Setting' }).click();
    const card = page.getByRole('region', { name: 'Notification channels' });
    await card.getByText(`Email to ${dave.email}`).waitFor();
    const save = card.getByRole('button', { name: 'Save channels' });

    // --- client-side checks: nothing is sent
    await card.getByRole('switch', { name: /^SMS/ }).check();
    await save.click();
    await card.getByText('Enter a phone number to get SMS.').waitFor();
    await card.getByLabel('Phone number').fill('12345');
    await save.click();
    await card.getByText('Enter the phone number in international format, e.g. +15551234567.').waitFor();
    assert.equal(puts.length, 0, 'invalid input must not reach the server');

    // --- the server's field error under its input (plain http is refused by this server)
    await card.getByLabel('Phone number').fill('+1 555 123 4567');
    await card.getByLabel('Webhook URL').fill('http://hooks.example.com/sp');
    await save.click();
    await card.locator('.field-error', { hasText: 'Webhook URLs must use https.' }).waitFor();
    assert.equal(puts.length, 1);

    // --- saved: the secret once
    const url = `https://hooks.example.com/sp/${run.toLowerCase()}`;
    await card.getByLabel('Webhook URL').fill(url);
    await save.click();
    await card.getByText('Notification channels saved.').waitFor();
    const secret = (await card.getByTestId('webhook-secret').locator('.mono').textContent()).trim();
    assert.ok(secret.length >= 16, `a secret: ${secret}`);
    await shot(page, 'events-07-channels-secret');
    const saved = await client.get('/api/notifications/channels');
    assert.equal(saved.smsEnabled, true);
    assert.equal(saved.phone, '+15551234567');
    assert.equal(saved.webhookUrl, url);
    assert.equal(saved.webhookSecretSet, true);
    assert.equal(saved.webhookSecret, undefined);
    // the phone is the account's: the Account card shows it without a reload
    await page.getByRole('region', { name: 'Account' }).getByText('+15551234567').waitFor();

    // --- after a reload: the settings, and never the secret again
    await page.reload();
    await card.getByText('A signing secret is set', { exact: false }).waitFor();
    assert.equal(await card.getByLabel('Webhook URL').inputValue(), url);
    assert.equal(await card.getByLabel('Phone number').inputValue(), '+15551234567');
    assert.equal(await card.getByTestId('webhook-secret').count(), 0);
    assert.equal((await page.content()).includes(secret), false, 'the secret is not on the page any more');

    // --- a test notification goes through the outbox to the webhook
    await card.getByRole('button', { name: 'Send test notification' }).click();
    await card.getByText('A test notification is on its way to your channels.').waitFor();
    await until('a webhook delivery of the test', async () => {
      const res = await adminClient.get('/api/admin/notifications?limit=100');
      return res.Items.some((d) => d.kind === 'test' && d.channel === 'webhook' && d.target === url);
    });
    assert.deepEqual(problems, []);
  } finally {
    await client.dispose();
    await adminClient.dispose();
    await b.close();
  }
});
