// Smoke test: the console loads under the daemon's CSP, the sign-in page renders, and the links to
// sign-up and forgot-password work. Needs only the static console (no account API).
//   SP_BASE_URL=https://127.0.0.1:8443 node --test smoke.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { baseUrl, openBrowser, shot } from './lib.mjs';

let b;
before(async () => {
  b = await openBrowser();
});
after(async () => {
  if (b) await b.close();
});

test('console loads and redirects to sign-in', async () => {
  const { page, problems } = b;
  const res = await page.goto(`${baseUrl()}/`);
  assert.equal(res.status(), 200);
  await page.waitForURL('**/signin');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.ok(await page.getByLabel('Email', { exact: true }).isVisible());
  assert.ok(await page.getByLabel('Password', { exact: true }).isVisible());
  assert.ok(await page.getByRole('button', { name: 'Sign in' }).isVisible());
  assert.equal(await page.title(), 'Sign in · Smart Product');
  // The hashed stylesheet was applied (the sign-in card is styled), so CSP allowed it.
  const radius = await page.locator('.auth-card').evaluate((el) => getComputedStyle(el).borderTopLeftRadius);
  assert.equal(radius, '12px');
  await shot(page, 'smoke-01-signin');
  assert.deepEqual(problems, []);
});

test('client-side checks on sign-in', async () => {
  const { page } = b;
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Enter your email address.').waitFor();
  await page.getByText('Enter your password.').waitFor();
  assert.equal(await page.getByLabel('Email', { exact: true }).getAttribute('aria-invalid'), 'true');
});

test('navigate to sign-up and back', async () => {
  const { page, problems } = b;
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL('**/signup');
  await page.getByRole('heading', { level: 1, name: 'Create your account' }).waitFor();
  for (const label of ['Name', 'Email', 'Password', 'Confirm password']) {
    assert.ok(await page.getByLabel(label, { exact: true }).isVisible(), label);
  }
  assert.ok(await page.getByLabel(/Phone number/).isVisible());
  // The password policy is checked before anything is sent.
  await page.getByLabel('Email', { exact: true }).fill('someone@example.com');
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Enter your name.').waitFor();
  await page.getByText('The password must have at least 10 characters.').waitFor();
  await page.getByLabel('Password', { exact: true }).fill('someone@example.com');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('The password must not be your email address.').waitFor();
  await shot(page, 'smoke-02-signup');
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.waitForURL('**/signin');
  assert.deepEqual(problems, []);
});

test('navigate to forgot password and reset', async () => {
  const { page, problems } = b;
  await page.getByRole('link', { name: 'Forgot password?' }).click();
  await page.waitForURL('**/forgot');
  await page.getByRole('heading', { level: 1, name: 'Reset your password' }).waitFor();
  assert.ok(await page.getByLabel('Email', { exact: true }).isVisible());
  await shot(page, 'smoke-03-forgot');
  await page.getByRole('link', { name: 'I already have a code' }).click();
  await page.waitForURL('**/reset');
  await page.getByRole('heading', { level: 1, name: 'Choose a new password' }).waitFor();
  await page.goBack();
  await page.waitForURL('**/forgot');
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await page.waitForURL('**/signin');
  assert.deepEqual(problems, []);
});

test('deep links of the app go to sign-in when signed out', async () => {
  const { page, problems } = b;
  await page.goto(`${baseUrl()}/admin/users`);
  await page.waitForURL('**/signin?next=%2Fadmin%2Fusers');
  await page.goto(`${baseUrl()}/no/such/page`);
  await page.waitForURL('**/signin');
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.deepEqual(problems, []);
});

test('sign-in page on a phone-sized screen', async () => {
  const { page } = b;
  await page.setViewportSize({ width: 390, height: 760 });
  await page.goto(`${baseUrl()}/signin`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  const box = await page.locator('.auth-card').boundingBox();
  assert.ok(box.width <= 390, `card fits the screen (${box.width}px)`);
  await shot(page, 'smoke-04-signin-mobile');
});
