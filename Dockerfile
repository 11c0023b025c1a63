# licensync as a minimal non-root image: a static binary (CGO_ENABLED=0;
# SQLite is pure Go), CA certificates for LDAPS, Graph, Okta and Webex,
# /var/lib/licensync as a volume, and `serve` as the default command.
#   docker build -t licensync --build-arg VERSION=$(git describe --tags --always) .
#   docker run -v /etc/licensync:/etc/licensync:ro -v /run/secrets/licensync:/run/secrets/licensync:ro licensync
# The configuration names its secrets as file:<name>, read from
# $CREDENTIALS_DIRECTORY (/run/secrets/licensync); see deploy/kubernetes/.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/licensync ./cmd/licensync \
 && mkdir -p /out/state

# distroless/static: CA certificates, tzdata, /etc/passwd with the nonroot
# user (65532), and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/licensync /usr/bin/licensync
COPY --from=build --chown=65532:65532 /out/state /var/lib/licensync
USER 65532:65532
ENV CREDENTIALS_DIRECTORY=/run/secrets/licensync
VOLUME /var/lib/licensync
EXPOSE 9431
ENTRYPOINT ["/usr/bin/licensync"]
CMD ["serve", "-c", "/etc/licensync/licensync.yaml"]
