# The image of registry.company.com/shop/storefront (storefront.yaml), checked with the
# same configuration as the manifests.
FROM node:22.11.0 AS build
WORKDIR /src
COPY . .
RUN npm ci && npm run build
ADD https://github.com/tailwindlabs/tailwindcss/releases/download/v3.4.14/tailwindcss-linux-x64 /usr/local/bin/tailwindcss

FROM gcr.io/distroless/nodejs22-debian12:nonroot@sha256:2b0d8a2a1f3c7f5d8e4a9b6c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e
COPY --from=build /src/dist /app
USER 65532
CMD ["/app/server.js"]
