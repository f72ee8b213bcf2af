import type { ConfigIssue } from './types.js';

/** A config that failed validation; `issues` names every offending field by its path. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[], context = 'invalid epoxy config') {
    super(`${context}:\n${formatIssues(issues)}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path || '(config)'}: ${i.message}`).join('\n');
}

/** An error's code (`ENOENT`), or its message when it has none: short enough for a config issue. */
export function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}
