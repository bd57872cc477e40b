import { h } from 'preact';
import htm from 'htm';

/** Tagged template for components: html`<div class=${c}>...</div>` (no JSX build step). */
export const html = htm.bind(h);
