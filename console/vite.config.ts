/**
 * Builds the web console into dist/console, which the gigafab server serves at `/`
 * (src/api/console-static.ts). `npx vite --config console/vite.config.ts` runs a dev server that
 * proxies the API to a local `gigafab server` (GIGAFAB_URL, default http://127.0.0.1:8080).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  // Preact's automatic JSX runtime: no Babel plugin needed.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    // Budget (see bench/console.ts): 250 KiB gzip for all JS + CSS.
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/v1': process.env.GIGAFAB_URL ?? 'http://127.0.0.1:8080' },
  },
});
