/**
 * The part of an OpenAPI 3.1 document the client generators read, as a schema: a document is
 * checked against it instead of trusted, so a shape the generators do not know fails loudly.
 */
import { z } from 'zod';

export interface JsonSchema {
  type?: string | string[];
  $ref?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  description?: string;
}

export const JsonSchemaShape: z.ZodType<JsonSchema> = z.lazy(() =>
  z.looseObject({
    type: z.union([z.string(), z.array(z.string())]).optional(),
    $ref: z.string().optional(),
    enum: z.array(z.unknown()).optional(),
    const: z.unknown().optional(),
    properties: z.record(z.string(), JsonSchemaShape).optional(),
    required: z.array(z.string()).optional(),
    items: JsonSchemaShape.optional(),
    additionalProperties: z.union([z.boolean(), JsonSchemaShape]).optional(),
    anyOf: z.array(JsonSchemaShape).optional(),
    oneOf: z.array(JsonSchemaShape).optional(),
    allOf: z.array(JsonSchemaShape).optional(),
    description: z.string().optional(),
  }),
);

const Content = z.record(z.string(), z.looseObject({ schema: JsonSchemaShape.optional() }));

export const ParameterShape = z.looseObject({
  name: z.string(),
  in: z.enum(['path', 'query', 'header', 'cookie']),
  required: z.boolean().optional(),
  description: z.string().optional(),
  schema: JsonSchemaShape.optional(),
});

export const OperationShape = z.looseObject({
  operationId: z.string(),
  summary: z.string().optional(),
  description: z.string().optional(),
  parameters: z.array(ParameterShape).optional(),
  requestBody: z.looseObject({ required: z.boolean().optional(), content: Content }).optional(),
  responses: z.record(z.string(), z.looseObject({ description: z.string().optional(), content: Content.optional() })),
});

export const OpenApiShape = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  components: z.looseObject({ schemas: z.record(z.string(), JsonSchemaShape).optional() }).optional(),
});

export type OpenApi = z.infer<typeof OpenApiShape>;
export type Operation = z.infer<typeof OperationShape>;
export type Parameter = z.infer<typeof ParameterShape>;

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** operations lists the document's operations in document order, each checked against OperationShape. */
export function operations(doc: OpenApi): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([method, raw]) => {
        const r = OperationShape.safeParse(raw);
        if (!r.success)
          throw new Error(
            `${method.toUpperCase()} ${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
        return { method, path, op: r.data };
      }),
  );
}
