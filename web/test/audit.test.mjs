// The security audit's console logic (src/audit.js): counts by severity over the pages of open
// findings, which mitigations apply to a finding, the check filter and the suppress form.
// Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  actionDoneText,
  checkNames,
  countBySeverity,
  findingActions,
  findingDeviceId,
  keepsInList,
  shortId,
  statusActions,
  suppressBody,
  summaryCounts,
} from '../src/audit.js';

const finding = (extra) => ({ id: 1, check: 'DEVICE_CERTIFICATE_EXPIRING_CHECK', severity: 'medium', resourceType: 'certificate', resourceId: 'AB'.repeat(32), status: 'open', details: { deviceId: 'SN-1' }, ...extra });
const actions = (f) => findingActions(f).map((a) => a.action);

test('counts by severity; unknown severities and holes are ignored', () => {
  const list = ['critical', 'high', 'high', 'low', 'urgent', undefined].map((severity) => ({ severity }));
  assert.deepEqual(countBySeverity([...list, null]), { critical: 1, high: 2, medium: 0, low: 1 });
  assert.deepEqual(countBySeverity(undefined), { critical: 0, high: 0, medium: 0, low: 0 });
});

test('the tiles come from the summary route; bad or missing values count as none', () => {
  const r = summaryCounts({ open: { critical: 2, high: 0, medium: 5, low: 1 }, suppressed: { critical: 1 }, openByCheck: { A: 3, B: 5 } });
  assert.deepEqual(r.counts, { critical: 2, high: 0, medium: 5, low: 1 });
  assert.equal(r.total, 8);
  assert.equal(r.truncated, false);
  assert.deepEqual(r.checks.sort(), ['A', 'B']);
  const empty = summaryCounts({ open: { critical: -1, high: '3', medium: 1.5 } });
  assert.deepEqual(empty.counts, { critical: 0, high: 0, medium: 0, low: 0 });
  assert.deepEqual(summaryCounts(undefined), { counts: { critical: 0, high: 0, medium: 0, low: 0 }, total: 0, checks: [], truncated: false });
});

test('the device of a finding: a device resource, else details.deviceId', () => {
  assert.equal(findingDeviceId(finding()), 'SN-1');
  assert.equal(findingDeviceId({ resourceType: 'device', resourceId: 'SN-2', details: {} }), 'SN-2');
  assert.equal(findingDeviceId({ resourceType: 'client-id', resourceId: 'SN-3', details: { deviceId: 'SN-3' } }), 'SN-3');
  assert.equal(findingDeviceId({ resourceType: 'file', resourceId: '/x.key', details: {} }), null);
  assert.equal(findingDeviceId({ resourceType: 'broker', resourceId: 'b', details: { deviceId: 7 } }), null);
  assert.equal(findingDeviceId(null), null);
});

test('mitigations: revoke a device certificate, disconnect or quarantine its device', () => {
  assert.deepEqual(actions(finding()), ['revoke-certificate', 'kick-device', 'quarantine-device']);
  assert.deepEqual(actions(finding({ check: 'DEVICE_CERTIFICATE_SHARED_CHECK', severity: 'critical' })), ['revoke-certificate', 'kick-device', 'quarantine-device']);
  // The certificate is revoked already: only disconnecting helps.
  assert.deepEqual(actions(finding({ check: 'REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK' })), ['kick-device', 'quarantine-device']);
  // The server needs the device to revoke a certificate.
  assert.deepEqual(actions(finding({ details: {} })), []);
});

test('mitigations: disable an active CA; devices; nothing for files, the broker, resolved findings', () => {
  const ca = { id: 2, check: 'CA_CERTIFICATE_EXPIRING_CHECK', resourceType: 'ca', resourceId: 'ski', status: 'open', details: { name: 'acme', status: 'ACTIVE' } };
  assert.deepEqual(actions(ca), ['disable-ca']);
  assert.deepEqual(actions({ ...ca, check: 'REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK', details: { name: 'acme', status: 'INACTIVE' } }), []);
  assert.deepEqual(actions({ id: 3, check: 'CONFLICTING_CLIENT_IDS_CHECK', resourceType: 'client-id', resourceId: 'SN-4', status: 'open', details: { deviceId: 'SN-4' } }), ['kick-device', 'quarantine-device']);
  assert.deepEqual(actions({ id: 4, resourceType: 'device', resourceId: 'SN-5', status: 'suppressed', details: {} }), ['kick-device', 'quarantine-device']);
  assert.deepEqual(actions({ id: 5, check: 'PKI_FILE_PERMISSIONS_CHECK', resourceType: 'file', resourceId: '/k', status: 'open', details: {} }), []);
  assert.deepEqual(actions({ id: 6, check: 'LOGGING_DISABLED_CHECK', resourceType: 'broker', resourceId: 'b', status: 'open', details: {} }), []);
  assert.deepEqual(actions(finding({ status: 'resolved' })), []);
  for (const a of findingActions(finding())) assert.ok(a.label && a.title && a.text.includes('SN-1'), a);
});

