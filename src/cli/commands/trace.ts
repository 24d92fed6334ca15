/**
 * gigafab trace list|fetch|path: the public traces the simulator imports, downloaded on request into a cache
 * directory (src/cli/traces). Nothing of their data ships with gigafab.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseJson } from '../../model/json.js';
import { CliError, examples, globalOptions, type Runtime } from '../context.js';
import { renderTable } from '../output.js';
import { TRACE_CATALOG, TraceCatalogSchema, type TraceEntry } from '../traces/catalog.js';
import { DownloadError, download } from '../traces/download.js';

interface TraceOpts {
  cacheDir?: string;
  catalog?: string;
}

/** The cache root: --cache-dir, else $GIGAFAB_TRACE_DIR, else $XDG_CACHE_HOME/gigafab/traces (~/.cache/…). */
function cacheRoot(opts: TraceOpts, env: Runtime['env']): string {
  return (
    opts.cacheDir ??
    env.GIGAFAB_TRACE_DIR ??
    join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'gigafab', 'traces')
  );
}

function catalog(opts: TraceOpts): readonly TraceEntry[] {
  if (!opts.catalog) return TRACE_CATALOG;
  let text: string;
  try {
    text = readFileSync(opts.catalog, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the catalogue ${opts.catalog}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return parseJson(text, TraceCatalogSchema, `catalogue ${opts.catalog}`);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

function entry(opts: TraceOpts, name: string): TraceEntry {
  const all = catalog(opts);
  const found = all.find((e) => e.name === name);
  if (!found) throw new CliError(`no trace named ${name}; known: ${all.map((e) => e.name).join(', ')}`);
  return found;
}

/** The files a fetched trace provides (archives count by what they unpack to, which the marker lists). */
function isFetched(dir: string, e: TraceEntry): boolean {
  return e.files.every((f) => existsSync(join(dir, f.extract ? `${f.name}.unpacked` : f.name)));
}

/** unpack: the archive's files matching `pattern` (by base name) into `dir`; a marker records that it is done. */
function unpack(archive: string, pattern: string, dir: string): number {
  const tmp = mkdtempSync(join(dir, '.unpack-'));
  try {
    const r = spawnSync('tar', ['-xzf', archive, '-C', tmp], { encoding: 'utf8' });
    if (r.status !== 0)
      throw new CliError(`cannot unpack ${archive}: ${r.stderr || r.error?.message || `tar exited ${r.status}`}`);
    const re = new RegExp(pattern);
    let n = 0;
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (re.test(name)) {
          renameSync(p, join(dir, name));
          n++;
        }
      }
    };
    walk(tmp);
    if (n === 0) throw new CliError(`${archive} holds no file matching ${pattern}`);
    return n;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function fetchTrace(rt: Runtime, opts: TraceOpts, e: TraceEntry): Promise<string> {
  const dir = join(cacheRoot(opts, rt.env), e.name);
  mkdirSync(dir, { recursive: true });
  const say = (s: string) => rt.io.err(`${s}\n`);
  say(`${e.title}\nlicence: ${e.licence}\ncite: ${e.cite}`);
  const total = e.files.reduce((s, f) => s + f.bytes, 0);
  const bar = rt.interactive
    ? new (await import('cli-progress')).SingleBar({
        stream: process.stderr,
        format: 'fetch [{bar}] {percentage}% | {done} of {all} MB | {file}',
        hideCursor: true,
      })
    : null;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  bar?.start(total, 0, { done: '0.0', all: mb(total), file: '' });
  let before = 0;
  let lastTenth = -1;
  try {
    for (const f of e.files) {
      const fetched = await download(f, join(dir, f.name), (done) => {
        const at = before + done;
        bar?.update(at, { done: mb(at), file: f.name });
        const tenth = Math.floor((10 * at) / total);
        if (!bar && tenth !== lastTenth) {
          lastTenth = tenth;
          say(`fetch ${10 * tenth}% (${mb(at)} of ${mb(total)} MB) ${f.name}`);
        }
      });
      before += f.bytes;
      if (f.extract && (fetched || !existsSync(join(dir, `${f.name}.unpacked`)))) {
        unpack(join(dir, f.name), f.extract, dir);
        // The marker is written last, so an interrupted unpack is redone.
        writeFileSync(join(dir, `${f.name}.unpacked`), `${new Date().toISOString()}\n`);
      }
    }
  } catch (err) {
    if (err instanceof DownloadError)
      throw new CliError(
        err.message,
        err.offline ? 2 : 1,
        err.offline
          ? [
              `no network? Copy the files by hand into ${dir} (names and SHA-256 in \`gigafab trace list -o json\`), or use --catalog with an internal mirror`,
            ]
          : [],
      );
    throw err;
  } finally {
    bar?.stop();
  }
  return dir;
}

export function registerTrace(program: Command, rt: Runtime): void {
  const trace = program.command('trace').description('public GPU-cluster traces for the simulator (downloaded on request)');
  const common = (c: Command) =>
    c
      .option('--cache-dir <dir>', 'where traces are kept (env GIGAFAB_TRACE_DIR; default ~/.cache/gigafab/traces)')
      .option('--catalog <file>', 'a JSON catalogue of the same shape, e.g. for an internal mirror');

  common(trace.command('list').description('the traces gigafab knows, their size, licence and whether they are here')).action(
    (opts: TraceOpts, cmd: Command) => {
      const root = cacheRoot(opts, rt.env);
      const rows = catalog(opts).map((e) => ({
        name: e.name,
        mb: (e.files.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1),
        fetched: isFetched(join(root, e.name), e),
        licence: e.licence,
        title: e.title,
        files: e.files,
      }));
      if (globalOptions(cmd).output === 'json') return rt.io.out(`${JSON.stringify(rows, null, 2)}\n`);
      rt.io.out(
        renderTable(
          ['NAME', 'MB', 'HERE', 'LICENCE'],
          rows.map((r) => [r.name, r.mb, r.fetched ? 'yes' : 'no', r.licence]),
        ),
      );
    },
  );

  common(trace.command('fetch').argument('<name>', 'trace name (see `gigafab trace list`)'))
    .description('download a trace from its pinned upstream commit, check every SHA-256, resume when interrupted')
    .addHelpText(
      'after',
      examples('gigafab trace fetch philly', 'gigafab simulate --trace "$(gigafab trace path philly)/philly.csv"'),
    )
    .action(async (name: string, opts: TraceOpts) => {
      const e = entry(opts, name);
      const dir = await fetchTrace(rt, opts, e);
      rt.io.err(`${e.name}: ready in ${dir}\nuse: ${e.use.replaceAll('DIR', dir)}\n`);
      rt.io.out(`${dir}\n`);
    });

  common(trace.command('path').argument('<name>', 'trace name'))
    .description('print the directory of a fetched trace (exit 1 when it has not been fetched)')
    .action((name: string, opts: TraceOpts) => {
      const e = entry(opts, name);
      const dir = join(cacheRoot(opts, rt.env), e.name);
      if (!isFetched(dir, e)) throw new CliError(`trace ${name} has not been fetched; run \`gigafab trace fetch ${name}\``);
      rt.io.out(`${dir}\n`);
    });
}
