// The error catalogue: one class per failure mode, each with a stable ROAM_ERR_* code and, where a caller
// sees it over HTTP, the status to answer with. docs/errors.md documents every code (a test checks that).

export interface RoamErrorOptions {
  cause?: unknown;
  /** The endpoint the failure concerns, echoed in local replies so a caller knows what failed. */
  endpoint?: string;
}

export class RoamError extends Error {
  readonly code: string;
  readonly status: number;
  readonly endpoint: string | undefined;

  constructor(code: string, status: number, message: string, options: RoamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.endpoint = options.endpoint;
  }

  toJSON(): { error: string; message: string; endpoint?: string } {
    return this.endpoint === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, endpoint: this.endpoint };
  }
}

type RoamErrorClass = new (message: string, options?: RoamErrorOptions) => RoamError;

/** Every code with its status; the classes below are generated from it so code and status cannot drift. */
export const ERROR_CODES = {
  ROAM_ERR_INVALID_ARGUMENT: 400,
  ROAM_ERR_BAD_REQUEST: 400,
  ROAM_ERR_UNAUTHORIZED: 401,
  ROAM_ERR_MESH_IDENTITY_REQUIRED: 403,
  ROAM_ERR_FORBIDDEN: 403,
  ROAM_ERR_NOT_FOUND: 404,
  ROAM_ERR_CONFLICT: 409,
  ROAM_ERR_PAYLOAD_TOO_LARGE: 413,
  ROAM_ERR_HEADERS_TOO_LARGE: 431,
  ROAM_ERR_HTTP_VERSION: 505,
  ROAM_ERR_DIGEST_MISMATCH: 400,
  ROAM_ERR_MODULE_INVALID: 422,
  ROAM_ERR_MODULE_UNSUPPORTED: 422,
  ROAM_ERR_ENDPOINT_NOT_ACTIVE: 404,
  ROAM_ERR_ENDPOINT_DRAINING: 503,
  ROAM_ERR_ENDPOINT_TRAP: 500,
  ROAM_ERR_ENDPOINT_OUT_OF_MEMORY: 507,
  ROAM_ERR_ENDPOINT_BAD_RESPONSE: 502,
  ROAM_ERR_ENDPOINT_TIMEOUT: 504,
  ROAM_ERR_ENDPOINT_CANCELLED: 499,
  ROAM_ERR_STORE: 502,
  ROAM_ERR_UPSTREAM: 502,
  ROAM_ERR_UNREACHABLE: 503,
  ROAM_ERR_OVERLOADED: 503,
  ROAM_ERR_NO_LEADER: 503,
  ROAM_ERR_SOLVER_INVALID_PROBLEM: 400,
  ROAM_ERR_SOLVER_INFEASIBLE: 409,
  ROAM_ERR_SOLVER_BACKEND: 500,
  ROAM_ERR_INTERNAL: 500,
} as const;

export type RoamErrorCode = keyof typeof ERROR_CODES;

function define(code: RoamErrorCode, name: string): RoamErrorClass {
  const status = ERROR_CODES[code];
  const cls = class extends RoamError {
    constructor(message: string, options?: RoamErrorOptions) {
      super(code, status, message, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const InvalidArgumentError = define('ROAM_ERR_INVALID_ARGUMENT', 'InvalidArgumentError');
export const BadRequestError = define('ROAM_ERR_BAD_REQUEST', 'BadRequestError');
export const UnauthorizedError = define('ROAM_ERR_UNAUTHORIZED', 'UnauthorizedError');
export const MeshIdentityRequiredError = define(
  'ROAM_ERR_MESH_IDENTITY_REQUIRED',
  'MeshIdentityRequiredError',
);
export const ForbiddenError = define('ROAM_ERR_FORBIDDEN', 'ForbiddenError');
export const NotFoundError = define('ROAM_ERR_NOT_FOUND', 'NotFoundError');
export const ConflictError = define('ROAM_ERR_CONFLICT', 'ConflictError');
export const PayloadTooLargeError = define('ROAM_ERR_PAYLOAD_TOO_LARGE', 'PayloadTooLargeError');
export const HeadersTooLargeError = define('ROAM_ERR_HEADERS_TOO_LARGE', 'HeadersTooLargeError');
export const HttpVersionError = define('ROAM_ERR_HTTP_VERSION', 'HttpVersionError');
export const DigestMismatchError = define('ROAM_ERR_DIGEST_MISMATCH', 'DigestMismatchError');
export const ModuleInvalidError = define('ROAM_ERR_MODULE_INVALID', 'ModuleInvalidError');
export const ModuleUnsupportedError = define('ROAM_ERR_MODULE_UNSUPPORTED', 'ModuleUnsupportedError');
export const EndpointNotActiveError = define('ROAM_ERR_ENDPOINT_NOT_ACTIVE', 'EndpointNotActiveError');
export const EndpointDrainingError = define('ROAM_ERR_ENDPOINT_DRAINING', 'EndpointDrainingError');
export const EndpointTrapError = define('ROAM_ERR_ENDPOINT_TRAP', 'EndpointTrapError');
export const EndpointOutOfMemoryError = define('ROAM_ERR_ENDPOINT_OUT_OF_MEMORY', 'EndpointOutOfMemoryError');
export const EndpointBadResponseError = define('ROAM_ERR_ENDPOINT_BAD_RESPONSE', 'EndpointBadResponseError');
export const EndpointTimeoutError = define('ROAM_ERR_ENDPOINT_TIMEOUT', 'EndpointTimeoutError');
export const EndpointCancelledError = define('ROAM_ERR_ENDPOINT_CANCELLED', 'EndpointCancelledError');
export const StoreError = define('ROAM_ERR_STORE', 'StoreError');
export const UpstreamError = define('ROAM_ERR_UPSTREAM', 'UpstreamError');
export const UnreachableError = define('ROAM_ERR_UNREACHABLE', 'UnreachableError');
export const OverloadedError = define('ROAM_ERR_OVERLOADED', 'OverloadedError');
export const NoLeaderError = define('ROAM_ERR_NO_LEADER', 'NoLeaderError');
export const InternalError = define('ROAM_ERR_INTERNAL', 'InternalError');

/** Wraps anything thrown into a RoamError so every reply and log line carries a code. */
export function toRoamError(err: unknown, endpoint?: string): RoamError {
  if (err instanceof RoamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err, endpoint });
}

/** Rebuilds an error that crossed a thread or process boundary as {code, message}. */
export function errorFromCode(code: string, message: string, endpoint?: string): RoamError {
  const status = (ERROR_CODES as Record<string, number>)[code] ?? 500;
  return new RoamError(code in ERROR_CODES ? code : 'ROAM_ERR_INTERNAL', status, message, { endpoint });
}
