// Per-route timeout: the whole call, retries included, must finish within the route's timeout; past it the
// client gets 504 naming the endpoint, and the attempt in flight is abandoned.
import { EndpointTimeoutError } from '../../core/errors.ts';
import type { Layer } from '../dispatch.ts';

export const timeoutLayer: Layer = (next) => (call) => {
  const ms = call.route?.timeoutMs;
  if (ms === undefined) return next(call);
  const name = call.endpoint.name;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new EndpointTimeoutError(`endpoint "${name}" did not answer within ${ms} ms`, { endpoint: name }),
        ),
      ms,
    );
    next(call).then(
      (res) => {
        clearTimeout(timer);
        resolve(res);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
};
