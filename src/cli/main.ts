/**
 * Entry point of the `gigafab` CLI (bin/gigafab.js imports the compiled file).
 */
import { processIo } from './output.js';
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2), { io: processIo, env: process.env, interactive: process.stderr.isTTY });
