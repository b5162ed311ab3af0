// Per-route timeout: the whole call, retries included, must finish within the route's timeout. Past it the
// call is cancelled (its one abort signal fires: the attempt in flight is aborted upstream, the embedded host
// interrupts the endpoint, and the retry layer starts no further attempt) and the client gets 504.
import { EndpointTimeoutError } from '../../core/errors.ts';
import type { Layer } from '../dispatch.ts';

export const timeoutLayer: Layer = (next) => (call) => {
  const ms = call.route?.timeoutMs;
  if (ms === undefined) return next(call);
  const name = call.endpoint.name;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = new EndpointTimeoutError(`endpoint "${name}" did not answer within ${ms} ms`, {
        endpoint: name,
      });
      call.cancel(err);
      reject(err);
    }, ms);
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
