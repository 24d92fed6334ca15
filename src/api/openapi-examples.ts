/**
 * attachRequestExamples puts each operation's request example (src/model/examples.ts) into the
 * OpenAPI document, next to the schema it must satisfy, so docs and generated clients show a
 * whole, valid body instead of loose field examples.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { REQUEST_EXAMPLES } from '../model/examples.js';

export function attachRequestExamples(registry: OpenAPIHono['openAPIRegistry']): void {
  for (const def of registry.definitions) {
    if (def.type !== 'route' || !def.route.operationId) continue;
    const media = def.route.request?.body?.content['application/json'];
    const example = REQUEST_EXAMPLES[def.route.operationId];
    if (media && !('$ref' in media) && example !== undefined && media.example === undefined) media.example = example;
  }
}
