/**
 * A tiny Kubernetes API replay server for the driver tests (no API server can run here). It serves
 * recorded request → response pairs from test/drivers/recordings/kubernetes/*.json and records every
 * request, so a test can assert the driver sent exactly the expected calls.
 *
 * A recording: { description, exchanges: Exchange[], templates?: { [name]: Exchange[] } }.
 * Each list is a sequence served in order: a request must match the exchange at the cursor (method,
 * path, query and — where given — body, a recursive subset match: objects may carry more keys, arrays
 * must match element by element). A request that does not match the cursor may repeat the latest
 * served exchange of the same method+path+query if that one says `repeat: true` (polls). `afterMs`
 * holds an exchange back until that long after the previous one of its sequence was served.
 * Strings may hold `${NAME}` variables: bound by the first match (templates: each fresh match of a
 * template's first exchange starts a new bound copy — how the conformance suite's unknown job ids are
 * served), substituted in responses. Anything else gets HTTP 500 and lands in `unexpected`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './fixtures.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface Exchange {
  request: { method: string; path: string; query?: Record<string, string>; body?: Json };
  response: { status: number; body?: Json; text?: string };
  repeat?: boolean;
  afterMs?: number;
}

export interface Recording {
  description: string;
  exchanges: Exchange[];
  templates?: Record<string, Exchange[]>;
}

export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Json | undefined;
  /** Which sequence served it ('exchanges', or the template name), or null when unexpected. */
  servedBy: string | null;
}

interface Sequence {
  name: string;
  steps: Exchange[];
  cursor: number;
  vars: Record<string, string>;
  lastServedAt: number;
  /** Index of the latest served step per method+path+query key. */
  latest: Map<string, number>;
}

export function loadRecording(name: string): Recording {
  const path = join(repoRoot(), 'test', 'drivers', 'recordings', 'kubernetes', `${name}.json`);
  return JSON.parse(readFileSync(path, 'utf8')) as Recording;
}

const VAR = /\$\{([A-Z_]+)\}/g;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** matchString: template (with ${VARS}) against actual; returns the extended bindings or null. */
function matchString(tpl: string, actual: string, vars: Record<string, string>): Record<string, string> | null {
  const names: string[] = [];
  let re = '';
  let last = 0;
  for (const m of tpl.matchAll(VAR)) {
    re += escapeRe(tpl.slice(last, m.index));
    const bound = vars[m[1]];
    if (bound !== undefined) re += escapeRe(bound);
    else {
      names.push(m[1]);
      re += '(.+)';
    }
    last = (m.index ?? 0) + m[0].length;
  }
  re += escapeRe(tpl.slice(last));
  const hit = new RegExp(`^${re}$`).exec(actual);
  if (!hit) return null;
  const out = { ...vars };
  names.forEach((n, i) => {
    out[n] = hit[i + 1];
  });
  return out;
}

function matchJson(tpl: Json, actual: Json | undefined, vars: Record<string, string>): Record<string, string> | null {
  if (typeof tpl === 'string') return typeof actual === 'string' ? matchString(tpl, actual, vars) : null;
  if (Array.isArray(tpl)) {
    if (!Array.isArray(actual) || actual.length !== tpl.length) return null;
    let v: Record<string, string> | null = vars;
    for (let i = 0; i < tpl.length && v; i++) v = matchJson(tpl[i], actual[i], v);
    return v;
  }
  if (tpl !== null && typeof tpl === 'object') {
    if (actual === null || actual === undefined || typeof actual !== 'object' || Array.isArray(actual)) return null;
    let v: Record<string, string> | null = vars;
    for (const [k, t] of Object.entries(tpl)) {
      if (!v) break;
      v = matchJson(t, actual[k], v);
    }
    return v;
  }
  return tpl === actual ? vars : null;
}

function substitute(v: Json, vars: Record<string, string>): Json {
  if (typeof v === 'string') return v.replace(VAR, (all, n: string) => vars[n] ?? all);
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars)]));
  return v;
}

function keyOf(method: string, path: string, query: Record<string, string>): string {
  return `${method} ${path}?${Object.entries(query)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')}`;
}

export class ReplayServer {
  readonly seen: SeenRequest[] = [];
  readonly unexpected: string[] = [];
  private readonly sequences: Sequence[] = [];
  private server: http.Server | null = null;
  url = '';

