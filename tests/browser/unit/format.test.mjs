// The UI's formatting (server/ui/format.js): sizes, durations, rates, instants, grid cells.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, bytes, cellText, clock, duration, escapeHtml, ordered, rate } from "../../../server/ui/format.js";

test("sizes step at powers of 1000", () => {
  assert.equal(bytes(0), "0 B");
  assert.equal(bytes(999), "999 B");
  assert.equal(bytes(1000), "1.0 kB");
  assert.equal(bytes(4_700_000), "4.7 MB");
  assert.equal(bytes(2_500_000_000), "2.5 GB");
});

test("durations and rates read as people say them", () => {
  assert.equal(duration(850), "850 µs");
  assert.equal(duration(12_300), "12.3 ms");
  assert.equal(duration(2_500_000), "2.50 s");
  assert.equal(duration(90_000_000), "1.5 min");
  assert.equal(rate(7_200_000, 3600), "2.0 kB/s");
  assert.equal(rate(5, 0), "5 B/s", "no division by zero");
});

test("instants are UTC, with the date when asked", () => {
  assert.equal(clock(1_795_255_200, false), "10:00");
  assert.equal(clock(1_795_255_200, true), "11-21 10:00");
  const now = 1_795_255_200_000;
  assert.equal(ago(now * 1000 - 30e6, now), "30 s ago");
  assert.equal(ago(now * 1000 - 600e6, now), "10 min ago");
  assert.equal(ago(now * 1000 - 7200e6, now), "2 h ago");
  assert.equal(ago(now * 1000 + 5e6, now), "0 s ago", "a clock ahead is now");
});

test("HTML is escaped, attributes included", () => {
  assert.equal(escapeHtml(`<a href="x">&</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
});

test("grid columns come in reading order and cells in units", () => {
  assert.deepEqual(ordered(["zeta", "bytes_to_server", "server_ip", "bucket_start", "client_ip", "alpha"]),
    ["bucket_start", "client_ip", "server_ip", "bytes_to_server", "alpha", "zeta"]);
  assert.equal(cellText("bytes_to_client", 23_100), "23.1 kB");
  assert.equal(cellText("wire_length", 1514), "1.5 kB");
  assert.equal(cellText("latency_us", 4200), "4.2 ms");
  assert.equal(cellText("bucket_start", "2026-11-21T10:59:00.000000Z"), "2026-11-21 10:59:00.000Z");
  assert.equal(cellText("server_port", 443), "443", "a port is no size");
  assert.equal(cellText("bytes_to_client", "n/a"), "n/a", "text stays text");
});
