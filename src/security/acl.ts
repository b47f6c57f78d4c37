// Network ACL entries as flat, comparable values: read from AWS, the analysis a human reads (world-open admin or
// database ports, entries that never apply because a lower rule number matches first), and the exact steps sent.
import {
  CreateNetworkAclEntryCommand,
  DeleteNetworkAclEntryCommand,
  DescribeNetworkAclsCommand,
  type NetworkAcl,
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { PlannedOperation } from '../guard/types.js';
import { analyse } from './rules.js';

/** AWS's own last rule (deny everything) in each direction: shown, never changed. */
export const DEFAULT_RULE = 32767;

export const aclEntry = z
  .object({
    rule_number: z.number().int(),
    egress: z.boolean(),
    protocol: z.enum(['tcp', 'udp', 'icmp', 'all']),
    from_port: z.number().int(),
    to_port: z.number().int(),
    cidr: z.string().optional(),
    ipv6_cidr: z.string().optional(),
    action: z.enum(['allow', 'deny']),
  })
  .strict();
export type AclEntry = z.infer<typeof aclEntry>;

/** One step of a NACL change; a delete carries the entry it expects to remove, so a repeat can tell it is done. */
export const aclStep = z.discriminatedUnion('action', [
  z.object({ action: z.literal('ec2:CreateNetworkAclEntry'), acl: z.string(), entry: aclEntry }).strict(),
  z.object({ action: z.literal('ec2:DeleteNetworkAclEntry'), acl: z.string(), entry: aclEntry }).strict(),
]);
export type AclStep = z.infer<typeof aclStep>;

const PROTOCOLS: Record<string, AclEntry['protocol']> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '-1': 'all' };
const PROTOCOL_NUMBER: Record<AclEntry['protocol'], string> = { tcp: '6', udp: '17', icmp: '1', all: '-1' };

/** Where an entry sits: a direction and a rule number name exactly one entry of an ACL. */
export const slotOf = (e: Pick<AclEntry, 'egress' | 'rule_number'>) => `${e.egress ? 'egress' : 'ingress'} #${e.rule_number}`;

/** An entry as a human reads it. */
export function describeEntry(e: AclEntry): string {
  const ports = e.protocol === 'all' ? 'all traffic' : e.protocol === 'icmp' ? 'icmp' : `${e.protocol} ${e.from_port}-${e.to_port}`;
  return `${slotOf(e)} ${e.action} ${ports} ${e.egress ? 'to' : 'from'} ${e.cidr ?? e.ipv6_cidr}`;
}

export const sameEntry = (a: AclEntry, b: AclEntry) => describeEntry(a) === describeEntry(b);

function entryOf(e: NetworkAclEntry): AclEntry {
  const protocol = PROTOCOLS[e.Protocol ?? '-1'] ?? 'all';
  const ports =
    protocol === 'tcp' || protocol === 'udp'
      ? { from_port: e.PortRange?.From ?? 0, to_port: e.PortRange?.To ?? 65535 }
      : protocol === 'icmp'
        ? { from_port: e.IcmpTypeCode?.Type ?? -1, to_port: e.IcmpTypeCode?.Code ?? -1 }
        : { from_port: -1, to_port: -1 };
  return {
    rule_number: e.RuleNumber ?? DEFAULT_RULE,
    egress: Boolean(e.Egress),
    protocol,
    ...ports,
    ...(e.CidrBlock ? { cidr: e.CidrBlock } : {}),
    ...(e.Ipv6CidrBlock ? { ipv6_cidr: e.Ipv6CidrBlock } : {}),
    action: e.RuleAction === 'deny' ? 'deny' : 'allow',
  };
}

/** Every entry, in the order AWS evaluates them (by direction, then rule number). */
export function entriesOf(acl: NetworkAcl): AclEntry[] {
  return (acl.Entries ?? [])
    .map(entryOf)
    .sort(
      (a, b) => Number(a.egress) - Number(b.egress) || a.rule_number - b.rule_number || describeEntry(a).localeCompare(describeEntry(b)),
    );
}

/** The ACL, or null when this account and region has none by that id. */
export async function readAcl(aws: AgentAws, id: string): Promise<NetworkAcl | null> {
  try {
    return (await aws.ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [id] }))).NetworkAcls?.[0] ?? null;
  } catch (e) {
    if (/NotFound/.test((e as Error).name)) return null;
    throw e;
  }
}

const ipv4 = (cidr: string): [number, number] | null => {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) return null;
  const bits = Number(m[5]);
  const addr = m.slice(1, 5).reduce((n, o) => n * 256 + Number(o), 0);
  return [bits === 0 ? 0 : Math.floor(addr / 2 ** (32 - bits)), bits];
};

