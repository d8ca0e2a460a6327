# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production ones only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY broker ./broker
COPY plugins ./plugins
COPY config ./config
COPY bench ./bench
COPY types ./types
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# The fleet page's static files (tsc copies only .ts); found from dist/ by plugins/page/static-files.ts.
COPY plugins/page/static ./plugins/page/static
# In a container the broker must listen on every interface, not loopback. That is a
# non-loopback listener: Vigil refuses to start until auth is configured
# (VIGIL_AUTH_PASSWORD_FILE, mTLS, or an explicit VIGIL_AUTH_ALLOW_ANONYMOUS=true).
ENV VIGIL_MQTT_HOST=0.0.0.0 \
    VIGIL_HTTP_HOST=0.0.0.0
EXPOSE 1883 8083 8080
# Never root: the image's files belong to root and are read-only to the broker.
USER node:node
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form: node is PID 1's direct child of nothing else, so SIGTERM reaches
# Vigil's handler (statuses and wills out, flush, exit 0 within 10 s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/broker/main.js"]
