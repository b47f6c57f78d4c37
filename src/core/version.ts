// The installed aws-warden's version, as its package.json says: what `--version` prints for both commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../emulator/moto.js';

export const packageVersion = (): string =>
  (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
