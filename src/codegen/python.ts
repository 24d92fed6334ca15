/**
 * generatePython turns the OpenAPI document into `clients/python/gigafab/_generated.py`: a
 * TypedDict (or alias) per component schema and one method per operation on `GeneratedApi`, named
 * after its operationId in snake_case. Standard library only; the hand-written `Client` supplies
 * the transport (`_call`). Output is deterministic: the same document gives the same bytes.
 */
import { type JsonSchema, type OpenApi, type Operation, operations, type Parameter } from './openapi-shape.js';

const PY_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
    ' ',
  ),
);

/** snakeCase: `listJobEvents` → `list_job_events`, `idempotency-key` → `idempotency_key`; keywords get a trailing `_`. */
export function snakeCase(name: string): string {
  const s = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
  return PY_KEYWORDS.has(s) ? `${s}_` : s;
}

const isIdentifier = (s: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !PY_KEYWORDS.has(s);

/** pyLiteral writes a JSON value as a Python literal. */
function pyLiteral(v: unknown): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return JSON.stringify(v);
}

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

/** pyType: the Python annotation for a JSON schema; component references are quoted forward references. */
export function pyType(s: JsonSchema | undefined): string {
  if (!s) return 'Any';
  if (s.$ref) return JSON.stringify(refName(s.$ref));
  if (s.const !== undefined) return `Literal[${pyLiteral(s.const)}]`;
  if (s.enum) return `Literal[${s.enum.map(pyLiteral).join(', ')}]`;
  const alternatives = s.anyOf ?? s.oneOf ?? (s.allOf?.length === 1 ? s.allOf : undefined);
  if (alternatives) return union(alternatives.map(pyType));
  if (Array.isArray(s.type)) return union(s.type.map((t) => pyType({ ...s, type: t })));
  switch (s.type) {
    case 'string':
      return 'str';
    case 'integer':
      return 'int';
    case 'number':
      return 'float';
    case 'boolean':
      return 'bool';
    case 'null':
      return 'None';
    case 'array':
      return `List[${pyType(s.items)}]`;
    case 'object':
      return typeof s.additionalProperties === 'object' && !s.properties
        ? `Dict[str, ${pyType(s.additionalProperties)}]`
        : 'Dict[str, Any]';
    default:
      return 'Any';
  }
}

function union(types: string[]): string {
  const unique = [...new Set(types)];
  const rest = unique.filter((t) => t !== 'None');
  const inner = rest.length === 1 ? rest[0]! : `Union[${rest.join(', ')}]`;
  if (rest.length === 0) return 'None';
  return rest.length < unique.length ? `Optional[${inner}]` : inner;
}

/** A docstring body: backslashes and triple quotes escaped, long text kept as given. */
function docstring(text: string, indent: string): string {
  const body = text.replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"').trim();
  const lines = body.split('\n').map((l, i) => (i === 0 || !l ? l : indent + l));
  return `${indent}"""${lines.join('\n')}"""`;
}

function typedDict(name: string, s: JsonSchema): string {
  const props = Object.entries(s.properties ?? {});
  const required = new Set(s.required ?? []);
  const doc = s.description ? `${docstring(s.description, '    ')}\n` : '';
  const field = ([k, v]: [string, JsonSchema]) => `${k}: ${pyType(v)}`;
  if (!props.every(([k]) => isIdentifier(k))) {
    // Keys that are not Python names need the functional form (all keys optional then).
    const entries = props.map(([k, v]) => `${JSON.stringify(k)}: ${pyType(v)}`).join(', ');
    return `${name} = TypedDict(${JSON.stringify(name)}, {${entries}}, total=False)\n`;
  }
  const req = props.filter(([k]) => required.has(k));
  const opt = props.filter(([k]) => !required.has(k));
  if (!opt.length) return `class ${name}(TypedDict):\n${doc}${req.map((p) => `    ${field(p)}\n`).join('') || '    pass\n'}`;
  if (!req.length) return `class ${name}(TypedDict, total=False):\n${doc}${opt.map((p) => `    ${field(p)}\n`).join('')}`;
  // Required keys in a base class, optional ones in the named class: works on Python 3.8+ (no NotRequired).
  return (
    `class _${name}Required(TypedDict):\n${req.map((p) => `    ${field(p)}\n`).join('')}\n\n` +
    `class ${name}(_${name}Required, total=False):\n${doc}${opt.map((p) => `    ${field(p)}\n`).join('')}`
  );
}

