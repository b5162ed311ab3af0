// Who may use what the mesh reserves for itself (issue 17). With mTLS on (this process holds a mesh identity),
// a proxy's `/.roam/` paths and a host's API answer only peers that presented a valid certificate of this
// mesh; with it off, the network is trusted as before. Every refusal is a 403 with a stable `x-roam-error`
// code and the reason, and is counted (`roam.mesh.refused`, by code).
import type { IncomingMessage } from 'node:http';
import { type Counter, metrics } from '@opentelemetry/api';
import { ForbiddenError, InvalidArgumentError, MeshIdentityRequiredError } from './errors.ts';
import type { Peer } from './mesh-identity.ts';
import { meshPeer } from './mesh-tls.ts';

/** Who may call an endpoint over the mesh; a peer matching any list may. Absent: any mesh identity. */
export interface CallerPolicy {
  /** SPIFFE IDs (spiffe://TD/node/ID) or bare node ids. */
  identities?: string[];
  sites?: string[];
  tiers?: string[];
}

const POLICY_KEYS = ['identities', 'sites', 'tiers'];

/** Checks a caller policy from configuration; `where` names it in the error. */
export function checkCallerPolicy(value: unknown, where: string): CallerPolicy {
  const shape = `${where} must be {"identities"?: [...], "sites"?: [...], "tiers"?: [...]}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError(shape);
  for (const [key, list] of Object.entries(value)) {
    if (!POLICY_KEYS.includes(key)) throw new InvalidArgumentError(`${shape}; "${key}" is not one of them`);
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== ''))
      throw new InvalidArgumentError(`${where}.${key} must be a list of non-empty strings`);
  }
  return value as CallerPolicy;
}

// The metrics API hands out no-op instruments until a provider is registered (after this module loads).
let refusals: Counter | undefined;

function count(code: string): void {
  refusals ??= metrics.getMeter('roam-mesh').createCounter('roam.mesh.refused', {
    description: 'Requests refused by mesh authentication or authorization, by error code.',
  });
  refusals.add(1, { 'error.type': code });
}

/**
 * The mesh peer that sent `req`, or undefined when mTLS is off. Throws (403 ROAM_ERR_MESH_IDENTITY_REQUIRED)
 * when mTLS is on and the request did not come from a mesh identity; `what` says what it asked for.
 */
export function requireMeshPeer(req: IncomingMessage, what: string): Peer | undefined {
  const peer = meshPeer(req);
  if (peer === undefined || !('refused' in peer)) return peer;
  count('ROAM_ERR_MESH_IDENTITY_REQUIRED');
  throw new MeshIdentityRequiredError(`${what} answers only mesh identities (mutual TLS): ${peer.refused}`);
}

/** Throws (403 ROAM_ERR_FORBIDDEN) unless `policy` lets `peer` call `endpoint`. */
export function checkCaller(peer: Peer, endpoint: string, policy: CallerPolicy | undefined): void {
  if (!policy || allows(policy, peer)) return;
  count('ROAM_ERR_FORBIDDEN');
  throw new ForbiddenError(
    `${peer.spiffeId} (tier ${peer.tier ?? '?'}, site ${peer.site ?? '?'}) may not call endpoint "${endpoint}"`,
    { endpoint },
  );
}

function allows(policy: CallerPolicy, peer: Peer): boolean {
  return (
    (policy.identities ?? []).some((id) => id === peer.spiffeId || id === peer.nodeId) ||
    (peer.site !== undefined && (policy.sites ?? []).includes(peer.site)) ||
    (peer.tier !== undefined && (policy.tiers ?? []).includes(peer.tier))
  );
}
