// Parses a catalog import file in the browser, as `smartproductctl catalog import` does:
//   CSV (RFC 4180: quoted fields, "" escapes, commas and line breaks inside quotes, CRLF or LF) with
//       the header deviceId,modelNumber,details[,claimCode][,caId] in any order; details is a JSON object
//       (an empty cell means {}), an empty claimCode or caId cell means none;
//   JSON lines: one object per line with those keys (blank lines skipped).
// Rows are checked like the server checks them so bad rows are listed before anything is sent;
// the server stays authoritative (its answer for each posted row is reported too).
import { claimCodeProblem, modelNumberProblem, serialProblem } from './validate.js';

/** '.csv' -> csv, '.jsonl'/'.ndjson'/'.json' -> jsonl, else the first non-blank character decides. */
export function detectFormat(fileName, text) {
  const n = (fileName || '').toLowerCase();
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.jsonl') || n.endsWith('.ndjson') || n.endsWith('.json')) return 'jsonl';
  return text.trimStart().startsWith('{') ? 'jsonl' : 'csv';
}

/** Splits CSV text into records {fields, line, error?}; line is where the record starts. */
function* csvRecords(text) {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields = [];
    let field = '';
    let error = null;
    for (;;) {
      if (text[i] === '"' && field === '') {
        // Quoted field: runs to the closing quote; "" is a literal quote.
        i++;
        let closed = false;
        while (i < n) {
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (!closed) error = 'unterminated quoted field';
        // Anything between the closing quote and the next separator is malformed.
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] !== ' ' && text[i] !== '\t') error = error || 'text after a closing quote';
          i++;
        }
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\n') field += text[i++];
      }
      fields.push(field.replace(/\r$/, ''));
      field = '';
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      if (i < n && text[i] === '\r') i++;
      if (i < n && text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    yield { fields, line: start, error };
  }
}

function checkEntry(e) {
  return serialProblem(e.deviceId) || modelNumberProblem(e.modelNumber) || claimCodeProblem(e.claimCode || '');
}

/**
 * Returns {rows: [{row, line, entry}], errors: [{row, line, message}], total, fatal?}. row is the
 * data row number (1-based, header not counted), line the file line where it starts.
 */
export function parseImport(text, fileName) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // spreadsheet exports start with a BOM
  const format = detectFormat(fileName, text);
  const out = { rows: [], errors: [], total: 0, format };
  const seen = new Set();
  const accept = (row, line, entry) => {
    const problem = checkEntry(entry);
    const key = `${entry.deviceId}\u0000${entry.modelNumber}`;
    if (problem) out.errors.push({ row, line, message: problem });
    else if (seen.has(key)) out.errors.push({ row, line, message: `${entry.deviceId} / ${entry.modelNumber} repeats an earlier row.` });
    else {
      seen.add(key);
      out.rows.push({ row, line, entry });
    }
  };

  if (format === 'jsonl') {
    const lines = text.split('\n');
    let row = 0;
    lines.forEach((raw, idx) => {
      const l = raw.trim();
      if (!l) return;
      row++;
      out.total++;
      let o;
      try {
        o = JSON.parse(l);
      } catch {
        out.errors.push({ row, line: idx + 1, message: 'not valid JSON' });
        return;
      }
      if (!o || typeof o !== 'object' || Array.isArray(o)) {
        out.errors.push({ row, line: idx + 1, message: 'not a JSON object' });
        return;
      }
      const entry = { deviceId: String(o.deviceId ?? ''), modelNumber: String(o.modelNumber ?? '') };
      if (o.details != null) {
        if (typeof o.details !== 'object' || Array.isArray(o.details)) {
          out.errors.push({ row, line: idx + 1, message: 'details must be a JSON object' });
          return;
        }
        entry.details = o.details;
      }
      if (o.claimCode != null && o.claimCode !== '') entry.claimCode = String(o.claimCode);
      if (o.caId != null && o.caId !== '') entry.caId = String(o.caId);
      accept(row, idx + 1, entry);
    });
    return out;
  }

  const it = csvRecords(text);
  // Not for-of: leaving that loop with break would close the generator.
  let header = null;
  for (let r = it.next(); !r.done; r = it.next()) {
    if (!r.value.error && r.value.fields.length === 1 && !r.value.fields[0].trim()) continue; // blank lines before the header
    header = r.value;
    break;
  }
  if (!header) {
    out.fatal = 'The file is empty (expected the header deviceId,modelNumber,details[,claimCode][,caId]).';
    return out;
  }
  if (header.error) {
    out.fatal = `Line ${header.line}: bad CSV header: ${header.error}.`;
    return out;
  }
  const index = { deviceId: -1, modelNumber: -1, details: -1, claimCode: -1, caId: -1 };
  for (const [i, name] of header.fields.map((f) => f.trim()).entries()) {
    if (!(name in index) || index[name] !== -1) {
      out.fatal = `Bad CSV header: column "${name}" is ${name in index ? 'repeated' : 'unknown'} (expected deviceId,modelNumber,details[,claimCode][,caId]).`;
      return out;
    }
    index[name] = i;
  }
  if (index.deviceId < 0 || index.modelNumber < 0 || index.details < 0) {
    out.fatal = 'Bad CSV header: deviceId, modelNumber and details are required.';
    return out;
  }
  let row = 0;
  for (const rec of it) {
    if (!rec.error && rec.fields.length === 1 && rec.fields[0] === '') continue; // blank line
    row++;
    out.total++;
    if (rec.error) {
      out.errors.push({ row, line: rec.line, message: rec.error });
      continue;
    }
    if (rec.fields.length !== header.fields.length) {
      out.errors.push({ row, line: rec.line, message: `${rec.fields.length} fields, the header has ${header.fields.length}` });
      continue;
    }
    const cell = (k) => (index[k] >= 0 ? rec.fields[index[k]].trim() : '');
    const entry = { deviceId: cell('deviceId'), modelNumber: cell('modelNumber') };
    const details = cell('details');
    if (details) {
      let d;
      try {
        d = JSON.parse(details);
      } catch {
        d = undefined;
      }
      if (!d || typeof d !== 'object' || Array.isArray(d)) {
        out.errors.push({ row, line: rec.line, message: 'details must be a JSON object' });
        continue;
      }
      entry.details = d;
    }
    if (cell('claimCode')) entry.claimCode = cell('claimCode');
    if (cell('caId')) entry.caId = cell('caId');
    accept(row, rec.line, entry);
  }
  return out;
}
