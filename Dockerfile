# syntax=docker/dockerfile:1
# The idp image: one static binary on distroless (CA certificates, tzdata,
# a nonroot user, no shell).
#
#   docker build -t idp .
#   docker run --rm idp version
#
# The build keeps .git in its context so that `idp version` names the
# commit (go build stamps it); cmd/idp's TestDockerfileBuild runs the same
# go build command as the RUN line below.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG BUILD_DATE
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto \
      -ldflags "-s -w -X main.buildDate=${BUILD_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" \
      -o /out/idp ./cmd/idp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idp /usr/local/bin/idp
# Listen on every interface inside the container; publish the port you
# need. The admin listener (metrics, admin API) stays on loopback unless
# IDP_ADMIN_LISTEN says otherwise (then /metrics needs IDP_ADMIN_TOKEN).
ENV IDP_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/idp"]
CMD ["serve"]
