// Device state and command bodies (src/device-state.js): what the Status card shows and what the
// Commands tab sends, checked like the server checks it. Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  byteOffsetToIndex,
  connectedOf,
  declaredCommand,
  declaredCommands,
  fmtTemp,
  modeCommand,
  queryErrorPosition,
  targetProblem,
  tempCommand,
} from '../src/device-state.js';

const reported = (r, extra = {}) => ({ state: { reported: r }, metadata: {}, version: 3, timestamp: 1, ...extra });

test('target temperature: a number from 50 to 110 °F', () => {
  assert.equal(targetProblem('50'), null);
  assert.equal(targetProblem(' 110 '), null);
  assert.equal(targetProblem('72.25'), null);
  assert.equal(targetProblem(''), 'Enter a target temperature.');
  assert.equal(targetProblem('abc'), 'The target temperature must be a number.');
  assert.equal(targetProblem('49.99'), 'The target temperature must be between 50 and 110 °F.');
  assert.equal(targetProblem('110.01'), 'The target temperature must be between 50 and 110 °F.');
});

test('connectivity: the status route first, the device list when the status is {}', () => {
  assert.equal(connectedOf({ connected: false }, { connected: true }), false);
  assert.equal(connectedOf({}, { connected: true }), true);
  assert.equal(connectedOf({}, null), null);
  assert.equal(connectedOf(null, { connected: false }), false);
});

test('temperatures: numbers and numeric strings, N/A otherwise', () => {
  assert.equal(fmtTemp(72.456), '72.46 °F');
  assert.equal(fmtTemp('71'), '71 °F');
  assert.equal(fmtTemp(undefined), 'N/A');
  assert.equal(fmtTemp('warm'), 'N/A');
});

test('set mode: the reported state with the mode swapped in', () => {
  const st = reported({ powerStatus: 'OFF', actualTemperature: 73, targetTemperature: 71.5 });
  assert.deepEqual(modeCommand(st, 'AC', ''), {
    ask: 'turn on the AC',
    body: { commandDetails: { command: 'set-mode', value: 'AC' }, shadowDetails: { powerStatus: 'AC', actualTemperature: 73, targetTemperature: 71.5 } },
  });
  assert.deepEqual(modeCommand(st, 'COOL', '').error, 'Choose HEAT, AC or OFF.');
});

test('set mode on a device that never reported: the desired or the typed target, else an error', () => {
  assert.deepEqual(modeCommand({}, 'HEAT', '68').body, {
    commandDetails: { command: 'set-mode', value: 'HEAT' },
    shadowDetails: { powerStatus: 'HEAT', targetTemperature: 68 },
  });
  const desired = { state: { desired: { targetTemperature: 70 } } };
  assert.equal(modeCommand(desired, 'OFF', '').body.shadowDetails.targetTemperature, 70);
  assert.equal(modeCommand({}, 'HEAT', '').error, 'Enter a target temperature.');
  assert.equal(modeCommand({}, 'HEAT', '200').error, 'The target temperature must be between 50 and 110 °F.');
});

test('set temperature: validated, rounded to 2 decimals and kept a number, refused when unchanged', () => {
  const st = reported({ powerStatus: 'HEAT', actualTemperature: 69, targetTemperature: 70 });
  assert.deepEqual(tempCommand(st, '72.456'), {
    ask: 'set the temperature to 72.46 °F',
    body: { commandDetails: { command: 'set-temp', value: 72.46 }, shadowDetails: { powerStatus: 'HEAT', actualTemperature: 69, targetTemperature: 72.46 } },
  });
  assert.equal(tempCommand(st, '70.001').error, 'The target is already 70 °F.');
  assert.equal(tempCommand(st, '45').error, 'The target temperature must be between 50 and 110 °F.');
  assert.equal(tempCommand({}, '70').error, 'The device has not reported its mode yet: set a mode first.');
  assert.equal(tempCommand({ state: { desired: { powerStatus: 'AC' } } }, '70').body.shadowDetails.powerStatus, 'AC');
});

test('query error position: from the body, else from the message', () => {
  assert.equal(queryErrorPosition({ position: 7, message: 'x' }), 7);
  assert.equal(queryErrorPosition({ column: 0 }), 0);
  assert.equal(queryErrorPosition({ message: 'unexpected end of query at position 12' }), 12);
  assert.equal(queryErrorPosition({ message: 'bad query' }), null);
  assert.equal(queryErrorPosition(null), null);
});

test('declared commands: read from the catalog details, checked as the server checks them', () => {
  assert.equal(declaredCommands({ color: 'white' }), null);
  assert.equal(declaredCommands(null), null);
  const specs = declaredCommands({
    commands: {
      'set-color': { type: 'enum', field: 'color', values: ['red', 'green'] },
      'set-brightness': { type: 'number', field: 'brightness', min: 0, max: 100 },
      say: { type: 'string', field: 'message', maxLength: 4 },
      broken: { type: 'blob', field: 'x' },
    },
  });
  assert.deepEqual(specs.map((s) => s.name), ['say', 'set-brightness', 'set-color']);
  const [say, bright, color] = specs;
  assert.deepEqual(declaredCommand(bright, '55.555'), {
    ask: 'send set-brightness 55.56',
    body: { commandDetails: { command: 'set-brightness', value: 55.56 } },
  });
  assert.equal(declaredCommand(bright, '101').error, 'set-brightness: the value must be from 0 to 100.');
  assert.equal(declaredCommand(bright, '').error, 'set-brightness: enter a number.');
  assert.deepEqual(declaredCommand(color, 'red').body, { commandDetails: { command: 'set-color', value: 'red' } });
  assert.equal(declaredCommand(color, 'blue').error, 'set-color: choose one of red, green.');
  assert.equal(declaredCommand(say, 'héé').error, 'say: at most 4 bytes.');
  assert.equal(declaredCommand(say, 'hi').body.commandDetails.value, 'hi');
});

test('a byte offset of the server is a character index of the query', () => {
  assert.equal(byteOffsetToIndex('abc', 2), 2);
  assert.equal(byteOffsetToIndex('é:(', 2), 1);
  assert.equal(byteOffsetToIndex('ab', 9), 2);
});
