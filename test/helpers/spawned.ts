// A built command run as its own process, as a person or another host would run it: its exit code and output.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Plan } from '../../src/guard/types.js';

export const WARDENCTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node script ...args` to its end (a failing exit is an answer, not a throw). */
export function runNode(script: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export const wardenctl = (...args: string[]): Promise<Ran> => runNode(WARDENCTL, args);

/** A mutating plan with nothing in it, for store suites that need a proposal to decide. */
export const emptyPlan = (costDeltaUsdMonth = 0): Plan => ({
  tool: 't',
  summary: 's',
  mutating: true,
  operations: [],
  resources: [],
  tagsToSet: {},
  costDeltaUsdMonth,
  riskFlags: [],
  rollback: [],
  params: {},
});
