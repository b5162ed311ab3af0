// The V8 flags a sidecar runs with (`roam up` starts its proxies so, the admission webhook sets them in the
// injected container's NODE_OPTIONS, the benchmark measures with them), chosen by measurement
// (`npm run bench -- proxy` prints them beside Node's defaults):
// - a young generation of 2 MB semi-spaces instead of 16 MB: resident memory after a minute at saturation
//   falls from about 95 MB to about 84 MB for the same throughput, short-lived request garbage being
//   collected sooner;
// - an old generation capped below the container's memory limit (512 MiB in the injected spec): past 90% of
//   it the proxy sheds new requests with 503 (proxy/memory-guard.ts) rather than being killed for memory.
export const SIDECAR_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=384'];
