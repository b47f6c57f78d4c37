// One moto server for the whole run, on a free loopback port; suites get the standard AWS env through inject().
import type { TestProject } from 'vitest/node';
import { emulatorEnv, startMoto, type Emulator } from '../src/emulator/moto.js';

let emulator: Emulator | undefined;

export async function setup(project: TestProject) {
  // Never skip: a missing emulator fails the run loudly (npm test installs it first via pretest).
  emulator = await startMoto();
  const env = emulatorEnv(emulator.endpoint);
  Object.assign(process.env, env);
  project.provide('awsEnv', env);
}

export async function teardown() {
  await emulator?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    awsEnv: Record<string, string>;
  }
}