test('suppress for open findings, reopen for suppressed ones', () => {
  assert.deepEqual(statusActions(finding()), ['suppress']);
  assert.deepEqual(statusActions(finding({ status: 'suppressed' })), ['reopen']);
  assert.deepEqual(statusActions(finding({ status: 'resolved' })), []);
});

test('what an action did, from the answer or the finding', () => {
  const f = finding();
  assert.equal(actionDoneText('revoke-certificate', f, { certificate: f.resourceId, status: 'REVOKED' }), `Certificate ${shortId(f.resourceId)} is REVOKED.`);
  assert.equal(actionDoneText('disable-ca', { resourceId: 'ski' }, { ca: 'ski', status: 'INACTIVE' }), 'CA ski is INACTIVE.');
  assert.equal(actionDoneText('kick-device', f, { deviceId: 'SN-1', status: 'DISCONNECT_REQUESTED' }), 'Disconnect requested for SN-1.');
  assert.equal(actionDoneText('kick-device', f, {}), 'Disconnect requested for SN-1.');
  assert.equal(actionDoneText('quarantine-device', f, { deviceId: 'SN-1', status: 'QUARANTINED' }), 'SN-1 is in quarantine.');
  assert.equal(actionDoneText('quarantine-device', f, {}), 'SN-1 is in quarantine.');
});

test('the check filter: the run\'s checks and the findings\' own, sorted, keeping the selection', () => {
  const run = { checks: { WEAK_KEY_CHECK: 0, DEVICE_CERTIFICATE_EXPIRING_CHECK: 2 } };
  assert.deepEqual(checkNames(run, ['TLS_VERSION_CHECK', 'WEAK_KEY_CHECK'], 'X_CHECK'), ['DEVICE_CERTIFICATE_EXPIRING_CHECK', 'TLS_VERSION_CHECK', 'WEAK_KEY_CHECK', 'X_CHECK']);
  assert.deepEqual(checkNames(false, null, ''), []);
});

test('short ids keep both ends of a fingerprint', () => {
  assert.equal(shortId('0123456789abcdef0123456789abcdef'), '01234567…89abcdef');
  assert.equal(shortId('SN-1'), 'SN-1');
  assert.equal(shortId(undefined), '');
});

test('suppress: a reason is required, the end date must be a future day', () => {
  const now = Date.UTC(2026, 11, 3, 17, 0);
  assert.deepEqual(suppressBody('  known test key ', '', now), { body: { status: 'suppressed', reason: 'known test key' } });
  assert.deepEqual(suppressBody('ok', '2027-01-31', now), { body: { status: 'suppressed', reason: 'ok', until: '2027-01-31T00:00:00.000Z' } });
  assert.equal(suppressBody('', '', now).problems.reason, 'Enter why the finding is suppressed.');
  assert.match(suppressBody('x'.repeat(501), '', now).problems.reason, /500/);
  assert.equal(suppressBody('ok', '2026-12-03', now).problems.until, 'The date must be in the future.');
  assert.equal(suppressBody('ok', '2027-02-30', now).problems.until, 'Enter a date (YYYY-MM-DD).');
  assert.equal(suppressBody('ok', 'tomorrow', now).problems.until, 'Enter a date (YYYY-MM-DD).');
});

test('a finding whose status changed leaves a list filtered by another status', () => {
  assert.equal(keepsInList({ status: 'suppressed' }, 'open'), false);
  assert.equal(keepsInList({ status: 'open' }, 'open'), true);
  assert.equal(keepsInList({ status: 'suppressed' }, ''), true);
});
