import { ConfigError, formatIssues } from '../config/errors.js';
import type { ConfigIssue } from '../config/types.js';

/**
 * The one place that prints config problems, so `check`, `run` and the demo read alike:
 * a header naming the file, then `path: message` per problem.
 */
export function printIssues(file: string, issues: ConfigIssue[], out: NodeJS.WritableStream = process.stderr): void {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  out.write(`epoxy: ${file}: ${count}:\n${formatIssues(issues)}\n`);
}

/** Prints any startup failure; config errors get the issue list, anything else one line. */
export function printFailure(file: string, err: unknown): void {
  if (err instanceof ConfigError) printIssues(file, err.issues);
  else process.stderr.write(`epoxy: ${err instanceof Error ? err.message : String(err)}\n`);
}
