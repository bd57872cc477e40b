// Detection in the console against a real daemon (module detect): an admin edits the security
// profiles on the Security page's Detection tab (a static and a statistical rule saved, seen again
// after a reload; the page's own checks send nothing; the server's 422 is shown next to the form
// and under the field it names; Discard changes), lists violations (status filter, paging with
// lastevalkey, the link to the device), quarantines a device from Device Detail, finds it in the
// Security page's quarantined list and releases it; a plain user sees none of it and makes no
// admin call.
//
// Needs the instance's config and database and the CLI (user add, catalog import), so it runs
// from run.mjs and is skipped otherwise. The violations are written into the database (as the
// daemon's detection worker would): no broker traffic has to cross a threshold.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { apiAs, baseUrl, ctl, disposeApiClients, mainDbSql as sql, openBrowser, shot, signIn } from './lib.mjs';

const config = process.env.SP_CONFIG;
const instance = process.env.SP_INSTANCE_DIR;
const enabled = !!(config && instance && process.env.SP_BIN_DIR);
const skip = !enabled && 'needs SP_CONFIG, SP_INSTANCE_DIR and SP_BIN_DIR of the instance (run it through run.mjs)';

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`.toUpperCase();
const kModel = `DET-${run}`;
const serial = `DET-${run}-A`;
const profileName = `e2e-flood-${run.toLowerCase()}`;
const admin = { email: `e2e-det-admin-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };
const owner = { email: `e2e-det-user-${run.toLowerCase()}@example.com`, password: `Pw-${randomBytes(6).toString('hex')}` };

const kCleared = 52; // more than a page (50): "Load more" follows LastEvaluatedKey
const kActive = 3;

let work = null;

before(async () => {
  if (!enabled) return;
  work = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-detect-'));
  ctl(['user', 'add', '--config', config, '--email', admin.email, '--name', 'E2E Detect', '--admin', '--password-stdin'], `${admin.password}\n`);
  ctl(['user', 'add', '--config', config, '--email', owner.email, '--name', 'E2E Owner', '--password-stdin'], `${owner.password}\n`);
  const file = path.join(work, 'catalog.csv');
  await writeFile(file, `deviceId,modelNumber,details\n${serial},${kModel},\n`);
  ctl(['catalog', 'import', '--config', config, file]);
  const ownerApi = await apiAs(owner);
  const reg = await ownerApi.post('/api/registration', { deviceId: serial, deviceName: 'Chatty', modelNumber: kModel });
  assert.ok(reg.status < 300, JSON.stringify(reg));
});

