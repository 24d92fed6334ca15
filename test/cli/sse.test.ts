import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSseStream, type SseEvent, SseParser } from '../../src/cli/sse.js';

const STREAM =
  ': keep-alive\n\n' +
  'event: job-event\nid: 1\ndata: {"id":1,"type":"queued","message":"submitted: 4×8 B200 — ok"}\n\n' +
  'event: job-event\r\nid: 2\r\ndata: {"id":2,\r\ndata: "type":"running"}\r\n\r\n' +
  'retry: 1000\nevent: job-event\ndata:{"id":3}\n\n' +
  'data: plain message\n\n' +
  'event: end\ndata: {"state": "succeeded"}\n\n';

function collectAll(chunks: string[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

const expected: SseEvent[] = [
  { event: 'job-event', id: '1', data: '{"id":1,"type":"queued","message":"submitted: 4×8 B200 — ok"}' },
  { event: 'job-event', id: '2', data: '{"id":2,\n"type":"running"}' },
  { event: 'job-event', id: '2', data: '{"id":3}', retry: 1000 },
  { event: 'message', id: '2', data: 'plain message' },
  { event: 'end', id: '2', data: '{"state": "succeeded"}' },
];

test('SSE: whole stream in one chunk', () => {
  assert.deepEqual(collectAll([STREAM]), expected);
});

test('SSE: every split into two chunks gives the same events', () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(collectAll([STREAM.slice(0, i), STREAM.slice(i)]), expected, `split at ${i}`);
  }
});

test('SSE: one character at a time', () => {
  assert.deepEqual(collectAll([...STREAM]), expected);
});

test('SSE: CR LF split across chunks is one line end, not two', () => {
  const events = collectAll(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
  assert.deepEqual(events, [{ event: 'message', id: undefined, data: 'a\nb' }]);
});

test('SSE: bare CR line ends', () => {
  assert.deepEqual(collectAll(['event: x\rdata: 1\r\r']), [{ event: 'x', id: undefined, data: '1' }]);
});

test('SSE: an unterminated final event is dropped; empty data events dispatch nothing', () => {
  assert.deepEqual(collectAll(['event: foo\n\n', 'data: partial']), []);
});

test('SSE: leading BOM is ignored, field without colon, single leading space stripped only', () => {
  const events = collectAll(['\uFEFFdata\n\n', 'data:  two spaces\n\n']);
  assert.deepEqual(events, [
    { event: 'message', id: undefined, data: '' },
    { event: 'message', id: undefined, data: ' two spaces' },
  ]);
});

async function* bytesIn(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

test('SSE byte stream: splits inside multi-byte UTF-8 characters decode correctly', async () => {
  const bytes = new TextEncoder().encode(STREAM);
  for (let size = 1; size <= 7; size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
    const events: SseEvent[] = [];
    for await (const ev of parseSseStream(bytesIn(chunks))) events.push(ev);
    assert.deepEqual(events, expected, `chunk size ${size}`);
  }
});

test('SSE byte stream: every two-way byte split', async () => {
  const bytes = new TextEncoder().encode(STREAM);
  for (let i = 0; i <= bytes.length; i++) {
    const events: SseEvent[] = [];
    for await (const ev of parseSseStream(bytesIn([bytes.slice(0, i), bytes.slice(i)]))) events.push(ev);
    assert.deepEqual(events, expected, `split at byte ${i}`);
  }
});
