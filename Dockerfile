# Tollgate production image: `docker build -t tollgate:0.1.0 .`
#
# Build stage: install everything, compile TypeScript to dist/, then drop the dev dependencies.
# Runtime stage: the same slim Debian + Node 22 base, the compiled gateway and its production
# dependencies only, tini as PID 1, the unprivileged `node` user. Node is not meant to run as
# PID 1 (signals, zombie children of MCP servers), and `npm start` would swallow signals, so node
# runs directly under tini. tini runs without -g: a stop signal goes to the gateway alone, which
# drains and stops its MCP children in order (close stdin, SIGTERM, SIGKILL) instead of having
# them all killed at once.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core core
COPY routes routes
COPY plugins plugins
COPY admin admin
COPY bin bin
COPY ui ui
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /var/lib/tollgate && chown node:node /var/lib/tollgate
WORKDIR /app
ENV NODE_ENV=production \
  TOLLGATE_DATA_DIR=/var/lib/tollgate \
  TOLLGATE_LISTEN=0.0.0.0:9080 \
  TOLLGATE_STATUS_LISTEN=0.0.0.0:7085
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY conf conf
USER node
EXPOSE 9080 9180 7085 9091
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--no-allocation-site-pretenuring", "dist/bin/tollgate.js", "start"]