after(async () => {
  await disposeApiClients();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Signs in as the admin and opens the Security page's Detection tab from the navigation. */
async function openDetection(page) {
  await signIn(page, admin);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security', exact: true }).click();
  await page.waitForURL('**/admin/security');
  await page.getByRole('tab', { name: 'Detection' }).click();
  await page.waitForURL('**/admin/security?tab=detection');
}

/** The profile fieldset whose name input holds `name` (the order is the server's). */
async function profileGroup(editor, name) {
  const names = await editor.getByLabel('Profile name', { exact: true }).evaluateAll((els) => els.map((e) => e.value));
  const i = names.indexOf(name);
  assert.ok(i >= 0, `profile ${name} in ${names.join()}`);
  return editor.getByRole('group', { name: `Profile ${i + 1}`, exact: true });
}

const ruleGroup = (profile, n) => profile.getByRole('group', { name: `Rule ${n}`, exact: true });

test('security profiles: save a static and a statistical rule, see them after a reload, a 422 next to the form', { skip }, async () => {
  const adminApi = await apiAs(admin);
  const before = (await adminApi.get('/api/admin/security-profiles')).body;
  assert.ok(Array.isArray(before.metrics) && before.metrics.includes('messages-sent'), JSON.stringify(before));

  const b = await openBrowser();
  const { page, problems } = b;
  const puts = [];
  page.on('request', (r) => r.method() === 'PUT' && r.url().endsWith('/api/admin/security-profiles') && puts.push(r.postDataJSON()));
  try {
    await openDetection(page);
    const editor = page.getByRole('region', { name: 'Security profiles' });
    await editor.getByTestId('profiles-form').waitFor();
    const count = before.profiles.length;
    assert.equal(await editor.locator('fieldset.profile-edit').count(), count);

    // --- a new profile; the page's checks first (nothing is sent)
    await editor.getByRole('button', { name: 'Add profile' }).click();
    const p = editor.getByRole('group', { name: `Profile ${count + 1}`, exact: true });
    await editor.getByRole('button', { name: 'Save profiles' }).click();
    await editor.getByText(/^Check the marked fields \(\d+\)\.$/).waitFor();
    await p.getByText('Enter a profile name.').waitFor();
    await ruleGroup(p, 1).getByText('Enter a rule name.').waitFor();
    await ruleGroup(p, 1).getByText('Enter a number (0 or more).').waitFor();
    assert.equal(puts.length, 0, 'nothing sent while the form has problems');

    await p.getByLabel('Profile name').fill(profileName);
    await p.getByLabel(/^Model/).fill(kModel);
    const r1 = ruleGroup(p, 1);
    await r1.getByLabel('Rule name').fill('too-many-messages');
    await r1.getByLabel('Metric').selectOption('messages-sent');
    await r1.getByLabel('Comparison').selectOption('greater-than-equals');
    await r1.getByLabel('Value').fill('600');
    await r1.getByLabel('Window (seconds)').fill('300');
    await r1.getByLabel('Action').selectOption('quarantine');
    await r1.getByLabel('Clear after (seconds)').fill('900');
    await r1.getByText('messages-sent ≥ 600 in 5 min → quarantine (clears after 15 min)').waitFor();
    await p.getByRole('button', { name: 'Add rule' }).click();
    const r2 = ruleGroup(p, 2);
    await r2.getByLabel('Rule name').fill('burst');
    await r2.getByLabel('Metric').selectOption('bytes-sent');
    await r2.getByLabel('Kind').selectOption('statistical');
    await r2.getByLabel('Statistic').selectOption('p99');
    await r2.getByLabel('Minimum samples').fill('10');
    await r2.getByLabel('Window (seconds)').fill('60');
    await r2.getByLabel('Clear after (seconds)').fill('120');
    assert.equal(await r2.getByLabel('Value').count(), 0, 'a statistical rule has no value');
    await editor.getByRole('button', { name: 'Save profiles' }).click();
    await editor.getByText(`Saved ${count + 1} profile${count ? 's' : ''}.`).waitFor();
    assert.equal(await editor.getByRole('button', { name: 'Discard changes' }).isDisabled(), true);

    const expected = {
      name: profileName,
      model: kModel,
      rules: [
        { name: 'too-many-messages', metric: 'messages-sent', comparison: 'greater-than-equals', value: 600, durationSeconds: 300, action: 'quarantine', clearAfterSeconds: 900 },
        { name: 'burst', metric: 'bytes-sent', statistic: 'p99', minSamples: 10, durationSeconds: 60, action: 'notify', clearAfterSeconds: 120 },
      ],
    };
    const saved = (await adminApi.get('/api/admin/security-profiles')).body.profiles;
    assert.deepEqual(saved.find((x) => x.name === profileName), expected);
    assert.equal(saved.length, count + 1, 'the other profiles are kept');
    await shot(page, 'detect-01-profiles-saved');

    // --- after a reload (the tab is in the URL), the editor shows what the server has
    await page.reload();
    await editor.getByTestId('profiles-form').waitFor();
    const again = await profileGroup(editor, profileName);
    assert.equal(await again.getByLabel(/^Model/).inputValue(), kModel);
    const a1 = ruleGroup(again, 1);
    assert.equal(await a1.getByLabel('Rule name').inputValue(), 'too-many-messages');
    assert.equal(await a1.getByLabel('Kind').inputValue(), 'static');
    assert.equal(await a1.getByLabel('Comparison').inputValue(), 'greater-than-equals');
    assert.equal(await a1.getByLabel('Value').inputValue(), '600');
    assert.equal(await a1.getByLabel('Window (seconds)').inputValue(), '300');
    assert.equal(await a1.getByLabel('Action').inputValue(), 'quarantine');
    assert.equal(await a1.getByLabel('Clear after (seconds)').inputValue(), '900');
    const a2 = ruleGroup(again, 2);
    assert.equal(await a2.getByLabel('Kind').inputValue(), 'statistical');
    assert.equal(await a2.getByLabel('Statistic').inputValue(), 'p99');
    assert.equal(await a2.getByLabel('Minimum samples').inputValue(), '10');

    // --- a rule the server refuses (clear time shorter than its window): its 422 message is shown
    // by the Save button and under the field it names; nothing changes on the server
    await again.getByRole('button', { name: 'Add rule' }).click();
    const a3 = ruleGroup(again, 3);
    await a3.getByLabel('Rule name').fill('slow-clear');
    await a3.getByLabel('Value').fill('10');
    await a3.getByLabel('Window (seconds)').fill('300');
    await a3.getByLabel('Clear after (seconds)').fill('60');
    const sentBefore = puts.length;
    await editor.getByRole('button', { name: 'Save profiles' }).click();
    const refusal = editor.getByRole('alert').filter({ hasText: /^profiles\[\d+\]\.rules\[2\]\.clearAfterSeconds / });
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /durationSeconds \(300\)/);
    assert.equal(puts.length, sentBefore + 1, 'the page sent it: the limit is the server\'s');
    await a3.locator('.field-error').filter({ hasText: /durationSeconds \(300\)/ }).waitFor();
    await shot(page, 'detect-02-profiles-422');
    assert.deepEqual((await adminApi.get('/api/admin/security-profiles')).body.profiles.find((x) => x.name === profileName), expected);

    // --- Discard changes: back to what the server has
    await editor.getByRole('button', { name: 'Discard changes' }).click();
    await a3.waitFor({ state: 'detached' });
    await ruleGroup(await profileGroup(editor, profileName), 2).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});

test('violations: status filter, paging, the link to the device; Device Detail lists its own', { skip }, async () => {
  const now = Date.now();
  const rows = [];
  for (let i = 0; i < kCleared; i++) {
    const t = now - (kCleared - i) * 60000;
    rows.push(`('${serial}', '${profileName}', 'old-${i}', 'messages-sent', ${700 + i}, 600, NULL, 'notify', 'cleared', ${t}, ${t + 1000}, ${t + 30000})`);
  }
  for (let i = 0; i < kActive; i++) {
    rows.push(`('${serial}', '${profileName}', 'now-${i}', 'bytes-sent', ${9000 + i}, 4000, 'p99', 'quarantine', 'active', ${now - 5000}, ${now}, NULL)`);
  }
  sql(`INSERT INTO security_violations (device_id, profile, rule, metric, value, threshold, statistic, action, status, started_at, last_violation_at, cleared_at) VALUES ${rows.join(', ')}`);

  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await openDetection(page);
    const card = page.getByRole('region', { name: 'Violations', exact: true });
    const mine = card.locator('tr[data-violation-id]').filter({ hasText: profileName });
    // active (the default): only the active ones, newest first, with the statistic's baseline
    await card.getByText(`9002 bytes (p99 baseline 4000 bytes)`).waitFor();
    assert.equal(await card.getByLabel('Status').inputValue(), 'active');
    assert.equal(await mine.count(), kActive);
    assert.equal(await card.locator('tr[data-violation-id] .badge').filter({ hasText: /^cleared$/ }).count(), 0);
    // cleared: a page of 50, then "Load more"
    await card.getByLabel('Status').selectOption('cleared');
    await card.getByText('751 (limit 600)').waitFor();
    assert.equal(await card.locator('tr[data-violation-id]').count(), 50);
    assert.equal(await card.getByText('700 (limit 600)', { exact: true }).count(), 0, 'the oldest is on page 2');
    await card.getByRole('button', { name: 'Load more' }).click();
    await card.getByText('700 (limit 600)', { exact: true }).waitFor();
    assert.equal(await mine.count(), kCleared);
    await card.getByRole('button', { name: 'Load more' }).waitFor({ state: 'detached' });
    // all: both kinds
    await card.getByLabel('Status').selectOption('');
    await card.getByText('9002 bytes (p99 baseline 4000 bytes)').waitFor();
    await card.getByText('751 (limit 600)').waitFor();
    await shot(page, 'detect-03-violations');
    // each row links to its device
    await mine.first().getByRole('link', { name: serial }).click();
    await page.waitForURL(`**/devices/${serial}`);
    const own = page.getByRole('region', { name: 'Security violations', exact: true });
    await own.getByText('9002 bytes (p99 baseline 4000 bytes)').waitFor();
    assert.equal(await own.locator('tr[data-violation-id]').count(), 50);
    await own.getByRole('button', { name: 'Load more' }).click();
    await own.getByText('700 (limit 600)', { exact: true }).waitFor();
    assert.equal(await own.locator('tr[data-violation-id]').count(), kCleared + kActive);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});

test('quarantine from Device Detail, listed on the Security page, released there', { skip }, async () => {
  const adminApi = await apiAs(admin);
  const b = await openBrowser();
  const { page, problems } = b;
  try {
    await signIn(page, admin);
    await page.goto(`${baseUrl()}/devices/${serial}`);
    const card = page.getByRole('region', { name: 'Quarantine', exact: true });
    await card.getByText('Not quarantined').waitFor();
    await page.getByRole('region', { name: 'Security findings' }).waitFor();

    // Cancel keeps it out of quarantine
    await card.getByRole('button', { name: 'Quarantine' }).click();
    const dialog = page.getByRole('dialog', { name: 'Quarantine the device?' });
    await dialog.getByText(serial).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await adminApi.get(`/api/admin/quarantine/${serial}`)).status, 404);

    await card.getByRole('button', { name: 'Quarantine' }).click();
    await dialog.getByLabel(/^Reason/).fill('e2e: chatty device');
    await dialog.getByRole('button', { name: 'Quarantine' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await card.getByText(`${serial} is in quarantine.`).waitFor();
    await card.getByText('Quarantined', { exact: true }).waitFor();
    await card.getByText('e2e: chatty device').waitFor();
    const entry = await adminApi.get(`/api/admin/quarantine/${serial}`);
    assert.equal(entry.status, 200, JSON.stringify(entry.body));
    assert.equal(entry.body.reason, 'e2e: chatty device');
    assert.equal(entry.body.source, 'admin');
    await shot(page, 'detect-04-device-quarantined');
    // a reload reads the state from the server
    await page.reload();
    await card.getByText('e2e: chatty device').waitFor();

    // --- the Security page's quarantined list: Release
    await card.getByRole('link', { name: 'All quarantined devices' }).click();
    await page.waitForURL('**/admin/security?tab=detection');
    const list = page.getByRole('region', { name: 'Quarantined devices' });
    const row = list.locator(`tr[data-device-id="${serial}"]`);
    await row.getByText('e2e: chatty device').waitFor();
    await row.getByText(/^Administrator/).waitFor();
    await row.getByRole('link', { name: serial }).waitFor();
    await shot(page, 'detect-05-quarantine-list');
    await row.getByRole('button', { name: `Release ${serial}` }).click();
    await list.getByText(`${serial} is released from quarantine.`).waitFor();
    await row.waitFor({ state: 'detached' });
    const gone = await adminApi.get(`/api/admin/quarantine/${serial}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error, 'NotQuarantined');

    // --- Device Detail: quarantine again, release from there
    await page.goto(`${baseUrl()}/devices/${serial}`);
    await card.getByText('Not quarantined').waitFor();
    await card.getByRole('button', { name: 'Quarantine' }).click();
    await dialog.getByRole('button', { name: 'Quarantine' }).click(); // no reason: the server's default
    await card.getByText('Quarantined', { exact: true }).waitFor();
    assert.equal((await adminApi.get(`/api/admin/quarantine/${serial}`)).status, 200);
    await card.getByRole('button', { name: 'Release' }).click();
    await card.getByText(`${serial} is released from quarantine.`).waitFor();
    await card.getByText('Not quarantined').waitFor();
    assert.equal((await adminApi.get(`/api/admin/quarantine/${serial}`)).status, 404);
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
});

test('a plain user: no detection cards, no admin calls, no Security page', { skip }, async () => {
  const u = await openBrowser();
  const adminCalls = [];
  u.page.on('request', (r) => new URL(r.url()).pathname.startsWith('/api/admin/') && adminCalls.push(r.url()));
  try {
    await signIn(u.page, owner);
    await u.page.goto(`${baseUrl()}/devices/${serial}`);
    await u.page.getByRole('region', { name: 'Certificates' }).waitFor();
    await u.page.getByRole('region', { name: 'Device Detail' }).waitFor();
    for (const name of ['Quarantine', 'Security violations', 'Security findings']) {
      assert.equal(await u.page.getByRole('region', { name, exact: true }).count(), 0, name);
    }
    await u.page.goto(`${baseUrl()}/admin/security?tab=detection`);
    await u.page.waitForURL('**/devices');
    assert.deepEqual(adminCalls, [], 'no admin requests');
    assert.deepEqual(u.problems, []);
  } finally {
    await u.close();
  }
});
