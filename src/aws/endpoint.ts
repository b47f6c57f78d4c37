// Where the S3 client will send requests, resolved the way the AWS SDK resolves it: AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, the profile's `services` section or its `endpoint_url` (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
import { CONFIG_PREFIX_SEPARATOR, loadConfig } from '@smithy/core/config';

const truthy = (v: string | undefined) => (v === undefined ? undefined : v.toLowerCase() === 'true');

/** The custom S3 endpoint the SDK's configuration names, or undefined for AWS's own. */
export async function configuredS3Endpoint(): Promise<string | undefined> {
  const ignore = await loadConfig<boolean | undefined>({
    environmentVariableSelector: (env) => truthy(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS),
    configFileSelector: (profile) => truthy(profile.ignore_configured_endpoint_urls),
    default: false,
  })();
  if (ignore) return undefined;
  return loadConfig<string | undefined>({
    environmentVariableSelector: (env) => env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    configFileSelector: (profile, config) => {
      const section = profile.services ? config?.[['services', profile.services].join(CONFIG_PREFIX_SEPARATOR)] : undefined;
      return section?.[['s3', 'endpoint_url'].join(CONFIG_PREFIX_SEPARATOR)] || profile.endpoint_url || undefined;
    },
    default: undefined,
  })();
}

/**
 * Path-style addressing whenever S3 is a custom endpoint (an emulator, a proxy, a VPC endpoint by URL): a bucket
 * cannot be a virtual host of `127.0.0.1:4566`. A provider, so a profile's endpoint_url is read as the SDK reads it.
 */
export const s3PathStyle = async (): Promise<boolean> => (await configuredS3Endpoint()) !== undefined;
