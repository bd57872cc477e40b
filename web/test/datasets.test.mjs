// The Datasets page's logic (src/datasets.js): schedules in words, the next run, the define / edit
// forms' checks and bodies, where a server error goes, and the download's path and file name.
// Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createBody,
  describeSchedule,
  downloadName,
  downloadPath,
  editForm,
  errorField,
  formatBytes,
  formatDuration,
  nextRunText,
  parseSchedule,
  ratePeriodMs,
  rowsText,
  runDoneText,
  scheduleProblem,
  sortDatasets,
  updateBody,
} from '../src/datasets.js';

test('schedules: rate, cron (five fields), off; anything else is refused', () => {
  assert.deepEqual(parseSchedule('rate(1 hour)'), { kind: 'rate', n: 1, unit: 'hour' });
  assert.deepEqual(parseSchedule(' rate(15 minutes) '), { kind: 'rate', n: 15, unit: 'minute' });
  assert.deepEqual(parseSchedule('rate(2 days)'), { kind: 'rate', n: 2, unit: 'day' });
  assert.deepEqual(parseSchedule('cron(0 3 * * *)'), { kind: 'cron', fields: ['0', '3', '*', '*', '*'] });
  assert.deepEqual(parseSchedule('off'), { kind: 'off' });
  for (const bad of ['', 'rate(0 hours)', 'rate(1 week)', 'rate(hour)', 'cron(0 3 * *)', 'cron(0 3 * * * *)', 'hourly', null, undefined]) {
    assert.equal(parseSchedule(bad), null, String(bad));
  }
  assert.equal(ratePeriodMs('rate(5 minutes)'), 300000);
  assert.equal(ratePeriodMs('cron(0 3 * * *)'), null);
});

test('schedule problems say what is expected', () => {
  assert.equal(scheduleProblem('rate(1 hour)'), null);
  assert.equal(scheduleProblem('off'), null);
  assert.match(scheduleProblem(''), /Enter a schedule/);
  assert.match(scheduleProblem('rate(0 minutes)'), /N ≥ 1/);
  assert.match(scheduleProblem('cron(* *)'), /five fields/);
  assert.match(scheduleProblem('every hour'), /rate\(…\), cron\(…\) or off/);
});

test('schedules in words', () => {
  assert.equal(describeSchedule('rate(1 hour)'), 'Every hour');
  assert.equal(describeSchedule('rate(1 minute)'), 'Every minute');
  assert.equal(describeSchedule('rate(5 minutes)'), 'Every 5 minutes');
  assert.equal(describeSchedule('rate(2 days)'), 'Every 2 days');
  assert.equal(describeSchedule('cron(0 3 * * *)'), 'Daily at 03:00 UTC');
  assert.equal(describeSchedule('cron(30 14 * * ?)'), 'Daily at 14:30 UTC');
  assert.equal(describeSchedule('cron(15 * * * *)'), 'Hourly at :15');
  assert.equal(describeSchedule('cron(0 3 * * 1-5)'), 'cron 0 3 * * 1-5 (UTC)');
  assert.equal(describeSchedule('cron(0 25 * * *)'), 'cron 0 25 * * * (UTC)');
  assert.equal(describeSchedule('off'), 'Off');
  assert.equal(describeSchedule('weird'), 'weird', 'unknown text is shown as it is');
});

test('durations, bytes and rows', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(45000), '45 s');
  assert.equal(formatDuration(5 * 60000 + 20000), '5 min');
  assert.equal(formatDuration(2 * 3600000), '2 h');
  assert.equal(formatDuration(2 * 3600000 + 5 * 60000), '2 h 5 min');
  assert.equal(formatDuration(3 * 86400000 + 4 * 3600000), '3 d 4 h');
  assert.equal(formatDuration(-5), '0 s');
  assert.equal(formatBytes(812), '812 B');
  assert.equal(formatBytes(4300), '4.2 KB');
  assert.equal(formatBytes(1.5 * 1024 * 1024), '1.5 MB');
  assert.equal(formatBytes(undefined), '—');
  assert.equal(rowsText(1), '1 row');
  assert.equal(rowsText(0), '0 rows');
  assert.equal(rowsText(1234), '1,234 rows');
  assert.equal(rowsText(null), '0 rows');
  assert.equal(rowsText('x'), '—');
});

