// Pods prove who they are with their projected service-account token (audience "roam"): the control plane asks
// the API server whether it is genuine with a TokenReview (authentication.k8s.io/v1), as Istio and Linkerd do,
// so no long-lived secret sits in a pod spec. A review names the pod; its name is the node id the token proves.
// Successful reviews are kept briefly: a reconnect storm (every rpc of every node at once) must not become as
// many calls to the API server.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';

export const TOKEN_AUDIENCE = 'roam';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const CACHE_MS = 60_000;
const CACHE_ENTRIES = 10_000;

/** The API server answered, and the token does not prove a pod (gRPC UNAUTHENTICATED). */
export class TokenRefusedError extends Error {}

/** The API server could not be asked, or failed to answer (gRPC UNAVAILABLE: the node retries). */
export class TokenReviewUnavailableError extends Error {}

export interface TokenReviewOptions {
  /** https://HOST:PORT of the API server. */
  apiServer: string;
  /** The control plane's own service-account token (TokenReview needs `create` on tokenreviews), read per call. */
  token: () => string;
  /** PEM of the CA that signed the API server's certificate. */
  ca?: string;
  /**
   * The control plane's namespace: a pod there (Roam's own hosts) is node POD; a pod elsewhere (an injected
   * sidecar) is node NAMESPACE/POD, so a pod in an application namespace can never take a host's name.
   */
  homeNamespace: string;
  now?: () => number;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

/** Whether `token` is shaped like a JWT (a node token is NODE.MAC: two parts, not three). */
export function looksLikeJwt(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    return typeof JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')).alg === 'string';
  } catch {
    return false;
  }
}

/** The JWT's `exp` in ms, unverified: used only to bound how long a review the API server passed is kept. */
function expiresAtMs(token: string): number | undefined {
  try {
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class TokenReviewer {
  private readonly options: TokenReviewOptions;
  private readonly agent: Agent;
  private readonly now: () => number;
  /** By the token's SHA-256: passed reviews until they lapse, and reviews in flight (joined, not repeated). */
  private readonly cache = new Map<string, { nodeId: string; untilMs: number } | Promise<string>>();

  constructor(options: TokenReviewOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.agent = new Agent({ connect: options.ca ? { ca: options.ca } : {} });
  }

  /** The node id the token proves; throws TokenRefusedError or TokenReviewUnavailableError. */
  async nodeId(token: string): Promise<string> {
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    if (cached instanceof Promise) return cached;
    if (cached && cached.untilMs > this.now()) return cached.nodeId;
    const pending = this.review(token);
    this.cache.set(key, pending);
    try {
      const nodeId = await pending;
      this.remember(
        key,
        nodeId,
        Math.min(this.now() + CACHE_MS, expiresAtMs(token) ?? Number.POSITIVE_INFINITY),
      );
      return nodeId;
    } catch (err) {
      this.cache.delete(key);
      throw err;
    }
  }

  private remember(key: string, nodeId: string, untilMs: number): void {
    this.cache.delete(key);
    if (this.cache.size >= CACHE_ENTRIES) {
      const now = this.now();
      for (const [k, v] of this.cache) if (!(v instanceof Promise) && v.untilMs <= now) this.cache.delete(k);
      // Still full of live entries: the oldest go first (a Map iterates in insertion order).
      for (const k of this.cache.keys()) {
        if (this.cache.size < CACHE_ENTRIES) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, { nodeId, untilMs });
  }

  private async review(token: string): Promise<string> {
    const status = await this.ask(token);
    if (!status.authenticated) {
      throw new TokenRefusedError(
        `the Kubernetes API server did not authenticate the service-account token: ${status.error ?? 'no reason given'}`,
      );
    }
    if (!status.audiences?.includes(TOKEN_AUDIENCE)) {
      throw new TokenRefusedError(
        `the service-account token is not for audience "${TOKEN_AUDIENCE}" (it is for ${JSON.stringify(status.audiences ?? [])}): project one with audience: ${TOKEN_AUDIENCE}`,
      );
    }
    const user = status.user?.username ?? '';
    const pod = status.user?.extra?.[POD_NAME]?.[0];
    if (!pod) {
      throw new TokenRefusedError(
        `the service-account token of ${user || 'an unnamed user'} is not bound to a pod: use the pod's projected token, not a Secret's`,
      );
    }
    // system:serviceaccount:NAMESPACE:NAME
    const namespace = user.split(':')[2];
    if (!namespace) throw new TokenRefusedError(`"${user}" is not a service account`);
    return namespace === this.options.homeNamespace ? pod : `${namespace}/${pod}`;
  }

  private async ask(token: string): Promise<TokenReviewStatus> {
    let statusCode: number;
    let text: string;
    try {
      const res = await request(`${this.options.apiServer}/apis/authentication.k8s.io/v1/tokenreviews`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          authorization: `Bearer ${this.options.token()}`,
          accept: 'application/json',
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [TOKEN_AUDIENCE] },
        }),
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      statusCode = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new TokenReviewUnavailableError(
        `cannot reach the Kubernetes API server for a TokenReview: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (statusCode >= 300) {
      let message = text.slice(0, 300);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {}
      throw new TokenReviewUnavailableError(
        `the Kubernetes API server refused the TokenReview (${statusCode}): ${message}${statusCode === 403 ? ' (the control plane needs create on tokenreviews)' : ''}`,
      );
    }
    try {
      return (JSON.parse(text) as { status?: TokenReviewStatus }).status ?? {};
    } catch {
      throw new TokenReviewUnavailableError(
        `the Kubernetes API server answered the TokenReview with no JSON`,
      );
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
