// Runs the browser tests against a real daemon.
//
// With SP_BASE_URL set, the tests run against that running daemon (SP_DAEMON_LOG should name its
// log). Otherwise this script creates a throw-away instance with `smartproductctl init` in a temp
// dir, moves its ports to free ones, starts `smartproductd` with its output in <tmp>/daemon.log,
// waits until the console answers, runs the tests, and stops the daemon again (by pid).
//
//   SP_BIN_DIR=build/bin node tests/e2e/run.mjs          # from the repository root
//   SP_E2E_AUTH=1 ...                                      # also run the full account flow
//   SP_E2E_KEEP=1 ...                                      # keep the temp instance for inspection
//   SP_E2E_TESTS=control.test.mjs ...                      # only these test files (comma-separated)
//
// The tests get SP_BASE_URL, SP_DAEMON_LOG and, for tests that drive the CLI (devices.test.mjs),
// SP_CONFIG (the instance's smartproduct.toml), SP_INSTANCE_DIR, SP_BIN_DIR and SP_MQTT_PORT.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const kAllTests = ['smoke.test.mjs', 'auth-flow.test.mjs', 'devices.test.mjs', 'control.test.mjs', 'events.test.mjs', 'telemetry.test.mjs', 'security.test.mjs', 'datasets.test.mjs', 'detect.test.mjs'];
// SP_E2E_TESTS=control.test.mjs,smoke.test.mjs runs only those files.
const kTests = process.env.SP_E2E_TESTS ? process.env.SP_E2E_TESTS.split(',').map((s) => s.trim()).filter(Boolean) : kAllTests;

function runTests(env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', ...kTests], { cwd: here, env, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Sets `key = value` inside [section] of a TOML text (the key must exist there). */
function setTomlKey(toml, section, key, value) {
  const lines = toml.split('\n');
  let inSection = false;
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(lines[i]);
    if (header) {
      inSection = header[1].trim() === section;
      continue;
    }
    if (inSection && new RegExp(`^\\s*${key}\\s*=`).test(lines[i])) {
      const comment = /\s+#.*$/.exec(lines[i]);
      lines[i] = `${key} = ${value}${comment ? comment[0] : ''}`;
      return lines.join('\n');
    }
  }
  throw new Error(`run.mjs: key ${key} not found in [${section}] of the generated config`);
}

function probe(url) {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

async function tail(file, n = 40) {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

async function main() {
  if (process.env.SP_BASE_URL) return runTests(process.env);

  const binDir = path.resolve(process.env.SP_BIN_DIR || path.join(here, '../../build/bin'));
  const ctl = path.join(binDir, 'smartproductctl');
  const daemonBin = path.join(binDir, 'smartproductd');
  for (const f of [ctl, daemonBin]) if (!existsSync(f)) throw new Error(`run.mjs: ${f} not found (set SP_BIN_DIR)`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'sp-e2e-instance-'));
  const logPath = path.join(dir, 'daemon.log');
  let daemon = null;
  const stop = async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
  };
  const onSignal = async () => {
    await stop();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let code = 1;
  try {
    const httpPort = await freePort();
    const brokerPort = await freePort();
    // The broker's own config (mosquitto.conf) takes its port from init, so both ports go there.
    const init = spawnSync(ctl, ['init', '--dir', dir, '--hostname', 'localhost',
      '--http-port', String(httpPort), '--mqtt-port', String(brokerPort)], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`smartproductctl init failed:\n${init.stdout}${init.stderr}`);

    const confPath = path.join(dir, 'smartproduct.toml');
    let conf = await readFile(confPath, 'utf8');
    conf = setTomlKey(conf, 'http', 'listen', '"127.0.0.1"');
    conf = setTomlKey(conf, 'log', 'sink', '"stdout"');
    await writeFile(confPath, conf);

    const out = createWriteStream(logPath);
    await new Promise((r) => out.once('open', r));
    daemon = spawn(daemonBin, ['--config', confPath], { cwd: dir, stdio: ['ignore', out, out] });
    const base = `https://127.0.0.1:${httpPort}`;
    const deadline = Date.now() + 30000;
    for (;;) {
      if (daemon.exitCode !== null || daemon.signalCode !== null) {
        throw new Error(`smartproductd exited early (${daemon.exitCode ?? daemon.signalCode}):\n${await tail(logPath)}`);
      }
      if ((await probe(`${base}/`)) === 200) break;
      if (Date.now() > deadline) throw new Error(`the console did not answer at ${base}/ within 30 s:\n${await tail(logPath)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`# e2e: smartproductd at ${base}, log ${logPath}`);
    code = await runTests({
      ...process.env,
      SP_BASE_URL: base,
      SP_DAEMON_LOG: logPath,
      SP_CONFIG: confPath,
      SP_INSTANCE_DIR: dir,
      SP_BIN_DIR: binDir,
      SP_MQTT_PORT: String(brokerPort),
    });
    if (code !== 0) console.log(`# e2e: daemon log tail:\n${await tail(logPath)}`);
  } finally {
    await stop();
    if (process.env.SP_E2E_KEEP === '1') console.log(`# e2e: kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err.message || err);
    process.exit(1);
  },
);
