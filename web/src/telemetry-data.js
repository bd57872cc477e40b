// The Telemetry tab's data handling, apart from the chart so it is unit-tested in node.

export const kRanges = [
  { value: '1h', label: '1 h', ms: 3600e3, interval: 'raw' },
  { value: '24h', label: '24 h', ms: 24 * 3600e3, interval: '1m' },
  { value: '7d', label: '7 d', ms: 7 * 24 * 3600e3, interval: '1h' },
  { value: '30d', label: '30 d', ms: 30 * 24 * 3600e3, interval: '1d' },
];
export const kFields = ['actualTemperature', 'targetTemperature'];

/** Device values are °F (the seed's thermostat); °C converts for display only. */
export const toUnit = (f, unit) => (unit === 'C' ? ((f - 32) * 5) / 9 : f);

/** A point's value of field: a raw sample's number or a rollup bucket's average; else null. */
export function pointValue(p, field) {
  const v = p[field];
  if (typeof v === 'number') return v;
  if (v && typeof v.avg === 'number') return v.avg;
  return null;
}

/** uPlot's columns [[t s], [actual], [target]] from points, in time order. */
export function columns(points, unit) {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const conv = (v) => (v === null ? null : toUnit(v, unit));
  return [sorted.map((p) => p.t / 1000), ...kFields.map((f) => sorted.map((p) => conv(pointValue(p, f))))];
}
