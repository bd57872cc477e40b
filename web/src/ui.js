// Small shared UI pieces. Every input has a visible <label>; errors are tied to their input with
// aria-describedby and announced (role="alert").
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';

let idSeq = 0;
const nextId = (p) => `${p}-${++idSeq}`;

export function Logo({ size = 28 }) {
  return html`<svg class="logo" width=${size} height=${size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
    <rect width="32" height="32" rx="7" fill="#1f5fbf" />
    <path d="M9 20.5c0 2 1.9 3.5 5 3.5h4.5c3 0 4.5-1.6 4.5-3.6 0-4.4-9.8-2.9-9.8-6.3 0-1 .8-1.8 2.6-1.8H22"
      fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" />
    <circle cx="22" cy="9" r="2.2" fill="#8fd3ff" />
  </svg>`;
}

/** A labelled text input. onInput receives the new string value. */
export function Field({ label, type = 'text', value, onInput, error, hint, autocomplete, required, name, inputmode, autofocus, disabled }) {
  const id = useRef(null);
  if (!id.current) id.current = nextId(name || 'f');
  const ref = useRef(null);
  useEffect(() => {
    if (autofocus && ref.current) ref.current.focus();
  }, []);
  const hintId = hint ? `${id.current}-hint` : null;
  const errId = error ? `${id.current}-err` : null;
  const described = [hintId, errId].filter(Boolean).join(' ') || undefined;
  return html`<div class=${`field${error ? ' has-error' : ''}`}>
    <label for=${id.current}>${label}${required ? null : html` <span class="optional">(optional)</span>`}</label>
    <input id=${id.current} ref=${ref} name=${name} type=${type} value=${value}
      onInput=${(e) => onInput(e.currentTarget.value)} autocomplete=${autocomplete} inputmode=${inputmode}
      required=${!!required} disabled=${disabled} aria-invalid=${error ? 'true' : undefined} aria-describedby=${described} />
    ${hint ? html`<p class="hint" id=${hintId}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${errId}>${error}</p>` : null}
  </div>`;
}

export function Checkbox({ label, checked, onChange, name, disabled, hint }) {
  const id = useRef(null);
  if (!id.current) id.current = nextId(name || 'c');
  return html`<div class="check">
    <input type="checkbox" id=${id.current} name=${name} checked=${checked} disabled=${disabled}
      onChange=${(e) => onChange(e.currentTarget.checked)} />
    <label for=${id.current}>${label}${hint ? html`<span class="hint">${hint}</span>` : null}</label>
  </div>`;
}

/** A toggle switch: a checkbox with role="switch" so it is announced as on/off. */
export function Switch({ label, checked, onChange, name, disabled, hint }) {
  const id = useRef(null);
  if (!id.current) id.current = nextId(name || 's');
  return html`<div class="switch">
    <input type="checkbox" role="switch" id=${id.current} name=${name} checked=${checked} disabled=${disabled}
      aria-checked=${checked ? 'true' : 'false'} onChange=${(e) => onChange(e.currentTarget.checked)} />
    <label for=${id.current}><span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
      <span class="switch-text">${label}${hint ? html`<span class="hint">${hint}</span>` : null}</span></label>
  </div>`;
}

/** kind: error | success | info | warning */
export function Notice({ kind = 'info', children }) {
  if (!children) return null;
  const role = kind === 'error' ? 'alert' : 'status';
  return html`<div class=${`notice notice-${kind}`} role=${role}>${children}</div>`;
}

export function Button({ kind = 'primary', type = 'button', busy, disabled, onClick, children, small, label }) {
  return html`<button type=${type} class=${`btn btn-${kind}${small ? ' btn-sm' : ''}`} disabled=${disabled || busy}
    aria-busy=${busy ? 'true' : undefined} aria-label=${label} onClick=${onClick}>
    ${busy ? html`<span class="spinner spinner-inline" aria-hidden="true"></span>` : null}${children}
  </button>`;
}

export function Spinner({ label = 'Loading…' }) {
  return html`<div class="loading" role="status"><span class="spinner" aria-hidden="true"></span><span>${label}</span></div>`;
}

export function Card({ title, children, footer, id }) {
  const hid = title ? `${id || nextId('card')}-title` : undefined;
  return html`<section class="card" aria-labelledby=${hid}>
    ${title ? html`<header class="card-head"><h2 id=${hid}>${title}</h2></header>` : null}
    <div class="card-body">${children}</div>
    ${footer ? html`<footer class="card-foot">${footer}</footer>` : null}
  </section>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty">
    <svg width="48" height="48" viewBox="0 0 48 48" aria-hidden="true" focusable="false"><rect x="6" y="10" width="36" height="28" rx="4" fill="none" stroke="currentColor" stroke-width="2.5"/><path d="M6 30h10l3 4h10l3-4h10" fill="none" stroke="currentColor" stroke-width="2.5" stroke-linejoin="round"/></svg>
    <p class="empty-title">${title}</p>
    ${children ? html`<p class="empty-text">${children}</p>` : null}
  </div>`;
}

