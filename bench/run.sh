#!/usr/bin/env bash
# Compares bunker with restic and borg on this machine, measures bunker's
# vault server beside its local mode, and writes docs/BENCHMARKS.md and
# docs/benchmarks.csv. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [--tools bunker,restic,borg,bunker-server] [--smoke | --report-only]

  --tools LIST  comma-separated tools to measure (default: bunker,restic,borg,bunker-server;
                bunker-server is bunker through its vault server)
  --smoke       ~20 MiB corpus, one run, report written to a temporary file
  --report-only write the report again from the results of the last run in BENCH_WORK

Environment:
  BENCH_WORK     work directory (default /tmp/bunker-bench, /tmp/bunker-bench-smoke with --smoke)
  BENCH_SIZE_MB  corpus size in MiB (default 700, 20 with --smoke)
  BENCH_RUNS     runs of the whole sequence; medians are reported (default 3, 1 with --smoke)
  BENCH_OUT      report path, relative to the repository root (default docs/BENCHMARKS.md);
                 the raw CSV goes beside it as benchmarks.csv
EOF
}

die() {
	echo "bench: $*" >&2
	exit 1
}

log() { echo "bench: $*" >&2; }

ORIG_ARGS=("$@")
TOOLS_ARG=bunker,restic,borg,bunker-server
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
ALL_TOOLS=(bunker restic borg bunker-server)
for t in "${ALL_TOOLS[@]}"; do
	[[ ",$TOOLS_ARG," == *",$t,"* ]] && TOOLS+=("$t")
