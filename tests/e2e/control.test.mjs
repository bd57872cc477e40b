// Device state and commands in the console against a real daemon and a simulated device
// (`smartproduct-sim run`, which reports its shadow, applies deltas and answers commands):
// register -> detail page: the Status card shows the device's reported state -> Commands tab:
// "set mode AC" -> the command turns success and the Status card shows AC without a reload ->
// the shadow viewer shows it -> the simulator stops: a command to the offline device says it is
// queued and stays pending. My Devices: a fleet query narrows the list; a bad query shows where
// its syntax error is.
//
// Needs the instance's config and the CLI (user add, catalog import, ca create) and the simulator,
// so it runs from run.mjs (which sets SP_CONFIG, SP_BIN_DIR, SP_INSTANCE_DIR) and is skipped
// otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { baseUrl, ctl, openBrowser, shot, signIn, simInstance, until } from './lib.mjs';

const { config, sim, skip } = simInstance();
const enabled = !skip;

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `TH-${run}`;
const kSimPrefix = `CTL-${run}-`;
const kSimSerial = `${kSimPrefix}00001`; // smartproduct-sim run names its devices <prefix>00001...
const sn = (s) => `Q-${run}-${s}`;
const user = { email: `e2e-control-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const caName = `e2e-ctl-${run.toLowerCase()}`;

let work = null;
const sims = new Set();

/** Starts `smartproduct-sim run` for the one simulated device; resolves once it runs. */
async function startSim() {
  const args = ['run', '--config', config, '--devices', '1', '--prefix', kSimPrefix, '--ca', caName,
    '--cert-dir', path.join(work, 'certs'), '--interval-ms', '2000', '--status-interval-ms', '2000', '--print-every-s', '0'];
  const proc = spawn(sim, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  sims.add(proc);
  let out = '';
  await new Promise((resolve, reject) => {
    const seen = (d) => {
      out += d;
      if (/running 1 devices/.test(out)) resolve();
    };
    proc.stdout.on('data', seen);
    proc.stderr.on('data', seen);
    proc.once('exit', (code) => reject(new Error(`smartproduct-sim exited (${code}):\n${out}`)));
  });
  return {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      sims.delete(proc);
    },
  };
}

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-control-'));
  ctl(['user', 'add', '--config', config, '--email', user.email, '--name', 'E2E Control', '--password-stdin'], `${user.password}\n`);
  const rows = ['deviceId,modelNumber,details', `${kSimSerial},${kModel},`, `${sn('A')},${kModel},`, `${sn('B')},${kModel},`];
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  ctl(['ca', 'create', '--config', config, '--name', caName]);
});

after(async () => {
  for (const p of sims) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  }
  if (work) await rm(work, { recursive: true, force: true });
});

async function register(page, serial, name) {
  await page.goto(`${baseUrl()}/devices/registration`);
  await page.getByLabel('Serial Number', { exact: true }).fill(serial);
  await page.getByLabel('Device Name', { exact: true }).fill(name);
  await page.getByLabel('Model Number', { exact: true }).fill(kModel);
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await page.waitForURL(/\/devices\/registration\?deviceId=/);
}

const text = async (loc) => ((await loc.textContent()) || '').trim();

/** Confirms the command dialog (asking `question`) and returns the newest row of the log. */
async function confirmCommand(page, question) {
  const dialog = page.getByRole('dialog', { name: 'Send the command?' });
  await dialog.getByText(question).waitFor();
  await dialog.getByRole('button', { name: 'Send' }).click();
  return page.getByRole('region', { name: 'Command Log' }).locator('tbody tr').first();
}

test('status card, set mode AC until success without a reload, shadow viewer, offline command queued', { skip, timeout: 180000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  let device = null;
  try {
    await signIn(page, user);
    await register(page, kSimSerial, 'Thermostat');
    device = await startSim();

    await page.goto(`${baseUrl()}/devices/${kSimSerial}`);
    await page.getByRole('heading', { level: 1, name: 'Thermostat' }).waitFor();
    // A marker in the page's JS context: it survives anything but a reload or a navigation.
    await page.evaluate(() => {
      window.__spNoReload = true;
    });

    // --- General tab: the Status card follows the device's reports (the simulator starts OFF)
    const status = page.getByRole('region', { name: 'Device Status' });
    await status.getByText('Connected', { exact: true }).waitFor({ timeout: 30000 });
    await until('the reported mode OFF', async () => (await text(status.getByTestId('status-mode'))) === 'OFF');
    assert.match(await text(status.getByTestId('status-actual')), /^\d+(\.\d+)? °F$/);
    assert.match(await text(status.getByTestId('status-target')), /^\d+(\.\d+)? °F$/);
    await shot(page, 'control-01-status');

    // --- Commands tab: client-side check of the target, then "set mode AC"
    await page.getByRole('tab', { name: 'Commands' }).click();
    const issue = page.getByRole('region', { name: 'Issue Remote Command' });
    await until('the current mode OFF', async () => (await text(issue.getByTestId('cmd-current-mode'))) === 'OFF');
    assert.equal(await issue.getByRole('button', { name: 'Set mode OFF' }).isDisabled(), true, 'the current mode cannot be sent again');
    await issue.getByLabel('Target temperature (°F)').fill('120');
    await issue.getByRole('button', { name: 'Set Temperature' }).click();
    await issue.getByText('The target temperature must be between 50 and 110 °F.').waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0, 'an invalid target opens no confirmation');

    const log = page.getByRole('region', { name: 'Command Log' });
    await log.getByText('No command yet.').waitFor();
    await issue.getByRole('button', { name: 'Set mode AC' }).click();
    const row = await confirmCommand(page, 'Are you sure to turn on the AC?');
    await issue.getByText('Command sent: turn on the AC.').waitFor();
    await row.getByText('set-mode').waitFor();
    await row.getByText('AC', { exact: true }).waitFor();
    await shot(page, 'control-02-command-sent');
    // The log polls while a command is pending: it turns success by itself.
    await row.locator('.badge', { hasText: 'success' }).waitFor({ timeout: 30000 });
    await until('the current mode AC', async () => (await text(issue.getByTestId('cmd-current-mode'))) === 'AC');
    await shot(page, 'control-03-command-success');

    await page.getByRole('tab', { name: 'General' }).click();
    await until('the Status card showing AC', async () => (await text(status.getByTestId('status-mode'))) === 'AC');
    assert.equal(await page.evaluate(() => window.__spNoReload === true), true, 'the page was not reloaded');

    // --- the shadow viewer: reported and desired agree on AC, so no delta is left
    await page.getByRole('tab', { name: 'Shadow' }).click();
    const shadow = page.getByRole('region', { name: 'Shadow' });
    await shadow.getByRole('region', { name: 'Reported' }).getByText('"powerStatus": "AC"').waitFor();
    await shadow.getByRole('region', { name: 'Desired' }).getByText('"powerStatus": "AC"').waitFor();
    assert.match(await text(shadow.getByTestId('shadow-version')), /^\d+$/);
    await shot(page, 'control-04-shadow');

    // --- the device goes away: a command is queued, and says so
    await device.stop();
    device = null;
    await page.getByRole('tab', { name: 'General' }).click();
    await status.getByText('Disconnected', { exact: true }).waitFor({ timeout: 30000 });
    await page.getByRole('tab', { name: 'Commands' }).click();
    await issue.getByText(/The device is offline: the command is queued and will be delivered when it reconnects/).waitFor({ timeout: 15000 });
    await issue.getByLabel('Target temperature (°F)').fill('75.5');
    await issue.getByRole('button', { name: 'Set Temperature' }).click();
    const queued = await confirmCommand(page, 'Are you sure to set the temperature to 75.5 °F?');
    await issue.getByText('It is queued until the device reconnects.').waitFor();
    await queued.getByText('set-temp').waitFor();
    await queued.getByText('75.5', { exact: true }).waitFor();
    await queued.locator('.badge', { hasText: 'pending' }).waitFor();
    await log.getByLabel('Command status').selectOption({ label: 'Pending' });
    await until('only the pending command in the filtered log', async () => (await log.locator('tbody tr').count()) === 1);
    await shot(page, 'control-05-offline-queued');
    assert.deepEqual(problems, []);
  } finally {
    if (device) await device.stop();
    await b.close();
  }
});

test('My Devices: a fleet query narrows the list, a bad query shows where the error is', { skip, timeout: 120000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, user);
    await register(page, sn('A'), 'Attic');
    await register(page, sn('B'), 'Basement');
    await page.goto(`${baseUrl()}/devices`);
    const all = await until('Attic and Basement in the list', async () => {
      const names = (await page.locator('.device-card h2').allTextContents()).map((s) => s.trim());
      return names.includes('Attic') && names.includes('Basement') && names.length;
    });

    const box = page.getByLabel('Fleet query', { exact: true });
    await box.fill('deviceName:Attic');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await until('only Attic', async () => JSON.stringify((await page.locator('.device-card h2').allTextContents()).map((s) => s.trim())) === '["Attic"]');
    await page.getByTestId('query-summary').getByText('1 device matches the query.').waitFor();

    await box.fill(`thingName:Q-${run}-*`);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await until('Attic and Basement', async () => JSON.stringify((await page.locator('.device-card h2').allTextContents()).map((s) => s.trim())) === '["Attic","Basement"]');
    await shot(page, 'control-06-query');

    // A syntax error: the server's 422 names the position, the console marks it.
    const bad = 'deviceName:Attic AND (';
    await box.fill(bad);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const err = page.getByTestId('query-error');
    await err.waitFor();
    // The error is at the end of the input: 0-based byte offset 22, the 23rd character.
    assert.match(await text(err), new RegExp(`^Query error at character ${bad.length + 1}: .+`));
    assert.equal(await box.getAttribute('aria-invalid'), 'true');
    await page.locator('.query-caret mark').waitFor();
    await shot(page, 'control-07-query-error');

    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    await until('every device again', async () => (await page.locator('.device-card').count()) === all);
    assert.equal(await err.count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});
