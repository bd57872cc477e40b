// Device pages against a real daemon: register (client-side checks, server error banner) -> step 2
// shows this serial -> My Devices card, filters and sort -> detail page -> (a device connects with a
// certificate from a platform CA and the card turns Connected) -> delete with confirmation; admin
// Catalog (list, filter, add, import a file, delete) and Certificate authorities (registration code,
// register / activate / deregister a CA).
//
// Needs the instance's config to create accounts and import a catalog with smartproductctl, so it
// runs from run.mjs (which sets SP_CONFIG, SP_BIN_DIR, SP_INSTANCE_DIR, SP_MQTT_PORT) and is
// skipped otherwise. The device-connection steps need `smartproductctl ca create`, mosquitto_pub and
// stdbuf (just-in-time registration); they run when these exist, or as SP_E2E_JITR=1 / 0 says.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { baseUrl, ctl, openBrowser, shot, signIn } from './lib.mjs';

const config = process.env.SP_CONFIG;
const binDir = process.env.SP_BIN_DIR;
const enabled = !!(config && binDir && process.env.SP_BASE_URL);
const skip = !enabled && 'needs SP_CONFIG and SP_BIN_DIR of the instance (run it through run.mjs)';

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const sn = (s) => `E2E-${run}-${s}`;
const kModelA = `M100-${run}`;
const kModelB = `M200/${run}`; // '/' is allowed in model numbers (and needs the query form of DELETE)
const user = { email: `e2e-user-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const admin = { email: `e2e-admin-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

let work = null; // temp dir for catalog files and certificates

/** The command runs (and exits 0 unless anyStatus: mosquitto_pub --help exits 1). */
function haveCommand(cmd, args, { anyStatus = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20000 });
  return !r.error && (anyStatus || r.status === 0);
}

/** Just-in-time registration available (SP_E2E_JITR=1/0 overrides the detection). */
function jitrAvailable() {
  if (process.env.SP_E2E_JITR === '1') return true;
  if (process.env.SP_E2E_JITR === '0') return false;
  return haveCommand(path.join(binDir, 'smartproductctl'), ['ca', 'create', '--help']) && haveCommand('mosquitto_pub', ['--help'], { anyStatus: true }) &&
    haveCommand('stdbuf', ['--version']);
}

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-devices-'));
  ctl(['user', 'add', '--config', config, '--email', user.email, '--name', 'E2E User', '--password-stdin'], `${user.password}\n`);
  ctl(['user', 'add', '--config', config, '--email', admin.email, '--name', 'E2E Admin', '--admin', '--password-stdin'], `${admin.password}\n`);
  const csv = [
    'deviceId,modelNumber,details',
    `${sn('A')},${kModelA},"{""color"":""white"",""size"":19}"`,
    `${sn('B')},${kModelB},"{""color"":""black""}"`,
    `${sn('C')},${kModelA},`,
  ].join('\n');
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `${csv}\n`);
  ctl(['catalog', 'import', '--config', config, file]);
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function cardNames(page) {
  return (await page.locator('.device-card h2').allTextContents()).map((s) => s.trim());
}

/** Waits until the device cards are exactly `names` (in order); the list refreshes itself. */
async function expectCards(page, names) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const got = await cardNames(page);
    if (JSON.stringify(got) === JSON.stringify(names)) return;
    if (Date.now() > deadline) assert.deepEqual(got, names);
    await page.waitForTimeout(100);
  }
}

async function registerInForm(page, { serial, name, model }) {
  await page.getByLabel('Serial Number', { exact: true }).fill(serial);
  await page.getByLabel('Device Name', { exact: true }).fill(name);
  await page.getByLabel('Model Number', { exact: true }).fill(model);
  await page.getByRole('button', { name: 'Register', exact: true }).click();
}

// ---- device connection (just-in-time registration) ------------------------------------------

/**
 * Issues a certificate for `serial` from a platform-kept CA and keeps a device connected with it
 * (mosquitto_pub -l publishes each stdin line over one connection). Returns {proc, kicked, args}:
 * kicked resolves with the client's debug output once the broker disconnects it (mosquitto_pub -l
 * neither exits nor reads on after a DISCONNECT, so its -d output tells; stdbuf makes it unbuffered).
 */
