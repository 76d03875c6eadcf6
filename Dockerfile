# Portcullis: multi-stage build on the official Node 24 LTS image.
# Node runs the TypeScript sources directly (type stripping), so there is no build
# step: the first stage only installs production dependencies.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY config ./config
# Mount the configuration at /etc/portcullis/portcullis.yaml (and TLS and signing keys beside it).
RUN mkdir -p /etc/portcullis && chown -R node:node /etc/portcullis
USER node
# 8443: the proxy (listen.address); 9090: health, readiness and metrics (ops.address).
EXPOSE 8443 9090
# Uses the ops listener; ops.address must be reachable from inside the container (the default 127.0.0.1:9090 is).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORTCULLIS_OPS_PORT || 9090) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node flags: see src/runtime.ts (less memory and CPU per request, measured).
ENTRYPOINT ["node", "--max-semi-space-size=16", "--max-valid-polymorphic-map-count=16", "src/cli.ts"]
CMD ["start"]
