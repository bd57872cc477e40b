// The security audit's logic for the console (no DOM): counts by severity, which mitigations apply
// to a finding, the check filter's names and the suppress form's checks. Unit tests in test/.

/** Severities, most severe first (the server's names). */
export const kSeverities = ['critical', 'high', 'medium', 'low'];

/** Finding statuses the findings filter offers; '' = any. */
export const kFindingStatuses = ['open', 'suppressed', 'resolved'];

export const kSeverityBadge = { critical: 'badge-red', high: 'badge-red', medium: 'badge-amber', low: 'badge-blue' };
export const kRunBadge = { completed: 'badge-green', running: 'badge-blue', failed: 'badge-red' };

/** {critical, high, medium, low} counted over `findings` (other severities are ignored). */
export function countBySeverity(findings) {
  const counts = Object.fromEntries(kSeverities.map((s) => [s, 0]));
  for (const f of findings || []) if (f && Object.hasOwn(counts, f.severity)) counts[f.severity] += 1;
  return counts;
}

/**
 * The tiles' figures from GET /api/admin/audit/summary ({open: {severity: n}, openByCheck}):
 * {counts, total, checks, truncated}. The server counts every live finding, so nothing is partial.
 */
export function summaryCounts(summary) {
  const counts = countBySeverity([]);
  const open = (summary && summary.open) || {};
  for (const s of kSeverities) if (Number.isInteger(open[s]) && open[s] > 0) counts[s] = open[s];
  const total = kSeverities.reduce((n, s) => n + counts[s], 0);
  const byCheck = summary && summary.openByCheck && typeof summary.openByCheck === 'object' ? summary.openByCheck : {};
  return { counts, total, checks: Object.keys(byCheck), truncated: false };
}

/** The device a finding is about: its resource when that is a device, else details.deviceId. */
export function findingDeviceId(f) {
  if (!f) return null;
  if (f.resourceType === 'device' && f.resourceId) return f.resourceId;
  const d = f.details && f.details.deviceId;
  return typeof d === 'string' && d ? d : null;
}

// A revoked certificate cannot be revoked again, and an inactive CA not disabled again: the
// findings about those ask for the other remedies (disconnect, fix the broker's trust store).
const kAlreadyRevoked = 'REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK';

/**
 * The mitigation actions that apply to a finding, as the server decides them
 * (POST …/findings/{id}/actions): [{action, label, title, text}]. None for resolved findings.
 * A device's findings can disconnect it or put it in quarantine (the detect module's).
 */
export function findingActions(f) {
  if (!f || f.status === 'resolved') return [];
  const out = [];
  const device = findingDeviceId(f);
  if (f.resourceType === 'certificate' && device && f.check !== kAlreadyRevoked) {
    out.push({
      action: 'revoke-certificate',
      label: 'Revoke certificate',
      title: 'Revoke the certificate?',
      text: `The certificate of ${device} is refused from now on and a connection using it is closed. The device needs a new certificate to connect again.`,
    });
  }
  const caStatus = f.details && f.details.status;
  if (f.resourceType === 'ca' && (!caStatus || caStatus === 'ACTIVE')) {
    out.push({
      action: 'disable-ca',
      label: 'Disable CA',
      title: 'Disable the CA?',
      text: `The CA ${(f.details && f.details.name) || f.resourceId} is set INACTIVE: devices with its certificates can no longer connect or register.`,
    });
  }
  if (device) {
    out.push({
      action: 'kick-device',
      label: 'Disconnect device',
      title: 'Disconnect the device?',
      text: `${device} is disconnected from the broker now. It may reconnect unless its certificate is revoked.`,
    });
    out.push({
      action: 'quarantine-device',
      label: 'Quarantine device',
      title: 'Quarantine the device?',
      text: `The broker refuses the publishes of ${device} from now on, except to its shadow and command responses, until an admin releases it (Security → Detection).`,
    });
  }
  return out;
}

/** What a successful action on finding `f` did, as a sentence (from the answer where it says). */
export function actionDoneText(action, f, res) {
  const r = res || {};
  if (action === 'revoke-certificate') return `Certificate ${shortId(r.certificate || (f && f.resourceId))} is ${r.status || 'REVOKED'}.`;
  if (action === 'disable-ca') return `CA ${shortId(r.ca || (f && f.resourceId))} is ${r.status || 'INACTIVE'}.`;
  if (action === 'kick-device') return `Disconnect requested for ${r.deviceId || findingDeviceId(f) || 'the device'}.`;
  if (action === 'quarantine-device') return `${r.deviceId || findingDeviceId(f) || 'The device'} is in quarantine.`;
  return 'Done.';
}

/** Suppress (open findings) and Reopen (suppressed ones); nothing for resolved ones. */
export function statusActions(f) {
  if (!f) return [];
  if (f.status === 'open') return ['suppress'];
  if (f.status === 'suppressed') return ['reopen'];
  return [];
}

/** The check names for the filter: the latest run's checks and `checks` (the findings' own), sorted. */
export function checkNames(run, checks, selected) {
  const names = new Set(run && run.checks && typeof run.checks === 'object' ? Object.keys(run.checks) : []);
  for (const c of checks || []) if (c) names.add(c);
  if (selected) names.add(selected);
  return [...names].sort();
}

/** Long ids (fingerprints, key ids) shortened for tables: first and last 8 characters. */
export function shortId(id) {
  const s = String(id || '');
  return s.length > 24 ? `${s.slice(0, 8)}…${s.slice(-8)}` : s;
}

/**
 * The PUT body of the suppress form, or {problems} (field → message). until: '' or a date
 * 'YYYY-MM-DD' (the suppression ends at 00:00 UTC of that day, which must be in the future).
 */
export function suppressBody(reason, until, nowMs = Date.now()) {
  const problems = {};
  const r = (reason || '').trim();
  if (!r) problems.reason = 'Enter why the finding is suppressed.';
  else if (r.length > 500) problems.reason = 'The reason must have at most 500 characters.';
  let iso = null;
  if (until) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(until);
    const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
    if (!m || Number.isNaN(t) || new Date(t).getUTCDate() !== Number(m[3])) problems.until = 'Enter a date (YYYY-MM-DD).';
    else if (t <= nowMs) problems.until = 'The date must be in the future.';
    else iso = new Date(t).toISOString();
  }
  if (Object.keys(problems).length) return { problems };
  return { body: iso ? { status: 'suppressed', reason: r, until: iso } : { status: 'suppressed', reason: r } };
}

/** A finding after a status change, and whether it still belongs to a list filtered by `status`. */
export function keepsInList(updated, statusFilter) {
  return !statusFilter || (updated && updated.status === statusFilter);
}
