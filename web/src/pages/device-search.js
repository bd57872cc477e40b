// The fleet query box of My Devices: `GET /api/devices?q=<query>` (a subset of the AWS IoT
// fleet-indexing syntax: thingName:SN*, shadow.reported.powerStatus:HEAT, ranges, AND/OR/NOT, ...),
// paged with "Load more". A syntax error (422) names its 0-based byte offset in the query
// (`position`); the box shows it as a 1-based character with a marker under it.
import { useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { byteOffsetToIndex, queryErrorPosition } from '../device-state.js';

const toIndex = (q, offset) => (offset === null ? null : byteOffsetToIndex(q, offset));
import { html } from '../html.js';
import { Button } from '../ui.js';

const kPageSize = 20;

/** State of the active query: the submitted text, its pages, its error. */
export function useDeviceQuery() {
  const [query, setQuery] = useState(null); // the submitted query, null = none
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null); // {text, position, query}
  const seq = useRef(0);

  async function fetchPage(q, from) {
    const my = ++seq.current;
    setBusy(true);
    try {
      const res = await api.searchDevices(q, kPageSize, from);
      if (my !== seq.current) return;
      const page = res && Array.isArray(res.Items) ? res.Items : [];
      setItems((old) => (from === undefined || !old ? page : old.concat(page.filter((d) => !old.some((o) => o.thingName === d.thingName)))));
      setCursor(res && res.LastEvaluatedKey != null ? res.LastEvaluatedKey : undefined);
      setError(null);
    } catch (err) {
      if (my !== seq.current) return;
      setError({ text: api.errorText(err), position: err.status === 422 ? toIndex(q, queryErrorPosition(err.body)) : null, query: q, status: err.status });
      if (from === undefined) setItems(null);
    } finally {
      if (my === seq.current) setBusy(false);
    }
  }

  return {
    query,
    items,
    busy,
    error,
    hasMore: cursor !== undefined,
    run(text) {
      const q = text.trim();
      if (!q) return this.clear();
      setQuery(q);
      setCursor(undefined);
      return fetchPage(q, undefined);
    },
    more() {
      if (query && cursor !== undefined) return fetchPage(query, cursor);
      return undefined;
    },
    clear() {
      seq.current++;
      setQuery(null);
      setItems(null);
      setCursor(undefined);
      setError(null);
      setBusy(false);
    },
    /** Drops a device from the results (after it was deleted). */
    remove(thingName) {
      setItems((old) => old && old.filter((d) => d.thingName !== thingName));
    },
  };
}

/** The query text with the character at `position` marked, and a caret line under it. */
function Marked({ query, position }) {
  const pos = Math.min(position, query.length);
  const at = query.slice(pos, pos + 1);
  return html`<pre class="query-caret" aria-hidden="true">${query.slice(0, pos)}<mark>${at || ' '}</mark>${query.slice(pos + 1)}${`\n${' '.repeat(pos)}^`}</pre>`;
}

export function QueryForm({ q }) {
  const [text, setText] = useState('');
  const err = q.error;
  function submit(e) {
    e.preventDefault();
    q.run(text);
  }
  function clear() {
    setText('');
    q.clear();
  }
  const errText = err
    ? err.position !== null && err.position !== undefined
      ? `Query error at character ${err.position + 1}: ${err.text}`
      : `Query error: ${err.text}`
    : null;
  return html`<form class="query-form" role="search" aria-label="Query the fleet" onSubmit=${submit} novalidate>
      <div class=${`field field-inline field-grow${err ? ' has-error' : ''}`}>
        <label for="dev-query">Fleet query</label>
        <input id="dev-query" type="search" name="q" value=${text} spellcheck=${false} autocomplete="off"
          placeholder="e.g. shadow.reported.powerStatus:HEAT AND connectivity.connected:true"
          aria-invalid=${err ? 'true' : undefined} aria-describedby=${err ? 'dev-query-err' : 'dev-query-hint'}
          onInput=${(e) => setText(e.currentTarget.value)} />
      </div>
      <${Button} type="submit" busy=${q.busy}>Search<//>
      ${q.query || err ? html`<${Button} kind="secondary" onClick=${clear}>Clear<//>` : null}
    </form>
    ${err
      ? html`<div class="notice notice-error" role="alert" id="dev-query-err">
          <span data-testid="query-error">${errText}</span>
          ${err.position !== null && err.position !== undefined ? html`<${Marked} query=${err.query} position=${err.position} />` : null}
        </div>`
      : html`<p class="hint" id="dev-query-hint">Fields: thingName, deviceName, modelNumber, connectivity.connected, attributes.*,
          shadow.reported.*, shadow.desired.*, shadow.version. Values: exact (case-sensitive), * and ? wildcards, "quoted",
          ranges [70 TO 80], comparisons ${'<, <=, >, >='}; AND, OR, NOT and parentheses.</p>`}`;
}
