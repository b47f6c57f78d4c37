// Security-group rules as flat, comparable values: parsing AWS's IpPermissions, building them back, and the analysis a human reads.
import type { IpPermission, SecurityGroup } from '@aws-sdk/client-ec2';

export interface SgRule {
  direction: 'ingress' | 'egress';
  protocol: 'tcp' | 'udp' | 'icmp' | 'all';
  from_port: number;
  to_port: number;
  cidr?: string;
  ipv6_cidr?: string;
  source_group?: string;
  description?: string;
}

const PROTOCOL_IN: Record<string, SgRule['protocol']> = {
  tcp: 'tcp',
  '6': 'tcp',
  udp: 'udp',
  '17': 'udp',
  icmp: 'icmp',
  '1': 'icmp',
  '-1': 'all',
};

/** Identity of a rule (its description does not make it another rule). */
export const ruleKey = (r: SgRule) =>
  [r.direction, r.protocol, r.protocol === 'all' ? '*' : `${r.from_port}-${r.to_port}`, r.cidr ?? r.ipv6_cidr ?? r.source_group].join(' ');

export function rulesOf(sg: SecurityGroup): SgRule[] {
  const out: SgRule[] = [];
  const flatten = (perms: IpPermission[] | undefined, direction: SgRule['direction']) => {
    for (const p of perms ?? []) {
      const protocol = PROTOCOL_IN[p.IpProtocol ?? ''] ?? 'all';
      const base = {
        direction,
        protocol,
        from_port: protocol === 'all' ? -1 : (p.FromPort ?? -1),
        to_port: protocol === 'all' ? -1 : (p.ToPort ?? -1),
      };
      for (const r of p.IpRanges ?? []) out.push({ ...base, cidr: r.CidrIp, ...(r.Description ? { description: r.Description } : {}) });
      for (const r of p.Ipv6Ranges ?? [])
        out.push({ ...base, ipv6_cidr: r.CidrIpv6, ...(r.Description ? { description: r.Description } : {}) });
      for (const r of p.UserIdGroupPairs ?? [])
        out.push({ ...base, source_group: r.GroupId, ...(r.Description ? { description: r.Description } : {}) });
    }
  };
  flatten(sg.IpPermissions, 'ingress');
  flatten(sg.IpPermissionsEgress, 'egress');
  return out.sort((a, b) => ruleKey(a).localeCompare(ruleKey(b)));
}

export function toIpPermission(r: SgRule): IpPermission {
  const all = r.protocol === 'all';
  return {
    IpProtocol: all ? '-1' : r.protocol,
    ...(all ? {} : { FromPort: r.from_port, ToPort: r.to_port }),
    ...(r.cidr ? { IpRanges: [{ CidrIp: r.cidr, Description: r.description }] } : {}),
    ...(r.ipv6_cidr ? { Ipv6Ranges: [{ CidrIpv6: r.ipv6_cidr, Description: r.description }] } : {}),
    ...(r.source_group ? { UserIdGroupPairs: [{ GroupId: r.source_group, Description: r.description }] } : {}),
  };
}

const SENSITIVE: Record<number, string> = {
  22: 'SSH',
  23: 'telnet',
  3389: 'RDP',
  5985: 'WinRM',
  5986: 'WinRM',
  3306: 'MySQL',
  5432: 'PostgreSQL',
  1433: 'SQL Server',
  1521: 'Oracle',
  27017: 'MongoDB',
  6379: 'Redis',
  9200: 'Elasticsearch',
  11211: 'memcached',
  2379: 'etcd',
  5984: 'CouchDB',
};

/** What a human should see first: world-open admin or database ports, wide ranges. */
export function analyse(r: SgRule): string[] {
  const notes: string[] = [];
  const world = r.cidr === '0.0.0.0/0' || r.ipv6_cidr === '::/0';
  const all = r.protocol === 'all';
  const span = all ? 65536 : r.to_port - r.from_port + 1;
  if (world && r.direction === 'ingress') {
    const hit = Object.entries(SENSITIVE).filter(
      ([port]) => all || (r.protocol !== 'icmp' && Number(port) >= r.from_port && Number(port) <= r.to_port),
    );
    if (hit.length)
      notes.push(
        `DANGER: opens ${hit
          .slice(0, 4)
          .map(([port, what]) => `${port} (${what})`)
          .join(', ')}${hit.length > 4 ? ` and ${hit.length - 4} more admin/database ports` : ''} to the whole internet`,
      );
    else notes.push(`open to the whole internet (${r.cidr ?? r.ipv6_cidr})`);
  }
  if (all) notes.push('all protocols and ports');
  else if (span > 100 && r.protocol !== 'icmp') notes.push(`wide port range ${r.from_port}-${r.to_port} (${span} ports)`);
  return notes;
}