  constructor(
    private readonly recording: Recording,
    /** The bearer token every request must carry. */
    private readonly token = 'test-token',
    vars: Record<string, string> = {},
  ) {
    this.sequences.push(this.newSequence('exchanges', recording.exchanges, vars));
  }

  private newSequence(name: string, steps: Exchange[], vars: Record<string, string>): Sequence {
    return { name, steps, cursor: 0, vars, lastServedAt: Date.now(), latest: new Map() };
  }

  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://replay');
        const query = Object.fromEntries(url.searchParams.entries());
        const text = Buffer.concat(chunks).toString('utf8');
        const body = text ? (JSON.parse(text) as Json) : undefined;
        const seen: SeenRequest = { method: req.method ?? 'GET', path: url.pathname, query, body, servedBy: null };
        this.seen.push(seen);
        if (req.headers.authorization !== `Bearer ${this.token}`) {
          this.unexpected.push(`${keyOf(seen.method, seen.path, query)} without the bearer token`);
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
          return;
        }
        const hit = this.serve(seen);
        if (!hit) {
          this.unexpected.push(`${keyOf(seen.method, seen.path, query)} ${text.slice(0, 300)}`);
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(
            JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'not in the recording', code: 500 }),
          );
          return;
        }
        seen.servedBy = hit.seq.name;
        const r = hit.step.response;
        if (r.text !== undefined) {
          res.writeHead(r.status, { 'Content-Type': 'text/plain' });
          res.end(substitute(r.text, hit.seq.vars));
        } else {
          res.writeHead(r.status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(substitute(r.body ?? null, hit.seq.vars)));
        }
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  private matches(step: Exchange, req: SeenRequest, vars: Record<string, string>): Record<string, string> | null {
    if (step.request.method !== req.method) return null;
    let v = matchString(step.request.path, req.path, vars);
    const tq = step.request.query ?? {};
    if (!v || Object.keys(tq).length !== Object.keys(req.query).length) return null;
    for (const [k, t] of Object.entries(tq)) {
      if (!v) return null;
      const a = req.query[k];
      v = a === undefined ? null : matchString(t, a, v);
    }
    if (v && step.request.body !== undefined) v = matchJson(step.request.body, req.body, v);
    return v;
  }

  private serve(req: SeenRequest): { seq: Sequence; step: Exchange } | null {
    const now = Date.now();
    // 1. The next step of a sequence already under way.
    for (const seq of this.sequences) {
      const step = seq.steps[seq.cursor];
      if (!step || (step.afterMs && now - seq.lastServedAt < step.afterMs)) continue;
      const v = this.matches(step, req, seq.vars);
      if (!v) continue;
      seq.vars = v;
      return this.advance(seq, step, now);
    }
    // 2. A fresh copy of a template whose first step matches.
    for (const [name, steps] of Object.entries(this.recording.templates ?? {})) {
      const v = steps[0] ? this.matches(steps[0], req, {}) : null;
      if (!v) continue;
      const seq = this.newSequence(name, steps, v);
      this.sequences.push(seq);
      return this.advance(seq, steps[0], now);
    }
    // 3. A repeatable step served before.
    for (const seq of this.sequences) {
      const i = seq.latest.get(keyOf(req.method, req.path, req.query));
      if (i !== undefined && seq.steps[i].repeat) return { seq, step: seq.steps[i] };
    }
    return null;
  }

  private advance(seq: Sequence, step: Exchange, now: number): { seq: Sequence; step: Exchange } {
    const s = this.seen[this.seen.length - 1];
    seq.latest.set(keyOf(s.method, s.path, s.query), seq.cursor);
    seq.cursor++;
    seq.lastServedAt = now;
    return { seq, step };
  }

  /** Every sequence served to its end, nothing unexpected. */
  assertDone(): void {
    assert.deepEqual(this.unexpected, [], 'requests not in the recording');
    for (const s of this.sequences) {
      assert.equal(
        s.cursor,
        s.steps.length,
        `${s.name}: served ${s.cursor} of ${s.steps.length} exchanges; next expected ${JSON.stringify(s.steps[s.cursor]?.request)}`,
      );
    }
  }

  /** The requests other than polls (GET), in order: what the driver changed. */
  writes(): string[] {
    return this.seen.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  }

  templateCopies(name: string): number {
    return this.sequences.filter((s) => s.name === name).length;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