test('the next run: relative to now, due, or why there is none', () => {
  const now = Date.parse('2026-12-03T10:00:00.000Z');
  assert.deepEqual(nextRunText({ nextRunAt: '2026-12-03T10:30:00.000Z', schedule: 'rate(1 hour)' }, now), { text: 'in 30 min', title: '2026-12-03T10:30:00.000Z' });
  assert.deepEqual(nextRunText({ nextRunAt: '2026-12-03T09:59:00.000Z' }, now), { text: 'Due now', title: '2026-12-03T09:59:00.000Z' });
  assert.deepEqual(nextRunText({ nextRunAt: null, enabled: false, schedule: 'rate(1 hour)' }, now), { text: 'Disabled' });
  assert.deepEqual(nextRunText({ nextRunAt: null, enabled: true, schedule: 'off' }, now), { text: 'Not scheduled' });
  assert.deepEqual(nextRunText({ nextRunAt: null, enabled: true, schedule: 'rate(1 hour)' }, now), { text: '—' });
  assert.deepEqual(nextRunText({ nextRunAt: 'soon' }, now), { text: 'soon' });
  assert.deepEqual(nextRunText(null, now), { text: '—' });
});

test('a finished run as a sentence', () => {
  assert.equal(runDoneText('ds', { id: 3, status: 'succeeded', rows: 2 }), 'Run 3 of ds succeeded: 2 rows.');
  assert.equal(runDoneText('ds', { id: 4, status: 'failed', error: 'disk full' }), 'Run 4 of ds failed: disk full');
  assert.equal(runDoneText('ds', { id: 4, status: 'failed' }), 'Run 4 of ds failed.');
});

const form = (extra) => ({ name: 'by_device', query: ' SELECT * FROM telemetry ', schedule: 'rate(1 hour)', format: 'csv', retentionDays: '30', enabled: true, ...extra });

test('the define form: checks, then the trimmed body', () => {
  assert.deepEqual(createBody(form()), { body: { name: 'by_device', query: 'SELECT * FROM telemetry', schedule: 'rate(1 hour)', format: 'csv', retentionDays: 30 } });
  assert.equal(createBody(form({ enabled: false })).body.enabled, false);
  const r = createBody(form({ name: 'bad name!', query: '  ', schedule: 'hourly', format: 'xml', retentionDays: '0' }));
  assert.deepEqual(Object.keys(r.problems).sort(), ['format', 'name', 'query', 'retentionDays', 'schedule']);
  assert.match(createBody(form({ name: '' })).problems.name, /Enter a name/);
  assert.ok(createBody(form({ name: 'x'.repeat(65) })).problems.name);
  assert.equal(createBody(form({ name: 'A-b_9' })).body.name, 'A-b_9');
  assert.ok(createBody(form({ retentionDays: '1.5' })).problems.retentionDays);
  assert.ok(createBody(form({ retentionDays: '' })).problems.retentionDays);
  assert.ok(createBody(undefined).problems.name);
});

test('the edit form: only what changed goes in the PUT body', () => {
  const ds = { name: 'd', query: 'SELECT * FROM telemetry', schedule: 'rate(1 hour)', format: 'csv', retentionDays: 30, enabled: true };
  const f = editForm(ds);
  assert.deepEqual(f, { query: 'SELECT * FROM telemetry', schedule: 'rate(1 hour)', format: 'csv', retentionDays: '30', enabled: true });
  assert.deepEqual(updateBody(ds, f), { body: null });
  assert.deepEqual(updateBody(ds, { ...f, format: 'jsonl', enabled: false }), { body: { format: 'jsonl', enabled: false } });
  assert.deepEqual(updateBody(ds, { ...f, query: 'SELECT deviceId FROM telemetry ', retentionDays: '7', schedule: 'off' }),
    { body: { query: 'SELECT deviceId FROM telemetry', retentionDays: 7, schedule: 'off' } });
  assert.deepEqual(Object.keys(updateBody(ds, { ...f, query: '', schedule: 'x', retentionDays: '-1' }).problems).sort(), ['query', 'retentionDays', 'schedule']);
  assert.deepEqual(editForm({ name: 'n', enabled: false }), { query: '', schedule: 'off', format: 'csv', retentionDays: '', enabled: false });
});