/** Whether every address of `inner` is in `outer`. */
function cidrCovers(outer: AclEntry, inner: AclEntry): boolean {
  if (outer.ipv6_cidr || inner.ipv6_cidr)
    return outer.ipv6_cidr === '::/0' ? Boolean(inner.ipv6_cidr) : outer.ipv6_cidr === inner.ipv6_cidr;
  const o = ipv4(outer.cidr ?? '');
  const i = ipv4(inner.cidr ?? '');
  if (!o || !i || o[1] > i[1]) return false;
  const addr = ipv4(`${(inner.cidr ?? '').split('/')[0]}/${o[1]}`);
  return Boolean(addr && addr[0] === o[0]);
}

/** Whether `first` matches all traffic `later` would (same direction), so `later` never decides anything. */
export function covers(first: AclEntry, later: AclEntry): boolean {
  if (first.egress !== later.egress || !cidrCovers(first, later)) return false;
  if (first.protocol === 'all') return true;
  if (first.protocol !== later.protocol) return false;
  if (first.protocol === 'icmp') return first.from_port === -1 || (first.from_port === later.from_port && first.to_port === later.to_port);
  return first.from_port <= later.from_port && first.to_port >= later.to_port;
}

/** What a human should see first about the entries a change adds, among the entries the ACL will hold after it. */
export function analyseAcl(after: AclEntry[], added: AclEntry[]): string[] {
  const notes: string[] = [];
  const isAdded = (e: AclEntry) => added.some((a) => sameEntry(a, e));
  for (const e of added.filter((x) => x.action === 'allow'))
    for (const note of analyse({ ...e, direction: e.egress ? 'egress' : 'ingress' })) notes.push(`${describeEntry(e)}: ${note}`);
  for (const later of after)
    for (const first of after) {
      if (first.rule_number >= later.rule_number || first.action === later.action || !covers(first, later)) continue;
      if (!isAdded(first) && !isAdded(later)) continue;
      notes.push(
        `${later.action === 'deny' ? 'DANGER: ' : ''}${describeEntry(later)} never applies: the lower ${describeEntry(first)} matches all of its traffic first`,
      );
      break;
    }
  return notes;
}

/** The operation a human reads for a step. */
export const aclOperation = (s: AclStep): PlannedOperation => ({
  action: s.action,
  target: s.acl,
  params: { entry: describeEntry(s.entry) },
});

/** Sends one step exactly. */
export async function applyAclStep(aws: AgentAws, s: AclStep): Promise<void> {
  const e = s.entry;
  if (s.action === 'ec2:DeleteNetworkAclEntry') {
    await aws.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: s.acl, RuleNumber: e.rule_number, Egress: e.egress }));
    return;
  }
  await aws.ec2.send(
    new CreateNetworkAclEntryCommand({
      NetworkAclId: s.acl,
      RuleNumber: e.rule_number,
      Egress: e.egress,
      Protocol: PROTOCOL_NUMBER[e.protocol],
      RuleAction: e.action,
      ...(e.cidr ? { CidrBlock: e.cidr } : {}),
      ...(e.ipv6_cidr ? { Ipv6CidrBlock: e.ipv6_cidr } : {}),
      ...(e.protocol === 'tcp' || e.protocol === 'udp' ? { PortRange: { From: e.from_port, To: e.to_port } } : {}),
      ...(e.protocol === 'icmp' ? { IcmpTypeCode: { Type: e.from_port, Code: e.to_port } } : {}),
    }),
  );
}

/**
 * After a crash: sends the step only if the ACL does not show it done yet. A delete is done when its slot is empty
 * or holds what the change creates there; a create when its slot holds its entry. A slot holding anything else was
 * changed outside this approval, and is refused rather than overwritten.
 */
export async function applyAclStepAgain(aws: AgentAws, s: AclStep, creates: readonly AclEntry[]): Promise<boolean> {
  const acl = await readAcl(aws, s.acl);
  if (!acl) throw new Error(`${s.acl} is gone`);
  const there = entriesOf(acl).find((e) => slotOf(e) === slotOf(s.entry));
  const mine = creates.find((c) => slotOf(c) === slotOf(s.entry));
  if (s.action === 'ec2:DeleteNetworkAclEntry') {
    if (!there || (mine && sameEntry(there, mine))) return false;
    if (!sameEntry(there, s.entry))
      throw new Error(`${s.acl} ${slotOf(s.entry)} now holds ${describeEntry(there)}, changed outside this approval`);
  } else if (there) {
    if (sameEntry(there, s.entry)) return false;
    throw new Error(`${s.acl} ${slotOf(s.entry)} now holds ${describeEntry(there)}, changed outside this approval`);
  }
  await applyAclStep(aws, s);
  return true;
}
