#!/usr/bin/env bash
# bench/compare.sh: the same traffic through nginx, HAProxy, Caddy, Portier,
# a plain Go httputil.ReverseProxy (bench/refproxy) and straight to the
# backend (bench/backend), in one run.
#
# The proxy under test runs alone on PROXY_CPU (taskset); wrk and the backend
# share LOAD_CPU. Each round runs every proxy on every case; the proxy order
# rotates from round to round so that no proxy always goes first. For each
# run the script records requests/s, p50/p99 latency (wrk --latency) and
# requests per proxy CPU-second: the utime+stime delta from /proc/PID/stat of
# the proxy and all its child processes (nginx workers included) divided
# into the requests that got a 2xx/3xx answer. Requests that failed (non-2xx
# or socket errors) are counted in the table and never add to a proxy's
# figures. The medians over rounds go to bench/results/latest.md.
#
# Cases: small (100 bytes over keep-alive), 64k, close (a new client
# connection per request), all against one server; hc100-off and hc100, the
# small traffic over a pool of 100 servers (100 listeners of the one backend
# process), without and with active health checks every second on all 100.
# nginx (open source) has no active checks, so it runs hc100 without them;
# refproxy and direct take part in the one-server cases only. A proxy is
# started afresh for each set-up (one server, pool, pool with checks).
#
# Usage:   bench/compare.sh            (about 9 minutes)
#          QUICK=1 bench/compare.sh    (about 2 minutes)
# Environment (defaults in brackets):
#   ROUNDS [3; QUICK 2]  DURATION seconds per run [7; QUICK 3]  WARMUP [1]
#   CONNS [50]  THREADS [2]  PROXY_CPU [0]  LOAD_CPU [1]  PORT_BASE [18000]
#   PROXIES ["nginx haproxy caddy refproxy portier direct"]
#   CASES ["small 64k close"; also hc100-off hc100]  OUT [bench/results/latest.md]
#   SETTLE seconds to wait after starting a proxy with checks, so that every
#     server has passed them [4]  IDLE seconds without traffic over which the
#     CPU a proxy spends on checks alone is measured, before hc100 [10; QUICK 5]
#   KEEP=1 keeps the work dir
#   PRIORITY=1 (root only): run the whole benchmark in its own session at nice
#     -20 (process and autogroup), for a machine that other work shares; the
#     report always says how busy the proxy's CPU was outside the proxy.
set -euo pipefail

if [[ ${PRIORITY:-0} == 1 && -z ${PORTIER_BENCH_SESSION:-} ]]; then
	exec setsid -w env PORTIER_BENCH_SESSION=1 "$0" "$@"
fi
if [[ ${PRIORITY:-0} == 1 ]]; then
	echo -20 >/proc/self/autogroup 2>/dev/null || true
	renice -n -20 -p $$ >/dev/null
fi

cd "$(dirname "$0")/.."
# COMMAND is the command line that reproduces this run, for the report.
COMMAND=
for v in PRIORITY QUICK ROUNDS DURATION WARMUP CONNS THREADS PROXIES CASES PROXY_CPU LOAD_CPU SETTLE IDLE OUT; do
	[[ -n ${!v:-} ]] && COMMAND+="$v=$(printf '%q' "${!v}") "
done
COMMAND+="bench/compare.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-2}
	DURATION=${DURATION:-3}
	IDLE=${IDLE:-5}
else
	ROUNDS=${ROUNDS:-3}
	DURATION=${DURATION:-7}
	IDLE=${IDLE:-10}
fi
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-18000}
PROXIES=${PROXIES:-"nginx haproxy caddy refproxy portier direct"}
CASES=${CASES:-"small 64k close"}
OUT=${OUT:-bench/results/latest.md}
SETTLE=${SETTLE:-4}
# The pool of the hc100 cases: POOL_SIZE listeners of the backend from
# PORT_BASE+100 up, each checked every HC_INTERVAL (fast interval too).
POOL_SIZE=100
HC_INTERVAL=1s

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# --- dependencies ----------------------------------------------------------

# The test peers plus what the benchmark alone needs, from Debian's packages.
scripts/install-test-deps.sh caddy:caddy wrk:wrk taskset:util-linux ps:procps
export PATH=$PATH:/usr/sbin
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/portier-bench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/bin" "$(dirname "$OUT")"

# --- build -----------------------------------------------------------------

