// The console's catalog file parser (src/catalog-import.js): CSV per RFC 4180 and JSON lines,
// rows checked like the server checks them. Run: cd web && npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFormat, parseImport } from '../src/catalog-import.js';

test('CSV: quotes, escaped quotes, commas and line breaks in fields, CRLF, BOM, bad rows', () => {
  const csv =
    '\ufeffdeviceId,modelNumber,details,claimCode\r\n' +
    'SN1,M1,"{""a"":""x,y""}",\r\n' +
    'bad serial,M1,,\r\n' +
    'SN2,M1,,code1\r\n' +
    'SN1,M1,,\r\n' +
    '"SN3",M2,"{""multi"":\n""line""}",\r\n' +
    'SN4,M1\r\n' +
    'SN5,M1,[1],\r\n' +
    '\r\n';
  const r = parseImport(csv, 'catalog.csv');
  assert.equal(r.fatal, undefined);
  assert.equal(r.total, 7);
  assert.deepEqual(r.rows.map((x) => [x.row, x.line, x.entry]), [
    [1, 2, { deviceId: 'SN1', modelNumber: 'M1', details: { a: 'x,y' } }],
    [3, 4, { deviceId: 'SN2', modelNumber: 'M1', claimCode: 'code1' }],
    [5, 6, { deviceId: 'SN3', modelNumber: 'M2', details: { multi: 'line' } }],
  ]);
  assert.deepEqual(r.errors.map((e) => [e.row, e.line]), [[2, 3], [4, 5], [6, 8], [7, 9]]);
  assert.match(r.errors[1].message, /repeats an earlier row/);
  assert.match(r.errors[3].message, /details must be a JSON object/);
});

test('CSV: any column order; header problems are fatal', () => {
  const r = parseImport('details,modelNumber,deviceId\n,M1,SN1\n', 'x.csv');
  assert.deepEqual(r.rows.map((x) => x.entry), [{ deviceId: 'SN1', modelNumber: 'M1' }]);
  assert.match(parseImport('foo,bar\n', 'x.csv').fatal, /column "foo" is unknown/);
  assert.match(parseImport('deviceId,modelNumber\n', 'x.csv').fatal, /details are required/);
  assert.match(parseImport('\n\n', 'x.csv').fatal, /empty/);
  assert.match(parseImport('deviceId,deviceId,details\n', 'x.csv').fatal, /repeated/);
  const open = parseImport('deviceId,modelNumber,details\nSN1,M1,"{\n', 'x.csv');
  assert.match(open.errors[0].message, /unterminated/);
});

test('JSON lines: blank lines skipped, bad JSON and non-objects reported', () => {
  const r = parseImport('{"deviceId":"A","modelNumber":"M"}\n\nnope\n[1]\n{"deviceId":"B","modelNumber":"M","details":{"k":1},"claimCode":"abcd"}\n', 'x.jsonl');
  assert.equal(r.total, 4);
  assert.deepEqual(r.rows.map((x) => x.entry.deviceId), ['A', 'B']);
  assert.deepEqual(r.rows[1].entry, { deviceId: 'B', modelNumber: 'M', details: { k: 1 }, claimCode: 'abcd' });
  assert.deepEqual(r.errors.map((e) => [e.row, e.line, e.message]), [[2, 3, 'not valid JSON'], [3, 4, 'not a JSON object']]);
});

test('format detection by extension, else by the first character', () => {
  assert.equal(detectFormat('a.CSV', '{'), 'csv');
  assert.equal(detectFormat('a.ndjson', 'x'), 'jsonl');
  assert.equal(detectFormat('a.txt', '  {"deviceId":1}'), 'jsonl');
  assert.equal(detectFormat('', 'deviceId,modelNumber,details'), 'csv');
});

test('caId: an optional CSV column and JSON-lines key; empty means unbound', () => {
  const csv = parseImport('deviceId,modelNumber,details,caId\nSN1,M1,,AB:CD\nSN2,M1,,\n', 'x.csv');
  assert.deepEqual(csv.rows.map((x) => x.entry), [
    { deviceId: 'SN1', modelNumber: 'M1', caId: 'AB:CD' },
    { deviceId: 'SN2', modelNumber: 'M1' },
  ]);
  const lines = parseImport('{"deviceId":"A","modelNumber":"M","caId":"ABCD"}\n{"deviceId":"B","modelNumber":"M","caId":null}\n', 'x.jsonl');
  assert.deepEqual(lines.rows.map((x) => x.entry), [
    { deviceId: 'A', modelNumber: 'M', caId: 'ABCD' },
    { deviceId: 'B', modelNumber: 'M' },
  ]);
});
