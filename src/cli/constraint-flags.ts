/**
 * `gigafab job submit` flags for placement constraints and the node-failure policy; they merge
 * into the JobSpec's `constraints` (lists are added to the file's, labels merge key by key).
 */
import { type Command, Option } from 'commander';
import { collect, parseKeyValues } from './context.js';

export interface ConstraintFlags {
  site?: string[];
  notSite?: string[];
  cert?: string[];
  nodeLabel?: string[];
  singleUnit?: boolean;
  onNodeFailure?: string;
}

/** addConstraintOptions adds the flags to the `job submit` command. */
export function addConstraintOptions(submit: Command): void {
  submit
    .option('--site <site>', 'run only in this site (repeatable)', collect)
    .option('--not-site <site>', 'never run in this site (repeatable)', collect)
    .option('--cert <certification>', 'only sites holding this certification (repeatable)', collect)
    .option('--node-label <key=value>', 'only nodes with this label (repeatable)', collect)
    .option('--single-unit', 'a gang must fit in one scalable unit, or wait')
    .addOption(new Option('--on-node-failure <policy>', 'when a node of the job goes down').choices(['requeue', 'fail']));
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** mergeConstraintFlags folds the flags into `spec` (a JobSpec object from the file and other flags). */
export function mergeConstraintFlags(spec: Obj, file: Obj, flags: ConstraintFlags): void {
  if (flags.onNodeFailure !== undefined) spec.onNodeFailure = flags.onNodeFailure;
  const base: Obj = isObj(file.constraints) ? { ...file.constraints } : {};
  let changed = false;
  const add = (key: string, values: string[] | undefined) => {
    if (!values || values.length === 0) return;
    base[key] = [...new Set([...list(base[key]), ...values])];
    changed = true;
  };
  add('requiredSites', flags.site);
  add('forbiddenSites', flags.notSite);
  add('requiredCertifications', flags.cert);
  if (flags.nodeLabel && flags.nodeLabel.length > 0) {
    base.nodeLabels = { ...(isObj(base.nodeLabels) ? base.nodeLabels : {}), ...parseKeyValues(flags.nodeLabel, '--node-label') };
    changed = true;
  }
  if (flags.singleUnit) {
    base.requireSingleUnit = true;
    changed = true;
  }
  if (changed) spec.constraints = base;
}
