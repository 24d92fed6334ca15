/**
 * Validation issues in plain words: the one mapping from zod's issues to a sentence per field
 * ("project is required", "name must not be empty"). The API's validation_failed problem, the CLI's
 * own check of a job spec and (through the API) the console all show these sentences.
 */
import type { core } from 'zod';
import type { FieldError } from './errors.js';

type Issue = core.$ZodIssue;
type Path = readonly PropertyKey[];

/** zod's own messages start like this; a schema's custom message (a noun phrase such as "an absolute path") does not. */
const ZOD_DEFAULT = /^(Invalid|Too (small|big)|Unrecognized)\b/;

const TYPE_NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  tuple: 'a list',
  object: 'an object',
  record: 'an object',
  map: 'an object',
  date: 'a date',
  null: 'null',
};

const FORMAT_NOUNS: Record<string, string> = {
  datetime: 'an ISO 8601 date-time such as 2025-01-31T12:00:00Z',
  date: 'a date such as 2025-01-31',
  email: 'an email address',
  url: 'a URL',
  uuid: 'a UUID',
};

/** fieldPath: the path as the API reports it (`labels.team`, `command.0`). */
export function fieldPath(path: Path): string {
  return path.map(String).join('.');
}

/** fieldName: the path as a sentence names it (`command[0]`, `labels.team`); `root` for the whole input. */
function fieldName(path: Path, root: string): string {
  if (path.length === 0) return root;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const plural = (n: number | bigint, one: string, many: string) => `${n} ${Number(n) === 1 ? one : many}`;

/** A custom message from the schema, when it has one (zod's defaults are replaced by our sentences). */
function custom(issue: Issue): string | undefined {
  return ZOD_DEFAULT.test(issue.message) ? undefined : issue.message;
}

/** predicate: what the sentence says about its subject ("is required", "must be at most 16"). */
function predicate(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type': {
      // zod v4 keeps no input on a finished issue; its default message is the only place that says it was absent.
      if (/received undefined$/.test(issue.message)) return 'is required';
      const noun = TYPE_NOUNS[issue.expected] ?? issue.expected;
      return /received null$/.test(issue.message) ? `must be ${noun}, not null` : `must be ${noun}`;
    }
    case 'too_small': {
      const n = issue.minimum;
      if (issue.origin === 'string')
        return Number(n) <= 1 ? 'must not be empty' : `must be at least ${plural(n, 'character', 'characters')} long`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return Number(n) <= 1 ? 'must not be empty' : `must have at least ${plural(n, 'item', 'items')}`;
      return issue.inclusive === false ? `must be greater than ${n}` : `must be at least ${n}`;
    }
    case 'too_big': {
      const n = issue.maximum;
      if (issue.origin === 'string') return `must be at most ${plural(n, 'character', 'characters')} long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have at most ${plural(n, 'item', 'items')}`;
      return issue.inclusive === false ? `must be less than ${n}` : `must be at most ${n}`;
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${show(issue.values[0])}`
        : `must be one of ${issue.values.map(show).join(', ')}`;
    case 'invalid_format': {
      const own = custom(issue);
      if (own) return `must be ${own}`;
      const noun = FORMAT_NOUNS[issue.format];
      return noun ? `must be ${noun}` : 'has the wrong format';
    }
    case 'not_multiple_of':
      return `must be a multiple of ${show(issue.divisor)}`;
    case 'invalid_union': {
      // Each alternative failed at the field itself with a type mismatch: name the types it may have.
      const nouns = issue.errors.map((alt) =>
        alt.length === 1 && alt[0].code === 'invalid_type' && alt[0].path.length === 0 ? TYPE_NOUNS[alt[0].expected] : undefined,
      );
      if (nouns.length > 0 && nouns.every((n) => n !== undefined)) return `must be ${[...new Set(nouns)].join(' or ')}`;
      return 'matches none of the allowed forms';
    }
    case 'invalid_element':
      return 'has an invalid item';
    case 'custom': {
      const own = custom(issue);
      if (!own) return 'is invalid';
      return /^at (most|least) /.test(own) ? `must have ${own}` : `is invalid: ${own}`;
    }
    default:
      return `is invalid${custom(issue) ? `: ${issue.message}` : ''}`;
  }
}

/**
 * issueErrors: one field error per problem, its message a whole sentence that names the field.
 * `root` names the whole input ("the request body") for issues about the input itself.
 */
export function issueErrors(issues: readonly Issue[], root = 'the input'): FieldError[] {
  return issues.flatMap((issue): FieldError[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({
        path: fieldPath([...issue.path, k]),
        message: `${fieldName([...issue.path, k], root)} is not a known field`,
      }));
    }
    if (issue.code === 'invalid_key') {
      // The path ends with the key; the inner issues are about the key itself.
      const key = issue.path[issue.path.length - 1];
      const subject = `${fieldName(issue.path.slice(0, -1), root)} key ${JSON.stringify(String(key))}`;
      const inner = issue.issues[0];
      return [{ path: fieldPath(issue.path), message: `${subject} ${inner ? predicate(inner) : 'is invalid'}` }];
    }
    if (issue.path.length === 0 && issue.code === 'custom' && custom(issue)) {
      return [{ path: '', message: issue.message }];
    }
    return [{ path: fieldPath(issue.path), message: `${fieldName(issue.path, root)} ${predicate(issue)}` }];
  });
}

/** How many sentences a detail line spells out before it only counts the rest. */
const DETAIL_SENTENCES = 3;

/** validationDetail: `invalid request body: project is required; name must not be empty`. */
export function validationDetail(where: string, errors: readonly FieldError[]): string {
  if (errors.length === 0) return `invalid ${where}`;
  const shown = errors.slice(0, DETAIL_SENTENCES).map((e) => e.message);
  const rest = errors.length - shown.length;
  return `invalid ${where}: ${shown.join('; ')}${rest > 0 ? `; and ${plural(rest, 'more problem', 'more problems')}` : ''}`;
}

/**
 * extraFieldLines: the field errors a reader of `detail` has not seen yet, one line each, so a CLI that
 * prints the detail and then the fields never says a thing twice. A sentence that names its field is
 * printed as it is; a short note (`not in this fleet`) gets its field in front.
 */
export function extraFieldLines(detail: string, errors: readonly FieldError[]): string[] {
  const lines: string[] = [];
  for (const e of errors) {
    if (!e.path || detail.includes(e.message)) continue;
    const line = e.message.startsWith(e.path.split('.')[0]) ? e.message : `${e.path}: ${e.message}`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}
