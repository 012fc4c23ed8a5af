#!/usr/bin/env bash
# bench/run.sh — io-pkt beside the Linux kernel, in the same run (issue 8;
# bench/README.md says what each benchmark measures and how to read it).
#
#   bench/run.sh [--smoke] [options]          (as root)
#
# Each benchmark runs over io-pkt (two io-pkt-v4-hc instances joined by
# devnp-vwire) and over the kernel (two network namespaces joined by a veth
# pair), alternating which goes first, for several rounds; every round of
# every benchmark gets fresh instances or namespaces. The table (medians,
# min–max, the ratio io-pkt/kernel) goes to stdout and, as markdown, to the
# results file, with a PNG plot of the ratios beside it when
# python3-matplotlib is there.
#
# It builds nothing: the programs come from the build directory (--build or
# IOPKT_BENCH_BUILD, default build/), which scripts/build.sh makes whole
# (or: cmake --build DIR --target io-pkt-v4-hc devnp-vwire ifconfig if_up
# iopkt_bench).
#
# options:
#   --smoke           every benchmark once, tiny (8 MB, 1 s, 200 connections),
#                     no plot, no package installs; exit 0 when each produced
#                     a number for both stacks (the numbers do not gate)
#   --build DIR       the build directory (default $IOPKT_BENCH_BUILD or build/)
#   --rounds N        rounds (default 3)
#   --only LIST       comma-separated subset of: bulk,rr,crr,udp,mem
#   --bytes N         bulk transfer size (default 268435456)
#   --seconds S       rr, crr and udp duration (default 5)
#   --conns N         idle connections for mem (default 10000)
#   --out FILE        results file (default bench/out/latest.md; smoke:
#                     bench/out/smoke.md); the plot is FILE with .png
#   --no-plot         no PNG (and no python3-matplotlib install)
#   --keep-work       keep the work directory (logs of every run)
#
# Network safety: only namespaces this script creates (named iopktb<PID>-*),
# only 198.51.100.0/24, only processes it started (killed by PID), only the
# vwire objects it named. Everything is removed on exit, also on failure or
# Ctrl-C.
# shellcheck disable=SC2317 # functions called through "bench_$b" and traps look unreachable
# The whole script is one { } block, so bash reads it all before it runs:
# an edit of this file during a run cannot change the run.
{
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${IOPKT_BENCH_BUILD:-$top/build}
smoke=0
rounds=3
only="bulk,rr,crr,udp,mem"
bulk_bytes=268435456
seconds=5
conns=10000
out=""
plot=1
keep_work=0
cmdline="bench/run.sh $*"

usage() {
  sed -n '/^#   bench/,/^#   --keep-work/p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
while (($#)); do
  case $1 in
  --smoke) smoke=1 ;;
  --build) build=${2:?}; shift ;;
  --rounds) rounds=${2:?}; shift ;;
  --only) only=${2:?}; shift ;;
  --bytes) bulk_bytes=${2:?}; shift ;;
  --seconds) seconds=${2:?}; shift ;;
  --conns) conns=${2:?}; shift ;;
  --out) out=${2:?}; shift ;;
  --no-plot) plot=0 ;;
  --keep-work) keep_work=1 ;;
  -h | --help) usage ;;
  *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
if ((smoke)); then
  rounds=1 bulk_bytes=$((8 * 1048576)) seconds=1 conns=200 plot=0
  out=${out:-$top/bench/out/smoke.md}
fi
out=${out:-$top/bench/out/latest.md}
# Absolute: the runs happen in the work directory.
out=$(realpath -m "$out")
build=$(realpath -m "$build")
for v in rounds bulk_bytes conns; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --${v%_*} wants a positive integer" >&2; exit 2; }
done
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "run.sh: --seconds wants a number" >&2; exit 2; }
((rounds <= 20 && conns <= 100000)) || { echo "run.sh: at most 20 rounds, 100000 connections" >&2; exit 2; }

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: bench/run.sh needs root (network namespaces, veth)"
  exit 77
fi

bin=$build/bin
tool=$build/bench/iopkt_bench
missing=()
for f in "$bin/io-pkt-v4-hc" "$bin/ifconfig" "$bin/if_up" "$tool" "$build/lib/iopkt/devnp-vwire.so"; do
  [[ -x $f || ( -f $f && $f == *.so ) ]] || missing+=("$f")
