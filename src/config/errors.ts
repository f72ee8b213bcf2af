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
