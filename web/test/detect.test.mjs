// Detection's console logic (src/detect.js): the security profiles editor's forms <-> the API's
// JSON and their checks, where a server 422 points, and the texts of violations and quarantine.
// Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  errorKey,
  formToRule,
  formatNumber,
  formatSeconds,
  formsChanged,
  kMaxProfiles,
  kMaxRules,
  kMetrics,
  metricOptions,
  metricValue,
  newProfileForm,
  newRuleForm,
  problemKey,
  profileToForm,
  profilesBody,
  profilesToForms,
  quarantineBody,
  quarantineOf,
  quarantineSourceText,
  ruleSummary,
  ruleToForm,
  violationValueText,
  violationsFilter,
} from '../src/detect.js';

const staticRule = { name: 'too-many-messages', metric: 'messages-sent', comparison: 'greater-than', value: 600, durationSeconds: 300, action: 'quarantine', clearAfterSeconds: 600 };
const statRule = { name: 'burst', metric: 'bytes-sent', statistic: 'p99', minSamples: 20, durationSeconds: 60, action: 'notify', clearAfterSeconds: 120 };
const answer = { profiles: [{ name: 'flood-guard', model: null, rules: [staticRule, statRule] }, { name: 'th.v2', model: 'TH-100', rules: [] }], metrics: kMetrics };

test('GET → forms → PUT body gives the same profiles back (static and statistical rules, model null)', () => {
  const { forms, metrics } = profilesToForms(answer);
  assert.deepEqual(metrics, kMetrics);
  assert.equal(forms[0].model, '');
  assert.equal(forms[1].model, 'TH-100');
  assert.equal(forms[0].rules[0].kind, 'static');
  assert.equal(forms[0].rules[0].value, '600');
  assert.equal(forms[0].rules[1].kind, 'statistical');
  assert.equal(forms[0].rules[1].minSamples, '20');
  // keys are unique, so the editor can keep rows while the lists change
  const keys = [forms[0].key, forms[1].key, ...forms[0].rules.map((r) => r.key)];
  assert.equal(new Set(keys).size, keys.length);
  forms[1].rules.push(ruleToForm({ ...staticRule, name: 'r' }, metrics));
  const r = profilesBody(forms, metrics);
  assert.equal(r.problems, undefined, JSON.stringify(r.problems));
  assert.deepEqual(r.body.profiles[0], answer.profiles[0]);
  assert.deepEqual(r.body.profiles[1], { name: 'th.v2', model: 'TH-100', rules: [{ ...staticRule, name: 'r' }] });
});

test('a statistical rule has no comparison / value, a static one no statistic / minSamples; switching kinds keeps defaults', () => {
  const f = ruleToForm(staticRule);
  assert.equal(f.statistic, 'p99');
  assert.equal(f.minSamples, '20');
  const stat = formToRule({ ...f, kind: 'statistical', statistic: 'p90' }).rule;
  assert.deepEqual(stat, { name: 'too-many-messages', metric: 'messages-sent', statistic: 'p90', durationSeconds: 300, minSamples: 20, action: 'quarantine', clearAfterSeconds: 600 });
  const back = formToRule({ ...ruleToForm(statRule), kind: 'static', value: '1.5', comparison: 'less-than-equals' }).rule;
  assert.deepEqual(back, { name: 'burst', metric: 'bytes-sent', comparison: 'less-than-equals', value: 1.5, durationSeconds: 60, action: 'notify', clearAfterSeconds: 120 });
  assert.equal('statistic' in back || 'minSamples' in back, false);
});

