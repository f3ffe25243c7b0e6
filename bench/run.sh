#!/usr/bin/env bash
# Compares bunker with restic and borg on this machine, measures bunker's
# vault server beside its local mode, and writes docs/BENCHMARKS.md and
# docs/benchmarks.csv. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [--tools bunker,restic,borg,bunker-server,bunker-s3,bunker-copy,bunker-sched]
                    [--smoke | --report-only]

  --tools LIST  comma-separated tools to measure (default: all of them; bunker-server is
                bunker through its vault server, bunker-s3 the same with the vault on MinIO
                with Object Lock, bunker-copy copies of points between two servers and two
                vaults, bunker-sched the scheduler firing many plans at once)
  --smoke       ~20 MiB corpus, one run, report written to a temporary file
  --report-only write the report again from the results of the last run in BENCH_WORK

Environment:
  BENCH_WORK     work directory (default /tmp/bunker-bench, /tmp/bunker-bench-smoke with --smoke)
  BENCH_SIZE_MB  corpus size in MiB (default 700, 20 with --smoke)
  BENCH_RUNS     runs of the whole sequence; medians are reported (default 3, 1 with --smoke)
  BENCH_OUT      report path, relative to the repository root (default docs/BENCHMARKS.md);
                 the raw CSV goes beside it as benchmarks.csv
  BUNKER_MINIO   the MinIO server binary for bunker-s3 (default: where scripts/minio.sh
                 installs it, ${BUNKER_TOOLS:-~/.cache/bunker/tools}/bin/minio)
EOF
}

die() {
	echo "bench: $*" >&2
	exit 1
}

log() { echo "bench: $*" >&2; }

