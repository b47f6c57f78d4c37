// Credentials that really refresh: after an ExpiredToken answer, the next request is signed with a freshly assumed
// key, and the rejected key never signs again (the SDK keeps no cache of its own in front of the session).
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { AgentAws } from '../src/aws/clients.js';
import { AgentSession } from '../src/aws/session.js';
import { useFaultProxy, type Seen } from './helpers/fault-proxy.js';

const proxyOf = useFaultProxy('S3');

const signer = (r: Seen) => /Credential=([^/]+)\//.exec(String(r.headers.authorization ?? ''))?.[1] ?? '(unsigned)';

/** An agent's session and gated clients, as the server builds them (no approval: reads only). */
function agentClients() {
  const session = new AgentSession({ agentId: 'bot', projectId: 'p', roleArn: 'arn:aws:iam::123456789012:role/bot', sessionSeconds: 3600 });
  return { session, aws: new AgentAws(session, () => false) };
}

describe('credential refresh', () => {
  it('after ExpiredToken the next request is signed by a new key; the rejected one never signs again', async () => {
    const { aws } = agentClients();
    await aws.s3.send(new ListBucketsCommand({}));
    const rejected = signer(proxyOf().seen.at(-1) as Seen);
    proxyOf().rule = (r) =>
      signer(r) === rejected ? { status: 400, code: 'ExpiredToken', message: 'The provided token has expired.' } : 'pass';
    await expect(aws.s3.send(new ListBucketsCommand({}))).rejects.toThrow(/expired/);
    const from = proxyOf().seen.length;
    for (let i = 0; i < 3; i++) await aws.s3.send(new ListBucketsCommand({}));
    const after = proxyOf().seen.slice(from).map(signer);
    expect(after).toHaveLength(3);
    expect(after.every((k) => k !== rejected && k === after[0])).toBe(true);
  });

  it('a role switch signs the very next request with the new role’s key', async () => {
    const { session, aws } = agentClients();
    await aws.s3.send(new ListBucketsCommand({}));
    const before = signer(proxyOf().seen.at(-1) as Seen);
    session.useRole('arn:aws:iam::123456789012:role/bot-operator');
    await aws.s3.send(new ListBucketsCommand({}));
    expect(signer(proxyOf().seen.at(-1) as Seen)).not.toBe(before);
  });
});
