#!/bin/sh
# Builds a static cobaltgw binary. The Dockerfile and CI both call this
# script, so the binary CI tests is built exactly like the one the image
# ships: no cgo (a static binary that runs on distroless/static or
# scratch), -trimpath (no build paths in the binary), symbols stripped,
# the version stamped in.
#
#   deploy/build.sh                      → bin/cobaltgw
#   OUT=/out/cobaltgw VERSION=1.2.3 deploy/build.sh
#   PKG=./examples/upstream OUT=bin/example-upstream deploy/build.sh
set -eu
cd "$(dirname "$0")/.."
: "${OUT:=bin/cobaltgw}"
: "${PKG:=.}"
: "${VERSION:=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=${VERSION}" \
	-o "${OUT}" "${PKG}"