ORIG_ARGS=("$@")
TOOLS_ARG=bunker,restic,borg,bunker-server,bunker-s3,bunker-copy,bunker-sched
SMOKE=0
REPORT_ONLY=0
while (($#)); do
	case $1 in
	--tools)
		(($# >= 2)) || die "--tools needs a comma-separated list"
		TOOLS_ARG=$2
		shift 2
		;;
	--tools=*)
		TOOLS_ARG=${1#*=}
		shift
		;;
	--smoke)
		SMOKE=1
		shift
		;;
	--report-only)
		REPORT_ONLY=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done

# Tools in report order, whatever order they were given in.
TOOLS=()
ALL_TOOLS=(bunker restic borg bunker-server bunker-s3 bunker-copy bunker-sched)
for t in "${ALL_TOOLS[@]}"; do
	[[ ",$TOOLS_ARG," == *",$t,"* ]] && TOOLS+=("$t")
done
for t in ${TOOLS_ARG//,/ }; do
	[[ " ${ALL_TOOLS[*]} " == *" $t "* ]] || die "unknown tool in --tools: $t (want bunker, restic, borg, bunker-server, bunker-s3, bunker-copy or bunker-sched)"
done
((${#TOOLS[@]})) || die "--tools names no tool"

command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The server part: clients backing up at once, small backups made to fill
# the vault with points, and the read API's load (rate and seconds).
SERVER_CLIENTS=8
SERVER_API_RATE=200
if ((SMOKE)); then
	WORK=${BENCH_WORK:-/tmp/bunker-bench-smoke}
	SIZE_MB=${BENCH_SIZE_MB:-20}
	RUNS=1
	OUT=${BENCH_OUT:-$(mktemp -d /tmp/bunker-bench-report.XXXXXX)/BENCHMARKS.md}
	SERVER_SMALL=10
	SERVER_API_SECONDS=2
	SCHED_PLANS=100
	SCHED_LEAD=5s
else
	WORK=${BENCH_WORK:-/tmp/bunker-bench}
	SIZE_MB=${BENCH_SIZE_MB:-700}
	RUNS=${BENCH_RUNS:-3}
	OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
	SERVER_SMALL=100
	SERVER_API_SECONDS=15
	SCHED_PLANS=1000
	SCHED_LEAD=15s
fi
[[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZE_MB must be a positive integer, got '$SIZE_MB'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ $OUT == /* ]] || OUT=$REPO_ROOT/$OUT
CSV_OUT=$(dirname "$OUT")/benchmarks.csv
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
case $WORK in
/ | "$REPO_ROOT" | "$REPO_ROOT"/*) die "BENCH_WORK must be a scratch directory outside the repository, got $WORK" ;;
esac

PASS=bench-passphrase
PRISTINE=$WORK/corpus
DATA=$WORK/data
RESTORE=$WORK/restore
LOGS=$WORK/logs
RESULTS=$WORK/results.csv
META=$WORK/meta.txt
CG=$WORK/bin/corpusgen
BUNKER=$WORK/bin/bunker
LOADGEN=$WORK/bin/loadgen
SRV=$WORK/server
SRV_STATE=$WORK/state-bunker-server
SPLIT=$WORK/split
S3TOOL=$WORK/bin/s3tool
SCHEDBENCH=$WORK/bin/schedbench
S3_DIR=$WORK/minio
# The S3 part's MinIO: root credentials (also bunker's, in a credentials
# file), the bucket with Object Lock and the target's prefix in it, and
# how its vault is created.
S3_USER=bench-root
S3_SECRET=bench-root-secret-0123456789
S3_BUCKET=bench
S3_PREFIX=vaults
S3_VAULT_FLAGS=(--retention 30d --lock compliance --changeable-for 72h)
MINIO_PID=""
MINIO_BIN=""
TABLE_NAME=bench-table.csv
CHANGED_LIST=$WORK/changed.list
SCAN_TOOL=bunker-scan
SCAN_ARGS=()
FAILED=0
M_WALL="" M_USER="" M_SYS="" M_RSS=""
SAMPLE_SERVER=0
SERVER_PID=""
S_OK=0 S_USER="" S_SYS="" S_RSS="" S_T0="" N_OK=0 N_USER="" N_SYS="" N_RSS="" N_T0=""
CLK_TCK=$(getconf CLK_TCK)
# The extra CSV fields of a row: the read API's figures, empty for others,
# and the S3 part's storage requests (op=N op=N ...) and retention
# extensions, empty for others. M_STORED, when set, is the stored size.
M_EXTRA=",,,,,,"
M_S3=","
M_STORED=""
SERVER_LOG=""

has_tool() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

install_missing() {
	local pkgs=()
	has_tool restic && ! command -v restic >/dev/null && pkgs+=(restic)
	has_tool borg && ! command -v borg >/dev/null && pkgs+=(borgbackup)
	[[ -x /usr/bin/time ]] || pkgs+=(time)
	((${#pkgs[@]})) || return 0
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing ${pkgs[*]}"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
	else
		die "missing ${pkgs[*]}: install them (Debian packages: ${pkgs[*]})"
	fi
}

# find_minio sets MINIO_BIN for bunker-s3: $BUNKER_MINIO, else where
# scripts/minio.sh installs it; without either the run stops here.
find_minio() {
	has_tool bunker-s3 || return 0
	if [[ -n ${BUNKER_MINIO:-} ]]; then
		[[ -f $BUNKER_MINIO && -x $BUNKER_MINIO ]] ||
			die "BUNKER_MINIO=$BUNKER_MINIO is not an executable file; run scripts/minio.sh and set BUNKER_MINIO to the path it prints"
		MINIO_BIN=$BUNKER_MINIO
		return 0
	fi
	local installed=${BUNKER_TOOLS:-$HOME/.cache/bunker/tools}/bin/minio
	if [[ -f $installed && -x $installed ]]; then
		MINIO_BIN=$installed
		return 0
	fi
	die "bunker-s3 needs MinIO, and BUNKER_MINIO is unset and $installed missing: run scripts/minio.sh (it builds the pinned MinIO once and prints its path; set BUNKER_MINIO to it), or leave bunker-s3 out of --tools"
}

build() {
	mkdir -p "$WORK/bin"
	local bunker=0
	if has_tool bunker || has_tool bunker-server || has_tool bunker-s3 || has_tool bunker-copy || has_tool bunker-sched; then bunker=1; fi
	log "building the harness helpers$( ((bunker)) && echo ' and bunker')"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$CG" ./bench/corpusgen &&
		CGO_ENABLED=0 go build -o "$WORK/bin/report" ./bench/report)
	if has_tool bunker-server; then
		(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$LOADGEN" ./bench/loadgen)
	fi
	if has_tool bunker-s3; then
		(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$S3TOOL" ./bench/s3tool)
	fi
	if has_tool bunker-sched; then
		(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$SCHEDBENCH" ./bench/schedbench)
	fi
	if ((bunker)); then
		(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$BUNKER" ./cmd/bunker) ||
			die "building ./cmd/bunker failed (use --tools restic,borg to measure only the others)"
	fi
}

# digest_field DIR KEY prints one field of `corpusgen digest DIR`.
digest_field() {
	"$CG" digest "$1" | sed -n "s/^$2=//p"
}

# make_corpus copies the sources (or an even pick of their files, when they
# exceed 85% of the target size) and fills up to the target with a table.
make_corpus() {
	local target=$((SIZE_MB * 1024 * 1024))
	SOURCES=("$(go env GOROOT)" /usr/share/doc /usr/share/man /usr/share/locale)
	log "building a $SIZE_MB MiB corpus in $PRISTINE"
	purge "$PRISTINE"
	mkdir -p "$PRISTINE"
	"$CG" list -budget $((target * 85 / 100)) "${SOURCES[@]}" >"$WORK/corpus.list" 2>"$LOGS/corpus-list.log"
	tar -C / --null --no-recursion -T "$WORK/corpus.list" -cf - | tar -C "$PRISTINE" -xpf -
	local have
	have=$(digest_field "$PRISTINE" bytes)
	TABLE_BYTES=$((target > have ? target - have : 0))
	"$CG" table -size "$TABLE_BYTES" -seed 1 "$PRISTINE/$TABLE_NAME"
	"$CG" digest "$PRISTINE" | sed 's/^/corpus_/' >>"$META"
	local existing=() s
	for s in "${SOURCES[@]}"; do
		if [[ -e $s ]]; then existing+=("$s"); fi
	done
	echo "corpus_sources=${existing[*]}: $(cat "$LOGS/corpus-list.log")" >>"$META"
	echo "table_bytes=$TABLE_BYTES" >>"$META"

	# The change step is deterministic: its result is known before any tool runs.
	purge "$DATA"
	cp -a "$PRISTINE" "$DATA"
	"$CG" mutate -every 20 -seed 2 -list "$CHANGED_LIST" "$DATA" >"$WORK/mutate.txt"
	cat "$WORK/mutate.txt" >>"$META"
	CHANGED_DIGEST=$(digest_field "$DATA" digest)
	purge "$DATA"
}

# purge PATH... deletes trees and notes when. ext4 without a journal (as
# on the machines this runs on) keeps a deleted inode aside for a minute
# after its inode table block is written back, five more while it is not:
# a file created meanwhile makes the kernel step over each such inode, which
# made a restore of the corpus right after a deletion 2 to 6 times slower,
# nearly all in system time, and penalised whichever tool happened to
# restore soonest after one. So purge writes the deletion back at once, and
# steps that create the corpus's files wait the minute out first (settle).
PURGED_AT=0
purge() {
	rm -rf "$@"
	sync
	PURGED_AT=$(date +%s)
}

# settle waits until the last purge is out of ext4's window (not in a smoke
# run, whose corpus is too small to notice).
settle() {
	((SMOKE)) && return 0
	local wait=$((PURGED_AT + 61 - $(date +%s)))
	if ((wait > 0)); then sleep "$wait"; fi
}

# warm DIR reads every file under DIR, untimed, so the step that follows
# finds it in the page cache even where the kernel pages out idle cache.
warm() {
	tar -C "$(dirname "$1")" -cf - "$(basename "$1")" | cat >/dev/null
}

# measure TOOL STEP CMD... runs CMD under GNU time (after a sync, so earlier
# writes are not flushed inside it) and leaves the figures in M_*. With
# SAMPLE_SERVER=1 it also leaves the server's in S_* (see server_begin).
measure() {
	local base=$LOGS/run$RUN-$1-$2
	case $2 in restore | read-changed | copy) settle ;; esac
	shift 2
	local rc=0
	sync
	if ((SAMPLE_SERVER)); then server_begin; fi
	/usr/bin/time -f '%e %U %S %M' -o "$base.time" "$@" >"$base.log" 2>&1 || rc=$?
	if ((SAMPLE_SERVER)); then server_end; fi
	M_WALL=0 M_USER=0 M_SYS=0 M_RSS=0
	read -r M_WALL M_USER M_SYS M_RSS < <(tail -n 1 "$base.time") || true
	[[ $M_WALL$M_USER$M_SYS$M_RSS =~ ^[0-9.]+$ ]] || M_WALL=0 M_USER=0 M_SYS=0 M_RSS=0
	return "$rc"
}

# record TOOL STEP STATUS [REPO] appends a CSV row, with the stored size of
# REPO when given, and reports progress.
record() {
	local tool=$1 step=$2 status=$3 repo=${4:-} stored=""
	if [[ $status == skipped ]]; then
		M_WALL="" M_USER="" M_SYS="" M_RSS="" M_EXTRA=",,,,,," M_S3="," M_STORED=""
	elif [[ -n $repo && $status == ok ]]; then
		stored=$(du -sb "$repo" | cut -f1)
	elif [[ $status == ok ]]; then
		stored=$M_STORED
	fi
	echo "$RUN,$tool,$step,$M_WALL,$M_USER,$M_SYS,$M_RSS,$stored,$status,$M_EXTRA,$M_S3" >>"$RESULTS"
	M_EXTRA=",,,,,," M_S3="," M_STORED=""
	if [[ $status == skipped ]]; then
		return 0
	fi
	local msg
	msg=$(awk -v r="$RUN/$RUNS" -v t="$tool" -v s="$step" -v w="$M_WALL" -v u="$M_USER" -v y="$M_SYS" \
		-v m="$M_RSS" -v st="$stored" 'BEGIN {
			printf "run %s %-13s %-14s %7.2f s wall %7.2f s cpu %6.0f MiB rss", r, t, s, w, u + y, m / 1024
			if (st != "") printf " %7.1f MiB stored", st / 1048576
		}')
	if [[ $status != ok ]]; then msg+="  FAILED"; fi
	log "$msg"
	if [[ $status != ok ]]; then
		FAILED=1
		if [[ -f $LOGS/run$RUN-$tool-$step.log ]]; then
			log "  $tool $step failed; last lines of $LOGS/run$RUN-$tool-$step.log:"
			tail -n 15 "$LOGS/run$RUN-$tool-$step.log" | sed 's/^/    /' >&2
		fi
	fi
}

# tool_cmd TOOL ACTION [ARCHIVE] sets CMD to the command line for ACTION.
# Every tool gets its own HOME and XDG dirs in the work dir, so caches start
# empty with each fresh repository and nothing outside is touched.
tool_cmd() {
	local tool=$1 action=$2 archive=${3:-}
	local state=$WORK/state-$tool
	CMD=(env)
	[[ $tool/$action == borg/restore ]] && CMD+=(-C "$RESTORE")
	CMD+=(HOME="$state" XDG_CACHE_HOME="$state/cache" XDG_CONFIG_HOME="$state/config"
		BUNKER_PASSPHRASE="$PASS" RESTIC_PASSWORD="$PASS" BORG_PASSPHRASE="$PASS")
	local repo=$WORK/repo-$tool
	case $tool/$action in
	bunker/init) CMD+=("$BUNKER" init --vault "$repo") ;;
	bunker/backup) CMD+=("$BUNKER" backup --vault "$repo" --quiet "$DATA") ;;
	bunker/restore) CMD+=("$BUNKER" restore --vault "$repo" latest --target "$RESTORE") ;;
	bunker/check) CMD+=("$BUNKER" check --vault "$repo" --read-data) ;;
	bunker/points) CMD+=("$BUNKER" points --vault "$repo" --json) ;;
	bunker/scan) CMD+=("$BUNKER" scan --vault "$repo" --json "${SCAN_ARGS[@]}") ;;
	bunker/restore-some) CMD+=("$BUNKER" restore --vault "$repo" --quiet "${SCAN_ARGS[@]}") ;;
	restic/init) CMD+=(restic -r "$repo" init) ;;
	restic/backup) CMD+=(restic -r "$repo" backup "$DATA") ;;
	restic/restore) CMD+=(restic -r "$repo" restore latest --target "$RESTORE") ;;
	restic/check) CMD+=(restic -r "$repo" check --read-data) ;;
	borg/init) CMD+=(borg init -e repokey-blake2 "$repo") ;;
	borg/backup) CMD+=(borg create "$repo::$archive" "$DATA") ;;
	borg/restore) CMD+=(borg extract "$repo::changed") ;;
	borg/check) CMD+=(borg check --verify-data "$repo") ;;
	*) die "no command for $tool $action" ;;
	esac
}

# skip_rest TOOL STEP... records the steps a failure made impossible.
skip_rest() {
	local tool=$1
	shift
	local s
	for s in "$@"; do record "$tool" "$s" skipped; done
}

# verify_restore checks the restored tree against the changed corpus.
verify_restore() {
	local marker root got
	marker=$(find "$RESTORE" -name "$TABLE_NAME" -type f -print -quit)
	[[ -n $marker ]] || {
		echo "restore: $TABLE_NAME not found under $RESTORE" >>"$LOGS/run$RUN-$1-restore.log"
		return 1
	}
	root=$(dirname "$marker")
	got=$(digest_field "$root" digest)
	[[ $got == "$CHANGED_DIGEST" ]] || {
		echo "restore: digest of $root is $got, want $CHANGED_DIGEST" >>"$LOGS/run$RUN-$1-restore.log"
		return 1
	}
}

# run_tool TOOL runs the whole sequence for one tool on a fresh repository.
run_tool() {
	local tool=$1
	local repo=$WORK/repo-$tool
	purge "$DATA" "$repo" "$RESTORE" "$WORK/state-$tool"
	mkdir -p "$WORK/state-$tool" "$RESTORE"
	cp -a "$PRISTINE" "$DATA"

	tool_cmd "$tool" init
	if ! "${CMD[@]}" >"$LOGS/run$RUN-$tool-init.log" 2>&1; then
		log "$tool init failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-init.log" | sed 's/^/    /' >&2
		FAILED=1
		skip_rest "$tool" initial unchanged changed restore check
		return
	fi
	local steps=(initial unchanged changed restore check) i
	for i in 0 1 2; do
		local step=${steps[i]}
		if [[ $step == changed ]]; then
			"$CG" mutate -every 20 -seed 2 "$DATA" >"$LOGS/run$RUN-$tool-mutate.txt"
			cmp -s "$LOGS/run$RUN-$tool-mutate.txt" "$WORK/mutate.txt" || die "the change step was not deterministic"
		fi
		tool_cmd "$tool" backup "$step"
		warm "$DATA"
		if measure "$tool" "$step" "${CMD[@]}"; then
			record "$tool" "$step" ok "$repo"
		else
			record "$tool" "$step" failed
			skip_rest "$tool" "${steps[@]:i+1}"
			return
		fi
	done

	tool_cmd "$tool" restore
	warm "$repo"
	if measure "$tool" restore "${CMD[@]}" && verify_restore "$tool"; then
		record "$tool" restore ok
	else
		record "$tool" restore failed
	fi

	tool_cmd "$tool" check
	warm "$repo"
	if measure "$tool" check "${CMD[@]}"; then
		record "$tool" check ok
	else
		record "$tool" check failed
	fi
	if [[ $tool == bunker ]]; then scan_steps "$repo"; fi
	purge "$DATA" "$repo" "$RESTORE" "$WORK/state-$tool"
}

# scan_steps measures bunker's ransomware scanner on the local vault of the
# sequence: the initial point (every file new), the unchanged point against
# it and the changed point against the unchanged one, and, for comparison,
# a restore of just the changed files. What each scan judged and read goes
# into the meta file as scan_STEP_FIELD_runN.
scan_steps() {
	local repo=$1 ids=() step
	tool_cmd bunker points
	mapfile -t ids < <("${CMD[@]}" 2>>"$LOGS/run$RUN-scan-points.log" | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
	if ((${#ids[@]} != 3)); then
		echo "want the 3 points of the sequence, found ${#ids[@]}" >>"$LOGS/run$RUN-scan-points.log"
		record "$SCAN_TOOL" scan-initial failed
		skip_rest "$SCAN_TOOL" scan-unchanged scan-changed read-changed
		return
	fi
	local -A prev=([scan-initial]="" [scan-unchanged]=${ids[0]} [scan-changed]=${ids[1]})
	local -A point=([scan-initial]=${ids[0]} [scan-unchanged]=${ids[1]} [scan-changed]=${ids[2]})
	for step in scan-initial scan-unchanged scan-changed; do
		SCAN_ARGS=("${point[$step]}")
		[[ -n ${prev[$step]} ]] && SCAN_ARGS+=(--previous "${prev[$step]}")
		tool_cmd bunker scan
		warm "$repo"
		local rc=0
		measure "$SCAN_TOOL" "$step" "${CMD[@]}" || rc=$?
		# Exit code 7 is a point judged infected: measured all the same.
		if ((rc == 0 || rc == 7)) && scan_figures "$step"; then
			record "$SCAN_TOOL" "$step" ok
		else
			record "$SCAN_TOOL" "$step" failed
		fi
	done
	local include=() rel
	while IFS= read -r -d '' rel; do include+=(--include "$DATA/$rel"); done <"$CHANGED_LIST"
	purge "$WORK/restore-changed"
	SCAN_ARGS=("${ids[2]}" --target "$WORK/restore-changed" "${include[@]}")
	tool_cmd bunker restore-some
	warm "$repo"
	if measure "$SCAN_TOOL" read-changed "${CMD[@]}"; then
		record "$SCAN_TOOL" read-changed ok
	else
		record "$SCAN_TOOL" read-changed failed
	fi
	purge "$WORK/restore-changed"
}

# scan_figures STEP copies what the scan of STEP judged and read from its
# JSON report (the step's log) into the meta file.
scan_figures() {
	local log=$LOGS/run$RUN-$SCAN_TOOL-$1.log field value
	for field in examined bytes_changed bytes_read; do
		value=$(grep -o "\"$field\":[0-9]*" "$log" | head -n 1 | cut -d: -f2)
		[[ -n $value ]] || return 1
		echo "scan_$1_${field}_run$RUN=$value" >>"$META"
	done
	value=$(grep -o '"level":"[a-z]*"' "$log" | head -n 1 | cut -d'"' -f4)
	[[ -n $value ]] || return 1
	echo "scan_$1_level_run$RUN=$value" >>"$META"
}

# json_field KEY prints the string value of KEY in the one-line JSON object
# on stdin (the few bunker prints here have no escapes in these values).
json_field() {
	sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p' | head -n 1
}

# as_cmd WHO sets CMD to the start of a bunker command line run as WHO:
# each principal has its own HOME and XDG directories, so its own saved
# login, and nothing outside the work dir is touched.
as_cmd() {
	local home=$SRV_STATE/$1
	mkdir -p "$home"
	CMD=(env HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data"
		BUNKER_PASSPHRASE="$PASS" "$BUNKER")
}

# as WHO ARGS... runs bunker as WHO.
as() {
	as_cmd "$1"
	shift
	"${CMD[@]}" "$@"
}

# remote_cmd WHO COMMAND ARGS... sets CMD to a bunker command run as WHO
# with its API token, against the server.
remote_cmd() {
	local who=$1 sub=$2
	shift 2
	as_cmd "$who"
	CMD=("${CMD[@]:0:${#CMD[@]}-1}" BUNKER_TOKEN="$(<"$SRV_STATE/$who/token")"
		"$BUNKER" "$sub" --server "$SERVER_URL" --fingerprint "$SERVER_FP" "$@")
}

# server_start [ARGS...] runs `bunker server` (with ARGS) on a fresh data
# directory and key file under SRV, on a free loopback port, logging to
# SERVER_LOG, and sets SERVER_PID, SERVER_URL, SERVER_FP and ADMIN_PW from
# the line it prints when it listens.
server_start() {
	purge "$SRV"
	mkdir -p "$SRV" "$SRV_STATE/server"
	local out=$SRV/listening.json i
	env HOME="$SRV_STATE/server" XDG_CONFIG_HOME="$SRV_STATE/server/config" XDG_DATA_HOME="$SRV_STATE/server/data" \
		"$BUNKER" server --json --listen 127.0.0.1:0 --data "$SRV/data" --key-file "$SRV/server.key" "$@" \
		>"$out" 2>"$SERVER_LOG" &
	SERVER_PID=$!
	for ((i = 0; i < 300; i++)); do
		[[ -s $out ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	SERVER_URL=$(json_field url <"$out")
	SERVER_FP=$(json_field fingerprint <"$out")
	ADMIN_PW=$(json_field admin_password_file <"$out")
	[[ -n $SERVER_URL && -n $SERVER_FP && -f $ADMIN_PW ]]
}

# server_stop ends the server with SIGTERM (SIGKILL after 15 s) and fails
# unless it exited cleanly.
server_stop() {
	[[ -n $SERVER_PID ]] || return 0
	local pid=$SERVER_PID rc=0 i
	SERVER_PID=""
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "the server did not stop within 15 s of SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		rc=1
	fi
	wait "$pid" 2>/dev/null || rc=1
	if grep -q panic "$SERVER_LOG" 2>/dev/null; then rc=1; fi
	return "$rc"
}

# proc_ticks PID prints a process's user and system CPU time so far, in
# clock ticks (fields 14 and 15 of /proc/PID/stat, counted after the
# parenthesised command name, which may hold spaces).
proc_ticks() {
	local stat
	stat=$(<"/proc/$1/stat") || return 1
	stat=${stat##*) }
	local f
	read -r -a f <<<"$stat"
	echo "${f[11]} ${f[12]}"
}

# proc_begin PID notes a process's CPU time (printed) and resets its peak
# RSS (VmHWM) to its current RSS, so that proc_end sees this step's peak.
proc_begin() {
	proc_ticks "$1" 2>/dev/null || true
	echo 5 2>/dev/null >"/proc/$1/clear_refs" || true
}

# proc_end PID T0 sets P_USER and P_SYS (seconds of CPU time since
# proc_begin printed T0) and P_RSS (peak RSS in kB since then), or P_OK=0
# if the process is gone.
proc_end() {
	local t1
	P_OK=0 P_USER="" P_SYS="" P_RSS=""
	t1=$(proc_ticks "$1" 2>/dev/null) || return 0
	[[ -n $2 ]] || return 0
	P_RSS=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null) || return 0
	read -r P_USER P_SYS < <(awk -v a="$2" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {
		split(a, x, " "); split(b, y, " "); printf "%.2f %.2f\n", (y[1] - x[1]) / hz, (y[2] - x[2]) / hz }')
	[[ -n $P_RSS ]] && P_OK=1
}

# server_begin notes the server's CPU time and resets its peak RSS, and
# MinIO's when it runs, so that server_end sees this step's figures.
server_begin() {
	S_T0=$(proc_begin "$SERVER_PID")
	if [[ -n $MINIO_PID ]]; then N_T0=$(proc_begin "$MINIO_PID"); fi
}

# server_end sets S_USER and S_SYS (seconds of CPU time since server_begin)
# and S_RSS (peak RSS in kB since then), or S_OK=0 if the server is gone;
# and the same for MinIO in N_*, when it runs.
server_end() {
	proc_end "$SERVER_PID" "$S_T0"
	S_OK=$P_OK S_USER=$P_USER S_SYS=$P_SYS S_RSS=$P_RSS
	N_OK=0 N_USER="" N_SYS="" N_RSS=""
	if [[ -n $MINIO_PID ]]; then
		proc_end "$MINIO_PID" "$N_T0"
		N_OK=$P_OK N_USER=$P_USER N_SYS=$P_SYS N_RSS=$P_RSS
	fi
}

# record_proc NAME STEP STATUS OK USER SYS RSS appends the row of a process
# (the server, MinIO) for STEP: the step's wall time, the process's CPU
# time and peak RSS during it (OK=1 if they were read).
record_proc() {
	local name=$1 step=$2 status=$3 ok=$4 user=$5 sys=$6 rss=$7
	if [[ $status == ok && $ok != 1 ]]; then status=failed; fi
	if [[ $status != ok ]]; then
		echo "$RUN,$name,$step,,,,,,$status,,,,,,,,," >>"$RESULTS"
		return
	fi
	echo "$RUN,$name,$step,$M_WALL,$user,$sys,$rss,,$status,,,,,,,,," >>"$RESULTS"
	log "$(awk -v r="$RUN/$RUNS" -v n="$name" -v s="$step" -v u="$user" -v y="$sys" -v m="$rss" -v c="$M_USER $M_SYS" -v w="$M_WALL" 'BEGIN {
		split(c, k, " ")
		printf "run %s %-13s %-10s %14s %7.2f s cpu %6.0f MiB rss; client+%s CPU util %.2f", r, n, s, "", u + y, m / 1024, n,
			(w > 0 ? (k[1] + k[2] + u + y) / w : 0) }')"
}

# record_server STEP STATUS appends the server's row for STEP.
record_server() {
	record_proc server "$1" "$2" "$S_OK" "$S_USER" "$S_SYS" "$S_RSS"
}

# server_steps are the steps of the server part, in order.
SERVER_STEPS=(initial unchanged changed restore parallel union-local small api-points api-vault)

# server_setup makes the principals, within the separation of duties: the
# security-admin "admin" makes a vault-admin user, who creates the vaults
# "bench" and "fleet"; the service account "host" may back up into bench,
# "restorer" restore from it (and read its points), and client-1 to
# client-N back up into fleet. Each service account's token is left in
# its state directory.
server_setup() {
	local pw=$SRV_STATE/vadmin.pw who i
	as admin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user admin --password-file "$ADMIN_PW" || return 1
	echo "$PASS-vault-admin" >"$pw"
	as admin user create vadmin --password-file "$pw" || return 1
	as admin role bind vadmin vault-admin || return 1
	as admin user create host --service || return 1
	as admin role bind host backup-operator --vault bench || return 1
	as admin user create restorer --service || return 1
	as admin role bind restorer restore-operator --vault bench || return 1
	for ((i = 1; i <= SERVER_CLIENTS; i++)); do
		as admin user create "client-$i" --service || return 1
		as admin role bind "client-$i" backup-operator --vault fleet || return 1
	done
	as vadmin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user vadmin --password-file "$pw" || return 1
	as vadmin vault create bench --retention 30d || return 1
	as vadmin vault create fleet --retention 30d || return 1
	local vaults=(bench) clients=(host restorer)
	for ((i = 1; i <= SERVER_CLIENTS; i++)); do clients+=("client-$i"); done
	for who in "${clients[@]}"; do
		local vault=bench
		[[ $who == client-* ]] && vault=fleet
		mkdir -p "$SRV_STATE/$who"
		as admin token create --principal "$who" --vault "$vault" --json | json_field token >"$SRV_STATE/$who/token" || return 1
		[[ -s $SRV_STATE/$who/token ]] || return 1
	done
	BENCH_VAULT=$SRV/data/$(as vadmin vault show bench --json | json_field location) || return 1
	FLEET_VAULT=$SRV/data/$(as vadmin vault show fleet --json | json_field location) || return 1
	[[ -d $BENCH_VAULT && -d $FLEET_VAULT && $BENCH_VAULT != "$FLEET_VAULT" ]]
}

# server_measure STEP STORED CMD... measures a step with the server
# sampled, and records both rows; STORED is the directory whose size is
# the step's stored size, or "".
server_measure() {
	local step=$1 stored=$2 status=ok
	shift 2
	SAMPLE_SERVER=1
	measure bunker-server "$step" "$@" || status=failed
	SAMPLE_SERVER=0
	record bunker-server "$step" "$status" "$stored"
	record_server "$step" "$status"
	[[ $status == ok ]]
}

# The script that runs the clients of the parallel step at once and fails
# if any of them fails. Arguments: bunker, URL, fingerprint, split
# directory, state directory, log prefix, number of clients.
# shellcheck disable=SC2016 # expanded by the inner shell
PARALLEL_SCRIPT='
bunker=$1 url=$2 fp=$3 split=$4 state=$5 logs=$6 n=$7
pids=()
for ((i = 1; i <= n; i++)); do
	home=$state/client-$i
	env HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data" \
		BUNKER_TOKEN="$(<"$home/token")" "$bunker" backup --server "$url" --fingerprint "$fp" --vault fleet \
		--host "client-$i" --quiet "$split/common" "$split/part-$i" >"$logs-$i.log" 2>&1 &
	pids+=($!)
done
rc=0
for ((i = 0; i < n; i++)); do
	if ! wait "${pids[i]}"; then
		echo "client-$((i + 1)) failed; see $logs-$((i + 1)).log"
		rc=1
	fi
done
exit "$rc"
'

# The script that makes the small backups one after another, changing one
# small file before each. Arguments: bunker, URL, fingerprint, token file,
# directory to back up, count.
# shellcheck disable=SC2016
SMALL_SCRIPT='
bunker=$1 url=$2 fp=$3 token=$4 dir=$5 n=$6
export BUNKER_TOKEN
BUNKER_TOKEN=$(<"$token")
for ((i = 1; i <= n; i++)); do
	echo "small backup $i" >"$dir/counter"
	"$bunker" backup --server "$url" --fingerprint "$fp" --vault bench --host small --tag small --quiet "$dir" || exit 1
done
'

# api_extra LOG sets M_EXTRA from what loadgen printed, and fails if it
# printed no figures.
api_extra() {
	local k v f=()
	for k in requests errors rate_per_s p50_ms p90_ms p99_ms max_ms; do
		v=$(sed -n "s/^$k=//p" "$1" | tail -n 1)
		[[ $v =~ ^[0-9.]+$ ]] || return 1
		f+=("$v")
	done
	M_EXTRA=$(
		IFS=,
		echo "${f[*]}"
	)
}

# server_api STEP PATH loads one read endpoint at the configured rate.
server_api() {
	local step=$1 path=$2 status=ok base=$LOGS/run$RUN-bunker-server-$1
	SAMPLE_SERVER=1
	measure bunker-server "$step" "$LOADGEN" -url "$SERVER_URL" -fingerprint "$SERVER_FP" -path "$path" \
		-token-file "$SRV_STATE/restorer/token" -rate "$SERVER_API_RATE" -duration "${SERVER_API_SECONDS}s" || status=failed
	SAMPLE_SERVER=0
	if [[ $status == ok ]] && ! api_extra "$base.log"; then status=failed; fi
	local points proto
	points=$(sed -n 's/^points=//p' "$base.log")
	if [[ -n $points ]]; then echo "server_points=$points" >>"$META"; fi
	proto=$(sed -n 's/^proto=//p' "$base.log")
	if [[ -n $proto ]]; then echo "server_api_proto=$proto" >>"$META"; fi
	local extra=$M_EXTRA
	record bunker-server "$step" "$status"
	record_server "$step" "$status"
	if [[ $status == ok ]]; then
		log "$(echo "$extra" | awk -F, '{ printf "  %s requests, %s errors, %s/s answered; p50 %s ms, p90 %s ms, p99 %s ms, max %s ms", $1, $2, $3, $4, $5, $6, $7 }')"
	fi
}

# run_server measures bunker through its vault server, on a fresh server:
# the same sequence as run_tool beside bunker's local one (with the server's
# CPU time and peak RSS), clients backing up into one vault at once, and
# the read API's latency under load.
run_server() {
	local tool=bunker-server
	purge "$DATA" "$RESTORE" "$SRV_STATE" "$SPLIT" "$WORK/repo-union" "$WORK/small"
	mkdir -p "$SRV_STATE" "$RESTORE" "$WORK/small"
	cp -a "$PRISTINE" "$DATA"
	SERVER_LOG=$LOGS/run$RUN-server.log
	printf 'a small tree, backed up again and again\n' >"$WORK/small/README"
	seq 1 1000 >"$WORK/small/numbers"
	if ! server_start >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 || ! server_setup >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
		log "$tool: starting the server or setting up its principals failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-setup.log" "$SERVER_LOG" | sed 's/^/    /' >&2
		FAILED=1
		local s
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
		for s in "${SERVER_STEPS[@]}"; do
			record "$tool" "$s" failed
			if [[ $s != union-local ]]; then record_server "$s" failed; fi
		done
		server_stop || true
		purge "$DATA" "$RESTORE" "$SRV" "$SRV_STATE" "$WORK/small"
		return
	fi

	local steps=(initial unchanged changed) i
	for i in 0 1 2; do
		local step=${steps[i]}
		if [[ $step == changed ]]; then
			"$CG" mutate -every 20 -seed 2 "$DATA" >"$LOGS/run$RUN-$tool-mutate.txt"
			cmp -s "$LOGS/run$RUN-$tool-mutate.txt" "$WORK/mutate.txt" || die "the change step was not deterministic"
		fi
		warm "$DATA"
		remote_cmd host backup --vault bench --quiet "$DATA"
		if ! server_measure "$step" "$BENCH_VAULT" "${CMD[@]}"; then
			for step in "${steps[@]:i+1}"; do
				record "$tool" "$step" skipped
				record_server "$step" skipped
			done
			break
		fi
	done

	warm "$BENCH_VAULT"
	SAMPLE_SERVER=1
	local status=ok
	remote_cmd restorer restore --vault bench latest --target "$RESTORE"
	if ! measure "$tool" restore "${CMD[@]}" || ! verify_restore "$tool"; then
		status=failed
	fi
	SAMPLE_SERVER=0
	record "$tool" restore "$status"
	record_server restore "$status"
	purge "$DATA" "$RESTORE"

	# Clients at once: each backs up the common part and a slice of its own.
	local union=$WORK/repo-union
	if "$CG" split -parts "$SERVER_CLIENTS" -common 25 "$PRISTINE" "$SPLIT" >"$LOGS/run$RUN-$tool-split.txt" 2>&1; then
		sed 's/^/fleet_/' "$LOGS/run$RUN-$tool-split.txt" >>"$META"
		warm "$SPLIT"
		server_measure parallel "$FLEET_VAULT" bash -c "$PARALLEL_SCRIPT" _ "$BUNKER" "$SERVER_URL" "$SERVER_FP" "$SPLIT" \
			"$SRV_STATE" "$LOGS/run$RUN-$tool-parallel" "$SERVER_CLIENTS" || true
		# What one local backup of all their data stores, for comparison.
		if as local init --vault "$union" >"$LOGS/run$RUN-$tool-union-init.log" 2>&1; then
			warm "$SPLIT"
			as_cmd local
			if measure "$tool" union-local "${CMD[@]}" backup --vault "$union" --quiet "$SPLIT"; then
				record "$tool" union-local ok "$union"
			else
				record "$tool" union-local failed
			fi
		else
			record "$tool" union-local failed
		fi
	else
		log "$tool: splitting the corpus for the parallel step failed:"
		sed 's/^/    /' "$LOGS/run$RUN-$tool-split.txt" >&2
		FAILED=1
		record "$tool" parallel failed
		record_server parallel failed
		record "$tool" union-local failed
	fi
	purge "$union" "$SPLIT"

	# Fill the vault with points, then load its read API.
	server_measure small "" bash -c "$SMALL_SCRIPT" _ "$BUNKER" "$SERVER_URL" "$SERVER_FP" "$SRV_STATE/host/token" \
		"$WORK/small" "$SERVER_SMALL" || true
	server_api api-points /v1/vaults/bench/points
	server_api api-vault /v1/vaults/bench

	if ! server_stop; then
		log "the server did not stop cleanly; see $SERVER_LOG"
		FAILED=1
	fi
	purge "$SRV" "$SRV_STATE" "$WORK/small"
}

# minio_start runs MinIO on a free loopback port with a fresh data
# directory, and creates the bucket with Object Lock once it answers; it
# sets MINIO_PID and MINIO_ENDPOINT. A port taken between choosing and
# binding it is retried with another.
minio_start() {
	purge "$S3_DIR"
	mkdir -p "$S3_DIR/data"
	local try port
	for try in 1 2 3; do
		port=$("$S3TOOL" port) || return 1
		MINIO_ENDPOINT=127.0.0.1:$port
		env MINIO_ROOT_USER="$S3_USER" MINIO_ROOT_PASSWORD="$S3_SECRET" MINIO_BROWSER=off MINIO_UPDATE=off \
			MINIO_CALLHOME_ENABLE=off HOME="$S3_DIR" \
			"$MINIO_BIN" server --quiet --address "$MINIO_ENDPOINT" --certs-dir "$S3_DIR/certs" "$S3_DIR/data" \
			>>"$LOGS/run$RUN-minio.log" 2>&1 &
		MINIO_PID=$!
		if S3_ACCESS_KEY=$S3_USER S3_SECRET_KEY=$S3_SECRET "$S3TOOL" bucket -endpoint "$MINIO_ENDPOINT" \
			-bucket "$S3_BUCKET" -pid "$MINIO_PID"; then
			return 0
		fi
		minio_stop
		echo "minio: attempt $try on $MINIO_ENDPOINT failed; see $LOGS/run$RUN-minio.log"
	done
	return 1
}

# minio_stop ends MinIO with SIGTERM (SIGKILL after 15 s).
minio_stop() {
	[[ -n $MINIO_PID ]] || return 0
	local pid=$MINIO_PID i
	MINIO_PID=""
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "MinIO did not stop within 15 s of SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# s3_setup makes the principals of the S3 part, as server_setup does for
# the server part but with one vault, bench, created on the MinIO target
# with a compliance lock; it sets S3_VAULT_PREFIX, the vault's prefix in
# the bucket.
s3_setup() {
	local pw=$SRV_STATE/vadmin.pw who
	as admin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user admin --password-file "$ADMIN_PW" || return 1
	echo "$PASS-vault-admin" >"$pw"
	as admin user create vadmin --password-file "$pw" || return 1
	as admin role bind vadmin vault-admin || return 1
	as admin user create host --service || return 1
	as admin role bind host backup-operator --vault bench || return 1
	as admin user create restorer --service || return 1
	as admin role bind restorer restore-operator --vault bench || return 1
	as vadmin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user vadmin --password-file "$pw" || return 1
	as vadmin vault create bench --storage minio "${S3_VAULT_FLAGS[@]}" --json | tee "$SRV/vault.json" || return 1
	grep -q '"storage_retention":true' "$SRV/vault.json" || {
		echo "the vault on MinIO does not have its retention enforced by the storage"
		return 1
	}
	for who in host restorer; do
		mkdir -p "$SRV_STATE/$who"
		as admin token create --principal "$who" --vault bench --json | json_field token >"$SRV_STATE/$who/token" || return 1
		[[ -s $SRV_STATE/$who/token ]] || return 1
	done
	local loc
	loc=$(as vadmin vault show bench --json | json_field location) || return 1
	[[ $loc == minio:* ]] || return 1
	S3_VAULT_PREFIX=${loc#minio:}
}

# s3_requests FILE saves the server's storage request counters for the
# vault bench (op=N lines, then retention_extensions=N).
s3_requests() {
	"$S3TOOL" metrics -url "$SERVER_URL" -fingerprint "$SERVER_FP" -vault bench >"$1"
}

# s3_delta BEFORE AFTER prints the requests between two s3_requests
# snapshots as the CSV's two S3 fields: "op=N op=N ...,EXTENSIONS". A
# counter that went down (the vault's storage was reopened) counts from 0.
s3_delta() {
	awk -F= 'NR == FNR { b[$1] = $2; next }
		{ d = $2 - b[$1]; if (d < 0) d = $2 }
		$1 == "retention_extensions" { ext = d; next }
		d > 0 { out = out sep $1 "=" d; sep = " " }
		END { print out "," ext }' "$1" "$2"
}

# s3_measure STEP CMD... measures a step of the S3 part with the server
# and MinIO sampled and the storage requests counted, and records the
# client's, the server's and MinIO's rows. After a backup (any step but
# restore) the stored size is what the vault's prefix holds in the bucket;
# a restore is checked against the changed corpus.
s3_measure() {
	local step=$1 status=ok base=$LOGS/run$RUN-bunker-s3-$1
	shift
	s3_requests "$base.before" 2>>"$base.s3.log" || status=failed
	SAMPLE_SERVER=1
	measure bunker-s3 "$step" "$@" || status=failed
	SAMPLE_SERVER=0
	if [[ $status == ok && $step == restore ]] && ! verify_restore bunker-s3; then status=failed; fi
	if [[ $status == ok ]] && ! s3_requests "$base.after" 2>>"$base.s3.log"; then status=failed; fi
	if [[ $status == ok ]]; then M_S3=$(s3_delta "$base.before" "$base.after"); fi
	if [[ $status == ok && $step != restore ]]; then
		M_STORED=$(S3_ACCESS_KEY=$S3_USER S3_SECRET_KEY=$S3_SECRET "$S3TOOL" du -endpoint "$MINIO_ENDPOINT" \
			-bucket "$S3_BUCKET" -prefix "$S3_VAULT_PREFIX" 2>>"$base.s3.log") || status=failed
	fi
	if [[ $status != ok && -s $base.s3.log ]]; then cat "$base.s3.log" >>"$base.log"; fi
	local s3=$M_S3
	record bunker-s3 "$step" "$status"
	record_proc s3-server "$step" "$status" "$S_OK" "$S_USER" "$S_SYS" "$S_RSS"
	record_proc minio "$step" "$status" "$N_OK" "$N_USER" "$N_SYS" "$N_RSS"
	if [[ $status == ok ]]; then
		log "$(echo "$s3" | awk -F, '{ n = split($1, ops, " "); t = 0
			for (i = 1; i <= n; i++) { split(ops[i], kv, "="); t += kv[2] }
			printf "  %d storage requests (%s), %d retention extensions", t, $1, $2 }')"
	fi
	[[ $status == ok ]]
}

# S3_STEPS are the steps of the S3 part, in order.
S3_STEPS=(initial unchanged changed restore)

# run_s3 measures bunker through its vault server with the vault on MinIO
# (S3 Object Lock, compliance), on a fresh MinIO and a fresh server: the
# backups and the restore of the server part, with the storage's requests.
run_s3() {
	local tool=bunker-s3 s
	local srv=$SRV srv_state=$SRV_STATE
	SRV=$WORK/server-s3 SRV_STATE=$WORK/state-bunker-s3 SERVER_LOG=$LOGS/run$RUN-s3-server.log
	purge "$DATA" "$RESTORE" "$SRV_STATE"
	mkdir -p "$SRV_STATE" "$RESTORE"
	cp -a "$PRISTINE" "$DATA"
	local creds=$SRV_STATE/s3-credentials
	(
		umask 077
		printf 'access_key_id = %s\nsecret_access_key = %s\n' "$S3_USER" "$S3_SECRET" >"$creds"
	)
	local target="minio=s3://$S3_BUCKET/$S3_PREFIX?endpoint=MINIO&tls=off&lookup=path&credentials=$creds"
	if ! minio_start >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 ||
		! server_start --s3 "${target/MINIO/$MINIO_ENDPOINT}" >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 ||
		! s3_setup >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
		log "$tool: starting MinIO or the server, or creating the vault on MinIO, failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-setup.log" "$SERVER_LOG" "$LOGS/run$RUN-minio.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		FAILED=1
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
		for s in "${S3_STEPS[@]}"; do
			record "$tool" "$s" failed
			record_proc s3-server "$s" failed 0 "" "" ""
			record_proc minio "$s" failed 0 "" "" ""
		done
		server_stop || true
		minio_stop
		purge "$DATA" "$RESTORE" "$SRV" "$SRV_STATE" "$S3_DIR"
		SRV=$srv SRV_STATE=$srv_state
		return
	fi

	local i step backed=1
	for i in 0 1 2; do
		step=${S3_STEPS[i]}
		if [[ $step == changed ]]; then
			"$CG" mutate -every 20 -seed 2 "$DATA" >"$LOGS/run$RUN-$tool-mutate.txt"
			cmp -s "$LOGS/run$RUN-$tool-mutate.txt" "$WORK/mutate.txt" || die "the change step was not deterministic"
		fi
		warm "$DATA"
		remote_cmd host backup --vault bench --quiet "$DATA"
		if ! s3_measure "$step" "${CMD[@]}"; then
			backed=0
			for step in "${S3_STEPS[@]:i+1}"; do
				record "$tool" "$step" skipped
				record_proc s3-server "$step" skipped 0 "" "" ""
				record_proc minio "$step" skipped 0 "" "" ""
			done
			break
		fi
	done
	if ((backed)); then
		warm "$S3_DIR/data"
		remote_cmd restorer restore --vault bench latest --target "$RESTORE"
		s3_measure restore "${CMD[@]}" || true
	fi

	if ! server_stop; then
		log "the server (S3 part) did not stop cleanly; see $SERVER_LOG"
		FAILED=1
	fi
	minio_stop
	purge "$DATA" "$RESTORE" "$SRV" "$SRV_STATE" "$S3_DIR"
	SRV=$srv SRV_STATE=$srv_state
}

# The copy part: two servers on loopback, A the workload site and B the
# central one that pulls from it. Each keeps its state under its own
# directories; COPY_* hold what server_start set for each.
COPY_STEPS=(backup pull changed pull-changed local-copy local-copy-changed)
COPY_A_PID="" COPY_B_PID=""
SCHED_BG=""

# copy_use A|B makes server A or B the one that as, remote_cmd, measure
# and server_stop act on.
copy_use() {
	SRV=$WORK/server-copy-${1,,} SRV_STATE=$WORK/state-copy-${1,,} SERVER_LOG=$LOGS/run$RUN-copy-${1,,}-server.log
	local v
	for v in PID URL FP ADMIN_PW; do
		local src=COPY_${1}_$v dst=SERVER_$v
		[[ $v == ADMIN_PW ]] && dst=ADMIN_PW
		printf -v "$dst" '%s' "${!src:-}"
	done
}

# copy_keep A|B notes what server_start set as server A's or B's.
copy_keep() {
	local v
	for v in PID URL FP ADMIN_PW; do
		local src=SERVER_$v
		[[ $v == ADMIN_PW ]] && src=ADMIN_PW
		printf -v "COPY_${1}_$v" '%s' "${!src}"
	done
}

# copy_stop stops both servers of the copy part; it fails unless both
# exited cleanly.
copy_stop() {
	[[ -n $COPY_A_PID$COPY_B_PID ]] || return 0
	local rc=0 s
	for s in A B; do
		copy_use "$s"
		server_stop || rc=1
		printf -v "COPY_${s}_PID" '%s' ""
	done
	SERVER_PID=""
	return "$rc"
}

# copy_setup_a makes server A's principals: host backs up into bench,
# puller (restore-operator on bench and nothing else) is the replication
# account B pulls with, and copier may copy bench's points into the
# second vault bench-copy on the same server.
copy_setup_a() {
	local pw=$SRV_STATE/vadmin.pw who
	as admin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user admin --password-file "$ADMIN_PW" || return 1
	echo "$PASS-vault-admin" >"$pw"
	as admin user create vadmin --password-file "$pw" || return 1
	as admin role bind vadmin vault-admin || return 1
	as admin user create host --service || return 1
	as admin role bind host backup-operator --vault bench || return 1
	as admin user create puller --service || return 1
	as admin role bind puller restore-operator --vault bench || return 1
	as admin user create copier --service || return 1
	as admin role bind copier restore-operator --vault bench || return 1
	as admin role bind copier backup-operator --vault bench-copy || return 1
	as vadmin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user vadmin --password-file "$pw" || return 1
	as vadmin vault create bench --retention 30d || return 1
	as vadmin vault create bench-copy --retention 30d || return 1
	for who in host puller copier; do
		mkdir -p "$SRV_STATE/$who"
		as admin token create --principal "$who" --json | json_field token >"$SRV_STATE/$who/token" || return 1
		[[ -s $SRV_STATE/$who/token ]] || return 1
	done
	COPY_A_VAULT=$SRV/data/$(as vadmin vault show bench --json | json_field location) || return 1
	COPY_A_COPY_VAULT=$SRV/data/$(as vadmin vault show bench-copy --json | json_field location) || return 1
	[[ -d $COPY_A_VAULT && -d $COPY_A_COPY_VAULT ]]
}

# copy_setup_b makes server B's vault central and registers A as the
# remote site-a with puller's token, following nothing: the harness pulls.
copy_setup_b() {
	local pw=$SRV_STATE/vadmin.pw
	as admin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user admin --password-file "$ADMIN_PW" || return 1
	echo "$PASS-vault-admin" >"$pw"
	as admin user create vadmin --password-file "$pw" || return 1
	as admin role bind vadmin vault-admin || return 1
	as vadmin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user vadmin --password-file "$pw" || return 1
	as vadmin vault create central --retention 30d || return 1
	as vadmin remote add site-a --url "$COPY_A_URL" --fingerprint "$COPY_A_FP" \
		--token-file "$WORK/state-copy-a/puller/token" || return 1
	COPY_B_VAULT=$SRV/data/$(as vadmin vault show central --json | json_field location) || return 1
	[[ -d $COPY_B_VAULT ]]
}

# proc_wchar PID prints the bytes a process has written so far, to files
# and sockets alike (wchar of /proc/PID/io).
proc_wchar() {
	sed -n 's/^wchar: //p' "/proc/$1/io"
}

# copy_measure STEP STORED CMD... measures a step of the copy part with
# both servers sampled, and records the client's row and one row for each
# server (copy-a, copy-b); STORED is the directory whose size is the
# step's stored size. The bytes server A wrote meanwhile (its answers to B
# among them) go into the meta file as copy_STEP_a_wchar_runN.
copy_measure() {
	local step=$1 stored=$2 status=ok a0 b0 w0 w1
	shift 2
	a0=$(proc_begin "$COPY_A_PID") b0=$(proc_begin "$COPY_B_PID")
	w0=$(proc_wchar "$COPY_A_PID") || status=failed
	measure bunker-copy "$step" "$@" || status=failed
	w1=$(proc_wchar "$COPY_A_PID") || status=failed
	proc_end "$COPY_A_PID" "$a0"
	local a_ok=$P_OK a_user=$P_USER a_sys=$P_SYS a_rss=$P_RSS
	proc_end "$COPY_B_PID" "$b0"
	if [[ $status == ok ]]; then echo "copy_${step}_a_wchar_run$RUN=$((w1 - w0))" >>"$META"; fi
	record bunker-copy "$step" "$status" "$stored"
	record_proc copy-a "$step" "$status" "$a_ok" "$a_user" "$a_sys" "$a_rss"
	record_proc copy-b "$step" "$status" "$P_OK" "$P_USER" "$P_SYS" "$P_RSS"
	[[ $status == ok ]]
}

# copy_figures STEP copies what a copy's JSON report (the step's log) says
# it read and stored (its "stats", and its own duration, the report's last
# field: the copied point's summary has the original backup's) into the
# meta file as copy_STEP_FIELD_runN, and prints the original point's id.
copy_figures() {
	local log=$LOGS/run$RUN-bunker-copy-$1.log field value stats
	grep -q '"existing":false' "$log" || return 1
	stats=$(grep -o '"stats":{[^}]*}' "$log" | tail -n 1)
	for field in trees_read trees_skipped blobs_read blobs_known blobs_new bytes_read bytes_new; do
		value=$(grep -o "\"$field\":[0-9]*" <<<"$stats" | cut -d: -f2)
		[[ -n $value ]] || return 1
		echo "copy_$1_${field}_run$RUN=$value" >>"$META"
	done
	value=$(grep -o '"duration_seconds":[0-9.]*' "$log" | tail -n 1 | cut -d: -f2)
	[[ -n $value ]] || return 1
	echo "copy_$1_duration_seconds_run$RUN=$value" >>"$META"
	grep -o '"from_point":"[0-9a-f]*"' "$log" | head -n 1 | cut -d'"' -f4
}

# run_copy measures copies: a server-mode backup of the corpus into server
# A, B pulling that point (`bunker remote pull`), the same after the change
# step, and copies of both points between two vaults of A
# (`bunker point copy`).
run_copy() {
	local tool=bunker-copy s
	local srv=$SRV srv_state=$SRV_STATE
	purge "$DATA" "$WORK/state-copy-a" "$WORK/state-copy-b"
	mkdir -p "$WORK/state-copy-a" "$WORK/state-copy-b"
	cp -a "$PRISTINE" "$DATA"
	copy_use A
	local ok=1
	if server_start >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
		copy_keep A
		copy_setup_a >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 || ok=0
	else
		ok=0
		copy_keep A
	fi
	if ((ok)); then
		copy_use B
		if server_start --pull-every 0 >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
			copy_keep B
			copy_setup_b >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 || ok=0
		else
			ok=0
			copy_keep B
		fi
	fi
	if ((!ok)); then
		log "$tool: starting the two servers or setting them up failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-setup.log" "$LOGS/run$RUN-copy-a-server.log" "$LOGS/run$RUN-copy-b-server.log" 2>/dev/null |
			sed 's/^/    /' >&2 || true
		FAILED=1
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
		for s in "${COPY_STEPS[@]}"; do
			record "$tool" "$s" failed
			record_proc copy-a "$s" failed 0 "" "" ""
			record_proc copy-b "$s" failed 0 "" "" ""
		done
		copy_stop || true
		purge "$DATA" "$WORK"/server-copy-? "$WORK"/state-copy-?
		SRV=$srv SRV_STATE=$srv_state
		return
	fi

	local points=() i step pull reached=0
	for i in 0 2; do
		step=${COPY_STEPS[i]} pull=${COPY_STEPS[i + 1]}
		if [[ $step == changed ]]; then
			"$CG" mutate -every 20 -seed 2 "$DATA" >"$LOGS/run$RUN-$tool-mutate.txt"
			cmp -s "$LOGS/run$RUN-$tool-mutate.txt" "$WORK/mutate.txt" || die "the change step was not deterministic"
			# What the changed files hold after the change.
			echo "copy_changed_file_bytes_run$RUN=$(cd "$DATA" && xargs -0 stat -c %s <"$CHANGED_LIST" | awk '{ s += $1 } END { print s + 0 }')" >>"$META"
		fi
		# A server-mode backup into A, then B pulls the new point.
		warm "$DATA"
		copy_use A
		remote_cmd host backup --vault bench --quiet "$DATA"
		copy_measure "$step" "$COPY_A_VAULT" "${CMD[@]}" || break
		warm "$COPY_A_VAULT"
		copy_use B
		as_cmd vadmin
		if ! copy_measure "$pull" "$COPY_B_VAULT" "${CMD[@]}" remote pull site-a --from bench latest --to central --json; then
			break
		fi
		points+=("$(copy_figures "$pull")") || true
		[[ -n ${points[-1]} ]] || {
			log "$tool: $pull printed no copy report; see $LOGS/run$RUN-$tool-$pull.log"
			FAILED=1
			break
		}
		# The bytes the copy's job on B recorded (GET /v1/jobs/ID).
		local job bytes
		job=$(grep -o '"job":[0-9]*' "$LOGS/run$RUN-$tool-$pull.log" | head -n 1 | cut -d: -f2) || true
		bytes=$(as vadmin jobs show "$job" --json 2>>"$LOGS/run$RUN-$tool-$pull.log" | grep -o '"bytes":[0-9]*' | head -n 1 | cut -d: -f2) || true
		if [[ -n $bytes ]]; then echo "copy_${pull}_job_bytes_run$RUN=$bytes" >>"$META"; fi
		reached=$((i + 2))
	done
	# Copies of both points into the second vault of A.
	if ((reached == 4)); then
		copy_use A
		for i in 0 1; do
			step=${COPY_STEPS[i + 4]}
			warm "$COPY_A_VAULT"
			as_cmd copier
			CMD=("${CMD[@]:0:${#CMD[@]}-1}" BUNKER_TOKEN="$(<"$SRV_STATE/copier/token")" "$BUNKER" point copy
				--server "$SERVER_URL" --fingerprint "$SERVER_FP" --vault bench "${points[i]}" --to bench-copy --json)
			copy_measure "$step" "$COPY_A_COPY_VAULT" "${CMD[@]}" || break
			copy_figures "$step" >/dev/null || {
				log "$tool: $step printed no copy report; see $LOGS/run$RUN-$tool-$step.log"
				FAILED=1
				break
			}
			reached=$((i + 5))
		done
	fi
	for step in "${COPY_STEPS[@]:reached}"; do
		if ! grep -q "^$RUN,$tool,$step," "$RESULTS"; then
			record "$tool" "$step" skipped
			record_proc copy-a "$step" skipped 0 "" "" ""
			record_proc copy-b "$step" skipped 0 "" "" ""
		fi
	done

	if ! copy_stop; then
		log "a server of the copy part did not stop cleanly; see $LOGS/run$RUN-copy-?-server.log"
		FAILED=1
	fi
	purge "$DATA" "$WORK"/server-copy-? "$WORK"/state-copy-?
	SRV=$srv SRV_STATE=$srv_state
}

# sched_setup makes the scheduler part's vault sched and leaves two tokens
# in SRV_STATE: vadmin's, to apply the plans, and admin's, to read the
# event stream.
sched_setup() {
	local pw=$SRV_STATE/vadmin.pw
	as admin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user admin --password-file "$ADMIN_PW" || return 1
	echo "$PASS-vault-admin" >"$pw"
	as admin user create vadmin --password-file "$pw" || return 1
	as admin role bind vadmin vault-admin || return 1
	as vadmin login --server "$SERVER_URL" --fingerprint "$SERVER_FP" --user vadmin --password-file "$pw" || return 1
	as vadmin vault create sched --retention 30d || return 1
	as admin token create --principal vadmin --json | json_field token >"$SRV_STATE/vadmin.token" || return 1
	as admin token create --json | json_field token >"$SRV_STATE/admin.token" || return 1
	[[ -s $SRV_STATE/vadmin.token && -s $SRV_STATE/admin.token ]]
}

# run_sched measures the scheduler: bench/schedbench applies SCHED_PLANS
# plans all due at the next minute to a fresh server, and measures how
# late each is fired and recorded. Its figures go into the meta file as
# sched_FIELD_runN.
run_sched() {
	local tool=bunker-sched step=plans status=ok
	local srv=$SRV srv_state=$SRV_STATE
	SRV=$WORK/server-sched SRV_STATE=$WORK/state-sched SERVER_LOG=$LOGS/run$RUN-sched-server.log
	purge "$SRV_STATE"
	mkdir -p "$SRV_STATE"
	if ! server_start >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 || ! sched_setup >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
		log "$tool: starting the server or setting it up failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-setup.log" "$SERVER_LOG" 2>/dev/null | sed 's/^/    /' >&2 || true
		FAILED=1
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
		record "$tool" "$step" failed
		record_proc sched-server "$step" failed 0 "" "" ""
		server_stop || true
		purge "$SRV" "$SRV_STATE"
		SRV=$srv SRV_STATE=$srv_state
		return
	fi
	SAMPLE_SERVER=1
	measure "$tool" "$step" "$SCHEDBENCH" -url "$SERVER_URL" -fingerprint "$SERVER_FP" -vault sched \
		-apply-token-file "$SRV_STATE/vadmin.token" -events-token-file "$SRV_STATE/admin.token" \
		-plans "$SCHED_PLANS" -min-lead "$SCHED_LEAD" || status=failed
	SAMPLE_SERVER=0
	local log=$LOGS/run$RUN-$tool-$step.log k v
	if [[ $status == ok ]]; then
		while IFS== read -r k v; do
			[[ $k =~ ^[a-z0-9_]+$ && $v =~ ^[0-9.]+$ ]] && echo "sched_${k}_run$RUN=$v" >>"$META"
		done <"$log"
	fi
	record "$tool" "$step" "$status"
	record_proc sched-server "$step" "$status" "$S_OK" "$S_USER" "$S_SYS" "$S_RSS"
	if [[ $status == ok ]]; then
		log "$(awk -F= '{ f[$1] = $2 } END { printf "  %d plans applied in %.2f s; recorded late by p50 %s ms, p99 %s ms, max %s ms (fired: p50 %s ms, max %s ms)",
			f["plans"], f["apply_s"], f["recorded_p50_ms"], f["recorded_p99_ms"], f["recorded_max_ms"], f["fired_p50_ms"], f["fired_max_ms"] }' "$log")"
	fi
	if ! server_stop; then
		log "the server (scheduler part) did not stop cleanly; see $SERVER_LOG"
		FAILED=1
	fi
	purge "$SRV" "$SRV_STATE"
	SRV=$srv SRV_STATE=$srv_state
}

# sched_background starts the scheduler part in the background: in a smoke
# run, whose figures mean nothing, it waits for the next minute beside the
# other parts rather than after them. sched_wait waits for it to end.
sched_background() {
	(
		trap 'server_stop || true' EXIT
		trap 'exit 130' INT TERM
		run_sched
		exit "$FAILED"
	) &
	SCHED_BG=$!
}

sched_wait() {
	[[ -n $SCHED_BG ]] || return 0
	wait "$SCHED_BG" || FAILED=1
	SCHED_BG=""
}

# machine_limits times reading, stat-ing and copying the corpus.
machine_limits() {
	warm "$PRISTINE"
	# shellcheck disable=SC2016 # $1 expands in the inner shell
	if measure machine read bash -c 'tar -C "$1" -cf - corpus | cat >/dev/null' _ "$WORK"; then
		record machine read ok
	else record machine read failed; fi
	warm "$PRISTINE"
	# shellcheck disable=SC2016
	if measure machine stat bash -c 'find "$1" -printf "%s\n" >/dev/null' _ "$PRISTINE"; then
		record machine stat ok
	else record machine stat failed; fi
	purge "$WORK/copy"
	warm "$PRISTINE"
	if measure machine copy cp -a "$PRISTINE" "$WORK/copy"; then
		record machine copy ok
	else record machine copy failed; fi
	purge "$WORK/copy"
}

version_of() {
	case $1 in
	bunker)
		local rev dirty=""
		rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null) || rev="no commit"
		if [[ -n $(git -C "$REPO_ROOT" --no-optional-locks status --porcelain 2>/dev/null) ]]; then
			dirty=" with uncommitted changes"
		fi
		echo "bunker at $rev$dirty"
		;;
	restic) restic version | head -n 1 ;;
	borg) borg --version ;;
	esac
}

settings_of() {
	case $1 in
	bunker) echo "defaults: chunking, compression and encryption as shipped" ;;
	restic) echo "defaults: repository format 2, compression auto" ;;
	borg) echo "defaults: compression lz4 (borg 1.2's default), chunker buzhash 19,23,21,4095; encryption repokey-blake2" ;;
	esac
}

write_meta() {
	local cmd="bench/run.sh" v
	for v in BENCH_WORK BENCH_SIZE_MB BENCH_RUNS BENCH_OUT; do
		if [[ -n ${!v:-} ]]; then cmd="$v=${!v} $cmd"; fi
	done
	if ((${#ORIG_ARGS[@]})); then cmd+=" ${ORIG_ARGS[*]}"; fi
	{
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "command=$cmd"
		echo "smoke=$SMOKE"
		echo "runs=$RUNS"
		echo "tools=${TOOLS[*]}"
		echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
		echo "cores=$(nproc)"
		echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
		echo "kernel=$(uname -sr)"
		# shellcheck disable=SC1091
		echo "os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
		echo "workdir=$WORK"
		echo "workdir_fs=$(findmnt -rno FSTYPE,SOURCE -T "$WORK" 2>/dev/null || df --output=fstype "$WORK" | tail -n 1)"
		echo "go_version=$(go version)"
		echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "csv=$(basename "$CSV_OUT")"
		echo "server_clients=$SERVER_CLIENTS"
		echo "server_small=$SERVER_SMALL"
		echo "server_api_rate=$SERVER_API_RATE"
		echo "server_api_seconds=$SERVER_API_SECONDS"
		if has_tool bunker-sched; then
			echo "sched_plans=$SCHED_PLANS"
			echo "sched_lead=$SCHED_LEAD"
		fi
		if has_tool bunker-s3; then
			# scripts/minio.sh notes the pinned version beside the binary,
			# whose own --version says only that it was built with go install.
			if [[ -s $MINIO_BIN.version ]]; then
				echo "s3_minio_version=github.com/minio/minio@$(<"$MINIO_BIN.version")"
			else
				echo "s3_minio_version=$({ "$MINIO_BIN" --version 2>/dev/null || true; } | head -n 1)"
			fi
			echo "s3_vault=bucket $S3_BUCKET with Object Lock; the vault created with \`--storage minio ${S3_VAULT_FLAGS[*]}\`"
			echo "s3_retention_slack=168h (the default of \`bunker server --retention-slack\`)"
		fi
		for v in bunker restic borg; do
			if has_tool "$v"; then
				echo "${v}_version=$(version_of "$v")"
				echo "${v}_settings=$(settings_of "$v")"
			else
				echo "${v}_version=not measured"
			fi
		done
	} >"$META"
}

# write_report renders the Markdown report and puts the CSV beside it.
write_report() {
	mkdir -p "$(dirname "$OUT")"
	cp "$RESULTS" "$CSV_OUT"
	"$WORK/bin/report" -results "$RESULTS" -meta "$META" -out "$OUT"
}

report_only() {
	[[ -f $RESULTS && -f $META ]] || die "no results of an earlier run in $WORK"
	mkdir -p "$WORK/bin"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$WORK/bin/report" ./bench/report)
	write_report
	log "wrote $OUT and $CSV_OUT from the results in $WORK"
}

main() {
	if ((REPORT_ONLY)); then
		report_only
		return
	fi
	install_missing
	find_minio
	build
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	write_meta
	echo "run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status,requests,errors,rate_per_s,p50_ms,p90_ms,p99_ms,max_ms,storage_requests,retention_extensions" >"$RESULTS"
	make_corpus
	log "corpus: $(grep -E '^corpus_(files|bytes)=' "$META" | tr '\n' ' ')"
	for ((RUN = 1; RUN <= RUNS; RUN++)); do
		machine_limits
		if ((SMOKE)) && has_tool bunker-sched; then sched_background; fi
		for t in "${TOOLS[@]}"; do
			case $t in
			bunker-server) run_server ;;
			bunker-s3) run_s3 ;;
			bunker-copy) run_copy ;;
			bunker-sched) if ((!SMOKE)); then run_sched; fi ;;
			*) run_tool "$t" ;;
			esac
		done
		sched_wait
	done

	local secs=$SECONDS
	echo "duration=$((secs / 60)) min $((secs % 60)) s" >>"$META"
	echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$META"
	write_report
	log "wrote $OUT and $CSV_OUT in $((secs / 60)) min $((secs % 60)) s (logs in $LOGS)"
	if ((FAILED)); then
		die "some steps failed; see above and $LOGS"
	fi
}

# A server or MinIO still running when the harness ends (an error, ^C) is
# stopped.
trap 'server_stop || true; copy_stop || true; minio_stop; if [[ -n $SCHED_BG ]]; then kill "$SCHED_BG" 2>/dev/null || true; fi' EXIT
trap 'exit 130' INT TERM
main "$@"
exit
