# The disk-delta CLI as a container image, for `disk-delta protect schedule` definitions (GitHub Actions,
# Azure Pipelines, Kubernetes CronJob, Container Apps job).
#   docker build -t disk-delta:latest .
#   docker run --rm -v "$PWD:/work:ro" -e AZURE_CLIENT_ID -e AZURE_TENANT_ID -e AZURE_FEDERATED_TOKEN_FILE ... \
#     disk-delta:latest protect run --policy /work/disk-delta.policy.yaml --json
# Sign-in is DefaultAzureCredential: workload identity (AZURE_FEDERATED_TOKEN_FILE), managed identity, or
# environment credentials. No secret is baked into the image.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
COPY emulator ./emulator
COPY webview ./webview
COPY tsconfig.json ./
RUN node scripts/build.mjs --production

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# The CLI bundle and the Azure layer it loads on first use; every dependency is bundled by esbuild.
COPY --from=build /src/dist/cli.js /src/dist/azure.js ./
COPY schemas ./schemas
RUN printf '#!/bin/sh\nexec node /app/cli.js "$@"\n' > /usr/local/bin/disk-delta && chmod 755 /usr/local/bin/disk-delta
# Journals and local locks (a pod's state is disposable: leases in Azure Storage are what coordinate runners).
ENV XDG_STATE_HOME=/tmp/disk-delta-state
USER node
ENTRYPOINT ["node", "/app/cli.js"]
CMD ["--help"]
