// Every AWS client's bounds: a connection, an idle socket and a whole request each end in an error (not a warning), and
// retries are few, so a hung or unreachable endpoint answers the agent in bounded time.
export interface AwsTimeouts {
  connectionMs: number;
  /** One request, start to finish; passing it aborts the request (throwOnRequestTimeout). */
  requestMs: number;
  /** Attempts per command, the first included. */
  maxAttempts: number;
}

export const DEFAULT_TIMEOUTS: AwsTimeouts = { connectionMs: 5_000, requestMs: 30_000, maxAttempts: 3 };

/** The client configuration those bounds mean for SDK v3 (smithy's node-http-handler). */
export function clientBounds(t: AwsTimeouts = DEFAULT_TIMEOUTS) {
  return {
    requestHandler: {
      connectionTimeout: t.connectionMs,
      requestTimeout: t.requestMs,
      socketTimeout: t.requestMs,
      throwOnRequestTimeout: true,
    },
    maxAttempts: t.maxAttempts,
  };
}
