// Device Detail's Telemetry tab against a real daemon and a simulated device (`smartproduct-sim
// run` publishing actual and target temperature every second over mTLS): latest values, the uPlot
// chart, °F / °C, the ranges asking for raw / 1m / 1h / 1d, and the CSV download.
//
// Needs the instance's config, the CLI and the simulator, so it runs from run.mjs and is skipped
// otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { baseUrl, ctl, openBrowser, shot, signIn, simInstance, until } from './lib.mjs';

const { config, sim, skip } = simInstance();
const enabled = !skip;

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `TL-${run}`;
const kPrefix = `TL-${run}-`;
const kSerial = `${kPrefix}00001`; // smartproduct-sim run names its devices <prefix>00001...
const caName = `e2e-tl-${run.toLowerCase()}`;
const user = { email: `e2e-telemetry-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

let work = null;
let simProc = null;

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-telemetry-'));
  ctl(['user', 'add', '--config', config, '--email', user.email, '--name', 'E2E Telemetry', '--password-stdin'], `${user.password}\n`);
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `deviceId,modelNumber,details\n${kSerial},${kModel},\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  ctl(['ca', 'create', '--config', config, '--name', caName]);
});

after(async () => {
  if (simProc && simProc.exitCode === null && simProc.signalCode === null) simProc.kill('SIGTERM');
  if (work) await rm(work, { recursive: true, force: true });
});

test('telemetry tab: latest values, chart, °C, ranges, CSV', { skip, timeout: 150000 }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const series = [];
  page.on('request', (r) => {
    if (/\/telemetry\?/.test(r.url())) series.push(new URL(r.url()).searchParams.get('interval'));
  });
  try {
    await signIn(page, user);
    await page.goto(`${baseUrl()}/devices/registration`);
    await page.getByLabel('Serial Number', { exact: true }).fill(kSerial);
    await page.getByLabel('Device Name', { exact: true }).fill('Thermo');
    await page.getByLabel('Model Number', { exact: true }).fill(kModel);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.waitForURL(/\/devices\/registration\?deviceId=/);

    simProc = spawn(sim, ['run', '--config', config, '--devices', '1', '--prefix', kPrefix, '--ca', caName,
      '--cert-dir', path.join(work, 'certs'), '--interval-ms', '1000', '--status-interval-ms', '5000', '--print-every-s', '0'],
    { stdio: ['ignore', 'ignore', 'ignore'] });

    await page.goto(`${baseUrl()}/devices/${kSerial}`);
    await page.getByRole('heading', { level: 1, name: 'Thermo' }).waitFor();
    await page.getByRole('tab', { name: 'Telemetry' }).click();
    const panel = page.getByRole('region', { name: 'Telemetry' });
    const refresh = panel.getByRole('button', { name: 'Refresh' });
    // Samples arrive every second: refresh until a few are stored and shown.
    await until('three samples', async () => {
      await refresh.click();
      const t = (await panel.getByTestId('telemetry-count').textContent().catch(() => '')) || '';
      const m = /^(\d+) samples in the last 1 h/.exec(t.trim());
      return m && Number(m[1]) >= 3;
    }, 60000);
    assert.equal(series[0], 'raw');
    // --- then the chart grows from the live socket alone (the tab subscribed to the device)
    const count = async () => Number(/^(\d+) samples/.exec(((await panel.getByTestId('telemetry-count').textContent()) || '').trim())[1]);
    const requests = series.length;
    const shown = await count();
    await until('a pushed sample', async () => (await count()) >= shown + 2, 30000);
    assert.equal(series.length, requests, 'the new samples came over the socket, not from GET …/telemetry');
    await panel.locator('.chart canvas').waitFor();
    const actualF = (await panel.getByTestId('latest-actual').textContent()).trim();
    const mF = /^(-?\d+(\.\d)?) °F$/.exec(actualF);
    assert.ok(mF, `latest actual in °F: ${actualF}`);
    assert.match((await panel.getByTestId('latest-target').textContent()).trim(), /^-?\d+(\.\d)? °F$/);
    await shot(page, 'telemetry-01-1h');

    // --- °C: the same latest value converted
    await panel.getByLabel('Unit').selectOption('C');
    const actualC = (await panel.getByTestId('latest-actual').textContent()).trim();
    const mC = /^(-?\d+(\.\d)?) °C$/.exec(actualC);
    assert.ok(mC, `latest actual in °C: ${actualC}`);
    assert.ok(Math.abs(Number(mC[1]) - ((Number(mF[1]) - 32) * 5) / 9) <= 0.1, `${actualF} = ${actualC}`);
    await panel.locator('.chart canvas').waitFor();

    // --- ranges ask for rollups
    for (const [label, interval, text] of [['24 h', '1m', '1m averages in the last 24 h'], ['7 d', '1h', '1h averages in the last 7 d'], ['30 d', '1d', '1d averages in the last 30 d']]) {
      const before = series.length;
      await panel.getByLabel('Range').selectOption({ label });
      await until(`${label} loaded`, async () => ((await panel.getByTestId('telemetry-count').textContent().catch(() => '')) || '').includes(text));
      assert.equal(series[before], interval, JSON.stringify(series));
      assert.match((await panel.getByTestId('telemetry-count').textContent()).trim(), /^[1-9]\d* /, 'at least one bucket');
    }
    await shot(page, 'telemetry-02-30d-celsius');

    // --- CSV of the range's raw samples
    const [download] = await Promise.all([page.waitForEvent('download'), panel.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = await readFile(await download.path(), 'utf8');
    const lines = csv.trim().split('\n');
    assert.match(lines[0], /^t,time,/);
    assert.ok(lines[0].includes('actualTemperature'), lines[0]);
    assert.ok(lines.length >= 4, `header and samples: ${lines.length} lines`);
    assert.equal(download.suggestedFilename(), `${kSerial}-telemetry-30d.csv`);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});
