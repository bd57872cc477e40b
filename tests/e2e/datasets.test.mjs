// The admin Datasets page against a real daemon: the default dataset is listed; a bad query is
// refused with the server's message (naming the column) under the Query field; a per-device count
// and average of a simulated device's telemetry (`smartproduct-sim run`, as telemetry.test.mjs) is
// defined, run from the page until it succeeds, and its CSV download (fetched with the token) has
// the device's count and average computed here from the raw telemetry API; a second run covers
// only what was stored since (nothing of that device); a run going elsewhere makes "Run now" say
// so and the page follows that run; edit, delete with confirmation; a plain user has no Datasets
// link and /admin/datasets sends them home.
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
import { apiAs, baseUrl, ctl, disposeApiClients, mainDbSql, openBrowser, shot, signIn, simInstance, until } from './lib.mjs';

const { config, sim, skip } = simInstance();
const enabled = !skip;

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `DS-${run}`;
const kPrefix = `DS-${run}-`;
const kSerial = `${kPrefix}00001`; // smartproduct-sim run names its devices <prefix>00001...
const caName = `e2e-ds-${run.toLowerCase()}`;
const kDataset = `e2e_by_device_${run.toLowerCase()}`;
const kQuery = 'SELECT deviceId, count(*) AS n, avg(actualTemperatureC) AS avgC FROM telemetry GROUP BY deviceId';
const kBadQuery = 'SELECT deviceId, count(*) AS n, foo(actualTemperatureC) AS avgC FROM telemetry GROUP BY deviceId';
const admin = { email: `e2e-ds-admin-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const owner = { email: `e2e-ds-user-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

let work = null;
let simProc = null;
let heldRun = false; // a 'running' row written behind the daemon's back (failed again in after())

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-datasets-'));
  ctl(['user', 'add', '--config', config, '--email', admin.email, '--name', 'E2E Datasets', '--admin', '--password-stdin'], `${admin.password}\n`);
  ctl(['user', 'add', '--config', config, '--email', owner.email, '--name', 'E2E Owner', '--password-stdin'], `${owner.password}\n`);
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `deviceId,modelNumber,details\n${kSerial},${kModel},\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  ctl(['ca', 'create', '--config', config, '--name', caName]);
});

after(async () => {
  if (simProc && simProc.exitCode === null && simProc.signalCode === null) simProc.kill('SIGTERM');
  if (heldRun) mainDbSql("UPDATE dataset_runs SET status = 'failed' WHERE status = 'running'");
  await disposeApiClients();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every raw sample of the device stored in the last hour (all pages), read by its owner. */
async function rawSamples(api) {
  const points = [];
  const to = Date.now() + 1000;
  let cursor = '';
  for (;;) {
    const r = await api.get(`/api/devices/${kSerial}/telemetry?from=${to - 3600000}&to=${to}&limit=500${cursor ? `&lastevalkey=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    points.push(...r.body.points);
    if (!r.body.LastEvaluatedKey) return points;
    cursor = r.body.LastEvaluatedKey;
  }
}

/** The simulator publishes every 300 ms for a few seconds and exits; then the stored samples settle. */
async function publishTelemetry(api) {
  simProc = spawn(sim, ['run', '--config', config, '--devices', '1', '--prefix', kPrefix, '--ca', caName,
    '--cert-dir', path.join(work, 'certs'), '--interval-ms', '300', '--status-interval-ms', '5000', '--print-every-s', '0', '--duration-s', '6'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  simProc.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => simProc.once('exit', (c, s) => r(c ?? s)));
  assert.equal(code, 0, `smartproduct-sim run: ${stderr}`);
  // Ingest is asynchronous: the count must stay the same for a while.
  let last = -1;
  let stableSince = Date.now();
  return until('the stored samples to settle', async () => {
    const points = await rawSamples(api);
    if (points.length !== last) {
      last = points.length;
      stableSince = Date.now();
      return null;
    }
    return points.length >= 3 && Date.now() - stableSince >= 2000 ? points : null;
  }, 60000);
}

/** A CSV text as rows of cells (RFC 4180 quoting). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** Clicks a run's Download button and answers the saved file's rows and name. */
async function downloadRun(page, runId) {
  const runs = page.getByTestId('dataset-runs');
  const [download] = await Promise.all([page.waitForEvent('download'), runs.locator(`tr[data-run-id="${runId}"]`).getByRole('button', { name: 'Download' }).click()]);
  const text = await readFile(await download.path(), 'utf8');
  return { rows: parseCsv(text), name: download.suggestedFilename(), text };
}

/** "Run now" on the dataset's row; waits for the page's "Run N of … succeeded: K rows." and answers {id, rows}. */
async function runFromPage(page, name) {
  const done = page.getByRole('status').filter({ hasText: new RegExp(`^Run \\d+ of ${name} succeeded: [\\d,]+ rows?\\.$`) });
  const before = (await done.count()) ? await done.textContent() : null;
  await page.locator(`tr[data-dataset="${name}"]`).getByRole('button', { name: 'Run now' }).click();
  const text = await until('the run to succeed', async () => {
    const bad = page.getByRole('alert').filter({ hasText: new RegExp(`of ${name} failed`) });
    if (await bad.count()) throw new Error(await bad.textContent());
    const t = (await done.count()) ? await done.textContent() : null;
    return t && t !== before ? t : null;
  }, 60000);
  const m = /^Run (\d+) of .+ succeeded: ([\d,]+) rows?\.$/.exec(text);
  return { id: Number(m[1]), rows: Number(m[2].replace(/,/g, '')) };
}

test('admin Datasets page: list, define, run, download, incremental, edit, delete; none for a user', { skip, timeout: 240000 }, async () => {
  const adminApi = await apiAs(admin);
  const ownerApi = await apiAs(owner);
  const reg = await ownerApi.post('/api/registration', { deviceId: kSerial, deviceName: 'Datasets', modelNumber: kModel });
  assert.ok(reg.status < 300, JSON.stringify(reg));
  const samples = await publishTelemetry(ownerApi);
  const temps = samples.map((p) => p.actualTemperatureC);
  assert.ok(temps.every((v) => typeof v === 'number'), `actualTemperatureC in every stored sample: ${JSON.stringify(samples.slice(0, 3))}`);
  const expectedN = samples.length;
  const expectedAvg = temps.reduce((a, b) => a + b, 0) / expectedN;

  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, admin);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Datasets', exact: true }).click();
    await page.waitForURL('**/admin/datasets');
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();

    // --- the default dataset
    const def = page.locator('tr[data-dataset="smartproduct_dataset"]');
    await def.getByText('SELECT * FROM telemetry').waitFor();
    await def.getByText('Every hour').waitFor();
    await shot(page, 'datasets-01-list');

    // --- a bad query: the server's 422 names the column, under the Query field
    const form = page.getByTestId('dataset-form');
    await form.getByLabel('Name', { exact: true }).fill(kDataset);
    await form.getByLabel('Query', { exact: true }).fill(kBadQuery);
    await form.getByLabel('Schedule', { exact: true }).fill('off');
    await form.getByLabel('Format', { exact: true }).selectOption('csv');
    await form.getByLabel('Retention (days)', { exact: true }).fill('30');
    await form.getByRole('button', { name: 'Define dataset' }).click();
    const queryError = form.locator('.field.has-error').filter({ has: page.getByLabel('Query', { exact: true }) }).locator('.field-error');
    await queryError.waitFor();
    const message = (await queryError.textContent()).trim();
    const at = kBadQuery.indexOf('foo(');
    const col = /column (\d+)/.exec(message);
    assert.ok(col && [at, at + 1].includes(Number(col[1])), `the error names the column of foo( (${at} 0-based): ${message}`);
    assert.equal(await page.locator(`tr[data-dataset="${kDataset}"]`).count(), 0);
    await shot(page, 'datasets-02-bad-query');

    // --- the good query
    await form.getByLabel('Query', { exact: true }).fill(kQuery);
    await form.getByRole('button', { name: 'Define dataset' }).click();
    await page.getByText(`Dataset ${kDataset} is defined.`).waitFor();
    const row = page.locator(`tr[data-dataset="${kDataset}"]`);
    await row.getByText(kQuery).waitFor();
    await row.getByText('Not scheduled').waitFor();
    await row.getByText('never').waitFor();
    assert.equal(await form.getByLabel('Name', { exact: true }).inputValue(), '', 'the form is cleared');
    // Defining it again: 409 under the Name field.
    await form.getByLabel('Name', { exact: true }).fill(kDataset);
    await form.getByLabel('Query', { exact: true }).fill(kQuery);
    await form.getByRole('button', { name: 'Define dataset' }).click();
    await form.locator('.field.has-error').filter({ has: page.getByLabel('Name', { exact: true }) }).locator('.field-error').waitFor();
    await form.getByLabel('Name', { exact: true }).fill('');
    await form.getByLabel('Query', { exact: true }).fill('');

    // --- run it: followed until it succeeds; the download has the device's count and average
    const first = await runFromPage(page, kDataset);
    assert.ok(first.rows >= 1, `at least our device: ${first.rows}`);
    const runs = page.getByRole('region', { name: `Runs of ${kDataset}` });
    await runs.locator(`tr[data-run-id="${first.id}"]`).getByText('succeeded').waitFor();
    await row.locator('[data-run-status="succeeded"]').waitFor();
    const file = await downloadRun(page, first.id);
    const [header, ...data] = file.rows.filter((r) => r.length > 1 || r[0] !== '');
    assert.deepEqual(header, ['deviceId', 'n', 'avgC'], file.text);
    assert.equal(data.length, first.rows, 'one line per device, as the run says');
    const mine = data.find((r) => r[0] === kSerial);
    assert.ok(mine, `a row for ${kSerial}: ${file.text}`);
    assert.equal(Number(mine[1]), expectedN, `count of ${kSerial}`);
    // As precise as the file writes it (a double prints with up to 17 digits).
    const decimals = (/\.(\d+)/.exec(mine[2]) || ['', ''])[1].length;
    assert.ok(Math.abs(Number(mine[2]) - expectedAvg) <= Math.max(1e-9, 0.5 * 10 ** -decimals), `average of ${kSerial}: ${mine[2]} vs ${expectedAvg}`);
    assert.match(file.name, /\.csv$/);
    const firstRun = await adminApi.get(`/api/admin/datasets/${kDataset}/contents/${first.id}`);
    assert.equal(firstRun.status, 200, JSON.stringify(firstRun.body));
    assert.equal(firstRun.body.status, 'succeeded');
    assert.equal(firstRun.body.rows, first.rows);
    await shot(page, 'datasets-03-run');

    // --- run again: only what was stored since the first run (nothing of the stopped device)
    const second = await runFromPage(page, kDataset);
    assert.ok(second.id > first.id);
    await runs.locator(`tr[data-run-id="${second.id}"]`).getByText('succeeded').waitFor();
    const order = await runs.locator('tr[data-run-id]').evaluateAll((els) => els.map((e) => Number(e.dataset.runId)));
    assert.deepEqual(order.slice(0, 2), [second.id, first.id], 'newest first');
    if (second.rows > 0) {
      const again = await downloadRun(page, second.id);
      assert.equal(again.rows.filter((r) => r[0] === kSerial).length, 0, `no new rows of ${kSerial}: ${again.text}`);
    }
    const secondRun = await adminApi.get(`/api/admin/datasets/${kDataset}/contents/${second.id}`);
    assert.equal(secondRun.body.rows, second.rows);
    assert.ok(secondRun.body.fromRow >= firstRun.body.toRow - 1, `incremental window: ${JSON.stringify([firstRun.body, secondRun.body])}`);

    // --- a run going elsewhere (the schedule, smartproductctl): "Run now" says so and follows that run
    heldRun = true;
    mainDbSql(`INSERT INTO dataset_runs (dataset, trigger, status, started_at) VALUES ('${kDataset}', 'cli', 'running', ${Date.now()})`);
    await row.getByRole('button', { name: 'Run now' }).click();
    const held = page.getByRole('status').filter({ hasText: new RegExp(`^${kDataset} is already running \\(run \\d+\\); following that run until it ends\\.$`) });
    await held.waitFor();
    const heldId = Number(/\(run (\d+)\)/.exec(await held.textContent())[1]);
    assert.ok(heldId > second.id);
    await page.getByText(`Run ${heldId} of ${kDataset} is running…`).waitFor();
    await runs.locator(`tr[data-run-id="${heldId}"]`).getByText('running').waitFor();
    assert.equal(await row.getByRole('button', { name: 'Run now' }).isDisabled(), true);
    await shot(page, 'datasets-04-running-elsewhere');
    mainDbSql(`UPDATE dataset_runs SET status = 'failed', finished_at = ${Date.now()}, error = 'e2e: stopped' WHERE id = ${heldId}`);
    heldRun = false;
    await page.getByRole('alert').getByText(`Run ${heldId} of ${kDataset} failed: e2e: stopped`).waitFor();
    await runs.locator(`tr[data-run-id="${heldId}"]`).getByText('e2e: stopped').waitFor();
    assert.equal(await runs.locator(`tr[data-run-id="${heldId}"]`).getByRole('button', { name: 'Download' }).count(), 0);
    assert.equal(await row.getByRole('button', { name: 'Run now' }).isDisabled(), false);

    // --- edit: schedule, retention, enabled
    await row.getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: `Edit ${kDataset}` });
    await edit.getByLabel('Schedule', { exact: true }).fill('every day');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.getByText('Enter rate(…), cron(…) or off.').waitFor();
    await edit.getByLabel('Schedule', { exact: true }).fill('rate(1 day)');
    await edit.getByLabel('Retention (days)', { exact: true }).fill('7');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'hidden' });
    await page.getByText(`Dataset ${kDataset} is saved.`).waitFor();
    await row.getByText('Every day').waitFor();
    await row.getByText('7 days').waitFor();
    await row.getByText(/^in \d/).waitFor();
    const saved = await adminApi.get(`/api/admin/datasets/${kDataset}`);
    assert.equal(saved.body.schedule, 'rate(1 day)');
    assert.equal(saved.body.retentionDays, 7);
    assert.equal(saved.body.query, kQuery);
    await shot(page, 'datasets-05-edited');

    // --- delete: Cancel keeps it; confirming deletes it
    await row.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete dataset?' });
    await confirm.getByText(kDataset).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    assert.equal(await row.count(), 1);
    await row.getByRole('button', { name: 'Delete' }).click();
    await confirm.getByRole('button', { name: 'Delete dataset' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await row.waitFor({ state: 'detached' });
    await page.getByText(`Dataset ${kDataset} is deleted.`).waitFor();
    assert.equal((await adminApi.get(`/api/admin/datasets/${kDataset}`)).status, 404);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await def.waitFor();
    assert.equal(await row.count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }

  // --- a plain user: no Datasets link, the API refuses, /admin/datasets sends them home
  assert.equal((await ownerApi.get('/api/admin/datasets')).status, 403);
  const u = await openBrowser();
  try {
    await signIn(u.page, owner);
    assert.equal(await u.page.getByRole('link', { name: 'Datasets', exact: true }).count(), 0);
    await u.page.goto(`${baseUrl()}/admin/datasets`);
    await u.page.waitForURL('**/devices');
    await u.page.getByRole('heading', { level: 1, name: 'My Devices' }).waitFor();
    assert.deepEqual(u.problems, []);
  } finally {
    await u.close();
  }
});