function schemaDefinition(name: string, s: JsonSchema): string {
  if (s.type === 'object' && s.properties) return typedDict(name, s);
  return `${name} = ${pyType(s)}\n`;
}

/** The Python type of an operation's successful answer: its first 2xx JSON body, else text, else None. */
function returnType(op: Operation): string {
  const codes = Object.keys(op.responses)
    .filter((c) => /^2\d\d$/.test(c))
    .sort();
  for (const code of codes) {
    const content = op.responses[code]?.content;
    if (!content) continue;
    const jsonBody = content['application/json'];
    if (jsonBody) return pyType(jsonBody.schema);
    return 'str';
  }
  return 'None';
}

function method(httpMethod: string, path: string, op: Operation): string {
  const params: Parameter[] = op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const otherParams = params.filter((p) => p.in === 'query' || p.in === 'header');
  const body = op.requestBody?.content['application/json'];
  const bodyRequired = op.requestBody?.required ?? false;
  const args = ['self', ...pathParams.map((p) => `${snakeCase(p.name)}: ${pathArgType(p)}`)];
  if (body && bodyRequired) args.push(`body: ${pyType(body.schema)}`);
  const keywords = otherParams.map((p) => `${snakeCase(p.name)}: Optional[${pyType(p.schema)}] = None`);
  if (body && !bodyRequired) keywords.unshift(`body: Optional[${pyType(body.schema)}] = None`);
  if (keywords.length) args.push('*', ...keywords);
  const dict = (ps: Parameter[]) => `{${ps.map((p) => `${JSON.stringify(p.name)}: ${snakeCase(p.name)}`).join(', ')}}`;
  const summary = [op.summary, op.description, `${httpMethod.toUpperCase()} ${path}`].filter(Boolean).join('\n\n');
  return [
    `    def ${snakeCase(op.operationId)}(${args.join(', ')}) -> ${returnType(op)}:`,
    docstring(summary, '        '),
    `        return self._call(`,
    `            ${JSON.stringify(httpMethod.toUpperCase())},`,
    `            ${JSON.stringify(path)},`,
    `            path=${dict(pathParams)},`,
    `            query=${dict(otherParams.filter((p) => p.in === 'query'))},`,
    `            headers=${dict(otherParams.filter((p) => p.in === 'header'))},`,
    `            body=${body ? 'body' : 'None'},`,
    '        )',
    '',
  ].join('\n');
}

/** Path parameters are strings in the API; ids are accepted as ints too (job ids are numbers in JSON). */
const pathArgType = (p: Parameter) => (pyType(p.schema) === 'str' ? 'Union[str, int]' : pyType(p.schema));

export function generatePython(doc: OpenApi): string {
  const schemas = Object.entries(doc.components?.schemas ?? {});
  const ops = operations(doc);
  const out = [
    `# Generated by scripts/gen-python-client.mjs from the ${doc.info.title} OpenAPI document (version ${doc.info.version}).`,
    '# Do not edit: change the API, then run `node scripts/gen-python-client.mjs`.',
    '# ruff: noqa',
    'from __future__ import annotations',
    '',
    'from typing import Any, Dict, List, Literal, Optional, TypedDict, Union',
    '',
    `API_VERSION = ${JSON.stringify(doc.info.version)}`,
    '',
    ...schemas.map(([name, s]) => `\n${schemaDefinition(name, s)}`),
    '',
    'class GeneratedApi:',
    `    """One method per operation of the ${doc.info.title}; the subclass supplies \`_call\` (the transport)."""`,
    '',
    '    def _call(self, method: str, template: str, *, path: Dict[str, Any], query: Dict[str, Any], headers: Dict[str, Any], body: Any) -> Any:',
    '        raise NotImplementedError',
    '',
    ...ops.map(({ method: m, path, op }) => method(m, path, op)),
  ];
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n\n')
    .trimEnd()}\n`;
}
