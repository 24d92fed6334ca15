import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ConfigError,
  configPath,
  DEFAULT_URL,
  loadConfig,
  readConfigFile,
  resolveConfig,
  writeConfigFile,
} from '../../src/cli/config.js';

const file = { url: 'http://file:1', token: 'tok-file' };
const env = { GIGAFAB_URL: 'http://env:2', GIGAFAB_TOKEN: 'tok-env' };
const flags = { url: 'http://flag:3', token: 'tok-flag' };

test('config precedence: flags > env > file > default', () => {
  const all = resolveConfig(flags, env, file, '/x');
  assert.equal(all.url, 'http://flag:3');
  assert.equal(all.token, 'tok-flag');
  assert.equal(all.urlSource, 'flag');
  assert.equal(all.tokenSource, 'flag');

  const noFlags = resolveConfig({}, env, file, '/x');
  assert.equal(noFlags.url, 'http://env:2');
  assert.equal(noFlags.token, 'tok-env');
  assert.equal(noFlags.urlSource, 'env');

  const fileOnly = resolveConfig({}, {}, file, '/x');
  assert.equal(fileOnly.url, 'http://file:1');
  assert.equal(fileOnly.token, 'tok-file');
  assert.equal(fileOnly.tokenSource, 'config');

  const nothing = resolveConfig({}, {}, {}, '/x');
  assert.equal(nothing.url, DEFAULT_URL);
  assert.equal(nothing.urlSource, 'default');
  assert.equal(nothing.token, undefined);
  assert.equal(nothing.tokenSource, undefined);
});

test('config precedence is per field: flag URL with env token with file fallback', () => {
  const r = resolveConfig({ url: 'http://flag:3' }, { GIGAFAB_TOKEN: 'tok-env' }, file, '/x');
  assert.equal(r.url, 'http://flag:3');
  assert.equal(r.token, 'tok-env');
  const r2 = resolveConfig({ token: 'tok-flag' }, {}, file, '/x');
  assert.equal(r2.url, 'http://file:1');
  assert.equal(r2.token, 'tok-flag');
});

test('empty env values do not override the file', () => {
  const r = resolveConfig({}, { GIGAFAB_URL: '', GIGAFAB_TOKEN: '' }, file, '/x');
  assert.equal(r.url, 'http://file:1');
  assert.equal(r.token, 'tok-file');
});

test('URLs are validated and trailing slashes removed', () => {
  assert.equal(resolveConfig({ url: 'http://h:1/' }, {}, {}, '/x').url, 'http://h:1');
  assert.throws(() => resolveConfig({ url: 'not a url' }, {}, {}, '/x'), ConfigError);
  assert.throws(() => resolveConfig({ url: 'ftp://h' }, {}, {}, '/x'), ConfigError);
});

test('configPath: $GIGAFAB_CONFIG, else ~/.config/gigafab/config.json', () => {
  assert.equal(configPath({ GIGAFAB_CONFIG: '/tmp/c.json', HOME: '/home/u' }), '/tmp/c.json');
  assert.equal(configPath({ HOME: '/home/u' }), '/home/u/.config/gigafab/config.json');
});

test('writeConfigFile writes mode 0600 and readConfigFile reads it back; missing file is {}', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gigafab-cli-cfg-'));
  const path = join(dir, 'nested', 'config.json');
  assert.deepEqual(await readConfigFile(path), {});
  await writeConfigFile(path, { url: 'http://a:1', token: 't' });
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(await readConfigFile(path), { url: 'http://a:1', token: 't' });
  // Overwriting keeps the mode.
  await writeConfigFile(path, { url: 'http://b:2', token: 'u' });
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { url: 'http://b:2', token: 'u' });
});

test('readConfigFile: corrupt file is a ConfigError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gigafab-cli-cfg-'));
  const path = join(dir, 'config.json');
  await writeFile(path, '{nope');
  await assert.rejects(readConfigFile(path), ConfigError);
  await writeFile(path, '{"url": 5}');
  await assert.rejects(readConfigFile(path), ConfigError);
});

test('loadConfig reads the file named by GIGAFAB_CONFIG and applies precedence', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gigafab-cli-cfg-'));
  const path = join(dir, 'config.json');
  await writeConfigFile(path, file);
  const fromFile = await loadConfig({}, { GIGAFAB_CONFIG: path });
  assert.equal(fromFile.url, 'http://file:1');
  assert.equal(fromFile.token, 'tok-file');
  assert.equal(fromFile.configPath, path);
  const fromEnv = await loadConfig({}, { GIGAFAB_CONFIG: path, GIGAFAB_TOKEN: 'tok-env' });
  assert.equal(fromEnv.url, 'http://file:1');
  assert.equal(fromEnv.token, 'tok-env');
  const fromFlags = await loadConfig(flags, { GIGAFAB_CONFIG: path, ...env });
  assert.equal(fromFlags.url, 'http://flag:3');
  assert.equal(fromFlags.token, 'tok-flag');
});
