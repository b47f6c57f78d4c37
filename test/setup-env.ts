// Every test worker talks to the run's emulator through the standard AWS variables, whatever the developer's shell has.
import { inject } from 'vitest';

delete process.env.AWS_PROFILE;
delete process.env.AWS_SESSION_TOKEN;
Object.assign(process.env, inject('awsEnv'), { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
