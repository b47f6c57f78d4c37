// A policy that cannot be used, with every problem as file:line:col and the field at fault. Its own module, so the
// commands' error handling does not load the YAML parser and the schema.
export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}
