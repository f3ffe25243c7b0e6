# Convenience targets; scripts/ holds the real logic.
.PHONY: build test bench

build:
	CGO_ENABLED=0 go build -o bunker ./cmd/bunker

test:
	scripts/test.sh

bench:
	bench/run.sh
