// Turns AWS SDK errors into messages an agent can act on, without leaking response bodies or secrets.
export interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess']);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'InvalidClientTokenId']);
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'SlowDown', 'TooManyRequestsException']);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'ETIMEDOUT',
  'TimeoutError',
  'RequestTimeout',
]);

export type AwsErrorClass = 'denied' | 'expired' | 'throttled' | 'unreachable' | 'not_found' | 'other';

export function classifyAwsError(e: AwsErrorShape): AwsErrorClass {
  const name = e.name ?? '';
  if (DENIED.has(name)) return 'denied';
  if (EXPIRED.has(name)) return 'expired';
  if (THROTTLED.has(name) || e.$metadata?.httpStatusCode === 429) return 'throttled';
  // No answer, or AWS answering that it failed itself (5xx): an outage, not the caller's fault.
  if (UNREACHABLE.has(name) || UNREACHABLE.has(e.code ?? '') || (e.$metadata?.httpStatusCode ?? 0) >= 500) return 'unreachable';
  if (/NotFound|NoSuch/.test(name) || e.$metadata?.httpStatusCode === 404) return 'not_found';
  return 'other';
}

export function describeAwsError(e: unknown, action: string, roleArn?: string): string {
  const err = (e ?? {}) as AwsErrorShape;
  const first = (err.message ?? String(e)).split('\n')[0].slice(0, 300);
  switch (classifyAwsError(err)) {
    case 'denied':
      return `AWS denied ${action} to ${roleArn ?? "the agent's role"}: its IAM policy does not allow it — act only on resources your project owns, or ask a human to widen the role`;
    case 'expired':
      return `AWS rejected the agent's credentials for ${action} (${err.name}); they are refreshed on the next call — retry once`;
    case 'throttled':
      return `AWS is throttling ${action} (${err.name}); wait a few seconds and retry`;
    case 'unreachable':
      return `AWS is unreachable or failing for ${action} (${err.name ?? err.code}: ${first}) — an AWS outage or a network problem, not your request or your role; retry later`;
    default:
      return `${action} failed: ${err.name ?? 'Error'}: ${first}`;
  }
}
