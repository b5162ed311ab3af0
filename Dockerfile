# syntax=docker/dockerfile:1
# The Roam image: one image, the `roam` command as its entrypoint, for the control plane, hosts, the sidecar
# proxy and the proxy's port-redirection init container (docs/kubernetes.md).
# Build: docker build -t roam:dev .

# --- build: install everything (the AssemblyScript compiler is a dev dependency), compile the example
# endpoints to Wasm, then drop the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: the base image's Node 24, production dependencies, the built modules, and the JavaScript build
# (build/js) the entrypoint runs: a process that runs .ts keeps Node's type stripper resident (about 29 MB).
# The sources stay beside it: the build reads the .proto and static files from them.
FROM node:24-bookworm-slim AS runtime
# iptables for `proxy-init`, the init container that redirects a meshed pod's inbound port to its sidecar.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
# Owned by root and not writable by the runtime user: the image works with a read-only root filesystem.
# What Roam writes goes to /var/lib/roam (state, module blobs) and /tmp, mounted as volumes in Kubernetes.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/bin ./bin
COPY --from=build /app/cli ./cli
COPY --from=build /app/control-plane ./control-plane
COPY --from=build /app/core ./core
COPY --from=build /app/proxy ./proxy
COPY --from=build /app/wasm-host ./wasm-host
COPY --from=build /app/profiler ./profiler
COPY --from=build /app/solver ./solver
COPY --from=build /app/protocol ./protocol
COPY --from=build /app/examples ./examples
COPY --chmod=0755 deploy/image/proxy-init.sh /usr/local/bin/proxy-init
RUN mkdir -p /var/lib/roam && chown 10001:10001 /var/lib/roam
# A numeric user, so Kubernetes can enforce runAsNonRoot without knowing the image's /etc/passwd.
USER 10001:10001
VOLUME ["/var/lib/roam"]
EXPOSE 7900 7950 7001 4143 4191
ENTRYPOINT ["node", "/app/build/js/bin/roam.js"]
CMD ["--help"]
