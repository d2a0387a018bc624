// How the UI writes numbers, sizes, durations and instants: pure functions, unit-tested by
// tests/browser/unit/format.test.mjs.

/** Text safe inside HTML, attributes included. */
export const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** A byte count in B, kB, MB or GB (powers of 1000). */
export const bytes = (n) => n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;

/** A duration in microseconds, as people read one. */
export const duration = (us) => us >= 60e6 ? `${(us / 60e6).toFixed(1)} min` : us >= 1e6 ? `${(us / 1e6).toFixed(2)} s`
  : us >= 1e3 ? `${(us / 1e3).toFixed(1)} ms` : `${us} µs`;

/** `total` bytes over `seconds`, per second. */
export const rate = (total, seconds) => `${bytes(Math.round(total / Math.max(1, seconds)))}/s`;

/** A UTC instant (Unix seconds) as an axis writes it: the time of day, with the date if asked. */
export function clock(seconds, withDate) {
  const text = new Date(seconds * 1000).toISOString();
  return withDate ? `${text.slice(5, 10)} ${text.slice(11, 16)}` : text.slice(11, 16);
}

/** How long before `nowMillis` an instant in microseconds was. */
export function ago(micros, nowMillis) {
  const seconds = Math.max(0, Math.round(nowMillis / 1000 - micros / 1e6));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

/** The grid's columns first, in the order people read a flow; the rest after, by name. */
const FIRST_COLUMNS = ["bucket_start", "time", "first_packet", "request_time", "first_seen",
  "client_namespace", "client_owner_name", "client_pod", "client_ip", "client_port", "src_ip", "src_port",
  "server_namespace", "server_owner_name", "server_pod", "server_ip", "server_port", "dst_ip", "dst_port",
  "transport", "method", "host", "path", "status", "bytes_to_server", "bytes_to_client",
  "messages_to_server", "messages_to_client", "packets_to_server", "packets_to_client", "wire_length"];

/** `columns` in reading order. */
export function ordered(columns) {
  const rank = (c) => (FIRST_COLUMNS.includes(c) ? FIRST_COLUMNS.indexOf(c) : FIRST_COLUMNS.length);
  return [...columns].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A grid cell's text: sizes and durations in units people read, instants without the `T`. */
export function cellText(column, value) {
  const number = typeof value === "number" ? value : NaN;
  if (Number.isFinite(number) && /(^bytes_|_bytes$|_body_size$|_length$)/.test(column)) return bytes(number);
  if (Number.isFinite(number) && /_us$/.test(column)) return duration(number);
  if (/^(bucket_start|time|first_packet|last_packet|connected|request_time|response_time|first_seen|last_seen)$/.test(column)) {
    return String(value).replace("T", " ").replace(/(\.\d{3})\d*/, "$1");
  }
  return String(value);
}
