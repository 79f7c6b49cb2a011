# The worker only; run clamd beside it (a sidecar container, or a clamd service
# reachable over TCP) and point CLAMD_HOST/CLAMD_PORT at it.
# Not built in this project's CI: the machines it runs on have no Docker engine.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    # The committed .env holds local-emulator defaults; a deployment configures
    # the worker through real environment variables only.
    BUCKETSCAN_ENV_FILE=none
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
USER node
# Node 24 runs the TypeScript sources directly (type stripping); exec form so
# that SIGTERM reaches the worker, which then shuts down gracefully. A 1 MB
# young-generation semi-space keeps streaming garbage from lifting peak RSS
# (docs/benchmarks.md).
ENTRYPOINT ["node", "--max-semi-space-size=1", "src/cli.ts"]
CMD ["worker"]
