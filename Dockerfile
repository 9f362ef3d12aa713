# syntax=docker/dockerfile:1
# legacy-gateway container image. Three stages: production dependencies only (deps), the compiled gateway (build),
# and the runtime image with just those two, running as the non-root "node" user (uid 1000).
# NOT BUILT on the machine this project is developed on (no container engine, no base images): the invariants below
# are checked by test/deploy/dockerfile.test.ts and the file is linted by dockerfile-utils (README, "Container").
# The Node major here is engines.node's in package.json and CI's (both 20; the test checks all three).

# Production dependencies. Native addons (better-sqlite3, oracledb's thin mode needs none) may need a compiler when
# no prebuilt binary matches.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The gateway itself: all dependencies (TypeScript, esbuild), then only what runs is compiled (tsconfig.build.json:
# src and adapters; no tests or benchmarks), and the CLI bundled into dist/src/main.cjs (scripts/bundle.mjs).
FROM deps AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/bundle.mjs
COPY src ./src
COPY adapters ./adapters
RUN npx tsc -p tsconfig.build.json && node scripts/bundle.mjs
# V8's code cache for the bundle (src/launch.ts): one run of the demo writes it beside dist/src/main.cjs, so that every
# start in a container takes compiled code (the runtime user cannot write dist/src: it would never be written there).
# `ls` fails the build when it was not written.
RUN timeout 6 node dist/src/main.js demo --port 0 --dir /tmp/lg-demo > /dev/null; ls dist/src/main.cjs.*.v8-cache

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json: "type": "module" for the compiled ESM. node_modules: production dependencies only (deps stage).
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/adapters ./dist/adapters
# The image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it (deploy/kubernetes runs 1000 too).
USER 1000:1000
EXPOSE 8080
# server.port 8080. Kubernetes ignores HEALTHCHECK and uses the Deployment's probes instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown within server.shutdown_grace_ms).
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["serve", "--config", "/etc/legacy-gateway/config.yaml"]
