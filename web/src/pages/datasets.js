// Admin Datasets page (/admin/datasets): the datasets (SQL-subset queries over the stored telemetry,
// run on a schedule or on demand into CSV / JSON-lines files), define / edit / delete, "Run now"
// (followed until the run ends), and a dataset's runs with their files' downloads. The server
// enforces the admin role; the logic is in datasets.js (unit-tested in test/).
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import {
  createBody,
  describeSchedule,
  downloadName,
  downloadPath,
  editForm,
  errorField,
  formatBytes,
  kFormats,
  kRunBadge,
  nextRunText,
  rowsText,
  runDoneText,
  sortDatasets,
  updateBody,
} from '../datasets.js';
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { usePoll } from '../poll.js';
import { Button, Card, ConfirmDialog, Dialog, Empty, Field, Notice, Select, Spinner, Switch, TextArea, Time } from '../ui.js';
import { ListFooter, usePagedList } from './admin.js';

const kRunPollMs = 1000; // while a run is going
const kClockMs = 30000; // the "next run" column's relative times
const kFormatOptions = kFormats.map((f) => ({ value: f, label: f === 'csv' ? 'CSV' : 'JSON lines' }));
const kScheduleHint = 'rate(1 hour), rate(15 minutes), rate(1 day), cron(0 3 * * *) in UTC, or off.';

function RunBadge({ status }) {
  return html`<span class=${`badge ${kRunBadge[status] || 'badge-grey'}`} data-run-status=${status}>${status || '?'}</span>`;
}

function LastRun({ run }) {
  if (!run) return html`<span class="muted">never</span>`;
  return html`<div><${RunBadge} status=${run.status} />
    ${run.status === 'succeeded' ? html` <span class="nowrap">${rowsText(run.rows)}</span>` : null}
    <div class="hint"><${Time} iso=${run.finishedAt || run.startedAt} /></div></div>`;
}

function NextRun({ ds, now }) {
  const n = nextRunText(ds, now);
  return html`<span title=${n.title}>${n.text}</span>`;
}

/** The datasets table: the query under the name, enabled under the schedule, retention under the format. */
function DatasetTable({ items, now, selected, following, starting, onRuns, onEdit, onDelete, onRun }) {
  return html`<div class="table-wrap"><table class="table responsive datasets-table" data-testid="datasets">
    <caption class="visually-hidden">Datasets</caption>
    <thead><tr><th scope="col">Dataset / query</th><th scope="col">Schedule</th><th scope="col">Output</th>
      <th scope="col">Last run</th><th scope="col">Next run</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${items.map((d) => {
      const running = following[d.name] !== undefined;
      const words = describeSchedule(d.schedule);
      return html`<tr key=${d.name} data-dataset=${d.name} class=${selected === d.name ? 'selected' : undefined}>
        <td data-label="Dataset"><div><div class="mono strong">${d.name}</div><code class="mono query-cell" title=${d.query}>${d.query}</code></div></td>
        <td data-label="Schedule"><div><div title=${d.schedule}>${words}</div>
          ${/^cron/.test(d.schedule) && !words.startsWith('cron') ? html`<div class="hint mono">${d.schedule}</div>` : null}
          <span class=${`badge ${d.enabled === false ? 'badge-grey' : 'badge-green'}`}>${d.enabled === false ? 'disabled' : 'enabled'}</span></div></td>
        <td data-label="Output"><div><span class="badge badge-grey">${d.format}</span>
          <div class="nowrap" title="Output files older than this are deleted">${d.retentionDays} day${d.retentionDays === 1 ? '' : 's'}</div></div></td>
        <td data-label="Last run"><${LastRun} run=${d.lastRun} /></td>
        <td data-label="Next run"><${NextRun} ds=${d} now=${now} /></td>
        <td class="actions"><div class="btn-col">
          <${Button} small kind="secondary" label=${`Runs: ${d.name}`} onClick=${() => onRuns(d)}>Runs<//>
          <${Button} small kind="secondary" busy=${running || starting === d.name} label=${`Run now: ${d.name}`} onClick=${() => onRun(d)}>Run now<//>
          <${Button} small kind="secondary" label=${`Edit ${d.name}`} onClick=${() => onEdit(d)}>Edit<//>
          <${Button} small kind="danger-ghost" label=${`Delete ${d.name}`} onClick=${() => onDelete(d)}>Delete<//>
        </div></td>
      </tr>`;
    })}</tbody>
  </table></div>`;
}