done
for t in ${TOOLS_ARG//,/ }; do
	[[ " ${ALL_TOOLS[*]} " == *" $t "* ]] || die "unknown tool in --tools: $t (want bunker, restic, borg or bunker-server)"
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
else
	WORK=${BENCH_WORK:-/tmp/bunker-bench}
	SIZE_MB=${BENCH_SIZE_MB:-700}
	RUNS=${BENCH_RUNS:-3}
	OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
	SERVER_SMALL=100
	SERVER_API_SECONDS=15
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
TABLE_NAME=bench-table.csv
FAILED=0
M_WALL="" M_USER="" M_SYS="" M_RSS=""
SAMPLE_SERVER=0
SERVER_PID=""
CLK_TCK=$(getconf CLK_TCK)
# The extra CSV fields of a row: the read API's figures, empty for others.
M_EXTRA=",,,,,,"

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

build() {
	mkdir -p "$WORK/bin"
	local bunker=0
	if has_tool bunker || has_tool bunker-server; then bunker=1; fi
	log "building the harness helpers$( ((bunker)) && echo ' and bunker')"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$CG" ./bench/corpusgen &&
		CGO_ENABLED=0 go build -o "$WORK/bin/report" ./bench/report)
	if has_tool bunker-server; then
		(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$LOADGEN" ./bench/loadgen)
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
	rm -rf "$PRISTINE"
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
	rm -rf "$DATA"
	cp -a "$PRISTINE" "$DATA"
	"$CG" mutate -every 20 -seed 2 "$DATA" >"$WORK/mutate.txt"
	cat "$WORK/mutate.txt" >>"$META"
	CHANGED_DIGEST=$(digest_field "$DATA" digest)
	rm -rf "$DATA"
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
		M_WALL="" M_USER="" M_SYS="" M_RSS="" M_EXTRA=",,,,,,"
	elif [[ -n $repo && $status == ok ]]; then
		stored=$(du -sb "$repo" | cut -f1)
	fi
	echo "$RUN,$tool,$step,$M_WALL,$M_USER,$M_SYS,$M_RSS,$stored,$status,$M_EXTRA" >>"$RESULTS"
	M_EXTRA=",,,,,,"
	if [[ $status == skipped ]]; then
		return 0
	fi
	local msg
	msg=$(awk -v r="$RUN/$RUNS" -v t="$tool" -v s="$step" -v w="$M_WALL" -v u="$M_USER" -v y="$M_SYS" \
		-v m="$M_RSS" -v st="$stored" 'BEGIN {
			printf "run %s %-13s %-10s %7.2f s wall %7.2f s cpu %6.0f MiB rss", r, t, s, w, u + y, m / 1024
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
	rm -rf "$DATA" "$repo" "$RESTORE" "$WORK/state-$tool"
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
	rm -rf "$DATA" "$repo" "$RESTORE" "$WORK/state-$tool"
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

# server_start runs `bunker server` on a fresh data directory and key file,
# on a free loopback port, and sets SERVER_PID, SERVER_URL, SERVER_FP and
# ADMIN_PW from the line it prints when it listens.
server_start() {
	rm -rf "$SRV"
	mkdir -p "$SRV" "$SRV_STATE/server"
	local out=$SRV/listening.json i
	env HOME="$SRV_STATE/server" XDG_CONFIG_HOME="$SRV_STATE/server/config" XDG_DATA_HOME="$SRV_STATE/server/data" \
		"$BUNKER" server --json --listen 127.0.0.1:0 --data "$SRV/data" --key-file "$SRV/server.key" \
		>"$out" 2>"$LOGS/run$RUN-server.log" &
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
	if grep -q panic "$LOGS/run$RUN-server.log" 2>/dev/null; then rc=1; fi
	return "$rc"
}

# server_ticks prints the server's user and system CPU time so far, in
# clock ticks (fields 14 and 15 of /proc/PID/stat, counted after the
# parenthesised command name, which may hold spaces).
server_ticks() {
	local stat
	stat=$(<"/proc/$SERVER_PID/stat") || return 1
	stat=${stat##*) }
	local f
	read -r -a f <<<"$stat"
	echo "${f[11]} ${f[12]}"
}

# server_begin notes the server's CPU time and resets its peak RSS (VmHWM)
# to its current RSS, so that server_end sees this step's peak.
server_begin() {
	S_T0=$(server_ticks 2>/dev/null) || S_T0=""
	echo 5 2>/dev/null >"/proc/$SERVER_PID/clear_refs" || true
}

# server_end sets S_USER and S_SYS (seconds of CPU time since server_begin)
# and S_RSS (peak RSS in kB since then), or S_OK=0 if the server is gone.
server_end() {
	local t1
	S_OK=0 S_USER="" S_SYS="" S_RSS=""
	t1=$(server_ticks 2>/dev/null) || return 0
	[[ -n $S_T0 ]] || return 0
	S_RSS=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status" 2>/dev/null) || return 0
	read -r S_USER S_SYS < <(awk -v a="$S_T0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {
		split(a, x, " "); split(b, y, " "); printf "%.2f %.2f\n", (y[1] - x[1]) / hz, (y[2] - x[2]) / hz }')
	[[ -n $S_RSS ]] && S_OK=1
}

# record_server STEP STATUS appends the server's row for STEP: the step's
# wall time, the server's CPU time and peak RSS during it.
record_server() {
	local step=$1 status=$2
	if [[ $status == ok && $S_OK != 1 ]]; then status=failed; fi
	if [[ $status == skipped ]]; then
		echo "$RUN,server,$step,,,,,,skipped,,,,,,," >>"$RESULTS"
		return
	fi
	if [[ $status != ok ]]; then
		echo "$RUN,server,$step,,,,,,$status,,,,,,," >>"$RESULTS"
		return
	fi
	echo "$RUN,server,$step,$M_WALL,$S_USER,$S_SYS,$S_RSS,,$status,,,,,,," >>"$RESULTS"
	log "$(awk -v r="$RUN/$RUNS" -v s="$step" -v u="$S_USER" -v y="$S_SYS" -v m="$S_RSS" -v c="$M_USER $M_SYS" -v w="$M_WALL" 'BEGIN {
		split(c, k, " ")
		printf "run %s %-13s %-10s %14s %7.2f s cpu %6.0f MiB rss; client+server CPU util %.2f", r, "server", s, "", u + y, m / 1024,
			(w > 0 ? (k[1] + k[2] + u + y) / w : 0) }')"
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
	rm -rf "$DATA" "$RESTORE" "$SRV_STATE" "$SPLIT" "$WORK/repo-union" "$WORK/small"
	mkdir -p "$SRV_STATE" "$RESTORE" "$WORK/small"
	cp -a "$PRISTINE" "$DATA"
	printf 'a small tree, backed up again and again\n' >"$WORK/small/README"
	seq 1 1000 >"$WORK/small/numbers"
	if ! server_start >>"$LOGS/run$RUN-$tool-setup.log" 2>&1 || ! server_setup >>"$LOGS/run$RUN-$tool-setup.log" 2>&1; then
		log "$tool: starting the server or setting up its principals failed:"
		tail -n 15 "$LOGS/run$RUN-$tool-setup.log" "$LOGS/run$RUN-server.log" | sed 's/^/    /' >&2
		FAILED=1
		local s
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
		for s in "${SERVER_STEPS[@]}"; do
			record "$tool" "$s" failed
			if [[ $s != union-local ]]; then record_server "$s" failed; fi
		done
		server_stop || true
		rm -rf "$DATA" "$RESTORE" "$SRV" "$SRV_STATE" "$WORK/small"
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
	rm -rf "$DATA" "$RESTORE"

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
	rm -rf "$union" "$SPLIT"

	# Fill the vault with points, then load its read API.
	server_measure small "" bash -c "$SMALL_SCRIPT" _ "$BUNKER" "$SERVER_URL" "$SERVER_FP" "$SRV_STATE/host/token" \
		"$WORK/small" "$SERVER_SMALL" || true
	server_api api-points /v1/vaults/bench/points
	server_api api-vault /v1/vaults/bench

	if ! server_stop; then
		log "the server did not stop cleanly; see $LOGS/run$RUN-server.log"
		FAILED=1
	fi
	rm -rf "$SRV" "$SRV_STATE" "$WORK/small"
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
	rm -rf "$WORK/copy"
	warm "$PRISTINE"
	if measure machine copy cp -a "$PRISTINE" "$WORK/copy"; then
		record machine copy ok
	else record machine copy failed; fi
	rm -rf "$WORK/copy"
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
	build
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	write_meta
	echo "run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status,requests,errors,rate_per_s,p50_ms,p90_ms,p99_ms,max_ms" >"$RESULTS"
	make_corpus
	log "corpus: $(grep -E '^corpus_(files|bytes)=' "$META" | tr '\n' ' ')"
	for ((RUN = 1; RUN <= RUNS; RUN++)); do
		machine_limits
		for t in "${TOOLS[@]}"; do
			if [[ $t == bunker-server ]]; then run_server; else run_tool "$t"; fi
		done
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

# A server still running when the harness ends (an error, ^C) is stopped.
trap 'server_stop || true' EXIT
trap 'exit 130' INT TERM
main "$@"
exit