test('rule checks: name, metric from the list, numbers, choices', () => {
  const bad = formToRule({ ...newRuleForm(), name: 'bad name!', metric: 'cpu', value: 'ten', durationSeconds: '0', clearAfterSeconds: '-1', action: 'delete', comparison: 'about' }, kMetrics);
  assert.deepEqual(Object.keys(bad.problems).sort(), ['action', 'clearAfterSeconds', 'comparison', 'durationSeconds', 'metric', 'name', 'value']);
  assert.match(formToRule({ ...newRuleForm(), name: '' }).problems.name, /Enter a rule name/);
  assert.match(formToRule({ ...newRuleForm(), name: 'x', value: '-3' }).problems.value, /0 or more/);
  assert.match(formToRule({ ...newRuleForm(), name: 'x', value: '1', durationSeconds: '1.5' }).problems.durationSeconds, /whole number/);
  const st = formToRule({ ...newRuleForm(), name: 'x', kind: 'statistical', statistic: 'p50', minSamples: '0' });
  assert.deepEqual(Object.keys(st.problems).sort(), ['minSamples', 'statistic']);
  // a static rule's value is not needed for a statistical one
  assert.ok(formToRule({ ...newRuleForm(), name: 'x', kind: 'statistical', value: 'junk' }).rule);
  // the metric must be one the server offers; a rule's own unknown metric stays selectable in the form
  assert.ok(formToRule({ ...newRuleForm(), name: 'x', value: '1', metric: 'disconnects' }, ['disconnects']).rule);
  assert.ok(formToRule({ ...newRuleForm(), name: 'x', value: '1', metric: 'messages-sent' }, ['disconnects']).problems.metric);
  assert.deepEqual(metricOptions(['a', 'b'], ['c', 'a', '']), ['a', 'b', 'c']);
  assert.deepEqual(metricOptions(undefined), kMetrics);
  // limits the server judges (clear time shorter than the window) pass the page's checks
  assert.ok(formToRule({ ...newRuleForm(), name: 'x', value: '1', durationSeconds: '300', clearAfterSeconds: '60' }).rule);
  // trimmed
  assert.equal(formToRule({ ...newRuleForm(), name: ' x ', value: ' 7 ' }).rule.value, 7);
});

test('profile checks: names, unique names, rule names unique per profile, limits; no rules is allowed', () => {
  const a = newProfileForm();
  const b = newProfileForm();
  a.name = 'dup';
  b.name = 'dup';
  a.rules[0] = { ...a.rules[0], name: 'r', value: '1' };
  b.rules = [{ ...newRuleForm(), name: 'r', value: '1' }, { ...newRuleForm(), name: 'r', value: '2' }];
  const c = { ...newProfileForm(), name: 'no/slash', rules: [] };
  const r = profilesBody([a, b, c]);
  assert.equal(r.body, undefined);
  assert.match(r.problems[problemKey(b, null, 'name')], /Another profile is named dup/);
  assert.equal(r.problems[problemKey(a, null, 'name')], undefined);
  assert.match(r.problems[problemKey(b, b.rules[1], 'name')], /Another rule of this profile/);
  assert.match(r.problems[problemKey(c, null, 'name')], /letters, digits/);
  assert.equal(r.problems[problemKey(c, null, 'rules')], undefined);
  assert.equal(r.count, 3);
  assert.deepEqual(profilesBody([{ ...c, name: 'empty' }]).body.profiles, [{ name: 'empty', model: null, rules: [] }]);
  // the same rule name in two profiles is fine
  b.name = 'other';
  b.rules.pop();
  assert.deepEqual(profilesBody([a, b]).body.profiles.map((p) => p.rules[0].name), ['r', 'r']);
  // limits
  const many = Array.from({ length: kMaxProfiles + 1 }, (_, i) => ({ ...newProfileForm(), name: `p${i}`, rules: [{ ...newRuleForm(), name: 'r', value: '1' }] }));
  assert.match(profilesBody(many).problems.form, /At most 50 profiles/);
  const big = { ...newProfileForm(), name: 'big', rules: Array.from({ length: kMaxRules + 1 }, (_, i) => ({ ...newRuleForm(), name: `r${i}`, value: '1' })) };
  assert.match(profilesBody([big]).problems[problemKey(big, null, 'rules')], /At most 20 rules/);
  // no profiles at all: PUT {profiles: []} clears them
  assert.deepEqual(profilesBody([]), { body: { profiles: [] } });
});