NOTES=()
log "building backend and refproxy"
go build -o "$WORK/bin/backend" ./bench/backend
go build -o "$WORK/bin/refproxy" ./bench/refproxy
if [[ " $PROXIES " == *" portier "* ]]; then
	if ! go build -o "$WORK/bin/portier" ./cmd/portier 2>"$WORK/portier-build.log"; then
		log "portier does not build; leaving it out (see below)"
		sed 's/^/  /' "$WORK/portier-build.log" | head -20 >&2
		NOTES+=("Portier left out: \`go build ./cmd/portier\` failed.")
		PROXIES=$(tr ' ' '\n' <<<"$PROXIES" | grep -vx portier | tr '\n' ' ')
	fi
fi

# --- processes -------------------------------------------------------------

BACKEND_PORT=$PORT_BASE
port_of() {
	case $1 in
	direct) echo "$BACKEND_PORT" ;;
	nginx) echo $((PORT_BASE + 1)) ;;
	haproxy) echo $((PORT_BASE + 2)) ;;
	caddy) echo $((PORT_BASE + 3)) ;;
	refproxy) echo $((PORT_BASE + 4)) ;;
	portier) echo $((PORT_BASE + 5)) ;;
	*) die "unknown proxy $1" ;;
	esac
}

# setup_of CASE: the proxy set-up a case runs against: one (one server), pool
# (POOL_SIZE servers) or pool-hc (POOL_SIZE servers, active checks).
setup_of() {
	case $1 in
	small | 64k | close) echo one ;;
	hc100-off) echo pool ;;
	hc100) echo pool-hc ;;
	*) die "unknown case $1" ;;
	esac
}

# applies PROXY SETUP: whether PROXY runs SETUP. refproxy forwards to one
# address only, and direct has no proxy to give a pool to.
applies() { [[ $2 == one || ($1 != refproxy && $1 != direct) ]]; }

# pool_addrs: the addresses of the pool's servers, one per line.
pool_addrs() {
	local i
	for ((i = 0; i < POOL_SIZE; i++)); do echo "127.0.0.1:$((PORT_BASE + 100 + i))"; done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PORT PID LOG: poll until PORT answers /small with 200.
wait_ready() {
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1/small" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/  /' "$3" >&2 || true
	die "nothing answers on port $1 (log above)"
}

# check_bodies PORT: both paths must come back 200 with the right size.
check_bodies() {
	local got
	got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1/small")
	[[ $got == "200 100" ]] || die "port $1 /small: got '$got', want '200 100'"
	got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1/64k")
	[[ $got == "200 65536" ]] || die "port $1 /64k: got '$got', want '200 65536'"
}

# write_configs SETUP: the nginx, HAProxy, Caddy and (for a pool) Portier
# configurations of SETUP, under $WORK/conf/SETUP.
write_configs() {
	local d=$WORK/conf/$1 hc= a n=0 keepalive=64
	local -a servers=("127.0.0.1:$BACKEND_PORT")
	[[ $1 == pool-hc ]] && hc=1
	if [[ $1 != one ]]; then
		mapfile -t servers < <(pool_addrs)
		# nginx's keepalive is one cache for the whole upstream: 64 idle
		# connections shared by 100 servers would be closed and reopened
		# all the time, so a pool gets 10 per server, as a user would size it.
		keepalive=$((10 * POOL_SIZE))
	fi
	mkdir -p "$d/nginx/logs" "$d/caddy"
	cat >"$d/nginx/nginx.conf" <<EOF
$([[ $(id -u) == 0 ]] && echo 'user root;')
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $d/nginx/client_body;
	proxy_temp_path $d/nginx/proxy;
	fastcgi_temp_path $d/nginx/fastcgi;
	uwsgi_temp_path $d/nginx/uwsgi;
	scgi_temp_path $d/nginx/scgi;
	upstream backend {
$(printf '\t\tserver %s;\n' "${servers[@]}")
		keepalive $keepalive;
	}
	server {
		listen 127.0.0.1:$(port_of nginx) backlog=4096;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
	{
		cat <<EOF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	option http-keep-alive
	http-reuse always
frontend fe
	bind 127.0.0.1:$(port_of haproxy)
	default_backend be
backend be
EOF
		[[ -n $hc ]] && printf '\toption httpchk GET /small\n'
		for a in "${servers[@]}"; do
			printf '\tserver s%d %s%s\n' $((++n)) "$a" "${hc:+ check inter $HC_INTERVAL}"
		done
	} >"$d/haproxy.cfg"
	{
		cat <<EOF
{
	admin off
	auto_https off
	log {
		output discard
	}
}
EOF
		printf 'http://127.0.0.1:%s {\n\treverse_proxy %s' "$(port_of caddy)" "${servers[*]}"
		[[ -n $hc ]] && printf ' {\n\t\thealth_uri /small\n\t\thealth_interval %s\n\t}' "$HC_INTERVAL"
		printf '\n}\n'
	} >"$d/Caddyfile"
	[[ $1 == one ]] && return
	# Portier: `portier proxy` has no health flags, so a pool is a config
	# file for `portier run`, the same with and without the health block.
	{
		cat <<EOF
admin: {address: "off"}
log: {access: "off"}
listeners:
  - {name: bench, address: "127.0.0.1:$(port_of portier)"}
routes:
  - {name: all, backend: pool}
backends:
  - name: pool
EOF
		[[ -n $hc ]] && printf '    health: {path: /small, interval: %s, fast_interval: %s}\n' "$HC_INTERVAL" "$HC_INTERVAL"
		echo "    servers:"
		n=0
		for a in "${servers[@]}"; do printf '      - {name: s%d, address: "%s"}\n' $((++n)) "$a"; done
	} >"$d/portier.yaml"
}

# proxy_cmd NAME SETUP: sets PCMD to the command line of a proxy (without
# taskset).
proxy_cmd() {
	local d=$WORK/conf/$2 port b=127.0.0.1:$BACKEND_PORT
	port=$(port_of "$1")
	case $1 in
	nginx) PCMD=(nginx -p "$d/nginx" -c "$d/nginx/nginx.conf" -g 'daemon off;') ;;
	haproxy) PCMD=(haproxy -f "$d/haproxy.cfg" -db) ;;
	caddy) PCMD=(env "HOME=$d/caddy" "XDG_DATA_HOME=$d/caddy" "XDG_CONFIG_HOME=$d/caddy"
		caddy run --adapter caddyfile --config "$d/Caddyfile") ;;
	refproxy) PCMD=("$WORK/bin/refproxy" -listen "127.0.0.1:$port" -to "$b") ;;
	portier)
		if [[ $2 == one ]]; then
			PCMD=("$WORK/bin/portier" proxy --from "127.0.0.1:$port" --to "$b" --access-log off)
		else
			PCMD=("$WORK/bin/portier" run -c "$d/portier.yaml")
		fi
		;;
	esac
}

