// Device Detail's Telemetry tab: actual and target temperature over 1 h / 24 h / 7 d / 30 d in a
// uPlot chart (raw samples for an hour, 1-minute / 1-hour / 1-day averages beyond), a °F / °C
// switch, the latest values and a CSV download of the range's raw samples. While the tab is open
// the page subscribes to the device's live telemetry: the 1 h chart and the latest values grow
// with each pushed sample.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { html } from '../html.js';
import { getLive, useLive } from '../live-session.js';
import { Button, Card, Notice, Select, Spinner, Time } from '../ui.js';
import { columns, kFields, kRanges, toUnit } from '../telemetry-data.js';

const kMaxPages = 20; // raw pages hold at most 1,000 samples: an hour of 1 s samples is 4 pages


function Chart({ data, unit }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const el = box.current;
    const opts = {
      width: Math.max(300, el.clientWidth),
      height: 300,
      series: [{}, { label: `Actual °${unit}`, stroke: '#c62f3b', width: 2 }, { label: `Target °${unit}`, stroke: '#1f5fbf', width: 2, dash: [6, 4] }],
      axes: [{}, { label: `°${unit}` }],
    };
    plot.current = new uPlot(opts, data, el);
    const onResize = () => plot.current.setSize({ width: Math.max(300, el.clientWidth), height: 300 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.current.destroy();
      plot.current = null;
    };
  }, [unit]);
  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  }, [data]);
  return html`<div class="chart" ref=${box} role="img" aria-label=${`Actual and target temperature in °${unit}`}></div>`;
}

function fmt(v, unit) {
  return typeof v === 'number' ? `${toUnit(v, unit).toFixed(1)} °${unit}` : '—';
}

export function TelemetryPanel({ deviceId }) {
  const [range, setRange] = useState('1h');
  const [unit, setUnit] = useState('F');
  const [points, setPoints] = useState(null); // {range, items}: shown only for the range it is of
  const [latest, setLatest] = useState(null);
  const [error, setError] = useState(null);
  const [csvBusy, setCsvBusy] = useState(false);
  const seq = useRef(0);
  const r = kRanges.find((x) => x.value === range);

  async function load() {
    const my = ++seq.current;
    const to = Date.now();
    const q = { from: to - r.ms, to, interval: r.interval, fields: kFields.join(','), limit: r.interval === 'raw' ? 1000 : 10000 };
    try {
      let all = [];
      let cursor;
      for (let i = 0; i < kMaxPages; i++) {
        const res = await api.getTelemetry(deviceId, q, cursor);
        all = all.concat((res && res.points) || []);
        cursor = res && res.LastEvaluatedKey;
        if (!cursor) break;
      }
      const last = await api.getTelemetryLatest(deviceId);
      if (my !== seq.current) return;
      setPoints({ range, items: all });
      setLatest(last);
      setError(null);
    } catch (err) {
      if (my === seq.current) setError(api.errorText(err));
    }
  }
  useEffect(() => {
    load();
  }, [deviceId, range]);

  useEffect(() => getLive().subscribe(deviceId), [deviceId]);
  useLive('telemetry', (m) => {
    if (m.deviceId !== deviceId || !m.data || typeof m.data !== 'object') return;
    const t = Number(m.timestamp);
    const fields = Object.fromEntries(Object.entries(m.data).map(([k, v]) => [k, { value: v, t }]));
    setLatest((old) => ({ deviceId, t, fields: { ...(old && old.fields), ...fields } }));
    if (range !== '1h') return; // rollup ranges are read again with Refresh
    setPoints((old) => {
      if (!old || old.range !== '1h' || old.items.some((p) => p.t === t)) return old;
      const since = Date.now() - kRanges[0].ms;
      return { range: '1h', items: [...old.items.filter((p) => p.t >= since), { ...m.data, t }] };
    });
  });

  async function downloadCsv() {
    setCsvBusy(true);
    try {
      const to = Date.now();
      const text = await api.getTelemetryCsv(deviceId, { from: to - r.ms, to, fields: kFields.join(',') });
      const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${deviceId}-telemetry-${range}.csv`;
      a.dataset.external = '';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      setError(api.errorText(err));
    } finally {
      setCsvBusy(false);
    }
  }

  const f = (latest && latest.fields) || {};
  return html`<${Card} title="Telemetry" id="device-telemetry">
    <${Notice} kind="error">${error}<//>
    <div class="toolbar" role="group" aria-label="Chart options">
      <${Select} inline label="Range" name="range" value=${range} onChange=${setRange} options=${kRanges} />
      <${Select} inline label="Unit" name="unit" value=${unit} onChange=${setUnit} options=${[{ value: 'F', label: '°F' }, { value: 'C', label: '°C' }]} />
      <${Button} kind="secondary" small onClick=${load}>Refresh<//>
      <${Button} kind="secondary" small busy=${csvBusy} onClick=${downloadCsv}>Download CSV<//>
    </div>
    <dl class="props props-compact">
      <div><dt>Actual temperature</dt><dd data-testid="latest-actual">${fmt(f.actualTemperature && f.actualTemperature.value, unit)}</dd></div>
      <div><dt>Target temperature</dt><dd data-testid="latest-target">${fmt(f.targetTemperature && f.targetTemperature.value, unit)}</dd></div>
      <div><dt>Latest sample</dt><dd><${Time} iso=${latest && latest.t} /></dd></div>
    </dl>
    ${!points || points.range !== range
      ? html`<${Spinner} label="Loading telemetry…" />`
      : html`<p class="muted" data-testid="telemetry-count">${points.items.length} ${r.interval === 'raw' ? 'samples' : `${r.interval} averages`} in the last ${r.label}.</p>
          <${Chart} data=${columns(points.items, unit)} unit=${unit} />`}
  <//>`;
}
