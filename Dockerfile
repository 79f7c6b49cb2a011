# The bucketscan worker. clamd runs beside it (images/clamd: a sidecar in the same
# ECS task, or a service reachable over TCP); point CLAMD_HOST/CLAMD_PORT at it.
# Build: make image, or docker build -t bucketscan-worker . (docs/containers.md)

# Stage 1: compile. esbuild bundles the worker and its dependencies (AWS SDK,
# pino, zod) into dist/, so nothing from node_modules is needed at run time.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the only ones are the `node` package's download of a second
# Node (this image has one) and esbuild's optional binary check.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts scripts/bundle-options.ts scripts/
COPY src src
RUN npm run build

# Stage 2: the runtime. Node, the bundle, package.json (for `version`) and the
# health check; no node_modules, no sources, no .env (.dockerignore keeps them
# out of the build context altogether).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    # Settings come from the task's environment only, never from a file.
    BUCKETSCAN_ENV_FILE=none \
    # /healthz and /readyz, for the HEALTHCHECK below; HEALTH_PORT=0 turns them off.
    HEALTH_PORT=8080
COPY --from=build /src/package.json ./
COPY --from=build /src/dist ./dist
COPY images/worker/healthcheck.mjs ./
# The base image's unprivileged user (uid 1000): the worker needs no privileges.
USER node
# GET /healthz on HEALTH_PORT with Node's fetch (no curl or shell in the image);
# an ECS task definition uses the same: ["CMD", "node", "healthcheck.mjs"].
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "healthcheck.mjs"]
# On SIGTERM the worker stops receiving, lets work in progress finish for up to
# SHUTDOWN_TIMEOUT (25 s), returns the rest to the queue and exits 0: inside
# ECS's stopTimeout (30 s by default, 120 s at most). docker stop waits only 10 s
# unless given -t; compose.yaml sets stop_grace_period.
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives SIGTERM itself. The V8 flags are the
# production command's (package.json "worker"; why: bin/bucketscan.js).
ENTRYPOINT ["node", "--max-semi-space-size=2", "--max-old-space-size=64", "--v8-pool-size=1", "dist/cli.js"]
CMD ["worker"]