/** A modal confirmation built on <dialog> (focus trap and Escape come from the browser). */
export function ConfirmDialog({ open, title, children, confirmLabel = 'Confirm', danger, busy, onConfirm, onCancel }) {
  return html`<${Modal} open=${open} title=${title} onCancel=${() => { if (!busy) onCancel(); }}
    actions=${html`<${Button} kind="secondary" onClick=${onCancel} disabled=${busy}>Cancel<//>
      <${Button} kind=${danger ? 'danger' : 'primary'} busy=${busy} onClick=${onConfirm}>${confirmLabel}<//>`}>${children}<//>`;
}

/** The <dialog> under ConfirmDialog and Dialog: modal while `open`, Escape calls onCancel. */
function Modal({ open, title, children, actions, onCancel, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    else if (!open && d.open) d.close();
  }, [open]);
  const tid = useRef(nextId('dlg'));
  return html`<dialog ref=${ref} class=${`dialog${wide ? ' dialog-wide' : ''}`} aria-labelledby=${tid.current}
      onCancel=${(e) => { e.preventDefault(); onCancel(); }}>
    <h2 id=${tid.current}>${title}</h2>
    <div class="dialog-body">${children}</div>
    <div class="dialog-actions">${actions}</div>
  </dialog>`;
}

/** Formats an ISO time for tables: local date and time, with the ISO value as a tooltip. */
export function Time({ iso, dateOnly }) {
  if (!iso) return html`<span class="muted">—</span>`;
  // Numbers are epoch seconds or milliseconds (the seed's connectivity timestamps are ms).
  const d = typeof iso === 'number' ? new Date(iso < 1e12 ? iso * 1000 : iso) : new Date(iso);
  if (Number.isNaN(d.getTime())) return html`<span>${iso}</span>`;
  const text = dateOnly
    ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
    : d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  return html`<time datetime=${d.toISOString()} title=${d.toISOString()}>${text}</time>`;
}

/** A labelled <select>. options: [{value, label}]; onChange receives the new value. */
export function Select({ label, value, onChange, options, name, inline }) {
  const id = useRef(null);
  if (!id.current) id.current = nextId(name || 'sel');
  return html`<div class=${`field${inline ? ' field-inline' : ''}`}>
    <label for=${id.current}>${label}</label>
    <select id=${id.current} name=${name} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${options.map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
  </div>`;
}

/** A labelled multi-line input (PEM certificates, JSON). */
export function TextArea({ label, value, onInput, error, hint, rows = 6, name, required, placeholder, disabled }) {
  const id = useRef(null);
  if (!id.current) id.current = nextId(name || 'ta');
  const hintId = hint ? `${id.current}-hint` : null;
  const errId = error ? `${id.current}-err` : null;
  return html`<div class=${`field${error ? ' has-error' : ''}`}>
    <label for=${id.current}>${label}${required ? null : html` <span class="optional">(optional)</span>`}</label>
    <textarea id=${id.current} name=${name} rows=${rows} value=${value} placeholder=${placeholder} spellcheck="false"
      onInput=${(e) => onInput(e.currentTarget.value)} required=${!!required} disabled=${disabled}
      aria-invalid=${error ? 'true' : undefined} aria-describedby=${[hintId, errId].filter(Boolean).join(' ') || undefined}></textarea>
    ${hint ? html`<p class="hint" id=${hintId}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${errId}>${error}</p>` : null}
  </div>`;
}

/** Copies text to the clipboard; says "Copied" for a moment. */
export function CopyButton({ text, label = 'Copy' }) {
  const [state, setState] = useState(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('Copied');
    } catch {
      setState('Copy failed: select the text');
    }
    setTimeout(() => setState(null), 2000);
  }
  return html`<button type="button" class="btn btn-ghost btn-sm copy-btn" onClick=${copy} aria-label=${state ? undefined : `${label}: ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`}>
    <span aria-live="polite">${state || label}</span></button>`;
}

/** A shell command or file snippet with a copy button. */
export function Code({ children, label }) {
  const text = Array.isArray(children) ? children.join('') : String(children);
  return html`<div class="code">
    <pre tabindex="0" aria-label=${label}><code>${text}</code></pre>
    <${CopyButton} text=${text} />
  </div>`;
}

/** A tab strip (role tablist); the panel is rendered by the caller with id `${id}-panel`. */
export function Tabs({ tabs, active, onSelect, id }) {
  return html`<div class="tabs" role="tablist">
    ${tabs.map(
      (t) => html`<button type="button" role="tab" id=${`${id}-tab-${t.id}`} aria-selected=${t.id === active ? 'true' : 'false'}
        aria-controls=${`${id}-panel`} class=${`tab${t.id === active ? ' active' : ''}`} tabindex=${t.id === active ? 0 : -1}
        onClick=${() => onSelect(t.id)}>${t.label}</button>`,
    )}
  </div>`;
}

/** A modal dialog with a Close button and optional extra actions (placed before it). */
export function Dialog({ open, title, children, actions, onClose, wide }) {
  return html`<${Modal} open=${open} title=${title} wide=${wide} onCancel=${onClose}
    actions=${html`${actions}<${Button} kind="secondary" onClick=${onClose}>Close<//>`}>${children}<//>`;
}
