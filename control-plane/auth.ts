// Credentials: the control plane derives them from a secret kept in its database. The admin token guards the
// admin API and module uploads; a node token names its node ("NODE.MAC"), so a node cannot claim another
// node's identity. Tokens are compared in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

function mac(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(purpose).digest('base64url');
}

export function adminToken(secret: string): string {
  return mac(secret, 'admin');
}

export function nodeToken(secret: string, nodeId: string): string {
  return `${nodeId}.${mac(secret, `node:${nodeId}`)}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The node id a node token proves, or undefined if the token is not valid. */
export function verifyNodeToken(secret: string, token: string): string | undefined {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const nodeId = token.slice(0, dot);
  return same(token, nodeToken(secret, nodeId)) ? nodeId : undefined;
}

export function verifyAdminToken(secret: string, token: string): boolean {
  return same(token, adminToken(secret));
}

/** "Bearer X" -> "X". */
export function bearer(header: string | undefined): string {
  return header?.startsWith('Bearer ') ? header.slice(7) : '';
}
