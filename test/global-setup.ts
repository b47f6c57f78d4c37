// One moto server and one throwaway PostgreSQL cluster for the whole run, on free loopback ports; suites get the
// standard AWS env and the cluster's admin URL through inject(), and make a fresh database each where they need one.
import type { TestProject } from 'vitest/node';
import { emulatorEnv, startMoto, type Emulator } from '../src/emulator/moto.js';
import { postgresBinaries, startPostgres, type PgCluster } from '../src/emulator/postgres.js';

let emulator: Emulator | undefined;
let postgres: PgCluster | undefined;

export async function setup(project: TestProject) {
  // Never skip: a missing emulator fails the run loudly (npm test installs it first via pretest).
  emulator = await startMoto();
  const env = emulatorEnv(emulator.endpoint);
  Object.assign(process.env, env);
  project.provide('awsEnv', env);
  // CI always runs the PostgreSQL suites; a developer machine without the server binaries skips them, saying so.
  if (postgresBinaries() || process.env.CI) {
    postgres = await startPostgres();
    project.provide('pgAdminUrl', postgres.adminUrl);
  } else {
    console.warn('PostgreSQL server binaries not found (initdb; set WARDEN_PG_BIN): the PostgreSQL store suites are skipped');
    project.provide('pgAdminUrl', '');
  }
}

export async function teardown() {
  await Promise.all([emulator?.stop(), postgres?.stop()]);
}

declare module 'vitest' {
  export interface ProvidedContext {
    awsEnv: Record<string, string>;
    pgAdminUrl: string;
  }
}
