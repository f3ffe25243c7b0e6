#!/usr/bin/env bash
# Installs what bunker's tests and benchmarks need on a fresh Debian machine:
# the Go modules, restic, borgbackup and GNU time for the benchmark harness,
# and the MinIO server the S3 backend's tests run against (scripts/minio.sh,
# built once into a cache). Safe to run again: it installs only what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v restic >/dev/null || missing+=(restic)
command -v borg >/dev/null || missing+=(borgbackup)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
		echo "deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
go mod download
scripts/minio.sh >/dev/null
