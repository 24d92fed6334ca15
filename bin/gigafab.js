#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/ (built by `npm install` via the prepare script).
import '../dist/src/cli/main.js';
