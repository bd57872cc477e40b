// My Devices, Event Alerts and Event History: empty states until the device and event APIs land.
import { PageHeader } from '../frame.js';
import { html } from '../html.js';
import { Card, Empty } from '../ui.js';

export function Devices() {
  return html`<${PageHeader} title="My Devices (0)" />
    <${Card}><${Empty} title="No device found.">Devices you register appear here with their connection status.<//><//>`;
}

export function Alerts() {
  return html`<${PageHeader} title="Event Alerts" />
    <${Card}><${Empty} title="No alerts found.">Unread events at your alert levels appear here.<//><//>`;
}

export function History() {
  return html`<${PageHeader} title="Event History" />
    <${Card}><${Empty} title="No events found.">Events reported by your devices appear here.<//><//>`;
}
