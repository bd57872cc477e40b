// Admin: the reference catalog (which serial/model numbers exist): browse with a model filter, add
// and delete entries, and import a CSV / JSON-lines file row by row (the CLI is for bulk imports).
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { parseImport } from '../catalog-import.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Button, Card, ConfirmDialog, Empty, Field, Notice, Select, Spinner, TextArea, Time } from '../ui.js';
import { claimCodeProblem, modelNumberProblem, serialProblem } from '../validate.js';
import { Details, ListFooter, usePagedList } from './admin.js';

const kShownErrors = 50;

// The registered CAs (not deregistered) for the "bound to" column and choice; [] until loaded or
// when the list cannot be read (the column then shows ids).
function useCas() {
  const [cas, setCas] = useState([]);
  useEffect(() => {
    let live = true;
    api
      .listCas()
      .then((r) => live && setCas(((r && r.Items) || []).filter((c) => c.status !== 'DEREGISTERED')))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, []);
  return cas;
}

function BoundCa({ caId, cas }) {
  if (!caId) return html`<span class="muted">Any</span>`;
  const ca = cas.find((c) => c.caId === caId);
  return html`<span class="mono" title=${caId}>${ca ? ca.name : `${caId.slice(0, 12)}…`}</span>`;
}

function CatalogTable({ model, added, onChanged, cas }) {
  const list = usePagedList((limit, cursor) => api.listCatalog(limit, cursor, model));
  const [toDelete, setToDelete] = useState(null);
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState(null);

  async function confirmDelete() {
    const e = toDelete;
    setDeleting(true);
    setError(null);
    try {
      await api.deleteCatalogEntry(e.deviceId, e.modelNumber);
      list.setItems((items) => items.filter((x) => !(x.deviceId === e.deviceId && x.modelNumber === e.modelNumber)));
      onChanged(`${e.deviceId} / ${e.modelNumber} was deleted.`);
    } catch (err) {
      setError(`${e.deviceId}: ${api.errorText(err)}`);
    } finally {
      setToDelete(null);
      setDeleting(false);
    }
  }

  // Entries added on this page show on top until the next reload (the list is ordered by the server).
  const items = list.items
    ? added.filter((a) => !model || a.modelNumber === model).concat(list.items.filter((x) => !added.some((a) => a.deviceId === x.deviceId && a.modelNumber === x.modelNumber)))
    : null;

  let body;
  if (!items) body = html`<${Spinner} label="Loading catalog…" />`;
  else if (!items.length && !list.error) body = html`<${Empty} title="No catalog entries.">${model ? `No entry has the model number ${model}.` : 'Add entries or import a file.'}<//>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive">
      <caption class="visually-hidden">Catalog entries</caption>
      <thead><tr><th scope="col">Serial Number</th><th scope="col">Model Number</th><th scope="col">Details</th><th scope="col">Claim code</th><th scope="col">CA</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${items.map(
        (e) => html`<tr key=${`${e.deviceId}\u0000${e.modelNumber}`}>
          <td data-label="Serial Number"><span class="mono strong">${e.deviceId}</span></td>
          <td data-label="Model Number">${e.modelNumber}</td>
          <td data-label="Details"><${Details} value=${e.details} /></td>
          <td data-label="Claim code">${e.hasClaimCode ? html`<span class="badge badge-blue">Yes</span>` : html`<span class="muted">—</span>`}</td>
          <td data-label="CA"><${BoundCa} caId=${e.caId} cas=${cas} /></td>
          <td data-label="Created"><${Time} iso=${e.createdAt} /></td>
          <td class="actions"><${Button} small kind="danger-ghost" label=${`Delete ${e.deviceId} ${e.modelNumber}`} onClick=${() => setToDelete(e)}>Delete<//></td>
        </tr>`,
      )}</tbody>
    </table></div>`;

  return html`<${Notice} kind="error">${list.error || error}<//>
    ${body}<${ListFooter} list=${list} />
    <${ConfirmDialog} open=${!!toDelete} title="Delete catalog entry?" confirmLabel="Delete" danger busy=${deleting}
      onConfirm=${confirmDelete} onCancel=${() => setToDelete(null)}>
      <p>Delete <span class="mono strong">${toDelete && toDelete.deviceId}</span> (${toDelete && toDelete.modelNumber}) from the catalog?
        It can no longer be registered; existing registrations are kept.</p>
    <//>`;
}

function parseDetails(text) {
  if (!text.trim()) return { value: undefined };
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return { value: v };
  } catch {
    /* reported below */
  }
  return { problem: 'Enter a JSON object, e.g. {"color": "white"}.' };
}