async function connectDevice(serial) {
  const instance = process.env.SP_INSTANCE_DIR;
  const port = process.env.SP_MQTT_PORT;
  assert.ok(instance && port, 'SP_INSTANCE_DIR and SP_MQTT_PORT are needed to connect a device');
  const caName = `e2e-ca-${run.toLowerCase()}`;
  if (!connectDevice.ca) {
    ctl(['ca', 'create', '--config', config, '--name', caName]);
    connectDevice.ca = caName;
  }
  ctl(['device-cert', 'issue', '--config', config, '--ca', caName, '--serial', serial, '--out', work]);
  const cert = path.join(work, `${serial}.crt`);
  const key = path.join(work, `${serial}.key`);
  const args = ['-V', 'mqttv5', '-h', 'localhost', '-p', port, '--cafile', path.join(instance, 'pki/root-ca.crt'),
    '--cert', cert, '--key', key, '-i', serial, '-t', `smartproduct/telemetry/${serial}`, '-q', '1'];
  const proc = spawn('stdbuf', ['-oL', '-eL', 'mosquitto_pub', ...args, '-l', '-d'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const kicked = new Promise((resolve) => {
    const seen = (d) => {
      out += d;
      if (/Received DISCONNECT|Connection error|Error:/i.test(out)) resolve(out);
    };
    proc.stdout.on('data', seen);
    proc.stderr.on('data', seen);
    proc.once('exit', () => resolve(out));
  });
  proc.stdin.on('error', () => {}); // the broker may have closed the connection
  proc.stdin.write('{"actualTemperature":71.5}\n');
  return { proc, kicked, args, output: () => out };
}

// ---------------------------------------------------------------------------------------------

test('register, list, filter, detail, connect, delete', { skip }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const posts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/api/registration')) posts.push(r.url());
  });
  let device = null;
  try {
    await signIn(page, user);
    await page.getByRole('heading', { level: 1, name: 'My Devices (0)' }).waitFor();
    await page.getByText('No device found.').waitFor();

    // --- the form's client-side checks: nothing is sent
    await page.getByRole('link', { name: 'Register a Device' }).click();
    await page.waitForURL('**/devices/registration');
    await page.getByRole('heading', { level: 1, name: 'New Device Registration' }).waitFor();
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByText('Enter the serial number.').waitFor();
    await page.getByText('Enter a device name.').waitFor();
    await page.getByText('Enter the model number.').waitFor();
    await registerInForm(page, { serial: 'bad serial!', name: 'My Kitchen', model: kModelA });
    await page.getByText('Use only letters, digits and - _ : in the serial number.').waitFor();
    await page.getByText(/in the device name \(no spaces\)/).waitFor();
    assert.equal(posts.length, 0, 'invalid input must not reach the server');
    await shot(page, 'devices-01-form-errors');

    // --- an unknown serial: the server's message in a red banner
    await registerInForm(page, { serial: sn('UNKNOWN'), name: 'Ghost', model: kModelA });
    const banner = page.locator('.notice-error[role="alert"]');
    await banner.waitFor();
    assert.ok((await banner.textContent()).trim().length > 0);
    assert.equal(posts.length, 1);
    assert.match(page.url(), /\/devices\/registration$/);
    await shot(page, 'devices-02-server-error');

    // --- register A: step 2 with the serial filled in
    await registerInForm(page, { serial: sn('A'), name: 'Kitchen', model: kModelA });
    await page.waitForURL(/\/devices\/registration\?deviceId=/);
    assert.equal((await page.getByTestId('reg-serial').textContent()).trim(), sn('A'));
    // GET /api/connection-info filled in this broker's port and offers its root CA.
    await page.getByRole('link', { name: 'download root-ca.crt' }).waitFor();
    const commands = (await page.locator('.code pre').allTextContents()).join('\n');
    assert.match(commands, new RegExp(` -p ${process.env.SP_MQTT_PORT} `));
    assert.match(commands, new RegExp(`-i ${sn('A')} -t smartproduct/telemetry/${sn('A')}`));
    assert.match(commands, new RegExp(`--serial ${sn('A')} `));
    assert.match(commands, new RegExp(`/CN=${sn('A')}`));
    assert.match(commands, /-h (localhost|127\.0\.0\.1) -p \d+/);
    await page.getByText('pending', { exact: true }).waitFor();
    await shot(page, 'devices-03-step2');

    // --- Finish opens the device page; a pending device offers "Back to Registration"
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.waitForURL(`**/devices/${sn('A')}`);
    await page.getByRole('heading', { level: 1, name: 'Kitchen' }).waitFor();
    const detail = page.getByRole('region', { name: 'Device Detail' });
    await detail.getByText(sn('A')).waitFor();
    await detail.getByText(kModelA).waitFor();
    await detail.getByText('pending').waitFor();
    const details = page.getByRole('region', { name: 'Details', exact: true });
    await details.getByText('white').waitFor();
    await details.getByText('19').waitFor();
    await page.getByRole('region', { name: 'Device Status' }).getByText('Disconnected').waitFor();
    await page.getByRole('region', { name: 'Certificates' }).getByText('No certificate yet.').waitFor();
    await page.getByRole('tab', { name: 'General' }).waitFor();
    await shot(page, 'devices-04-detail-pending');
    await page.getByRole('link', { name: 'Back to Registration' }).click();
    await page.waitForURL(/\/devices\/registration\?deviceId=/);
    assert.equal((await page.getByTestId('reg-serial').textContent()).trim(), sn('A'));

    // --- register B (model with '/'), then a second registration of B is refused
    await page.goto(`${baseUrl()}/devices/registration`);
    await registerInForm(page, { serial: sn('B'), name: 'Attic', model: kModelB });
    await page.waitForURL(/\/devices\/registration\?deviceId=/);
    await page.goto(`${baseUrl()}/devices/registration`);
    await registerInForm(page, { serial: sn('B'), name: 'Attic2', model: kModelB });
    await page.locator('.notice-error[role="alert"]').waitFor();

    // --- My Devices: cards, sort, keyword (name / serial / model, any case), status filter
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My Devices' }).click();
    await page.getByRole('heading', { level: 1, name: 'My Devices (2)' }).waitFor();
    await expectCards(page, ['Attic', 'Kitchen']);
    const kitchen = page.getByRole('article', { name: 'Kitchen' });
    await kitchen.getByText(sn('A')).waitFor();
    await kitchen.getByText(kModelA).waitFor();
    await kitchen.getByText('Disconnected').waitFor();
    await kitchen.getByText('pending').waitFor();
    await page.getByLabel('Sort', { exact: true }).selectOption({ label: 'Z-A' });
    await expectCards(page, ['Kitchen', 'Attic']);
    await page.getByLabel('Sort', { exact: true }).selectOption({ label: 'A-Z' });
    await expectCards(page, ['Attic', 'Kitchen']);
    await page.getByLabel('Search', { exact: true }).fill('kitch');
    await expectCards(page, ['Kitchen']);
    await page.getByLabel('Search', { exact: true }).fill(sn('B'));
    await expectCards(page, ['Attic']);
    await page.getByLabel('Search', { exact: true }).fill(kModelB.toLowerCase());
    await expectCards(page, ['Attic']);
    await page.getByLabel('Search', { exact: true }).fill('nothing-like-this');
    await page.getByText('No device found.').waitFor();
    await page.getByLabel('Search', { exact: true }).fill('');

    // --- a device connects with a certificate from a registered CA (just-in-time registration)
    const jitr = jitrAvailable();
    if (jitr) {
      device = await connectDevice(sn('A'));
      // The list refreshes every 10 s: no reload.
      await kitchen.getByText('Connected', { exact: true }).waitFor({ timeout: 30000 });
      await kitchen.getByText('complete').waitFor({ timeout: 15000 });
      await shot(page, 'devices-05-connected');
    } else {
      // TODO(JITR): without `smartproductctl ca create` / mosquitto_pub the device cannot connect;
      // this is where it would (see connectDevice) and the card would turn Connected.
      console.log('# devices.test: just-in-time registration not available, device connection steps skipped');
    }
    await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Connected' });
    if (jitr) await expectCards(page, ['Kitchen']);
    else await page.getByText('No device found.').waitFor();
    await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Disconnected' });
    await expectCards(page, jitr ? ['Attic'] : ['Attic', 'Kitchen']);
    await page.getByLabel('Status', { exact: true }).selectOption({ label: 'All' });
    await expectCards(page, ['Attic', 'Kitchen']);
    await shot(page, 'devices-06-my-devices');

    if (jitr) {
      // The detail page shows the connection and the certificate (revocable while active).
      await kitchen.getByRole('link', { name: 'Detail of Kitchen' }).click();
      await page.waitForURL(`**/devices/${sn('A')}`);
      await page.getByRole('region', { name: 'Device Status' }).getByText('Connected', { exact: true }).waitFor();
      const certs = page.getByRole('region', { name: 'Certificates' });
      await certs.getByText('ACTIVE', { exact: true }).waitFor();
      await certs.getByRole('button', { name: /^Revoke certificate/ }).waitFor();
      await page.getByRole('region', { name: 'Device Detail' }).getByText('complete').waitFor();
      await shot(page, 'devices-07-detail-connected');
      await page.getByRole('link', { name: 'Back' }).click();
      await page.waitForURL(/\/devices$/);
    }

    // --- delete with confirmation: Cancel keeps the card, Delete removes it
    await kitchen.getByRole('button', { name: 'Delete Kitchen' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete device?' });
    await dialog.waitFor();
    await shot(page, 'devices-08-delete-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectCards(page, ['Attic', 'Kitchen']);
    if (jitr) assert.doesNotMatch(device.output(), /DISCONNECT|Error/, 'the device is still connected before the delete');
    await kitchen.getByRole('button', { name: 'Delete Kitchen' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectCards(page, ['Attic']);
    await page.getByRole('heading', { level: 1, name: 'My Devices (1)' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'My Devices (1)' }).waitFor();
    await expectCards(page, ['Attic']);

    if (jitr) {
      // Deleting kicks the device at once; its certificate is refused from now on.
      const gone = await Promise.race([device.kicked, new Promise((r) => setTimeout(() => r(null), 15000))]);
      assert.ok(gone, `the device should be disconnected when it is deleted; mosquitto_pub said:\n${device.output()}`);
      assert.match(gone, /Received DISCONNECT|Error/);
      const again = spawnSync('mosquitto_pub', [...device.args, '-m', '{"actualTemperature":70}'], { encoding: 'utf8', timeout: 20000 });
      assert.notEqual(again.status, 0, `publishing after delete must fail:\n${again.stdout}${again.stderr}`);
      device.proc.kill('SIGTERM'); // mosquitto_pub -l stays alive after a DISCONNECT
      device = null;
    }

    if (jitr) {
      // Revoking a certificate on the detail page (with confirmation) disconnects the device.
      device = await connectDevice(sn('B'));
      const attic = page.getByRole('article', { name: 'Attic' });
      await attic.getByText('Connected', { exact: true }).waitFor({ timeout: 30000 });
      await attic.getByRole('link', { name: 'Detail of Attic' }).click();
      await page.waitForURL(`**/devices/${sn('B')}`);
      const certs = page.getByRole('region', { name: 'Certificates' });
      await certs.getByText('ACTIVE', { exact: true }).waitFor();
      await certs.getByRole('button', { name: /^Revoke certificate/ }).click();
      const confirm = page.getByRole('dialog', { name: 'Revoke certificate?' });
      await confirm.getByRole('button', { name: 'Revoke', exact: true }).click();
      await confirm.waitFor({ state: 'hidden' });
      await certs.getByText('REVOKED', { exact: true }).waitFor();
      assert.equal(await certs.getByRole('button', { name: /^Revoke certificate/ }).count(), 0);
      const kicked = await Promise.race([device.kicked, new Promise((r) => setTimeout(() => r(null), 15000))]);
      assert.ok(kicked, `the device should be disconnected when its certificate is revoked:\n${device.output()}`);
      await page.getByRole('region', { name: 'Device Status' }).getByText('Disconnected').waitFor({ timeout: 30000 });
      await shot(page, 'devices-09-revoked');
      device.proc.kill('SIGTERM');
      device = null;
    }

    // --- the deleted device's page is read-only history: red name, "deleted", no revoke buttons
    await page.goto(`${baseUrl()}/devices/${sn('A')}`);
    const h1 = page.getByRole('heading', { level: 1, name: 'Kitchen' });
    await h1.waitFor();
    assert.match(await h1.getAttribute('class'), /text-danger/);
    await page.locator('.page-title .badge', { hasText: 'deleted' }).waitFor();
    await page.getByRole('region', { name: 'Certificates' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Revoke certificate/ }).count(), 0);
    if (jitr) await page.getByRole('region', { name: 'Certificates' }).getByText('REVOKED').waitFor();
    await shot(page, 'devices-10-deleted');

    // --- an unknown device id: the server's message, no crash
    await page.goto(`${baseUrl()}/devices/${sn('NOPE')}`);
    await page.locator('.notice-error[role="alert"]').waitFor();

    assert.deepEqual(problems, []);
  } catch (e) {
    await shot(page, 'devices-failure').catch(() => {});
    throw e;
  } finally {
    if (device) device.proc.kill('SIGTERM');
    await b.close();
  }
});

test('admin: catalog and certificate authorities', { skip }, async () => {
  // A CA to bind a catalog entry to (created before the page loads its CA list).
  const bindCa = `e2e-bind-${run.toLowerCase()}`;
  if (jitrAvailable()) ctl(['ca', 'create', '--config', config, '--name', bindCa]);
  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, admin);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Catalog' }).click();
    await page.waitForURL('**/admin/catalog');
    await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor();
    const entries = page.getByRole('region', { name: 'Entries' });

    // --- browse, filtered by this run's model: the CLI-imported entries
    await entries.getByLabel('Model Number', { exact: true }).fill(kModelA);
    await entries.getByRole('button', { name: 'Filter' }).click();
    await entries.getByRole('cell', { name: sn('C'), exact: true }).waitFor();
    await entries.getByRole('cell', { name: sn('A'), exact: true }).waitFor();
    assert.equal(await entries.getByRole('cell', { name: sn('B'), exact: true }).count(), 0);
    await entries.getByText('white').waitFor();

    // --- add one (client-side check of details first)
    const add = page.getByRole('region', { name: 'Add an entry' });
    await add.getByLabel('Serial Number', { exact: true }).fill(sn('ADDED'));
    await add.getByLabel('Model Number', { exact: true }).fill(kModelA);
    await add.getByLabel(/Details/).fill('not json');
    await add.getByRole('button', { name: 'Add entry' }).click();
    await add.getByText('Enter a JSON object').waitFor();
    await add.getByLabel(/Details/).fill('{"color":"red"}');
    await add.getByRole('button', { name: 'Add entry' }).click();
    await page.getByText(`${sn('ADDED')} / ${kModelA} was added.`).waitFor();
    await entries.getByRole('cell', { name: sn('ADDED'), exact: true }).waitFor();
    // the same entry again: the server refuses it
    await add.getByLabel('Serial Number', { exact: true }).fill(sn('ADDED'));
    await add.getByLabel('Model Number', { exact: true }).fill(kModelA);
    await add.getByRole('button', { name: 'Add entry' }).click();
    await add.locator('.notice-error[role="alert"]').waitFor();

    // --- bound to a CA: the choice lists the registered CAs by name; the row shows it
    if (jitrAvailable()) {
      await add.getByLabel('Serial Number', { exact: true }).fill(sn('BOUND'));
      await add.getByLabel('Model Number', { exact: true }).fill(kModelA);
      await add.getByLabel('Certificates from').selectOption({ label: bindCa });
      await add.getByRole('button', { name: 'Add entry' }).click();
      await page.getByText(`${sn('BOUND')} / ${kModelA} was added.`).waitFor();
      await entries.getByRole('row', { name: new RegExp(sn('BOUND')) }).getByText(bindCa, { exact: true }).waitFor();
      await entries.getByRole('row', { name: new RegExp(sn('ADDED')) }).getByText('Any', { exact: true }).waitFor();
    }

    // --- import a file: the good rows are posted, the bad one is listed with its row number
    const csv = [
      'deviceId,modelNumber,details,claimCode',
      `${sn('IMP1')},${kModelA},"{""batch"":""7""}",`,
      `bad serial,${kModelA},,`,
      `${sn('IMP2')},${kModelA},,secret-code`,
    ].join('\r\n');
    const imp = page.getByRole('region', { name: 'Import a file' });
    await imp.getByLabel('File', { exact: true }).setInputFiles({ name: 'catalog.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await imp.getByTestId('import-summary').getByText('3 rows, 2 valid, 1 bad').waitFor();
    await imp.getByText(/row 2 \(line 3\)/).waitFor();
    await imp.getByRole('button', { name: 'Import 2 rows' }).click();
    await imp.getByTestId('import-progress').getByText('Done: 2 of 2 imported.').waitFor();
    await entries.getByRole('cell', { name: sn('IMP1'), exact: true }).waitFor();
    const imp2 = entries.getByRole('row', { name: new RegExp(sn('IMP2')) });
    await imp2.getByText('Yes').waitFor(); // has a claim code
    await shot(page, 'devices-11-catalog');

    // --- delete one, with confirmation
    await entries.getByRole('button', { name: `Delete ${sn('IMP1')} ${kModelA}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete catalog entry?' });
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText(`${sn('IMP1')} / ${kModelA} was deleted.`).waitFor();
    assert.equal(await entries.getByRole('cell', { name: sn('IMP1'), exact: true }).count(), 0);
    // a model number with '/' is deleted too
    await entries.getByLabel('Model Number', { exact: true }).fill(kModelB);
    await entries.getByRole('button', { name: 'Filter' }).click();
    await entries.getByRole('cell', { name: sn('B'), exact: true }).waitFor();

    // --- certificate authorities: the registration code and its recipe
    await nav.getByRole('link', { name: 'Certificate authorities' }).click();
    await page.waitForURL('**/admin/cas');
    await page.getByRole('heading', { level: 1, name: 'Certificate authorities' }).waitFor();
    const codeEl = page.getByTestId('registration-code');
    await codeEl.waitFor();
    const code = (await codeEl.textContent()).trim();
    assert.ok(code.length >= 8, `registration code "${code}"`);
    const recipe = await page.getByRole('region', { name: 'Registration code' }).locator('pre').textContent();
    assert.ok(recipe.includes(`/CN=${code}`), 'the openssl recipe carries the code');
    await page.getByRole('region', { name: 'Registered CAs' }).waitFor();
    await shot(page, 'devices-12-cas');

    // --- register a CA with a proof of possession, activate it, deregister it
    if (haveCommand('openssl', ['version'])) {
      const ossl = (args) => {
        const r = spawnSync('openssl', args, { cwd: work, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
      };
      const caCn = `E2E Test CA ${run}`;
      ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
        '-days', '30', '-subj', `/CN=${caCn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
      ossl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'verification.key',
        '-subj', `/CN=${code}`, '-out', 'verification.csr']);
      ossl(['x509', '-req', '-in', 'verification.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-sha256', '-out', 'verification.crt']);
      const form = page.getByRole('region', { name: 'Register a CA' });
      await form.getByRole('button', { name: 'Register CA' }).click();
      await form.getByText('Paste the CA certificate in PEM form').waitFor();
      await form.getByLabel('CA certificate (PEM)').fill(await readFile(path.join(work, 'ca.crt'), 'utf8'));
      await form.getByLabel('Verification certificate (PEM)').fill(await readFile(path.join(work, 'verification.crt'), 'utf8'));
      await form.getByLabel(/^Name/).fill(`e2e-own-${run.toLowerCase()}`);
      await form.getByLabel('Activate now').uncheck();
      await form.getByRole('button', { name: 'Register CA' }).click();
      const row = page.getByRole('region', { name: 'Registered CAs' }).getByRole('row', { name: new RegExp(`e2e-own-${run.toLowerCase()}`) });
      await row.getByText('INACTIVE').waitFor();
      await row.getByRole('button', { name: /^Activate / }).click();
      await row.getByText('ACTIVE', { exact: true }).waitFor();
      await row.getByRole('button', { name: /^Deregister / }).click();
      const dlg = page.getByRole('dialog', { name: 'Deregister CA?' });
      await dlg.getByRole('button', { name: 'Deregister', exact: true }).click();
      await dlg.waitFor({ state: 'hidden' });
      await row.getByText('DEREGISTERED').waitFor();
      assert.equal(await row.getByRole('button').count(), 0);
      await shot(page, 'devices-13-cas-registered');
    }

    // --- Security events: the deleted device's refused reconnect (revoked certificate) is listed.
    await nav.getByRole('link', { name: 'Security events' }).click();
    await page.getByRole('heading', { level: 1, name: 'Security events' }).waitFor();
    if (jitrAvailable()) {
      await page.getByRole('cell', { name: 'revoked' }).first().waitFor();
    }
    await shot(page, 'devices-14-security-events');

    assert.deepEqual(problems, []);
  } catch (e) {
    await shot(page, 'devices-admin-failure').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});

test('a plain user sees no admin navigation and is sent home from admin paths', { skip }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, user);
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Catalog' }).count(), 0);
    assert.equal(await nav.getByRole('link', { name: 'Certificate authorities' }).count(), 0);
    await page.goto(`${baseUrl()}/admin/cas`);
    await page.waitForURL('**/devices');
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});
