// Event Alerts and Event History: empty states until the event APIs land.
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Card, Empty } from '../ui.js';

export function Alerts() {
  return html`<${PageHeader} title="Event Alerts" />
    <${Card}><${Empty} title="No alerts found.">Unread events at your alert levels appear here.<//><//>`;
}

export function History() {
  return html`<${PageHeader} title="Event History" />
    <${Card}><${Empty} title="No events found.">Events reported by your devices appear here.<//><//>`;
}
