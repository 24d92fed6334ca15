/**
 * openApiDocument: the OpenAPI document exactly as `GET /v1/openapi.json` serves it, built from the
 * app in-process (no store, no port; the built-in fleet). Code generators (src/codegen) read it from here, so a client
 * cannot describe routes the server does not have.
 */
import { Registry } from 'prom-client';
import { loadFleetFile } from '../fleet/load-fleet.js';
import { createApp } from './app.js';

/**
 * A stand-in service: routes may keep references to its parts while they are declared (`cp.fleet`),
 * but describing the routes never calls one, and a call would be a bug.
 */
// biome-ignore lint/suspicious/noExplicitAny: a stand-in that takes the place of any service
function unused(name: string, real: Record<string, unknown> = {}): any {
  return new Proxy(() => {}, {
    get: (_target, prop) => (typeof prop === 'string' && prop in real ? real[prop] : unused(`${name}.${String(prop)}`)),
    apply: () => {
      throw new Error(`${name}() was called while only describing the API`);
    },
  });
}

/** describedApp: the app over stand-in services, to read its routes and document, never to serve. */
export function describedApp(version: string) {
  return createApp({
    // The console's fleet routes index the fleet's shape when declared: the built-in demo fleet serves.
    cp: unused('cp', { fleet: loadFleetFile() }),
    cluster: unused('cluster'),
    ops: unused('ops'),
    tenancy: unused('tenancy'),
    audit: unused('audit'),
    lockbox: unused('lockbox'),
    residency: unused('residency'),
    datasetManifests: unused('datasetManifests'),
    services: unused('services'),
    keys: {
      keys: unused('keys'),
      secrets: unused('secrets'),
      restrictions: unused('restrictions'),
      erasure: unused('erasure'),
      tenancy: unused('tenancy'),
    },
    registry: new Registry(),
    isReady: () => true,
    version,
  });
}

export async function openApiDocument(version: string): Promise<unknown> {
  const res = await describedApp(version).request('/v1/openapi.json');
  if (!res.ok) throw new Error(`the app answered ${res.status} for its OpenAPI document`);
  return res.json();
}
