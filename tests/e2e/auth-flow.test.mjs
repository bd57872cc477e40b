// Full account flow against a real daemon: sign-up -> code from the daemon log -> verify -> sign in
// -> User Setting (alert levels + SMS) -> save -> reload (still signed in, values kept) -> change
// password -> sign out -> sign in again.
//
// Needs the account API, so it is SKIPPED unless SP_E2E_AUTH=1:
//   SP_E2E_AUTH=1 SP_BASE_URL=https://127.0.0.1:8443 SP_DAEMON_LOG=/path/daemon.log node --test auth-flow.test.mjs
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { baseUrl, openBrowser, shot, verificationCode } from './lib.mjs';

const enabled = process.env.SP_E2E_AUTH === '1';

async function expectLevels(page, expected) {
  for (const [label, on] of Object.entries(expected)) {
    const box = page.getByLabel(label, { exact: true });
    await box.waitFor();
    assert.equal(await box.isChecked(), on, `${label} should be ${on ? 'checked' : 'unchecked'}`);
  }
}

async function signIn(page, email, password) {
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign-up, verify, sign in, alert settings survive a reload, sign out and in again', { skip: !enabled && 'set SP_E2E_AUTH=1 (needs the account API)' }, async () => {
  const b = await openBrowser();
  const { page, problems } = b;
  const email = `e2e-${Date.now()}-${randomBytes(3).toString('hex')}@example.com`;
  const password = `Pw-${randomBytes(6).toString('hex')}`;
  const newPassword = `Np-${randomBytes(6).toString('hex')}`;
  try {
    // --- sign up
    await page.goto(`${baseUrl()}/signup`);
    await page.getByRole('heading', { level: 1, name: 'Create your account' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('E2E Tester');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel(/Phone number/).fill('+15551234567');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Confirm password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(/\/verify\?email=/);
    await page.getByRole('heading', { level: 1, name: 'Verify your email' }).waitFor();
    await shot(page, 'flow-01-verify');

    // --- signing in before verification is refused and leads back to the code page
    await page.goto(`${baseUrl()}/signin`);
    await signIn(page, email, password);
    await page.waitForURL(/\/verify\?email=/);
    await page.getByText('not verified yet').waitFor();

    // --- verify with the code the daemon logged
    const code = await verificationCode(email);
    assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), email);
    await page.getByLabel('Verification code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForURL(/\/signin/);
    await page.getByText('Your email address is verified').waitFor();

    // --- sign in
    await signIn(page, email, password);
    await page.waitForURL('**/devices');
    await page.getByRole('heading', { level: 1, name: /My Devices/ }).waitFor();
    assert.equal(await page.getByTestId('user-email').textContent(), email);
    await shot(page, 'flow-02-devices');

    // --- User Setting: defaults are error + warning, SMS off
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'User Setting' }).click();
    await page.waitForURL('**/user');
    // Admin navigation is shown exactly when the account has role admin (a fresh user normally
    // has not; a daemon may make the very first account an admin).
    const role = (await page.getByRole('region', { name: 'Account' }).locator('.badge').first().textContent()).trim();
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), role === 'admin' ? 1 : 0);
    assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), role === 'admin' ? 1 : 0);
    await expectLevels(page, { Error: true, Warning: true, Info: false, Diagnostic: false });
    const sms = page.getByRole('switch', { name: /Get SMS/ });
    assert.equal(await sms.isChecked(), false);

    await page.getByLabel('Warning', { exact: true }).uncheck();
    await page.getByLabel('Info', { exact: true }).check();
    await page.getByLabel('Diagnostic', { exact: true }).check();
    await sms.check();
    await page.getByRole('button', { name: 'Update Alert Level' }).click();
    await page.getByText('Alert preferences saved.').waitFor();
    await shot(page, 'flow-03-settings-saved');

    // --- reload: the refresh cookie restores the session and the saved values come back
    await page.reload();
    await page.waitForURL('**/user');
    await expectLevels(page, { Error: true, Warning: false, Info: true, Diagnostic: true });
    assert.equal(await page.getByRole('switch', { name: /Get SMS/ }).isChecked(), true);
    assert.equal(await page.getByTestId('user-email').textContent(), email);

    // --- saving levels again without touching SMS keeps SMS on (the seed turned it off)
    await page.getByLabel('Warning', { exact: true }).check();
    await page.getByRole('button', { name: 'Update Alert Level' }).click();
    await page.getByText('Alert preferences saved.').waitFor();
    await page.reload();
    await expectLevels(page, { Error: true, Warning: true, Info: true, Diagnostic: true });
    assert.equal(await page.getByRole('switch', { name: /Get SMS/ }).isChecked(), true);

    // --- change password (a wrong current password is reported, not a sign-out)
    const pwCard = page.getByRole('region', { name: 'Change Password' });
    await pwCard.getByLabel('Current password', { exact: true }).fill(`${password}-wrong`);
    await pwCard.getByLabel('New password', { exact: true }).fill(newPassword);
    await pwCard.getByLabel('Confirm new password', { exact: true }).fill(newPassword);
    await pwCard.getByRole('button', { name: 'Change Password' }).click();
    await pwCard.getByRole('alert').waitFor();
    assert.match(page.url(), /\/user$/);
    await pwCard.getByLabel('Current password', { exact: true }).fill(password);
    await pwCard.getByRole('button', { name: 'Change Password' }).click();
    await pwCard.getByText('Your password was changed.').waitFor();
    await shot(page, 'flow-04-password-changed');

    // --- sign out; a reload stays signed out (the refresh cookie is gone)
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/signin');
    await page.getByText('You have been signed out.').waitFor();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.match(page.url(), /\/signin$/);

    // --- the old password no longer works, the new one does
    await signIn(page, email, password);
    await page.getByRole('alert').waitFor();
    assert.match(page.url(), /\/signin/);
    await page.getByLabel('Password', { exact: true }).fill(newPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/devices');
    await page.goto(`${baseUrl()}/user`);
    await expectLevels(page, { Error: true, Warning: true, Info: true, Diagnostic: true });
    assert.equal(await page.getByRole('switch', { name: /Get SMS/ }).isChecked(), true);
    await shot(page, 'flow-05-signed-in-again');

    assert.deepEqual(problems, []);
  } catch (e) {
    await shot(page, 'flow-failure').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});
