// Shared helpers for the browser tests: Debian's Chromium through playwright-core, a fresh
// profile per test, screenshots under artifacts/, and verification codes from the daemon log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, request } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const artifactsDir = path.join(here, 'artifacts');

/** The console's origin, e.g. https://127.0.0.1:8443 (env SP_BASE_URL). */
export function baseUrl() {
  const b = process.env.SP_BASE_URL;
  if (!b) throw new Error('set SP_BASE_URL to the daemon (e.g. https://127.0.0.1:8443)');
  return b.replace(/\/+$/, '');
}

export const kChromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts Chromium with a fresh user-data-dir and returns {context, page, problems, close}.
 * problems collects uncaught page errors and CSP violations, which every test asserts empty.
 */
export async function openBrowser({ viewport = { width: 1280, height: 800 } } = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-profile-'));
  await mkdir(artifactsDir, { recursive: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SP_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: kChromiumArgs,
      ignoreHTTPSErrors: true, // the daemon uses a self-signed development certificate
      viewport,
      locale: 'en-US',
      timezoneId: 'UTC',
    });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
  context.setDefaultTimeout(15000);
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to (load|execute|apply)/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as artifacts/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Waits for the newest "verification code for <email>: <code>" line in the daemon log
 * (env SP_DAEMON_LOG) that is not in `exclude`, and returns the code.
 */
export async function verificationCode(email, { timeoutMs = 15000, exclude = [] } = {}) {
  const logPath = process.env.SP_DAEMON_LOG;
  if (!logPath) throw new Error('set SP_DAEMON_LOG to the daemon log file');
  const re = new RegExp(`verification code for ${escapeRegExp(email)}:\\s*([A-Za-z0-9-]+)`, 'gi');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = await readFile(logPath, 'utf8');
    } catch {
      /* the log may not exist yet */
    }
    const codes = [...text.matchAll(re)].map((m) => m[1]);
    const code = codes.length ? codes[codes.length - 1] : null;
    if (code && !exclude.includes(code)) return code;
    if (Date.now() > deadline) throw new Error(`no verification code for ${email} in ${logPath}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Signs in through the form as who = {email, password} and waits for My Devices. */
export async function signIn(page, who) {
  await page.goto(`${baseUrl()}/signin`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/devices');
}

/** Runs `smartproductctl` from SP_BIN_DIR (exit status 0 required) and returns its stdout. */
export function ctl(args, input) {
  const r = spawnSync(path.join(process.env.SP_BIN_DIR, 'smartproductctl'), args, { input, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`smartproductctl ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Waits until fn() is truthy (the pages refresh themselves; nothing here reloads them). */
export async function until(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The instance run.mjs made, for tests that drive the CLI and the simulator:
 * {config, binDir, sim (its path), skip (false, or why the test is skipped)}.
 */
export function simInstance() {
  const config = process.env.SP_CONFIG;
  const binDir = process.env.SP_BIN_DIR;
  const sim = binDir && path.join(binDir, 'smartproduct-sim');
  const enabled = !!(config && binDir && process.env.SP_BASE_URL && existsSync(sim));
  return { config, binDir, sim, skip: !enabled && 'needs SP_CONFIG and SP_BIN_DIR of the instance and smartproduct-sim (run it through run.mjs)' };
}

const apiClients = [];

/**
 * A REST client signed in as who = {email, password}, for what the tests check besides the page:
 * get / post / put / del answer {status, body} (body: the JSON, or null). disposeApiClients() in
 * after() ends them all.
 */
export async function apiAs(who) {
  const ctx = await request.newContext({ baseURL: baseUrl(), ignoreHTTPSErrors: true });
  apiClients.push(ctx);
  const login = await ctx.post('/api/auth/login', { data: who });
  assert.equal(login.status(), 200, await login.text());
  const headers = { Authorization: `Bearer ${(await login.json()).accessToken}` };
  const answer = async (r) => ({ status: r.status(), body: await r.json().catch(() => null) });
  return {
    get: async (p) => answer(await ctx.get(p, { headers })),
    post: async (p, data) => answer(await ctx.post(p, { headers, data })),
    put: async (p, data) => answer(await ctx.put(p, { headers, data })),
    del: async (p) => answer(await ctx.delete(p, { headers })),
  };
}

export async function disposeApiClients() {
  for (const ctx of apiClients.splice(0)) await ctx.dispose();
}

/**
 * Runs one SQL statement on the instance's main database (SP_INSTANCE_DIR/data/smartproduct.db),
 * as smartproductctl or a second daemon would write it: the only way to hold a run 'running' long
 * enough to see a page follow it.
 */
export function mainDbSql(statement) {
  const db = path.join(process.env.SP_INSTANCE_DIR, 'data', 'smartproduct.db');
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sqlite3, sys\nwith sqlite3.connect(sys.argv[1], timeout=10) as c: c.execute(sys.argv[2])', db, statement], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `${statement}: ${r.stderr}`);
}
