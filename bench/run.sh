#!/usr/bin/env bash
# Compares bunker with restic and borg on this machine and writes
# docs/BENCHMARKS.md and docs/benchmarks.csv. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [--tools bunker,restic,borg] [--smoke | --report-only]

  --tools LIST  comma-separated tools to measure (default: bunker,restic,borg)
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
TOOLS_ARG=bunker,restic,borg
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
for t in bunker restic borg; do
	[[ ",$TOOLS_ARG," == *",$t,"* ]] && TOOLS+=("$t")
done
for t in ${TOOLS_ARG//,/ }; do
	[[ $t == bunker || $t == restic || $t == borg ]] || die "unknown tool in --tools: $t (want bunker, restic or borg)"
done
((${#TOOLS[@]})) || die "--tools names no tool"

command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ((SMOKE)); then
	WORK=${BENCH_WORK:-/tmp/bunker-bench-smoke}
	SIZE_MB=${BENCH_SIZE_MB:-20}
	RUNS=1
	OUT=${BENCH_OUT:-$(mktemp -d /tmp/bunker-bench-report.XXXXXX)/BENCHMARKS.md}
else
	WORK=${BENCH_WORK:-/tmp/bunker-bench}
	SIZE_MB=${BENCH_SIZE_MB:-700}
	RUNS=${BENCH_RUNS:-3}
	OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
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
TABLE_NAME=bench-table.csv
FAILED=0

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
	log "building the harness helpers$(has_tool bunker && echo ' and bunker')"
	(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$CG" ./bench/corpusgen &&
		CGO_ENABLED=0 go build -o "$WORK/bin/report" ./bench/report)
	if has_tool bunker; then
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
# writes are not flushed inside it) and leaves the figures in M_*.
measure() {
	local base=$LOGS/run$RUN-$1-$2
	shift 2
	local rc=0
	sync
	/usr/bin/time -f '%e %U %S %M' -o "$base.time" "$@" >"$base.log" 2>&1 || rc=$?
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
		M_WALL="" M_USER="" M_SYS="" M_RSS=""
	elif [[ -n $repo && $status == ok ]]; then
		stored=$(du -sb "$repo" | cut -f1)
	fi
	echo "$RUN,$tool,$step,$M_WALL,$M_USER,$M_SYS,$M_RSS,$stored,$status" >>"$RESULTS"
	if [[ $status == skipped ]]; then
		return 0
	fi
	local msg
	msg=$(awk -v r="$RUN/$RUNS" -v t="$tool" -v s="$step" -v w="$M_WALL" -v u="$M_USER" -v y="$M_SYS" \
		-v m="$M_RSS" -v st="$stored" 'BEGIN {
			printf "run %s %-7s %-9s %7.2f s wall %7.2f s cpu %6.0f MiB rss", r, t, s, w, u + y, m / 1024
			if (st != "") printf " %7.1f MiB stored", st / 1048576
		}')
	if [[ $status != ok ]]; then msg+="  FAILED"; fi
	log "$msg"
	if [[ $status != ok ]]; then
		FAILED=1
		log "  $tool $step failed; last lines of $LOGS/run$RUN-$tool-$step.log:"
		tail -n 15 "$LOGS/run$RUN-$tool-$step.log" | sed 's/^/    /' >&2
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
	echo "run,tool,step,wall_s,user_s,sys_s,max_rss_kb,stored_bytes,status" >"$RESULTS"
	make_corpus
	log "corpus: $(grep -E '^corpus_(files|bytes)=' "$META" | tr '\n' ' ')"
	for ((RUN = 1; RUN <= RUNS; RUN++)); do
		machine_limits
		for t in "${TOOLS[@]}"; do
			run_tool "$t"
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

main "$@"
exit
