# registry-gate in a container: compiled with the dev dependencies, run with the production ones,
# as an unprivileged user, with its data in a volume.
#
#   docker build -t registry-gate .
#   docker run -d --name registry-gate -p 5043:5043 -v registry-gate-data:/data registry-gate
#   docker exec registry-gate cat /data/initial-admin-password      # first start only
#
# Configure with REGISTRY_GATE_* variables (`registry-gate --help`), or mount a config file and set
# REGISTRY_GATE_CONFIG. dataDir is /data (REGISTRY_GATE_DATA_DIR; set it empty to use the file's).
# Files mounted for it to read (htpasswd, TLS key) must be readable by uid 10001.
#
# NODE_IMAGE is the Node.js base image, used for both stages: Node.js 20, 22 or 24 on glibc (bcrypt's
# prebuilt binary needs glibc).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/prepare.mjs scripts/
COPY bin bin/
COPY src src/
# `prepare` compiles src/ to dist/src/; then the dev dependencies are dropped.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /opt/registry-gate
COPY LICENSE ./
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules node_modules/
COPY --from=build /build/bin bin/
COPY --from=build /build/dist/src dist/src/
# Exec form: the image needs no shell, only node.
RUN ["node", "-e", "const fs = require('node:fs'); fs.mkdirSync('/data', { mode: 0o700 }); fs.chownSync('/data', 10001, 10001)"]
ENV NODE_ENV=production \
    REGISTRY_GATE_DATA_DIR=/data \
    PATH=/opt/registry-gate/bin:$PATH
USER 10001:10001
VOLUME /data
EXPOSE 5043
# GET /healthz on the configured listener answers 200 when the gateway is up (src/cli/healthcheck.ts).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "/opt/registry-gate/bin/registry-gate", "healthcheck"]
# The node flags of bin/registry-gate's first line (exec form does not read it).
ENTRYPOINT ["node", "--initial-old-space-size=64", "/opt/registry-gate/bin/registry-gate"]
CMD ["serve"]
