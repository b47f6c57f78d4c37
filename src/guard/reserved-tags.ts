// Tag keys only the server sets: an agent naming one (in any letter case) is refused.
export const SERVER_TAG_KEYS = ['ProjectId', 'AgentId', 'ManagedBy', 'WardenEvent', 'Service', 'Site', 'Environment'] as const;

export function reservedTagKeyProblem(key: string): string | null {
  if (/^aws:/i.test(key)) return `tag key "${key}" is reserved: the aws: prefix belongs to AWS`;
  const hit = SERVER_TAG_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
  if (hit) return `tag key "${key}" is reserved: ${hit} is set by aws-warden from the server's identity, never by an agent`;
  return null;
}