test('server refusals go under their field', () => {
  const e = (status, error, message) => ({ status, error, message });
  assert.equal(errorField(e(422, 'InvalidDatasetQuery', 'column 8: unknown function foo')), 'query');
  assert.equal(errorField(e(409, 'DatasetExists', 'A dataset with this name exists.')), 'name');
  assert.equal(errorField(e(422, 'InvalidDatasetSchedule', 'bad')), 'schedule');
  assert.equal(errorField(e(400, 'InvalidDatasetName', 'bad')), 'name');
  assert.equal(errorField(e(422, 'InvalidDatasetFormat', 'bad')), 'format');
  assert.equal(errorField(e(400, 'ValidationError', 'schedule must be rate(...), cron(...) or off')), 'schedule');
  assert.equal(errorField(e(400, 'ValidationError', 'retentionDays must be 1..3650')), 'retentionDays');
  assert.equal(errorField(e(422, 'ValidationError', 'column 12: expected FROM')), 'query');
  assert.equal(errorField(e(400, 'ValidationError', 'Body is not JSON.')), null);
  assert.equal(errorField(e(500, 'InvalidDatasetQuery', 'x')), null, 'only 400 / 409 / 422');
  assert.equal(errorField(e(409, 'DatasetRunRunning', 'running')), null);
  assert.equal(errorField(null), null);
});

test('the download path: the run\'s downloadUrl under /api, built when absent, none unless succeeded', () => {
  assert.equal(downloadPath('d', { id: 12, status: 'succeeded', downloadUrl: '/api/admin/datasets/d/contents/12/download' }), '/admin/datasets/d/contents/12/download');
  assert.equal(downloadPath('a b', { id: 3, status: 'succeeded' }), '/admin/datasets/a%20b/contents/3/download');
  assert.equal(downloadPath('d', { id: 3, status: 'succeeded', downloadUrl: null }), null, 'expired');
  assert.equal(downloadPath('d', { id: 3, status: 'failed', downloadUrl: '/api/x' }), null);
  assert.equal(downloadPath('d', { id: 3, status: 'running' }), null);
  assert.equal(downloadPath('d', null), null);
});

test('the download\'s file name: Content-Disposition when safe, else <dataset>-<run>.<ext>', () => {
  assert.equal(downloadName('attachment; filename="d-12.csv"', 'd', { id: 12 }, 'csv'), 'd-12.csv');
  assert.equal(downloadName('attachment; filename=d-12.jsonl', 'd', { id: 12 }, 'jsonl'), 'd-12.jsonl');
  assert.equal(downloadName("attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.csv", 'd', { id: 1 }, 'csv'), 'résumé.csv');
  assert.equal(downloadName('attachment; filename="../../etc/passwd"', 'd', { id: 1 }, 'csv'), 'passwd');
  assert.equal(downloadName('attachment', 'd', { id: 7 }, 'jsonl'), 'd-7.jsonl');
  assert.equal(downloadName(null, 'd', { id: 7 }, 'csv'), 'd-7.csv');
  assert.equal(downloadName('attachment; filename=".."', 'd', { id: 7 }, 'csv'), 'd-7.csv');
});

test('datasets sort by name', () => {
  assert.deepEqual(sortDatasets([{ name: 'b' }, null, { name: 'a' }]).map((d) => d.name), ['a', 'b']);
  assert.deepEqual(sortDatasets(undefined), []);
});
