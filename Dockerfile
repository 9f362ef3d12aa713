# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship only the compiled output and production dependencies.
# NOTE: Docker cannot run on the machine this project is developed on; this file has not been built here.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Native addons (better-sqlite3) may need a compiler when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY adapters ./adapters
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
RUN npx tsc -p . && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/adapters ./dist/adapters
COPY openapi.yaml ./
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["serve", "--config", "/etc/legacy-gateway/config.yaml"]