test('the server 422 message points at the field of the list that was sent', () => {
  const { forms } = profilesToForms(answer);
  const [p0, p1] = forms;
  assert.equal(errorKey('profiles[0].rules[1].clearAfterSeconds must be a whole number from durationSeconds (60) to 604800.', forms), problemKey(p0, p0.rules[1], 'clearAfterSeconds'));
  assert.equal(errorKey("profiles[1].name 'x' is used by another profile.", forms), problemKey(p1, null, 'name'));
  assert.equal(errorKey('profiles[1].model must be a model number (1 to 128 characters) or null.', forms), problemKey(p1, null, 'model'));
  assert.equal(errorKey('profiles[0].rules[0] has both statistic and value: a rule is either statistical or static.', forms), problemKey(p0, p0.rules[0], 'rule'));
  assert.equal(errorKey('profiles[1].rules[5].name must be …', forms), problemKey(p1, null, 'rules'));
  assert.equal(errorKey('profiles[7].name must be …', forms), null);
  assert.equal(errorKey('profiles may hold at most 50 profiles.', forms), null);
  assert.equal(errorKey(undefined, forms), null);
});

test('changed: only what the PUT would send counts', () => {
  const saved = profilesToForms(answer).forms;
  const copy = saved.map((p) => ({ ...p, rules: p.rules.map((r) => ({ ...r })) }));
  assert.equal(formsChanged(copy, saved), false);
  copy[0].rules[0].value = ' 600 ';
  assert.equal(formsChanged(copy, saved), false);
  copy[0].rules[0].value = '601';
  assert.equal(formsChanged(copy, saved), true);
  assert.equal(formsChanged([...saved, newProfileForm()], saved), true);
});

test('numbers, durations and rule / violation texts', () => {
  assert.equal(formatNumber(812), '812');
  assert.equal(formatNumber(2.3456), '2.35');
  assert.equal(formatNumber(null), '—');
  assert.equal(formatNumber('x'), '—');
  assert.equal(formatSeconds(45), '45 s');
  assert.equal(formatSeconds(90), '90 s');
  assert.equal(formatSeconds(300), '5 min');
  assert.equal(formatSeconds(5400), '1 h 30 min');
  assert.equal(formatSeconds(86400), '1 d');
  assert.equal(formatSeconds(90000), '1 d 1 h');
  assert.equal(formatSeconds(undefined), '—');
  assert.equal(metricValue('bytes-sent', 1200), '1200 bytes');
  assert.equal(metricValue('messages-sent', 3), '3');
  assert.equal(ruleSummary(staticRule), 'messages-sent > 600 in 5 min → quarantine (clears after 10 min)');
  assert.equal(ruleSummary(statRule), "bytes-sent above the device's p99 (after 20 windows) in 1 min → notify (clears after 2 min)");
  assert.equal(violationValueText({ metric: 'messages-sent', value: 812, threshold: 600, statistic: null }), '812 (limit 600)');
  assert.equal(violationValueText({ metric: 'bytes-sent', value: 9000.5, threshold: 4000, statistic: 'p99' }), '9000.5 bytes (p99 baseline 4000 bytes)');
});

test('violations filter, quarantine entries and the quarantine form', () => {
  assert.deepEqual(violationsFilter('active', ''), { status: 'active' });
  assert.deepEqual(violationsFilter('', 'SN1'), { deviceId: 'SN1' });
  const res = { Items: [{ deviceId: 'SN1', source: 'detect', violationId: 12, by: 'detect' }, { deviceId: 'SN2', source: 'admin', violationId: null, by: 'u-1' }], Count: 2 };
  assert.equal(quarantineOf(res, 'SN2').by, 'u-1');
  assert.equal(quarantineOf(res, 'SN3'), null);
  assert.equal(quarantineOf(undefined, 'SN1'), null);
  assert.equal(quarantineSourceText(res.Items[0]), 'Detection (violation 12)');
  assert.equal(quarantineSourceText(res.Items[1]), 'Administrator (u-1)');
  assert.equal(quarantineSourceText({ source: 'audit', by: 'u-2' }), 'Audit (u-2)');
  assert.deepEqual(quarantineBody('  '), { body: {} });
  assert.deepEqual(quarantineBody(' noisy '), { body: { reason: 'noisy' } });
  assert.ok(quarantineBody('x'.repeat(501)).problems.reason);
});
