#!/usr/bin/env bash
# Installs the MinIO server that the S3 backend's tests run against and
# prints its path. MinIO is built from the Go module proxy at a pinned
# version into a cache directory (${BUNKER_TOOLS:-~/.cache/bunker/tools}),
# once: later runs find it there and only print the path. The first build
# takes a few minutes on two cores.
set -euo pipefail

version=v0.0.0-20260212201848-7aac2a2c5b7c
tools=${BUNKER_TOOLS:-$HOME/.cache/bunker/tools}
bin=$tools/bin/minio
stamp=$bin.version

if [[ -x $bin && $(cat "$stamp" 2>/dev/null) == "$version" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$tools/bin"
tmp=$(mktemp -d "$tools/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "minio: building github.com/minio/minio@$version into $tools/bin (once; a few minutes)" >&2
start=$SECONDS
GOBIN=$tmp CGO_ENABLED=0 go install "github.com/minio/minio@$version" >&2
mv -f "$tmp/minio" "$bin"
echo "$version" >"$stamp"
echo "minio: built in $((SECONDS - start))s" >&2
echo "$bin"
