// CIDR blocks as agents give them: checked to be what AWS accepts before anything is planned.
import { isIPv6 } from 'node:net';
import { z } from 'zod';

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export const validIpv4Cidr = (c: string) => {
  const m = IPV4_CIDR.exec(c);
  return Boolean(m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32);
};

export const validIpv6Cidr = (c: string) => {
  const [addr, prefix, extra] = c.split('/');
  return extra === undefined && isIPv6(addr ?? '') && /^\d{1,3}$/.test(prefix ?? '') && Number(prefix) <= 128;
};

export const ipv4Cidr = z.string().refine(validIpv4Cidr, 'an IPv4 CIDR such as 203.0.113.0/24');
export const ipv6Cidr = z.string().refine(validIpv6Cidr, 'an IPv6 CIDR such as 2001:db8::/32');
