import assert from 'node:assert/strict';
import { test } from 'node:test';
import { columns, kRanges, pointValue, toUnit } from '../src/telemetry-data.js';

test('ranges pick raw, 1m, 1h, 1d', () => {
  assert.deepEqual(kRanges.map((r) => [r.value, r.interval]), [['1h', 'raw'], ['24h', '1m'], ['7d', '1h'], ['30d', '1d']]);
});

test('°C converts for display, °F is the stored unit', () => {
  assert.equal(toUnit(212, 'C'), 100);
  assert.equal(toUnit(32, 'C'), 0);
  assert.equal(toUnit(71.5, 'F'), 71.5);
});

test('raw numbers and rollup averages; anything else is a gap', () => {
  assert.equal(pointValue({ t: 1, actualTemperature: 70 }, 'actualTemperature'), 70);
  assert.equal(pointValue({ t: 1, actualTemperature: { avg: 69.5, min: 60, max: 80 } }, 'actualTemperature'), 69.5);
  assert.equal(pointValue({ t: 1, actualTemperature: 'hot' }, 'actualTemperature'), null);
  assert.equal(pointValue({ t: 1 }, 'targetTemperature'), null);
});

test('columns: seconds in time order, converted, gaps kept as null', () => {
  const pts = [
    { t: 2000, actualTemperature: 212, targetTemperature: 32 },
    { t: 1000, actualTemperature: 32 },
  ];
  assert.deepEqual(columns(pts, 'C'), [[1, 2], [0, 100], [null, 0]]);
  assert.deepEqual(columns(pts, 'F'), [[1, 2], [32, 212], [null, 32]]);
});