PROXY_PID=
# start_proxy NAME SETUP
start_proxy() {
	local port
	port=$(port_of "$1")
	port_busy "$port" && die "port $port is already in use (set PORT_BASE)"
	proxy_cmd "$1" "$2"
	# taskset (and env, for Caddy) exec the proxy, so $! is the proxy's own pid.
	taskset -c "$PROXY_CPU" "${PCMD[@]}" >"$WORK/$1.log" 2>&1 &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	wait_ready "$port" "$PROXY_PID" "$WORK/$1.log"
	# Checked servers may start down (Portier's default) and need their
	# first passes before the whole pool takes traffic.
	[[ $2 == pool-hc ]] && sleep "$SETTLE"
	return 0
}

stop_proxy() {
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
}

# cpu_ticks PID: utime+stime of PID and of all its descendants, in clock ticks.
cpu_ticks() {
	local total=0 p stat rest
	local -a queue=("$1") fields
	while ((${#queue[@]})); do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		if stat=$(<"/proc/$p/stat") 2>/dev/null; then
			rest=${stat##*) }
			read -r -a fields <<<"$rest"
			total=$((total + fields[11] + fields[12]))
		fi
		queue+=($(ps -o pid= --ppid "$p" 2>/dev/null || true))
	done
	echo "$total"
}

# cpu_busy CPU: ticks CPU has spent on anything but idle and iowait (/proc/stat).
cpu_busy() {
	awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# --- measuring -------------------------------------------------------------

# parse_wrk FILE: prints "requests seconds p50_ms p99_ms socket_errors non2xx".
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v + 0
	}
	$2 == "requests" && $3 == "in" { req = $1; sub(",", "", $4); secs = ms($4) / 1000 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Socket errors:/ { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { non2xx = $NF }
	END { printf "%d %.3f %.3f %.3f %d %d\n", req, secs, p50, p99, sock, non2xx }
	' "$1"
}

case_path() { [[ $1 == 64k ]] && echo /64k || echo /small; }

# run_case PROXY CASE ROUND PID: one measured wrk run; appends a line to RAW.
run_case() {
	local proxy=$1 kase=$2 round=$3 pid=$4 url t0=0 t1=0 b0 b1 out
	url="http://127.0.0.1:$(port_of "$proxy")$(case_path "$kase")"
	local -a args=(--latency -c "$CONNS" -t "$THREADS")
	[[ $kase == close ]] && args+=(-H 'Connection: close')
	taskset -c "$LOAD_CPU" wrk "${args[@]}" -d "${WARMUP}s" "$url" >/dev/null
	[[ -n $pid ]] && t0=$(cpu_ticks "$pid")
	b0=$(cpu_busy "$PROXY_CPU")
	out=$WORK/wrk-$round-$proxy-$kase.txt
	taskset -c "$LOAD_CPU" wrk "${args[@]}" -d "${DURATION}s" "$url" >"$out"
	b1=$(cpu_busy "$PROXY_CPU")
	[[ -n $pid ]] && t1=$(cpu_ticks "$pid")
	local req secs p50 p99 sock non2xx
	read -r req secs p50 p99 sock non2xx < <(parse_wrk "$out")
	((req > 0)) || {
		sed 's/^/  /' "$out" >&2
		die "$proxy/$kase: wrk completed no request"
	}
	awk -v r="$round" -v p="$proxy" -v c="$kase" -v req="$req" -v secs="$secs" \
		-v p50="$p50" -v p99="$p99" -v sock="$sock" -v bad="$non2xx" \
		-v ticks=$((t1 - t0)) -v busy=$((b1 - b0)) -v hz="$CLK_TCK" -v haspid="${pid:+1}" 'BEGIN {
		ok = req - bad
		cpu = ticks / hz
		per = (haspid && cpu > 0) ? ok / cpu : -1
		other = (busy - ticks) / hz / secs * 100
		if (other < 0) other = 0
		printf "%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.0f\t%.2f\t%d\t%d\t%.0f\n", r, p, c, ok / secs, p50, p99, per, cpu, sock, bad, other
	}' >>"$RAW"
	log "  $proxy/$kase: $(tail -1 "$RAW" | cut -f4-11 | tr '\t' ' ')"
}

# idle_cpu PROXY ROUND PID: the CPU PID uses over IDLE seconds without
# traffic, in percent of one CPU; appends a line to IDLE_RAW. With the
# checks settled this is what checking the pool costs, free of the noise of
# a loaded run.
idle_cpu() {
	local t0 t1
	t0=$(cpu_ticks "$3")
	sleep "$IDLE"
	t1=$(cpu_ticks "$3")
	awk -v r="$2" -v p="$1" -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" -v secs="$IDLE" \
		'BEGIN { printf "%s\t%s\t%.2f\n", r, p, ticks / hz / secs * 100 }' >>"$IDLE_RAW"
	log "  $1/hc100 without traffic: $(tail -1 "$IDLE_RAW" | cut -f3)% of a CPU"
}

RAW=${OUT%.md}.tsv
IDLE_RAW=${OUT%.md}-idle.tsv
printf 'round\tproxy\tcase\trps\tp50_ms\tp99_ms\treq_per_cpu_s\tcpu_s\tsocket_errors\tnon2xx\tother_busy_pct\n' >"$RAW"
printf 'round\tproxy\tcpu_pct\n' >"$IDLE_RAW"

# SETUPS: the set-ups CASES need, in the order of their first case.
SETUPS=()
for kase in $CASES; do
	setup=$(setup_of "$kase")
	[[ " ${SETUPS[*]} " == *" $setup "* ]] || SETUPS+=("$setup")
done
for setup in "${SETUPS[@]}"; do
	write_configs "$setup"
	if [[ $setup != one && " $PROXIES " == *" portier "* ]]; then
		"$WORK/bin/portier" validate -c "$WORK/conf/$setup/portier.yaml" >&2 ||
			die "the generated Portier configuration of $setup does not validate"
	fi
done
listen=127.0.0.1:$BACKEND_PORT
[[ " ${SETUPS[*]} " == *" pool"* ]] && listen+=,$(pool_addrs | paste -sd,)
taskset -c "$LOAD_CPU" "$WORK/bin/backend" -listen "$listen" >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
wait_ready "$BACKEND_PORT" "$!" "$WORK/backend.log"

read -r -a order <<<"$PROXIES"
for ((round = 1; round <= ROUNDS; round++)); do
	log "round $round of $ROUNDS"
	for ((i = 0; i < ${#order[@]}; i++)); do
		proxy=${order[$(((i + round - 1) % ${#order[@]}))]}
		# The set-ups rotate too, so that hc100 is not always measured
		# straight after hc100-off.
		for ((j = 0; j < ${#SETUPS[@]}; j++)); do
			setup=${SETUPS[$(((j + round - 1) % ${#SETUPS[@]}))]}
			applies "$proxy" "$setup" || continue
			pid=
			if [[ $proxy != direct ]]; then
				start_proxy "$proxy" "$setup"
				pid=$PROXY_PID
				[[ $setup == pool-hc ]] && idle_cpu "$proxy" "$round" "$pid"
			fi
			check_bodies "$(port_of "$proxy")"
			for kase in $CASES; do
				[[ $(setup_of "$kase") == "$setup" ]] && run_case "$proxy" "$kase" "$round" "$pid"
			done
			[[ -n $pid ]] && stop_proxy
		done
	done
done

# --- report ----------------------------------------------------------------

version_of() {
	case $1 in
	nginx) nginx -v 2>&1 | sed 's|.*nginx/||' ;;
	haproxy) haproxy -v | awk 'NR == 1 { print $3 }' ;;
	caddy) caddy version | awk '{ print $1 }' ;;
	esac
}

# report: the Markdown table of medians over rounds, from RAW.
report() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -n $(git status --porcelain -- cmd internal 2>/dev/null) ]] && commit="$commit+local changes"
	echo "# Portier side-by-side benchmark"
	echo
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)."
	echo "$ROUNDS interleaved rounds, $DURATION s per run after a $WARMUP s warm-up; wrk -c $CONNS -t $THREADS and the backend on CPU $LOAD_CPU, each proxy alone on CPU $PROXY_CPU."
	echo "Medians over rounds; the figure in brackets is the ratio to nginx. req/CPU-s: requests answered per second of proxy CPU time (utime+stime from /proc/PID/stat, all processes of the proxy)."
	echo "Versions: nginx $(version_of nginx), HAProxy $(version_of haproxy), Caddy $(version_of caddy), $(go env GOVERSION) for httputil.ReverseProxy and Portier (commit $commit)."
	awk -F'\t' -v cpu="$PROXY_CPU" 'NR > 1 && $2 != "direct" { n++; s += $11; if ($11 > m) m = $11 }
		END { if (n) printf "Other work on the machine: CPU %s ran something other than the proxy process for %.0f%% of the measured time on average (worst run %.0f%%). Part of it only fills time the proxy left idle, but on a busy machine req/s and p99 move with it; req/CPU-s moves least.\n", cpu, s / n, m }' "$RAW"
	echo
	echo "Command: \`$COMMAND\`"
	local n
	for n in "${NOTES[@]}"; do printf '\n%s\n' "$n"; done
	awk -F'\t' -v cases="$CASES" -v proxies="$PROXIES" -v hc="$HC_INTERVAL" -v idlefile="$IDLE_RAW" \
		-v checks="$POOL_SIZE" -v idlesecs="$IDLE" '
	function median(key,   n, i, j, v, a) {
		n = cnt[key]
		for (i = 1; i <= n; i++) a[i] = val[key, i]
		for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(key, v) { val[key, ++cnt[key]] = v }
	# checkcost: the req/CPU-s of each proxy with checks over without (hc100 over
	# hc100-off), from the medians and round by round. nginx runs both
	# without checks, so its ratio shows how far two identical runs differ.
	function checkcost(ps, np,   j, p, on, off, r, rs, sep) {
		if (!(("hc100-off" SUBSEP "portier") in seen) && !(("hc100-off" SUBSEP "haproxy") in seen)) return
		printf "\nCost of the checks, req/CPU-s with checks ÷ without (hc100 ÷ hc100-off; per round in brackets):\n\n"
		for (j = 1; j <= np; j++) {
			p = ps[j]
			if (!(("hc100" SUBSEP p) in seen) || !(("hc100-off" SUBSEP p) in seen)) continue
			on = median("hc100" SUBSEP p SUBSEP "cpu"); off = median("hc100-off" SUBSEP p SUBSEP "cpu")
			rs = ""; sep = ""
			for (r = 1; (r, "hc100", p) in round; r++) {
				if ((r, "hc100-off", p) in round && round[r, "hc100-off", p] > 0) {
					rs = rs sep sprintf("%.3f", round[r, "hc100", p] / round[r, "hc100-off", p]); sep = ", "
				}
			}
			printf "- %s: %.0f ÷ %.0f = **%.3f×** (%s)%s\n", name[p], on, off, on / off, rs,
				(p == "nginx" ? ", no checks in either run: run-to-run noise" : "")
		}
	}
	# idle: the CPU each proxy used over idlesecs without traffic, checks
	# settled (median over rounds), and what that makes per check.
	function idle(ps, np,   j, p, v) {
		if (!(("idle" SUBSEP "portier") in cnt) && !(("idle" SUBSEP "haproxy") in cnt)) return
		printf "\nCPU used without traffic, with the %d checked servers (%d s per round, median), and per check:\n\n", checks, idlesecs
		for (j = 1; j <= np; j++) {
			p = ps[j]
			if (!(("idle" SUBSEP p) in cnt)) continue
			v = median("idle" SUBSEP p)
			if (p == "nginx") printf "- nginx: %.2f%% of a CPU (no checks)\n", v
			else printf "- %s: %.2f%% of a CPU, %.0f µs per check\n", name[p], v, v / 100 * 1e6 / checks
		}
	}
	function cell(v, base, fmt) {
		if (v < 0) return "—"
		if (base > 0) return sprintf(fmt " (%.2f×)", v, v / base)
		return sprintf(fmt, v)
	}
	FILENAME == idlefile { if (FNR > 1) add("idle" SUBSEP $2, $3); next }
	FNR > 1 {
		k = $3 SUBSEP $2
		add(k SUBSEP "rps", $4); add(k SUBSEP "p50", $5); add(k SUBSEP "p99", $6); add(k SUBSEP "cpu", $7)
		round[$1, $3, $2] = $7
		sock[k] += $9; bad[k] += $10; seen[k] = 1
	}
	END {
		title["small"] = "small: 100-byte responses over keep-alive"
		title["64k"] = "64k: 65,536-byte responses over keep-alive"
		title["close"] = "close: 100-byte responses, a new connection per request (Connection: close)"
		title["hc100-off"] = "hc100-off: as small, over a pool of 100 servers, no health checks"
		title["hc100"] = "hc100: as small, over a pool of 100 servers, each actively checked every " hc " (nginx: no checks)"
		name["nginx"] = "nginx"; name["haproxy"] = "HAProxy"; name["caddy"] = "Caddy"
		name["refproxy"] = "httputil.ReverseProxy"; name["portier"] = "Portier"; name["direct"] = "direct (no proxy)"
		nc = split(cases, cs, " "); np = split(proxies, ps, " ")
		for (i = 1; i <= nc; i++) {
			c = cs[i]
			printf "\n### %s\n\n", title[c]
			print "| proxy | req/s | p50 ms | p99 ms | req/CPU-s | failed requests |"
			print "|---|---:|---:|---:|---:|---|"
			nk = c SUBSEP "nginx"
			for (m in base) delete base[m]
			if (nk in seen) { base["rps"] = median(nk SUBSEP "rps"); base["p50"] = median(nk SUBSEP "p50"); base["p99"] = median(nk SUBSEP "p99"); base["cpu"] = median(nk SUBSEP "cpu") }
			for (j = 1; j <= np; j++) {
				p = ps[j]; k = c SUBSEP p
				if (!(k in seen)) continue
				failed = "0"
				if (sock[k] + bad[k] > 0) failed = sprintf("**%d non-2xx, %d socket errors**", bad[k], sock[k])
				printf "| %s | %s | %s | %s | %s | %s |\n", name[p],
					cell(median(k SUBSEP "rps"), base["rps"], "%.0f"),
					cell(median(k SUBSEP "p50"), base["p50"], "%.2f"),
					cell(median(k SUBSEP "p99"), base["p99"], "%.2f"),
					cell(median(k SUBSEP "cpu"), base["cpu"], "%.0f"), failed
			}
			pk = c SUBSEP "portier"; rk = c SUBSEP "refproxy"
			if ((pk in seen) && (rk in seen)) {
				pv = median(pk SUBSEP "cpu"); rv = median(rk SUBSEP "cpu")
				printf "\nPortier vs httputil.ReverseProxy, req/CPU-s: %.0f vs %.0f = %.2f× (%s).\n", pv, rv, pv / rv, (pv >= rv ? "at least as efficient" : "LESS EFFICIENT")
			}
			if (c == "hc100") { checkcost(ps, np); idle(ps, np) }
		}
	}' "$IDLE_RAW" "$RAW"
}

report >"$OUT"
echo
cat "$OUT"
log "table saved to $OUT, raw runs to $RAW and $IDLE_RAW"