/** A form's values and per-field problems; set(k) updates a field and clears its problem. */
function useFormFields(initial) {
  const [f, setF] = useState(initial);
  const [problems, setProblems] = useState({});
  const set = (k) => (v) => {
    setF((o) => ({ ...o, [k]: v }));
    setProblems((p) => (p[k] ? { ...p, [k]: undefined } : p));
  };
  return { f, setF, problems, setProblems, set };
}

const kEmptyForm = { name: '', query: '', schedule: 'rate(1 hour)', format: 'csv', retentionDays: '30', enabled: true };

/** The define form; the server's refusals (409 name taken, 422 query / schedule) go under their fields. */
function DefineDataset({ onCreated }) {
  const { f, setF, problems, setProblems, set } = useFormFields(kEmptyForm);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const r = createBody(f);
    setProblems(r.problems || {});
    setError(null);
    if (r.problems) return;
    setBusy(true);
    try {
      const ds = await api.createDataset(r.body);
      onCreated(ds && ds.name ? ds : { ...r.body, enabled: r.body.enabled !== false, lastRun: null, nextRunAt: null });
      setF(kEmptyForm);
    } catch (err) {
      const field = errorField(err);
      if (field) setProblems({ [field]: api.errorText(err) });
      else setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${Card} title="Define a dataset" id="dataset-define">
    <form onSubmit=${submit} novalidate data-testid="dataset-form">
      <${Notice} kind="error">${error}<//>
      <${Field} label="Name" name="name" required value=${f.name} onInput=${set('name')} error=${problems.name} autocomplete="off"
        hint="Letters, digits, _ and -; at most 64." />
      <${TextArea} label="Query" name="query" required rows=${4} value=${f.query} onInput=${set('query')} error=${problems.query}
        placeholder="SELECT deviceId, count(*) AS n FROM telemetry GROUP BY deviceId"
        hint="SELECT … FROM telemetry [WHERE …] [GROUP BY …] [ORDER BY …] [LIMIT n]. Each run covers the telemetry stored since the last successful run." />
      <${Field} label="Schedule" name="schedule" required value=${f.schedule} onInput=${set('schedule')} error=${problems.schedule} autocomplete="off"
        hint=${kScheduleHint} />
      <${Select} label="Format" name="format" value=${f.format} onChange=${set('format')} options=${kFormatOptions} />
      ${problems.format ? html`<p class="field-error">${problems.format}</p>` : null}
      <${Field} label="Retention (days)" name="retentionDays" required inputmode="numeric" value=${f.retentionDays} onInput=${set('retentionDays')}
        error=${problems.retentionDays} hint="Output files older than this are deleted." autocomplete="off" />
      <${Switch} label="Enabled" name="enabled" checked=${f.enabled} onChange=${set('enabled')} hint="Runs on its schedule." />
      <div class="form-actions"><${Button} type="submit" busy=${busy}>Define dataset<//></div>
    </form>
  <//>`;
}

/** The edit dialog: query, schedule, format, retention, enabled; sends only what changed. */
function EditDialog({ ds, onDone, onCancel }) {
  const { f, setF, problems, setProblems, set } = useFormFields(editForm(ds));
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setF(editForm(ds));
    setProblems({});
    setError(null);
  }, [ds && ds.name]);

  async function save() {
    const r = updateBody(ds, f);
    setProblems(r.problems || {});
    setError(null);
    if (r.problems) return;
    if (!r.body) return onDone(null);
    setBusy(true);
    try {
      const updated = await api.updateDataset(ds.name, r.body);
      onDone(updated && updated.name ? updated : { ...ds, ...r.body });
    } catch (err) {
      const field = errorField(err);
      if (field && field !== 'name') setProblems({ [field]: api.errorText(err) });
      else setError(api.errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return html`<${Dialog} open=${!!ds} wide title=${ds ? `Edit ${ds.name}` : 'Edit'} onClose=${() => !busy && onCancel()}
      actions=${html`<${Button} busy=${busy} onClick=${save}>Save<//>`}>
    <${Notice} kind="error">${error}<//>
    <${TextArea} label="Query" name="query" required rows=${4} value=${f.query} onInput=${set('query')} error=${problems.query} />
    <${Field} label="Schedule" name="schedule" required value=${f.schedule} onInput=${set('schedule')} error=${problems.schedule} autocomplete="off"
      hint=${kScheduleHint} />
    <${Select} label="Format" name="format" value=${f.format} onChange=${set('format')} options=${kFormatOptions} />
    ${problems.format ? html`<p class="field-error">${problems.format}</p>` : null}
    <${Field} label="Retention (days)" name="retentionDays" required inputmode="numeric" value=${f.retentionDays} onInput=${set('retentionDays')}
      error=${problems.retentionDays} autocomplete="off" />
    <${Switch} label="Enabled" name="enabled" checked=${f.enabled} onChange=${set('enabled')} hint="Runs on its schedule." />
  <//>`;
}

/** A run's file, fetched with the token and saved from a Blob. */
async function download(ds, run) {
  const path = downloadPath(ds.name, run);
  const { blob, disposition } = await api.downloadDatasetFile(path);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = downloadName(disposition, ds.name, run, ds.format);
  a.dataset.external = '';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The runs of one dataset, newest first, paged; remounted (key) when a run starts or ends. */
function Runs({ ds }) {
  const list = usePagedList((limit, cursor) => api.listDatasetRuns(ds.name, limit, cursor));
  const [busyId, setBusyId] = useState(null);
  const [error, setError] = useState(null);

  async function get(run) {
    setBusyId(run.id);
    setError(null);
    try {
      await download(ds, run);
    } catch (err) {
      setError(`Download of run ${run.id}: ${api.errorText(err)}`);
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (!list.items) body = html`<${Spinner} label="Loading runs…" />`;
  else if (!list.items.length && !list.error) body = html`<${Empty} title="No runs yet.">Run it now, or wait for its schedule.<//>`;
  else
    body = html`<div class="table-wrap"><table class="table responsive" data-testid="dataset-runs">
      <caption class="visually-hidden">Runs of ${ds.name}, newest first</caption>
      <thead><tr><th scope="col">Run</th><th scope="col">Trigger</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Finished</th>
        <th scope="col">Rows</th><th scope="col">Size</th><th scope="col">Telemetry rows</th><th scope="col"><span class="visually-hidden">File</span></th></tr></thead>
      <tbody>${list.items.map((r) => {
        const path = downloadPath(ds.name, r);
        return html`<tr key=${r.id} data-run-id=${r.id}>
          <td data-label="Run">${r.id}</td>
          <td data-label="Trigger">${r.trigger}</td>
          <td data-label="Status"><div><${RunBadge} status=${r.status} />${r.error ? html`<div class="text-danger">${r.error}</div>` : null}</div></td>
          <td data-label="Started"><${Time} iso=${r.startedAt} /></td>
          <td data-label="Finished"><${Time} iso=${r.finishedAt} /></td>
          <td data-label="Rows" data-testid="run-rows">${r.status === 'succeeded' ? r.rows : '—'}</td>
          <td data-label="Size"><span class="nowrap">${r.status === 'succeeded' ? formatBytes(r.bytes) : '—'}</span></td>
          <td data-label="Telemetry rows"><span class="nowrap mono" title="Telemetry row ids this run covered">${r.status === 'succeeded' && r.fromRow != null && r.toRow != null ? `${r.fromRow}–${r.toRow}` : '—'}</span></td>
          <td class="actions">${path
            ? html`<${Button} small kind="secondary" busy=${busyId === r.id} label=${`Download run ${r.id}`} onClick=${() => get(r)}>Download<//>`
            : r.status === 'succeeded' ? html`<span class="muted">expired</span>` : null}</td>
        </tr>`;
      })}</tbody>
    </table></div>`;
  return html`<${Notice} kind="error">${list.error || error}<//>${body}<${ListFooter} list=${list} />`;
}

export function AdminDatasets() {
  const [items, setItems] = useState(null);
  const [loading, setLoading] = useState(false);
  const [gen, setGen] = useState(0); // bumped to read the datasets and the runs again
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [warn, setWarn] = useState(null);
  const [selected, setSelected] = useState(null); // name of the dataset whose runs are shown
  const [editing, setEditing] = useState(null);
  const [toDelete, setToDelete] = useState(null);
  const [deleting, setDeleting] = useState(false);
  const [following, setFollowing] = useState({}); // name -> id of the run being polled
  const [starting, setStarting] = useState(null);
  const [now, setNow] = useState(Date.now());
  const runsRef = useRef(null);

  useEffect(() => {
    let stale = false;
    setLoading(true);
    api.listDatasets().then(
      (res) => {
        if (stale) return;
        const list = sortDatasets(res && res.Items);
        setItems(list);
        setNow(Date.now());
        // Runs going (from the schedule, the CLI or another admin) are followed too.
        const going = list.filter((d) => d.lastRun && d.lastRun.status === 'running');
        if (going.length) setFollowing((f) => ({ ...Object.fromEntries(going.map((d) => [d.name, d.lastRun.id])), ...f }));
      },
      (err) => {
        if (stale) return;
        setItems((old) => old || []);
        setError(api.errorText(err));
      },
    ).finally(() => !stale && setLoading(false));
    return () => {
      stale = true;
    };
  }, [gen]);

  usePoll(() => setNow(Date.now()), kClockMs, [], { immediate: false });

  // Poll the runs being followed until they end; one round at a time, so an end is reported once.
  const polling = useRef(false);
  const followed = Object.keys(following).sort().map((k) => `${k}:${following[k]}`).join(',');
  usePoll(
    async () => {
      if (polling.current) return;
      polling.current = true;
      try {
        for (const [name, runId] of Object.entries(following)) {
          let r;
          try {
            r = await api.getDatasetRun(name, runId);
          } catch (err) {
            setError(`${name}: ${api.errorText(err)}`);
            r = null;
          }
          if (r && r.status === 'running') continue;
          setFollowing((f) => {
            const { [name]: _, ...rest } = f;
            return rest;
          });
          if (r && r.status === 'succeeded') setDone(runDoneText(name, r));
          else if (r) setError(runDoneText(name, r));
          setGen((g) => g + 1);
        }
      } finally {
        polling.current = false;
      }
    },
    followed ? kRunPollMs : 0,
    [followed],
    { immediate: false },
  );

  function clearNotices() {
    setError(null);
    setDone(null);
    setWarn(null);
  }

  function showRuns(d) {
    setSelected(d.name);
    setTimeout(() => runsRef.current && runsRef.current.scrollIntoView({ block: 'start', behavior: 'smooth' }), 0);
  }

  async function runNow(d) {
    setStarting(d.name);
    clearNotices();
    try {
      const res = await api.runDataset(d.name);
      setFollowing((f) => ({ ...f, [d.name]: res.runId }));
      setItems((list) => list && list.map((x) => (x.name === d.name
        ? { ...x, lastRun: { id: res.runId, status: 'running', trigger: 'manual', startedAt: new Date().toISOString(), finishedAt: null } }
        : x)));
      setSelected(d.name);
      setGen((g) => g + 1);
    } catch (err) {
      if (err.status === 409) {
        // Already running (the schedule, the CLI or another admin): follow that run.
        let going = null;
        try {
          const page = await api.listDatasetRuns(d.name, 1);
          going = page && page.Items && page.Items.find((r) => r.status === 'running');
        } catch {
          /* the message below still says why */
        }
        setWarn(going
          ? `${d.name} is already running (run ${going.id}); following that run until it ends.`
          : `${d.name} is already running: ${api.errorText(err)}`);
        if (going) setFollowing((f) => ({ ...f, [d.name]: going.id }));
        setSelected(d.name);
        setGen((g) => g + 1);
      } else {
        setError(`${d.name}: ${api.errorText(err)}`);
      }
    } finally {
      setStarting(null);
    }
  }

  async function confirmDelete() {
    const d = toDelete;
    setDeleting(true);
    clearNotices();
    try {
      await api.deleteDataset(d.name);
      setItems((list) => list.filter((x) => x.name !== d.name));
      setFollowing((f) => {
        const { [d.name]: _, ...rest } = f;
        return rest;
      });
      if (selected === d.name) setSelected(null);
      setDone(`Dataset ${d.name} is deleted.`);
    } catch (err) {
      setError(`Delete ${d.name}: ${api.errorText(err)}`);
    } finally {
      setDeleting(false);
      setToDelete(null);
    }
  }

  const sel = items && selected ? items.find((d) => d.name === selected) : null;
  let body;
  if (!items) body = html`<${Spinner} label="Loading datasets…" />`;
  else if (!items.length) body = html`<${Empty} title="No datasets.">Define one below.<//>`;
  else
    body = html`<${DatasetTable} items=${items} now=${now} selected=${selected} following=${following} starting=${starting}
      onRuns=${showRuns} onEdit=${setEditing} onDelete=${setToDelete} onRun=${runNow} />`;

  return html`<${PageHeader} title="Datasets">
      <${Button} kind="secondary" busy=${loading && !!items} onClick=${() => setGen((g) => g + 1)}>Refresh<//>
    <//>
    <${Notice} kind="error">${error}<//>
    <${Notice} kind="warning">${warn}<//>
    <${Notice} kind="success">${done}<//>
    ${Object.keys(following).map((name) => html`<p class="waiting" role="status" key=${name}>
      <span class="spinner spinner-sm" aria-hidden="true"></span>Run ${following[name]} of ${name} is running…</p>`)}
    <${Card} title="Datasets" id="datasets-list">${body}<//>
    ${sel
      ? html`<div ref=${runsRef}><${Card} title=${`Runs of ${sel.name}`} id="dataset-runs"
          footer=${html`<${Button} small kind="secondary" onClick=${() => setSelected(null)}>Close<//>`}>
          <${Runs} key=${`${sel.name}|${gen}`} ds=${sel} />
        <//></div>`
      : null}
    <${DefineDataset} onCreated=${(ds) => {
      clearNotices();
      setDone(`Dataset ${ds.name} is defined.`);
      setItems((list) => sortDatasets([...(list || []).filter((x) => x.name !== ds.name), ds]));
    }} />
    <${EditDialog} ds=${editing} onCancel=${() => setEditing(null)} onDone=${(ds) => {
      const name = editing.name;
      setEditing(null);
      clearNotices();
      if (!ds) return setDone(`Nothing changed in ${name}.`);
      setItems((list) => list.map((x) => (x.name === name ? { ...x, ...ds } : x)));
      setDone(`Dataset ${name} is saved.`);
    }} />
    <${ConfirmDialog} open=${!!toDelete} title="Delete dataset?" confirmLabel="Delete dataset" danger busy=${deleting}
      onConfirm=${confirmDelete} onCancel=${() => setToDelete(null)}>
      <p>This deletes <strong class="mono">${toDelete && toDelete.name}</strong>, its runs and their files. This cannot be undone.</p>
    <//>`;
}