function AddEntry({ onAdded, cas }) {
  const empty = { deviceId: '', modelNumber: '', details: '', claimCode: '', caId: '' };
  const [f, setF] = useState(empty);
  const [problems, setProblems] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((o) => ({ ...o, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const d = parseDetails(f.details);
    const p = {
      deviceId: serialProblem(f.deviceId.trim()),
      modelNumber: modelNumberProblem(f.modelNumber.trim()),
      details: d.problem,
      claimCode: claimCodeProblem(f.claimCode.trim()),
    };
    setProblems(p);
    if (Object.values(p).some(Boolean)) return;
    setBusy(true);
    setError(null);
    try {
      const body = { deviceId: f.deviceId.trim(), modelNumber: f.modelNumber.trim() };
      if (d.value) body.details = d.value;
      if (f.claimCode.trim()) body.claimCode = f.claimCode.trim();
      if (f.caId) body.caId = f.caId;
      const entry = await api.addCatalogEntry(body);
      onAdded(entry && entry.deviceId ? entry : { ...body, hasClaimCode: !!body.claimCode });
      setF(empty);
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${Card} title="Add an entry" id="catalog-add">
    <form onSubmit=${submit} novalidate>
      <${Notice} kind="error">${error}<//>
      <${Field} label="Serial Number" name="deviceId" required value=${f.deviceId} onInput=${set('deviceId')} error=${problems.deviceId} autocomplete="off" />
      <${Field} label="Model Number" name="modelNumber" required value=${f.modelNumber} onInput=${set('modelNumber')} error=${problems.modelNumber} autocomplete="off" />
      <${TextArea} label="Details (JSON object)" name="details" rows=${3} value=${f.details} onInput=${set('details')} error=${problems.details}
        placeholder='{"model": "INFINITY 19", "color": "white"}' />
      <${Field} label="Claim code" name="claimCode" value=${f.claimCode} onInput=${set('claimCode')} error=${problems.claimCode}
        hint="Registering this serial then requires the code (stored hashed)." autocomplete="off" />
      <${Select} label="Certificates from" name="caId" value=${f.caId} onChange=${set('caId')}
        options=${[{ value: '', label: 'Any registered CA' }].concat(cas.map((c) => ({ value: c.caId, label: c.name })))} />
      <div class="form-actions"><${Button} type="submit" busy=${busy}>Add entry<//></div>
    </form>
  <//>`;
}

function ImportFile({ onDone }) {
  const [parsed, setParsed] = useState(null);
  const [fileName, setFileName] = useState('');
  const [readError, setReadError] = useState(null);
  const [progress, setProgress] = useState(null); // {sent, ok, failed: [{row, line, message}], running}
  const cancel = useRef(false);

  async function pick(e) {
    const file = e.currentTarget.files && e.currentTarget.files[0];
    setParsed(null);
    setProgress(null);
    setReadError(null);
    if (!file) return;
    setFileName(file.name);
    try {
      setParsed(parseImport(await file.text(), file.name));
    } catch (err) {
      setReadError(`Cannot read ${file.name}: ${err.message || err}`);
    }
  }

  async function run() {
    cancel.current = false;
    const failed = [];
    let ok = 0;
    setProgress({ sent: 0, ok: 0, failed, running: true });
    for (const [i, r] of parsed.rows.entries()) {
      if (cancel.current) break;
      try {
        await api.addCatalogEntry(r.entry);
        ok++;
      } catch (err) {
        failed.push({ row: r.row, line: r.line, message: `${r.entry.deviceId}: ${api.errorText(err)}` });
        if (err.status === 401 || err.status === 403) break; // no point in trying the rest
      }
      setProgress({ sent: i + 1, ok, failed: failed.slice(), running: true });
    }
    setProgress((p) => ({ ...p, ok, failed: failed.slice(), running: false, cancelled: cancel.current }));
    onDone(ok);
  }

  const errors = parsed ? parsed.errors.concat(progress ? progress.failed : []).sort((a, b) => a.row - b.row) : [];
  const total = parsed ? parsed.rows.length : 0;
  return html`<${Card} title="Import a file" id="catalog-import">
    <p class="hint">CSV with the header <span class="mono">deviceId,modelNumber,details[,claimCode][,caId]</span> (details a JSON
      object) or JSON lines with those keys. Rows are added one by one; for large files use${' '}
      <span class="mono">smartproductctl catalog import FILE</span> on the server.</p>
    <div class="field">
      <label for="catalog-file">File</label>
      <input id="catalog-file" type="file" accept=".csv,.jsonl,.ndjson,.json,.txt,text/csv" onChange=${pick}
        disabled=${progress && progress.running} />
    </div>
    <${Notice} kind="error">${readError || (parsed && parsed.fatal)}<//>
    ${parsed && !parsed.fatal
      ? html`<p data-testid="import-summary">${fileName}: ${parsed.total} row${parsed.total === 1 ? '' : 's'}, ${total} valid${parsed.errors.length ? `, ${parsed.errors.length} bad` : ''}.</p>`
      : null}
    ${progress
      ? html`<div class="import-progress">
          <progress max=${total || 1} value=${progress.sent} aria-label="Import progress"></progress>
          <span role="status" data-testid="import-progress">${progress.running
            ? `Importing… ${progress.sent} of ${total}`
            : `${progress.cancelled ? 'Cancelled: ' : 'Done: '}${progress.ok} of ${total} imported${progress.failed.length ? `, ${progress.failed.length} refused by the server` : ''}.`}</span>
        </div>`
      : null}
    ${errors.length
      ? html`<div class="import-errors"><p class="strong">Rows not imported:</p><ul>
          ${errors.slice(0, kShownErrors).map((e) => html`<li><span class="mono">row ${e.row} (line ${e.line})</span>: ${e.message}</li>`)}
          ${errors.length > kShownErrors ? html`<li class="muted">… and ${errors.length - kShownErrors} more</li>` : null}
        </ul></div>`
      : null}
    <div class="form-actions">
      ${progress && progress.running
        ? html`<${Button} kind="secondary" onClick=${() => { cancel.current = true; }}>Cancel<//>`
        : html`<${Button} disabled=${!parsed || parsed.fatal || !total || (progress && !progress.running)} onClick=${run}>
            Import ${total} row${total === 1 ? '' : 's'}<//>`}
    </div>
  <//>`;
}

export function AdminCatalog() {
  const cas = useCas();
  const [model, setModel] = useState('');
  const [filter, setFilter] = useState('');
  const [added, setAdded] = useState([]);
  const [done, setDone] = useState(null);
  const [gen, setGen] = useState(0);

  function applyFilter(e) {
    e.preventDefault();
    setFilter(model.trim());
  }

  return html`<${PageHeader} title="Catalog">
      <${Button} kind="secondary" onClick=${() => { setAdded([]); setGen((g) => g + 1); }}>Refresh<//>
    <//>
    <p class="page-intro">The serial and model numbers that exist. A product can be registered only when its
      pair is here.</p>
    <${Notice} kind="success">${done}<//>
    <${Card} title="Entries" id="catalog-entries">
      <form class="toolbar toolbar-card" onSubmit=${applyFilter} role="search" aria-label="Filter the catalog">
        <div class="field field-inline field-grow">
          <label for="catalog-model">Model Number</label>
          <input id="catalog-model" type="search" value=${model} onInput=${(e) => setModel(e.currentTarget.value)} placeholder="All models" />
        </div>
        <${Button} type="submit" kind="secondary">Filter<//>
        ${filter ? html`<${Button} kind="ghost" onClick=${() => { setModel(''); setFilter(''); }}>Clear<//>` : null}
      </form>
      <${CatalogTable} key=${`${filter}\u0000${gen}`} model=${filter} added=${added} onChanged=${setDone} cas=${cas} />
    <//>
    <div class="grid-2">
      <${AddEntry} cas=${cas} onAdded=${(e) => {
        setAdded((a) => [e].concat(a));
        setDone(`${e.deviceId} / ${e.modelNumber} was added.`);
      }} />
      <${ImportFile} onDone=${(n) => {
        if (n > 0) {
          setAdded([]);
          setGen((g) => g + 1);
        }
      }} />
    </div>`;
}
