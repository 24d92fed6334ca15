/**
 * "Did you mean" for abbreviated options. Commander suggests by edit distance only, which misses a
 * truncated flag (`--gpu` is 5 edits from `--gpu-type`); this adds the options the flag is a prefix of.
 */
import { Command } from 'commander';

/** prefixMatches: the long options (of `cmd` and its ancestors) that start with `flag` followed by a dash. */
export function prefixMatches(cmd: Command, flag: string): string[] {
  const found = new Set<string>();
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) if (!o.hidden && o.long?.startsWith(`${flag}-`)) found.add(o.long);
  }
  return [...found].sort();
}

/** GigafabCommand: a Command whose subcommands are GigafabCommands and whose unknown-option error suggests prefixes. */
export class GigafabCommand extends Command {
  override createCommand(name?: string): GigafabCommand {
    return new GigafabCommand(name);
  }

  // Overrides commander's (untyped) unknownOption, which parse calls for an unknown flag.
  unknownOption(flag: string): void {
    const matches = flag.startsWith('--') ? prefixMatches(this, flag.split('=')[0]) : [];
    if (matches.length === 0) {
      (Command.prototype as unknown as { unknownOption(flag: string): void }).unknownOption.call(this, flag);
      return;
    }
    const which = matches.length === 1 ? matches[0] : `one of ${matches.join(', ')}`;
    this.error(`error: unknown option '${flag}'\n(Did you mean ${which}?)`, { code: 'commander.unknownOption' });
  }
}
