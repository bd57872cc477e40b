// The admin Security page against a real daemon: an admin runs the audit from the console and sees
// findings made to fire for sure (a device certificate valid for one day: medium; a CA key readable
// by others: critical), the counts by severity match the API, the severity filter narrows the
// table, a suppressed finding leaves the open list (and reopens), "Disconnect device" drops the
// device's connection, "Quarantine device" puts it in the detect module's quarantine (source
// audit), "Revoke certificate" on the expiring certificate's finding revokes it (the API says
// REVOKED) and the next run resolves the finding; a run going elsewhere is followed;
// Device Detail shows an admin the device's open findings and a plain user nothing.
//
// Needs the instance's config and the CLI (user add, catalog import, ca create, device-cert issue)
// and mosquitto_pub, so it runs from run.mjs and is skipped otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { apiAs, baseUrl, ctl, disposeApiClients, mainDbSql as sql, openBrowser, shot, signIn, until } from './lib.mjs';

const config = process.env.SP_CONFIG;
const instance = process.env.SP_INSTANCE_DIR;
const haveMosquittoPub = !spawnSync('mosquitto_pub', ['--help']).error;
const enabled = !!(config && instance && process.env.SP_BIN_DIR && process.env.SP_MQTT_PORT && haveMosquittoPub);
const skip = !enabled && 'needs SP_CONFIG, SP_INSTANCE_DIR, SP_BIN_DIR, SP_MQTT_PORT of the instance and mosquitto_pub (run it through run.mjs)';

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `SEC-${run}`;
const serial = `SEC-${run}-A`;
const caName = `e2e-sec-${run.toLowerCase()}`;
const admin = { email: `e2e-sec-admin-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const owner = { email: `e2e-sec-user-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

let work = null;
let device = null; // the mosquitto_pub process keeping the device connected
let deviceOutput = ''; // its debug output (-d): says when the broker drops the connection
let caKey = null; // {path, mode} of the CA key made readable by others
let heldRun = false; // a 'running' row written behind the daemon's back (failed again in after())

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-security-'));
  ctl(['user', 'add', '--config', config, '--email', admin.email, '--name', 'E2E Security', '--admin', '--password-stdin'], `${admin.password}\n`);
  ctl(['user', 'add', '--config', config, '--email', owner.email, '--name', 'E2E Owner', '--password-stdin'], `${owner.password}\n`);
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `deviceId,modelNumber,details\n${serial},${kModel},\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  ctl(['ca', 'create', '--config', config, '--name', caName]);
});

after(async () => {
  if (device && device.exitCode === null && device.signalCode === null) device.kill('SIGTERM');
  if (caKey) chmodSync(caKey.path, caKey.mode);
  if (heldRun) sql("UPDATE audit_runs SET status = 'failed' WHERE status = 'running'");
  await disposeApiClients();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Registers the device for its owner and connects it (mosquitto_pub -l) with a 1-day certificate. */
async function connectExpiringDevice(user) {
  const reg = await user.post('/api/registration', { deviceId: serial, deviceName: 'Vault', modelNumber: kModel });
  assert.ok(reg.status < 300, JSON.stringify(reg));
  ctl(['device-cert', 'issue', '--config', config, '--ca', caName, '--serial', serial, '--days', '1', '--out', work]);
  const args = ['-V', 'mqttv5', '-h', 'localhost', '-p', process.env.SP_MQTT_PORT, '--cafile', path.join(instance, 'pki/root-ca.crt'),
    '--cert', path.join(work, `${serial}.crt`), '--key', path.join(work, `${serial}.key`), '-i', serial,
    '-t', `smartproduct/telemetry/${serial}`, '-q', '1', '-l'];
  // stdbuf: unbuffered -d output, so the disconnect shows when it happens.
  device = spawn('stdbuf', ['-oL', '-eL', 'mosquitto_pub', ...args, '-d'], { stdio: ['pipe', 'pipe', 'pipe'] });
  for (const out of [device.stdout, device.stderr]) out.on('data', (d) => (deviceOutput += d));
  device.stdin.on('error', () => {}); // the broker closes the connection when the device is kicked
  device.stdin.write('{"actualTemperature":71.5}\n');
  // The first connection activates the certificate (just-in-time registration).
  return until('the device certificate ACTIVE', async () => {
    const r = await user.get(`/api/devices/${serial}/certificates`);
    return r.status === 200 && (r.body.Items || []).find((c) => c.status === 'ACTIVE');
  });
}

/** The open findings of the API (every page) and the one of `check` on `resourceId`. */
async function openFindings(api) {
  const items = [];
  let cursor = '';
  for (;;) {
    const r = await api.get(`/api/admin/audit/findings?status=open&limit=100${cursor ? `&lastevalkey=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    items.push(...r.body.Items);
    if (!r.body.LastEvaluatedKey) return items;
    cursor = r.body.LastEvaluatedKey;
  }
}

async function runFromPage(page) {
  await page.getByRole('button', { name: 'Run audit now' }).click();
  const done = page.getByText(/^Audit run \d+ completed: \d+ findings?\.$/);
  await done.waitFor({ timeout: 60000 });
  await page.getByTestId('latest-status').getByText('completed').waitFor();
  return Number(/Audit run (\d+)/.exec(await done.textContent())[1]);
}

const tile = (page, severity) => page.getByTestId(`count-${severity}`).locator('.sev-n');

test('admin Security page: run, counts, filter, suppress, revoke; Device Detail findings', { skip }, async () => {
  const adminApi = await apiAs(admin);
  const ownerApi = await apiAs(owner);
  const cert = await connectExpiringDevice(ownerApi);
  // A CA key readable by everyone: PKI_FILE_PERMISSIONS_CHECK, critical.
  const keyPath = path.join(instance, 'pki', 'cas', `${caName}.key`);
  caKey = { path: keyPath, mode: statSync(keyPath).mode & 0o777 };
  chmodSync(keyPath, 0o644);

  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, admin);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security', exact: true }).click();
    await page.waitForURL('**/admin/security');
    await page.getByRole('heading', { level: 1, name: 'Security' }).waitFor();
    await page.getByRole('region', { name: 'Latest audit' }).waitFor();

    // --- run the audit from the page; the counts are the API's open findings by severity
    const firstRun = await runFromPage(page);
    const open = await openFindings(adminApi);
    const expiring = open.find((f) => f.check === 'DEVICE_CERTIFICATE_EXPIRING_CHECK' && f.resourceId === cert.fingerprint);
    const looseKey = open.find((f) => f.check === 'PKI_FILE_PERMISSIONS_CHECK' && f.resourceId === keyPath);
    assert.ok(expiring && expiring.severity === 'medium', JSON.stringify(open));
    assert.ok(looseKey && looseKey.severity === 'critical', JSON.stringify(open));
    const bySeverity = (s) => open.filter((f) => f.severity === s).length;
    for (const s of ['critical', 'high', 'medium', 'low']) {
      await until(`the ${s} count`, async () => (await tile(page, s).textContent()) === String(bySeverity(s)));
    }
    const table = page.getByTestId('findings');
    const row = (f) => table.locator(`tr[data-finding-id="${f.id}"]`);
    await row(expiring).getByText('Medium', { exact: true }).waitFor();
    await row(expiring).getByRole('link', { name: serial }).waitFor();
    await row(looseKey).getByText('Critical', { exact: true }).waitFor();
    assert.equal(await row(looseKey).getByRole('button', { name: 'Revoke certificate' }).count(), 0);
    await page.getByRole('region', { name: 'Run history' }).locator(`tr[data-run-id="${firstRun}"]`).getByText('completed').waitFor();
    await shot(page, 'security-01-run');

    // --- filter by severity: only critical findings remain
    await page.getByLabel('Severity', { exact: true }).selectOption('critical');
    await row(expiring).waitFor({ state: 'detached' });
    await row(looseKey).waitFor();
    const severities = await table.locator('[data-severity]').evaluateAll((els) => els.map((e) => e.dataset.severity));
    assert.ok(severities.length >= 1 && severities.every((s) => s === 'critical'), severities.join());
    await page.getByLabel('Severity', { exact: true }).selectOption('');
    await row(expiring).waitFor();

    // --- suppress the key finding: a reason is required; it leaves the open list and its count
    const criticalBefore = bySeverity('critical');
    await row(looseKey).getByRole('button', { name: 'Suppress' }).click();
    const dialog = page.getByRole('dialog', { name: 'Suppress finding?' });
    await dialog.getByRole('button', { name: 'Suppress' }).click();
    await dialog.getByText('Enter why the finding is suppressed.').waitFor();
    await dialog.getByLabel('Reason').fill('e2e: a test CA key');
    await dialog.getByLabel(/^Suppressed until/).fill(`${new Date().getUTCFullYear() + 1}-01-01`);
    await shot(page, 'security-02-suppress');
    await dialog.getByRole('button', { name: 'Suppress' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row(looseKey).waitFor({ state: 'detached' });
    await page.getByText(`Finding ${looseKey.id} is suppressed.`).waitFor();
    await until('the critical count down by one', async () => (await tile(page, 'critical').textContent()) === String(criticalBefore - 1));
    const suppressed = await adminApi.get(`/api/admin/audit/findings/${looseKey.id}`);
    assert.equal(suppressed.body.status, 'suppressed');
    assert.equal(suppressed.body.suppressReason, 'e2e: a test CA key');
    assert.match(suppressed.body.suppressedUntil, /-01-01T00:00:00/);

    // ... listed under Suppressed with its reason, and Reopen brings it back
    await page.getByLabel('Status', { exact: true }).selectOption('suppressed');
    await row(looseKey).getByText('e2e: a test CA key').waitFor();
    await row(looseKey).getByRole('button', { name: 'Reopen' }).click();
    await row(looseKey).waitFor({ state: 'detached' });
    assert.equal((await adminApi.get(`/api/admin/audit/findings/${looseKey.id}`)).body.status, 'open');
    await page.getByLabel('Status', { exact: true }).selectOption('open');
    await row(looseKey).waitFor();

    // --- Device Detail (admin): the device's open findings; the link comes from the finding
    await row(expiring).getByRole('link', { name: serial }).click();
    await page.waitForURL(`**/devices/${serial}`);
    const panel = page.getByRole('region', { name: 'Security findings' });
    await panel.locator(`tr[data-finding-id="${expiring.id}"]`).getByText('DEVICE_CERTIFICATE_EXPIRING_CHECK').waitFor();
    assert.equal(await panel.locator(`tr[data-finding-id="${looseKey.id}"]`).count(), 0, 'only findings of this device');
    await shot(page, 'security-03-device-findings');
    await panel.getByRole('link', { name: 'Security page' }).click();
    await page.waitForURL('**/admin/security');

    // --- mitigation: disconnect the device (the connection of mosquitto_pub ends)
    assert.doesNotMatch(deviceOutput, /Received DISCONNECT|Connection error|Error:/, 'connected before the kick');
    await row(expiring).getByRole('button', { name: 'Disconnect device' }).click();
    const kick = page.getByRole('dialog', { name: 'Disconnect the device?' });
    await kick.getByText(serial).waitFor();
    await kick.getByRole('button', { name: 'Disconnect device' }).click();
    await kick.waitFor({ state: 'hidden' });
    await page.getByText(`Disconnect requested for ${serial}.`).waitFor();
    await until('the broker dropping the device', () => /Received DISCONNECT|Connection error|Error:/.test(deviceOutput) || device.exitCode !== null);

    // --- mitigation: quarantine the device (the detect module's quarantine, source audit)
    await row(expiring).getByRole('button', { name: 'Quarantine device' }).click();
    const isolate = page.getByRole('dialog', { name: 'Quarantine the device?' });
    await isolate.getByText(new RegExp(serial)).waitFor();
    await isolate.getByRole('button', { name: 'Quarantine device' }).click();
    await isolate.waitFor({ state: 'hidden' });
    await page.getByText(`${serial} is in quarantine.`).waitFor();
    const quarantined = await adminApi.get(`/api/admin/quarantine/${serial}`);
    assert.equal(quarantined.status, 200, JSON.stringify(quarantined.body));
    assert.equal(quarantined.body.source, 'audit');
    assert.match(quarantined.body.reason, new RegExp(`audit finding ${expiring.id}`));
    assert.equal((await adminApi.del(`/api/admin/quarantine/${serial}`)).status, 200);

    // --- mitigation: revoke the expiring certificate from its finding (confirm first)
    await row(expiring).getByRole('button', { name: 'Revoke certificate' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke the certificate?' });
    await confirm.getByText(serial).waitFor();
    await confirm.getByRole('button', { name: 'Revoke certificate' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await page.getByText(/^Certificate .+ is REVOKED\.$/).waitFor();
    const certs = await ownerApi.get(`/api/devices/${serial}/certificates`);
    assert.equal(certs.body.Items.find((c) => c.fingerprint === cert.fingerprint).status, 'REVOKED');
    // Revoking again is refused: the page shows the server's message.
    await row(expiring).getByRole('button', { name: 'Revoke certificate' }).click();
    await confirm.getByRole('button', { name: 'Revoke certificate' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await page.getByRole('alert').filter({ hasText: /^Revoke certificate: / }).waitFor();

    // --- the next run resolves the finding
    await runFromPage(page);
    await row(expiring).waitFor({ state: 'detached' });
    await page.getByLabel('Status', { exact: true }).selectOption('resolved');
    await row(expiring).getByText('resolved').waitFor();
    assert.equal(await row(expiring).getByRole('button').count(), 0, 'no actions on a resolved finding');
    await page.getByLabel('Check', { exact: true }).selectOption('DEVICE_CERTIFICATE_EXPIRING_CHECK');
    await row(expiring).waitFor();
    assert.equal(await page.getByRole('region', { name: 'Run history' }).locator('tr[data-run-id]').count() >= 2, true);
    await shot(page, 'security-04-resolved');

    // --- a run going elsewhere: "Run audit now" says AuditRunning and the page follows that run
    heldRun = true;
    sql(`INSERT INTO audit_runs (trigger, status, started_at) VALUES ('scheduled', 'running', ${Date.now()})`);
    await page.getByRole('button', { name: 'Run audit now' }).click();
    await page.getByRole('alert').getByText('An audit run is running; try again when it has finished.').waitFor();
    await page.getByText(/^Audit run \d+ is running…$/).waitFor();
    await page.getByTestId('latest-status').getByText('running').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run audit now' }).isDisabled(), true);
    sql(`UPDATE audit_runs SET status = 'failed', finished_at = ${Date.now()}, error = 'e2e: stopped' WHERE status = 'running'`);
    heldRun = false;
    await page.getByRole('alert').getByText(/^Audit run \d+ failed: e2e: stopped$/).waitFor();
    await page.getByTestId('latest-status').getByText('failed').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run audit now' }).isDisabled(), false);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }

  // --- a plain user: no Security page, no findings panel on the device's page
  const u = await openBrowser();
  try {
    await signIn(u.page, owner);
    assert.equal(await u.page.getByRole('link', { name: 'Security', exact: true }).count(), 0);
    await u.page.goto(`${baseUrl()}/devices/${serial}`);
    await u.page.getByRole('region', { name: 'Certificates' }).getByText('REVOKED').waitFor();
    assert.equal(await u.page.getByRole('region', { name: 'Security findings' }).count(), 0);
    await u.page.goto(`${baseUrl()}/admin/security`);
    await u.page.waitForURL('**/devices');
    assert.deepEqual(u.problems, []);
  } finally {
    await u.close();
  }
});