done
if ((${#missing[@]})); then
  echo "run.sh: not built: ${missing[*]}" >&2
  echo "run.sh: build first: scripts/build.sh $build (run.sh builds nothing)" >&2
  exit 1
fi
for c in ip timeout awk python3; do
  command -v "$c" >/dev/null || { echo "run.sh: $c missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# The bench's own setup: matplotlib for the plot, from Debian, only when
# missing (as scripts/setup.sh does). A failed install costs the plot only.
if ((plot)) && ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "setup: installing python3-matplotlib"
  if ! (export DEBIAN_FRONTEND=noninteractive
    dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed" ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-matplotlib \
        >/dev/null; }); then
    echo "setup: python3-matplotlib could not be installed: no plot" >&2
  fi
fi

# --- state and cleanup ------------------------------------------------------

id="iopktb$$"
work=$(mktemp -d "/tmp/iopkt-bench.$$.XXXXXX")
chmod 755 "$work"
# Any stray file a tool writes lands here, not in the source tree.
cd "$work"
export IOPKT_RUNDIR=$work/run
export IOPKT_MODULE_PATH=$build/lib/iopkt
export PATH="$bin:$PATH"
pids=()    # every process started, killed by PID at the end
netns=()   # every namespace created
wires=()   # every vwire name used (their /dev/shm objects)
samples=$work/samples.tsv
: >"$samples"
seq_no=0

# stop_pids PID...: SIGTERM, up to 5 s, then SIGKILL; then forgets them,
# so that a PID the system hands out again later is never signalled.
stop_pids() {
  local pid i
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    ((i < 50)) || kill -9 "$pid" 2>/dev/null || true
  done
  forget "$@"
}

# forget PID...: drops PIDs from the cleanup list (the process is gone).
forget() {
  local keep=() p q gone
  for p in "${pids[@]}"; do
    gone=0
    for q in "$@"; do [[ $p == "$q" ]] && gone=1; done
    ((gone)) || keep+=("$p")
  done
  pids=("${keep[@]}")
}

cleanup() {
  local ns w
  stop_pids "${pids[@]}"
  for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  # A killed instance leaves its wire's shared memory: ours by name only.
  for w in "${wires[@]}"; do rm -f "/dev/shm/iopkt-vwire-$w"; done
  if ((keep_work)); then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# --- environments -----------------------------------------------------------
# Both put the client side at 198.51.100.1 and the server side at
# 198.51.100.2. io-pkt: instance A (client) and B (server) joined by a
# vwire, in this namespace (the wire's doorbells need one namespace; no
# interface of the host is touched). kernel: namespaces A and B joined by a
# veth pair, offloads as the kernel sets them.

cur_ns_a="" cur_ns_b="" cur_pa="" cur_pb="" cur_iopkt_pids=()

iopkt_up() {
  local wire="$id-$seq_no" inst pid
  wires+=("$wire")
  cur_pa=$work/a$seq_no cur_pb=$work/b$seq_no
  cur_iopkt_pids=()
  for inst in 1 2; do
    local prefix=$cur_pa
    ((inst == 2)) && prefix=$cur_pb
    # somaxconn as the kernel's default (4096): io-pkt's own is QNX's 128.
    timeout 20 io-pkt-v4-hc -i "$inst" -d vwire "wire=$wire" -p tcpip "prefix=$prefix,somaxconn=4096" ||
      return 1
    pid=$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.$inst")
    pids+=("$pid")
    cur_iopkt_pids+=("$pid")
  done
  SOCK=$cur_pa ifconfig vw0 198.51.100.1/24 up &&
    SOCK=$cur_pb ifconfig vw0 198.51.100.2/24 up &&
    SOCK=$cur_pa if_up -r 20 -s 1 vw0 >/dev/null &&
    SOCK=$cur_pb if_up -r 20 -s 1 vw0 >/dev/null
}

iopkt_down() {
  stop_pids "${cur_iopkt_pids[@]}"
  cur_iopkt_pids=()
}

kernel_up() {
  cur_ns_a="$id-$seq_no-a" cur_ns_b="$id-$seq_no-b"
  local ns
  # Called in an `if`, where set -e does not act: every step is checked.
  for ns in "$cur_ns_a" "$cur_ns_b"; do
    ip netns add "$ns" || return 1
    netns+=("$ns")
    ip -n "$ns" link set lo up || return 1
  done
  ip link add bv0 netns "$cur_ns_a" type veth peer name bv0 netns "$cur_ns_b" &&
    ip -n "$cur_ns_a" addr add 198.51.100.1/24 dev bv0 &&
    ip -n "$cur_ns_b" addr add 198.51.100.2/24 dev bv0 &&
    ip -n "$cur_ns_a" link set bv0 up &&
    ip -n "$cur_ns_b" link set bv0 up
}

kernel_down() {
  ip netns del "$cur_ns_a" 2>/dev/null || true
  ip netns del "$cur_ns_b" 2>/dev/null || true
}

env_up() { # env_up STACK
  seq_no=$((seq_no + 1))
  if [[ $1 == iopkt ]]; then iopkt_up; else kernel_up; fi
}
env_down() { if [[ $1 == iopkt ]]; then iopkt_down; else kernel_down; fi; }

# on SIDE STACK -- ARGS...: the bench tool on the client (a) or server (b)
# side of the current environment, as a command line.
on() {
  local side=$1 stack=$2
  shift 3
  if [[ $stack == iopkt ]]; then
    local prefix=$cur_pa
    [[ $side == b ]] && prefix=$cur_pb
    echo env "SOCK=$prefix" "$tool" "$@"
  else
    local ns=$cur_ns_a
    [[ $side == b ]] && ns=$cur_ns_b
    echo ip netns exec "$ns" "$tool" "$@" --kernel
  fi
}

# --- measurements -----------------------------------------------------------

clk_tck=$(getconf CLK_TCK)

# The machine's busy CPU time in clock ticks: user, nice, system, irq,
# softirq (guest time is inside user; idle, iowait and steal are not ours).
machine_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }

# utime + stime of the given PIDs, in clock ticks.
proc_ticks() {
  local pid t=0 v
  for pid in "$@"; do
    # Field 2 (comm) may hold spaces: count from after its ")".
    v=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

rss_kb() { # VmRSS of the PIDs, summed, in KiB
  local pid t=0 v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

slab_kb() { awk '/^Slab:/{print $2}' /proc/meminfo; }

# val FILE KEY: KEY's value from the RESULT line in FILE.
val() { grep -m1 '^RESULT ' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

# record METRIC STACK ROUND VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$samples"; }

# wait_line FILE REGEX TENTHS: until FILE has a line matching, bounded.
wait_line() {
  local i
  for ((i = 0; i < $3; i++)); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# show FILE...: a failed run's output, indented.
show() { local f; for f in "$@"; do [[ -s $f ]] && sed "s|^|    $(basename "$f"): |" "$f" >&2; done; return 0; }

# start_server NAME STACK TIMEOUT ARGS...: the server in the background,
# returns once it listens. Its PID in srv_pid.
start_server() {
  local name=$1 stack=$2 t=$3
  shift 3
  # shellcheck disable=SC2046 # `on` prints a command line of plain words
  timeout -k 2 "$t" $(on b "$stack" -- "$@") >"$work/$name.srv.out" 2>"$work/$name.srv.err" &
  srv_pid=$!
  pids+=("$srv_pid")
  if ! wait_line "$work/$name.srv.err" "listening|iopkt_bench:" 100 ||
    ! grep -q listening "$work/$name.srv.err"; then
    log "  $name: the server did not start"
    show "$work/$name.srv.err"
    return 1
  fi
}

# run_client NAME STACK TIMEOUT ARGS...: the client in the foreground.
run_client() {
  local name=$1 stack=$2 t=$3
  shift 3
  # shellcheck disable=SC2046
  if ! timeout -k 2 "$t" $(on a "$stack" -- "$@") >"$work/$name.cli.out" 2>"$work/$name.cli.err"; then
    log "  $name: the client failed"
    show "$work/$name.cli.out" "$work/$name.cli.err" "$work/$name.srv.err"
    return 1
  fi
}

# finish_server NAME: waits for the server (its own timeout bounds it).
finish_server() {
  local rc=0
  wait "$srv_pid" || rc=$?
  forget "$srv_pid"
  srv_pid=""
  if ((rc != 0)); then
    log "  $1: the server failed (exit $rc)"
    show "$work/$1.srv.out" "$work/$1.srv.err"
    return 1
  fi
}

addr=198.51.100.2
t_short=$(awk -v s="$seconds" 'BEGIN{printf "%d", s + 30}')

# Each bench_X STACK ROUND runs one measurement in a fresh environment and
# records its metrics; a failure is logged and leaves the metric without a
# sample (the table says so).

bench_bulk() {
  local stack=$1 r=$2 name="bulk.$1.$2" port=5001
  # A generous bound: 256 MiB at 100 Mbit/s would take 21 s.
  local t=$((30 + bulk_bytes / 12500000))
  start_server "$name" "$stack" "$t" bulk-recv --port "$port" --timeout-s "$t" || return 1
  local cpu0 proc0 cpu1 proc1
  cpu0=$(machine_busy)
  proc0=$(proc_ticks "${cur_iopkt_pids[@]}")
  run_client "$name" "$stack" "$t" bulk-send --addr "$addr" --port "$port" --bytes "$bulk_bytes" \
    --timeout-s "$t" || return 1
  cpu1=$(machine_busy)
  proc1=$(proc_ticks "${cur_iopkt_pids[@]}")
  finish_server "$name" || return 1
  local got
  got=$(val "$work/$name.srv.out" bytes)
  if [[ $got != "$bulk_bytes" ]]; then
    log "  $name: the receiver got ${got:-nothing} of $bulk_bytes bytes"
    return 1
  fi
  local gb cs cu su sr
  gb=$(awk -v b="$bulk_bytes" 'BEGIN{print b / 1e9}')
  cs=$(val "$work/$name.cli.out" sys_s) cu=$(val "$work/$name.cli.out" user_s)
  sr=$(val "$work/$name.srv.out" sys_s) su=$(val "$work/$name.srv.out" user_s)
  record bulk_gbps "$stack" "$r" "$(val "$work/$name.cli.out" gbps)"
  record bulk_cpu_machine "$stack" "$r" \
    "$(awk -v d=$((cpu1 - cpu0)) -v h="$clk_tck" -v g="$gb" 'BEGIN{printf "%.3f", d / h / g}')"
  record bulk_cpu_proc "$stack" "$r" "$(awk -v d=$((proc1 - proc0)) -v h="$clk_tck" -v g="$gb" \
    -v a="$cs" -v b="$cu" -v c="$sr" -v e="$su" 'BEGIN{printf "%.3f", (d / h + a + b + c + e) / g}')"
}

bench_rr() {
  local stack=$1 r=$2 name="rr.$1.$2" port=5002
  start_server "$name" "$stack" "$t_short" rr-server --port "$port" --timeout-s "$t_short" || return 1
  run_client "$name" "$stack" "$t_short" rr-client --addr "$addr" --port "$port" --seconds "$seconds" \
    --timeout-s "$t_short" || return 1
  finish_server "$name" || return 1
  record rr_rate "$stack" "$r" "$(val "$work/$name.cli.out" rtt_per_s)"
  record rr_p50 "$stack" "$r" "$(val "$work/$name.cli.out" p50_us)"
  record rr_p99 "$stack" "$r" "$(val "$work/$name.cli.out" p99_us)"
}

bench_crr() {
  local stack=$1 r=$2 name="crr.$1.$2" port=5003
  start_server "$name" "$stack" "$t_short" crr-server --port "$port" --timeout-s "$t_short" || return 1
  run_client "$name" "$stack" "$t_short" crr-client --addr "$addr" --port "$port" --seconds "$seconds" \
    --timeout-s "$t_short" || return 1
  # The server serves until told: SIGTERM (through timeout) makes it report.
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" || true
  forget "$srv_pid"
  srv_pid=""
  record crr_rate "$stack" "$r" "$(val "$work/$name.cli.out" conn_per_s)"
  record crr_p99 "$stack" "$r" "$(val "$work/$name.cli.out" p99_us)"
}

bench_udp() {
  local stack=$1 r=$2 name="udp.$1.$2" port=5004
  start_server "$name" "$stack" "$t_short" udp-recv --port "$port" --seconds "$seconds" \
    --timeout-s "$t_short" || return 1
  run_client "$name" "$stack" "$t_short" udp-send --addr "$addr" --port "$port" --seconds "$seconds" \
    --size 64 --timeout-s "$t_short" || return 1
  finish_server "$name" || return 1
  local sent got
  sent=$(val "$work/$name.cli.out" sent) got=$(val "$work/$name.srv.out" received)
  record udp_pps "$stack" "$r" "$(val "$work/$name.srv.out" pps)"
  record udp_sent_pps "$stack" "$r" "$(val "$work/$name.cli.out" pps)"
  record udp_delivered "$stack" "$r" "$(awk -v s="$sent" -v g="$got" 'BEGIN{printf "%.1f", (s > 0 ? 100 * g / s : 0)}')"
}

bench_mem() {
  local stack=$1 r=$2 name="mem.$1.$2" port=5005
  # Opening is sequential: allow 10 ms a connection, and more.
  local t=$((60 + conns / 100))
  local rss0 slab0 rss1 slab1
  rss0=$(rss_kb "${cur_iopkt_pids[@]}")
  slab0=$(slab_kb)
  # Held until SIGTERM; --timeout-s bounds them if this script dies.
  start_server "$name" "$stack" "$((t + 30))" idle-server --port "$port" --count "$conns" \
    --timeout-s "$((t + 30))" || return 1
  # shellcheck disable=SC2046
  timeout -k 2 "$((t + 30))" $(on a "$stack" -- idle-client --addr "$addr" --port "$port" \
    --count "$conns" --timeout-s "$((t + 30))") >"$work/$name.cli.out" 2>"$work/$name.cli.err" &
  local cli_pid=$!
  pids+=("$cli_pid")
  local ok=1
  if ! wait_line "$work/$name.cli.out" '^RESULT' $((t * 10)) ||
    ! wait_line "$work/$name.srv.out" '^RESULT' 100; then
    log "  $name: $conns connections were not all made and accepted in ${t}s"
    show "$work/$name.cli.err" "$work/$name.srv.err"
    ok=0
  fi
  if ((ok)); then
    sleep 1 # let deferred work (ACKs, slab frees of the handshake) settle
    rss1=$(rss_kb "${cur_iopkt_pids[@]}")
    slab1=$(slab_kb)
  fi
  stop_pids "$cli_pid" "$srv_pid"
  wait "$cli_pid" "$srv_pid" 2>/dev/null || true
  srv_pid=""
  ((ok)) || return 1
  local slab_b=$(((slab1 - slab0) * 1024 / conns))
  if [[ $stack == iopkt ]]; then
    record mem_bytes "$stack" "$r" $(((rss1 - rss0) * 1024 / conns))
    record mem_iopkt_kernel "$stack" "$r" "$slab_b"
  else
    record mem_bytes "$stack" "$r" "$slab_b"
  fi
}

# --- the run ----------------------------------------------------------------

IFS=, read -r -a benches <<<"$only"
for b in "${benches[@]}"; do
  [[ $b =~ ^(bulk|rr|crr|udp|mem)$ ]] || { echo "run.sh: unknown benchmark $b" >&2; exit 2; }
done

start_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$SECONDS
log "bench: $rounds round(s) of: ${benches[*]} (work: $work)"
failed=0
for ((r = 1; r <= rounds; r++)); do
  for b in "${benches[@]}"; do
    # Alternate which stack goes first, so a drift in the machine's load
    # does not always favour the same one.
    order=(iopkt kernel)
    ((r % 2 == 0)) && order=(kernel iopkt)
    for stack in "${order[@]}"; do
      t0=$SECONDS
      srv_pid=""
      if env_up "$stack"; then
        if ! "bench_$b" "$stack" "$r"; then failed=$((failed + 1)); fi
        # A server left behind by a failed client (still our child, so its
        # PID cannot have been reused).
        if [[ -n $srv_pid ]]; then
          stop_pids "$srv_pid"
          wait "$srv_pid" 2>/dev/null || true
        fi
      else
        log "  $b.$stack.$r: could not set up the $stack environment"
        failed=$((failed + 1))
      fi
      env_down "$stack"
      log "  round $r $b $stack: $((SECONDS - t0)) s"
    done
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$out")"
png=""
((plot)) && png="${out%.md}.png"
cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
smoke_note=""
if ((smoke)); then smoke_note=" (smoke)"; fi
rc=0
/usr/bin/python3 "$top/bench/report.py" --samples "$samples" --out "$out" ${png:+--png "$png"} \
  --benches "$only" --meta "date=$start_time" --meta "command=$cmdline" \
  --meta "machine=$(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)" \
  --meta "load average (1, 5, 15 min)=$load_start at the start, $load_end at the end" \
  --meta "settings=$rounds round(s), bulk $bulk_bytes bytes, rr/crr/udp $seconds s, mem $conns connections$smoke_note" \
  --meta "duration=$((SECONDS - t_start)) s" || rc=$?
if ((failed > 0)); then
  log "bench: $failed run(s) failed (see above)"
fi
exit "$rc"
}
