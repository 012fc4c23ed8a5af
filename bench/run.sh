#!/usr/bin/env bash
# bench/run.sh — io-pkt beside the Linux kernel, in the same run (issue 8;
# bench/README.md says what each benchmark measures and how to read it).
#
#   bench/run.sh [--smoke] [options]          (as root)
#
# Each benchmark runs over io-pkt (two io-pkt-v4-hc instances joined by
# devnp-vwire) and over the kernel (two network namespaces joined by a veth
# pair), alternating which goes first, for several rounds; every round of
# every benchmark gets fresh instances or namespaces. "tap" puts one io-pkt
# on devnp-tap (iperf3 under iopkt-run, and rr, to Linux behind the TAP);
# "peers" runs the same from a namespace whose only link is slirp4netns or
# pasta (to a server on the host's loopback), and lwIP on a TAP
# (bench/tools/lwip_tap.c); "cycles" adds perf stat cycles to bulk. The
# table (medians, min–max, the ratio io-pkt/kernel, io-pkt/each peer) goes
# to stdout and, as markdown, to the results file, with a PNG plot of the
# ratios beside it when python3-matplotlib is there.
#
# It builds nothing: the programs come from the build directory (--build or
# IOPKT_BENCH_BUILD, default build/), which scripts/build.sh makes whole
# (or: cmake --build DIR --target io-pkt-v4-hc devnp-vwire devnp-tap
# ifconfig if_up iopkt-run iopkt-preload iopkt_bench lwip_tap).
#
# options:
#   --smoke           every benchmark once, tiny (8 MB, 1 s, 200 connections),
#                     no plot, no package installs; exit 0 when each produced
#                     a number for both stacks (the numbers do not gate)
#   --build DIR       the build directory (default $IOPKT_BENCH_BUILD or build/)
#   --rounds N        rounds (default 3)
#   --only LIST       comma-separated subset of: bulk,rr,crr,udp,mem,tap,
#                     peers,cycles (peers implies tap, cycles implies bulk)
#   --bytes N         bulk transfer size (default 268435456)
#   --seconds S       rr, crr, udp, tap and peers duration (default 5)
#   --conns N         idle connections for mem (default 10000)
#   --out FILE        results file (default bench/out/latest.md; smoke:
#                     bench/out/smoke.md); the plot is FILE with .png
#   --no-plot         no PNG (and no python3-matplotlib install)
#   --keep-work       keep the work directory (logs of every run)
#
# Network safety: only namespaces this script creates (named iopktb<PID>-*),
# only 198.51.100.0/24, 192.0.2.0/24 and 203.0.113.0/24, only processes it
# started (killed by PID), only the vwire objects it named. slirp4netns and
# pasta reach nothing but the host's loopback: their namespace has a route
# to their gateway address only, and their outbound sockets are bound to
# 127.0.0.1 (slirp4netns --outbound-addr) or to lo (pasta --outbound-if4).
# Everything is removed on exit, also on failure or Ctrl-C.
# shellcheck disable=SC2317 # functions called through "bench_$b" and traps look unreachable
# The whole script is one { } block, so bash reads it all before it runs:
# an edit of this file during a run cannot change the run.
{
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${IOPKT_BENCH_BUILD:-$top/build}
smoke=0
rounds=3
only="bulk,rr,crr,udp,mem,tap,peers,cycles"
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

# The requested benchmarks, as named; then what runs: peers needs tap's
# io-pkt and kernel numbers beside it, cycles is measured during bulk.
IFS=, read -r -a requested <<<"$only"
declare -A want=()
for b in "${requested[@]}"; do
  [[ $b =~ ^(bulk|rr|crr|udp|mem|tap|peers|cycles)$ ]] || { echo "run.sh: unknown benchmark $b" >&2; exit 2; }
  want[$b]=1
done
[[ -n ${want[peers]:-} ]] && want[tap]=1
[[ -n ${want[cycles]:-} ]] && want[bulk]=1
benches=()
for b in bulk rr crr udp mem tap peers; do
  [[ -n ${want[$b]:-} ]] && benches+=("$b")
done
report_benches=$(IFS=,; echo "${benches[*]}${want[cycles]:+,cycles}")

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: bench/run.sh needs root (network namespaces, veth)"
  exit 77
fi

bin=$build/bin
tool=$build/bench/iopkt_bench
lwip_tool=$build/bench/lwip_tap
missing=()
needed=("$bin/io-pkt-v4-hc" "$bin/ifconfig" "$bin/if_up" "$tool" "$build/lib/iopkt/devnp-vwire.so")
[[ -n ${want[tap]:-} ]] &&
  needed+=("$bin/iopkt-run" "$build/lib/libiopkt-preload.so" "$build/lib/iopkt/devnp-tap.so")
for f in "${needed[@]}"; do
  [[ -x $f || ( -f $f && $f == *.so ) ]] || missing+=("$f")
done
if ((${#missing[@]})); then
  echo "run.sh: not built: ${missing[*]}" >&2
  echo "run.sh: build first: scripts/build.sh $build (run.sh builds nothing)" >&2
  exit 1
fi
needed=(ip timeout awk python3)
[[ -n ${want[tap]:-} ]] && needed+=(iperf3 ss)
for c in "${needed[@]}"; do
  command -v "$c" >/dev/null || { echo "run.sh: $c missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# slirp4netns and pasta come from Debian: a full run installs the missing
# ones (apt-get, only then). The smoke run installs nothing, so CI's smoke
# measures the peers scripts/setup.sh installed (lwIP's side, built with
# its liblwip-dev) and skips the others.
if [[ -n ${want[peers]:-} ]] && ((!smoke)); then
  to_install=()
  for pkg in slirp4netns passt; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || to_install+=("$pkg")
  done
  if ((${#to_install[@]})); then
    echo "setup: installing ${to_install[*]}"
    (export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null) ||
      echo "setup: ${to_install[*]} could not be installed: skipped below" >&2
  fi
fi

# The user-space peers: one that is not there is skipped, not a failure.
declare -A skip=()
peers=()
if [[ -n ${want[peers]:-} ]]; then
  command -v slirp4netns >/dev/null || skip[slirp4netns]="not installed (Debian package slirp4netns)"
  command -v pasta >/dev/null || skip[pasta]="not installed (Debian package passt)"
  [[ -x $lwip_tool ]] ||
    skip[lwip]="not built: $lwip_tool (liblwip-dev was not installed when the build was configured)"
  if [[ ! -c /dev/net/tun ]]; then
    for p in slirp4netns pasta lwip; do skip[$p]="no /dev/net/tun"; done
  fi
  for p in slirp4netns pasta lwip; do
    if [[ -n ${skip[$p]:-} ]]; then echo "bench: peer $p skipped: ${skip[$p]}" >&2; else peers+=("$p"); fi
  done
fi

# Cycles need a hardware counter: a VM without a virtual PMU has none, and
# perf says "<not supported>". IOPKT_BENCH_PERF_EVENT=cpu-clock (a software
# event) exercises the same path on such a machine; its numbers are then
# milliseconds, not cycles.
perf_event=${IOPKT_BENCH_PERF_EVENT:-cycles}
cycles_ok=0
if [[ -n ${want[cycles]:-} ]]; then
  if ! command -v perf >/dev/null; then
    skip[cycles]="perf is not installed (Debian package linux-perf)"
  elif perf_probe=$(timeout 20 perf stat -x, -e "$perf_event" -- true 2>&1) &&
    ! grep -q '<not supported>\|<not counted>' <<<"$perf_probe"; then
    cycles_ok=1
  else
    skip[cycles]="perf stat -e $perf_event: $(grep -m1 -o '<not supported>\|<not counted>' <<<"$perf_probe" ||
      echo failed) on this machine (no hardware counters, as in a VM without a virtual PMU); CPU seconds per GB stand in"
  fi
  [[ -n ${skip[cycles]:-} ]] && echo "bench: cycles skipped: ${skip[cycles]}" >&2
fi

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
client_wrap=() # run_client's command runs under this (bulk: perf stat)

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

# ns_add NAME: a namespace of ours, lo up, remembered for the cleanup.
ns_add() {
  ip netns add "$1" || return 1
  netns+=("$1")
  ip -n "$1" link set lo up
}

# tap: one io-pkt-v4-hc on devnp-tap, in namespace -t, where the TAP is
# made; Linux's end of the TAP there is the server side (198.51.100.2),
# io-pkt's interface the client side (198.51.100.1). The client programs
# run in namespace -c, which has nothing but lo: a socket that did not go
# to io-pkt could reach nothing.
cur_ns_t="" cur_ns_c="" cur_pt=""
tap_up() {
  cur_ns_t="$id-$seq_no-t" cur_ns_c="$id-$seq_no-c" cur_pt=$work/t$seq_no
  cur_iopkt_pids=()
  ns_add "$cur_ns_t" && ns_add "$cur_ns_c" || return 1
  local inst=3 pid
  timeout 20 ip netns exec "$cur_ns_t" io-pkt-v4-hc -i "$inst" -d tap ifname=bt0,up -p tcpip \
    "prefix=$cur_pt,somaxconn=4096" || return 1
  pid=$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.$inst")
  pids+=("$pid")
  cur_iopkt_pids+=("$pid")
  ip -n "$cur_ns_t" addr add 198.51.100.2/24 dev bt0 &&
    SOCK=$cur_pt ifconfig en0 198.51.100.1/24 up &&
    SOCK=$cur_pt if_up -r 20 -s 1 en0 >/dev/null
}
tap_down() {
  iopkt_down
  ip netns del "$cur_ns_t" 2>/dev/null || true
  ip netns del "$cur_ns_c" 2>/dev/null || true
}

# peers: the application runs in namespace -p over the kernel's stack; the
# namespace's only link is the user-space stack's TAP, with a route to the
# gateway address alone, which slirp4netns and pasta map to the host's
# loopback, where the server listens (127.0.0.1). lwip: lwip_tap owns a
# TAP in namespace -l (203.0.113.2) whose Linux end (203.0.113.1) is the
# server side. The peer process is bounded by timeout and stopped by PID.
cur_ns_p="" cur_peer_pid="" cur_gw=""
peer_up() { # peer_up PEER
  cur_ns_p="$id-$seq_no-p" cur_peer_pid=""
  ns_add "$cur_ns_p" || return 1
  local log=$work/peer.$1.$seq_no.log i dev life=$((4 * t_short + 60))
  case $1 in
  slirp4netns)
    # Gateway 192.0.2.2 is the host's loopback; no DNS; outbound sockets
    # bound to 127.0.0.1, so nothing but the loopback can be reached.
    dev=st0 cur_gw=192.0.2.2
    timeout -k 2 "$life" slirp4netns --netns-type=path --cidr=192.0.2.0/24 --disable-dns --mtu=65520 \
      --outbound-addr=127.0.0.1 "/run/netns/$cur_ns_p" "$dev" >"$log" 2>&1 &
    ;;
  pasta)
    # Gateway 192.0.2.1 (mapped to the host), no DHCP/NDP/RA/DNS, no UDP or
    # ICMP, no port forwarding either way, IPv4 only, outbound sockets bound
    # to lo. --runas 0: as root it would become nobody, who cannot enter
    # the namespace.
    dev=pt0 cur_gw=192.0.2.1
    timeout -k 2 "$life" pasta -f -q --runas 0 --netns "$cur_ns_p" -4 -I "$dev" -a 192.0.2.2 -n 32 \
      -g "$cur_gw" -M 02:00:00:00:00:01 --outbound-if4 lo -t none -u none -T none -U none --no-udp \
      --no-icmp --no-dhcp --no-ndp --no-dhcpv6 --no-ra -D none -S none -P "$work/pasta.$seq_no.pid" \
      >"$log" 2>&1 &
    ;;
  esac
  cur_peer_pid=$!
  pids+=("$cur_peer_pid")
  # Ready: slirp4netns has handed the TAP over; pasta wrote its PID file.
  for ((i = 0; i < 100; i++)); do
    if [[ $1 == slirp4netns ]]; then grep -q '^received tapfd' "$log" 2>/dev/null && break
    else [[ -s $work/pasta.$seq_no.pid ]] && break; fi
    kill -0 "$cur_peer_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! ip -n "$cur_ns_p" link show "$dev" >/dev/null 2>&1 || ! kill -0 "$cur_peer_pid" 2>/dev/null; then
    log "  $1 did not start"
    show "$log"
    return 1
  fi
  local addr_p=192.0.2.100
  [[ $1 == pasta ]] && addr_p=192.0.2.2
  # MTU 65520: what both use by default (slirp4netns for podman, pasta's
  # --config-net).
  ip -n "$cur_ns_p" link set "$dev" mtu 65520 up &&
    ip -n "$cur_ns_p" addr add "$addr_p/32" dev "$dev" &&
    ip -n "$cur_ns_p" route add "$cur_gw/32" dev "$dev"
}
peer_down() {
  [[ -n $cur_peer_pid ]] && stop_pids "$cur_peer_pid"
  cur_peer_pid=""
  ip netns del "$cur_ns_p" 2>/dev/null || true
}

# env_up BENCH STACK: the environment of one measurement.
env_up() {
  seq_no=$((seq_no + 1))
  case $1:$2 in
  *:kernel) kernel_up ;;
  tap:iopkt) tap_up ;;
  peers:lwip) cur_ns_p="$id-$seq_no-l" && ns_add "$cur_ns_p" ;;
  peers:*) peer_up "$2" ;;
  *) iopkt_up ;;
  esac
}
env_down() {
  case $1:$2 in
  *:kernel) kernel_down ;;
  tap:iopkt) tap_down ;;
  peers:*) peer_down ;;
  *) iopkt_down ;;
  esac
}

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
  if ! timeout -k 2 "$t" "${client_wrap[@]}" $(on a "$stack" -- "$@") >"$work/$name.cli.out" \
    2>"$work/$name.cli.err"; then
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
  # cycles: the client runs under perf stat, which counts the whole
  # machine (-a) while it runs, as the machine busy time does: the kernel's
  # softirq work is charged to no process.
  client_wrap=()
  # shellcheck disable=SC2054 # -x, is perf's separator option, not a list
  ((cycles_ok)) && client_wrap=(perf stat -a -x, -e "$perf_event" -o "$work/$name.perf" --)
  cpu0=$(machine_busy)
  proc0=$(proc_ticks "${cur_iopkt_pids[@]}")
  if ! run_client "$name" "$stack" "$t" bulk-send --addr "$addr" --port "$port" --bytes "$bulk_bytes" \
    --timeout-s "$t"; then
    client_wrap=()
    return 1
  fi
  client_wrap=()
  cpu1=$(machine_busy)
  proc1=$(proc_ticks "${cur_iopkt_pids[@]}")
  if ((cycles_ok)); then
    local cyc
    cyc=$(awk -F, -v e="$perf_event" '$3 == e || $3 ~ "^"e":" {print $1; exit}' "$work/$name.perf")
    if [[ $cyc =~ ^[0-9.]+$ ]]; then
      record bulk_cycles "$stack" "$r" "$(awk -v c="$cyc" -v b="$bulk_bytes" 'BEGIN{printf "%.6g", c / b}')"
    else
      log "  $name: no count from perf stat"
      show "$work/$name.perf"
    fi
  fi
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

# --- tap and peers: iperf3 and rr between namespaces and the host ----------

# listening NS PORT: a TCP listener on PORT in namespace NS ("": this one).
listening() {
  local nx=()
  [[ -n $1 ]] && nx=(ip netns exec "$1")
  [[ -n $("${nx[@]}" ss -Hltn "sport = :$2" 2>/dev/null) ]]
}
wait_listen() { # wait_listen NS PORT: bounded (10 s)
  local i
  for ((i = 0; i < 100; i++)); do listening "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

# iperf3 takes whole seconds.
iperf_t=$(awk -v s="$seconds" 'BEGIN{t = int(s); if (t < s) t++; if (t < 1) t = 1; print t}')

# run_iperf3 NAME SRV_NS BIND CLI_NS DST PORT [PREFIX]: an iperf3 server
# (one test) bound to BIND in SRV_NS, the client in CLI_NS to DST for
# iperf_t seconds, under iopkt-run when PREFIX (a stack) is given. The
# receiver's throughput (iperf3 -J: end.sum_received) in Gbit/s goes to
# $got.
run_iperf3() {
  local name=$1 sns=$2 bind=$3 cns=$4 dst=$5 port=$6 prefix=${7:-}
  local t=$((iperf_t + 40)) sx=() cx=()
  [[ -n $sns ]] && sx=(ip netns exec "$sns")
  [[ -n $cns ]] && cx=(ip netns exec "$cns")
  [[ -n $prefix ]] && cx+=(iopkt-run -s "$prefix" --)
  got=""
  if listening "$sns" "$port"; then
    log "  $name: port $port is taken${sns:+ in $sns}${sns:- on this host}: not measured"
    return 1
  fi
  timeout -k 2 "$t" "${sx[@]}" iperf3 -s -1 -B "$bind" -p "$port" >"$work/$name.srv.out" 2>&1 &
  srv_pid=$!
  pids+=("$srv_pid")
  if ! wait_listen "$sns" "$port"; then
    log "  $name: the iperf3 server did not start"
    show "$work/$name.srv.out"
    return 1
  fi
  if ! timeout -k 2 "$t" "${cx[@]}" iperf3 -c "$dst" -p "$port" -t "$iperf_t" -J \
    >"$work/$name.cli.out" 2>"$work/$name.cli.err"; then
    log "  $name: the iperf3 client failed"
    show "$work/$name.cli.err" "$work/$name.srv.out"
    grep -m1 '"error"' "$work/$name.cli.out" >&2 || true
    return 1
  fi
  finish_server "$name" || return 1
  got=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.4f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' "$work/$name.cli.out") || {
    log "  $name: no throughput in iperf3's JSON"
    return 1
  }
}

# run_rr NAME SRV_NS BIND CLI_NS DST PORT [PREFIX]: rr with iopkt_bench,
# the server over the kernel in SRV_NS bound to BIND, the client in CLI_NS
# over libiopkt when PREFIX is given (else the kernel). Records rr metrics
# as METRIC_PREFIX_rate/_p50/_p99 for STACK ($rr_metric, $rr_stack, $rr_round).
run_rr() {
  local name=$1 sns=$2 bind=$3 cns=$4 dst=$5 port=$6 prefix=${7:-}
  local t=$t_short sx=() cx=()
  [[ -n $sns ]] && sx=(ip netns exec "$sns")
  [[ -n $cns ]] && cx=(ip netns exec "$cns")
  local cli=("$tool" rr-client --addr "$dst" --port "$port" --seconds "$seconds" --timeout-s "$t")
  if [[ -n $prefix ]]; then cx+=(env "SOCK=$prefix"); else cli+=(--kernel); fi
  if listening "$sns" "$port"; then
    log "  $name: port $port is taken${sns:+ in $sns}${sns:- on this host}: not measured"
    return 1
  fi
  timeout -k 2 "$t" "${sx[@]}" "$tool" rr-server --kernel --addr "$bind" --port "$port" --timeout-s "$t" \
    >"$work/$name.srv.out" 2>"$work/$name.srv.err" &
  srv_pid=$!
  pids+=("$srv_pid")
  if ! wait_line "$work/$name.srv.err" "listening|iopkt_bench:" 100 ||
    ! grep -q listening "$work/$name.srv.err"; then
    log "  $name: the server did not start"
    show "$work/$name.srv.err"
    return 1
  fi
  if ! timeout -k 2 "$t" "${cx[@]}" "${cli[@]}" >"$work/$name.cli.out" 2>"$work/$name.cli.err"; then
    log "  $name: the client failed"
    show "$work/$name.cli.out" "$work/$name.cli.err" "$work/$name.srv.err"
    return 1
  fi
  finish_server "$name" || return 1
  record tap_rr_rate "$rr_stack" "$rr_round" "$(val "$work/$name.cli.out" rtt_per_s)"
  record tap_rr_p50 "$rr_stack" "$rr_round" "$(val "$work/$name.cli.out" p50_us)"
  record tap_rr_p99 "$rr_stack" "$rr_round" "$(val "$work/$name.cli.out" p99_us)"
}

# tap: io-pkt on devnp-tap, iperf3 under iopkt-run (the unmodified
# program's path) and rr, to Linux behind the TAP; kernel: the same over
# the veth between two namespaces.
bench_tap() {
  local stack=$1 r=$2 ok=0
  rr_stack=$stack rr_round=$r
  if [[ $stack == iopkt ]]; then
    run_iperf3 "tap-bulk.$stack.$r" "$cur_ns_t" 198.51.100.2 "$cur_ns_c" 198.51.100.2 5006 "$cur_pt" || ok=1
    [[ -n $got ]] && record tap_gbps "$stack" "$r" "$got"
    run_rr "tap-rr.$stack.$r" "$cur_ns_t" 198.51.100.2 "$cur_ns_c" 198.51.100.2 5007 "$cur_pt" || ok=1
  else
    run_iperf3 "tap-bulk.$stack.$r" "$cur_ns_b" 198.51.100.2 "$cur_ns_a" 198.51.100.2 5006 || ok=1
    [[ -n $got ]] && record tap_gbps "$stack" "$r" "$got"
    run_rr "tap-rr.$stack.$r" "$cur_ns_b" 198.51.100.2 "$cur_ns_a" 198.51.100.2 5007 || ok=1
  fi
  return "$ok"
}

# peers: slirp4netns and pasta carry iperf3 and rr from their namespace to
# servers on the host's loopback (ports 5311 and 5312 of 127.0.0.1); lwIP
# (bench/tools/lwip_tap) sends for --seconds to iopkt_bench bulk-recv on
# Linux's end of its TAP.
bench_peers() {
  local stack=$1 r=$2 ok=0
  rr_stack=$stack rr_round=$r
  if [[ $stack == lwip ]]; then
    bench_lwip "$r"
    return
  fi
  run_iperf3 "peer-bulk.$stack.$r" "" 127.0.0.1 "$cur_ns_p" "$cur_gw" 5311 || ok=1
  [[ -n $got ]] && record tap_gbps "$stack" "$r" "$got"
  run_rr "peer-rr.$stack.$r" "" 127.0.0.1 "$cur_ns_p" "$cur_gw" 5312 || ok=1
  return "$ok"
}

bench_lwip() {
  local r=$1 name="peer-bulk.lwip.$1" port=5008 ns=$cur_ns_p t=$t_short
  # A persistent TAP made here, so that Linux's end is configured before
  # lwIP attaches to it; it goes with the namespace.
  ip -n "$ns" tuntap add dev lt0 mode tap &&
    ip -n "$ns" addr add 203.0.113.1/24 dev lt0 &&
    ip -n "$ns" link set lt0 up || return 1
  timeout -k 2 "$t" ip netns exec "$ns" "$tool" bulk-recv --kernel --addr 203.0.113.1 --port "$port" \
    --timeout-s "$t" >"$work/$name.srv.out" 2>"$work/$name.srv.err" &
  srv_pid=$!
  pids+=("$srv_pid")
  if ! wait_line "$work/$name.srv.err" "listening|iopkt_bench:" 100 ||
    ! grep -q listening "$work/$name.srv.err"; then
    log "  $name: the server did not start"
    show "$work/$name.srv.err"
    return 1
  fi
  if ! timeout -k 2 "$t" ip netns exec "$ns" "$lwip_tool" --tap lt0 --addr 203.0.113.2 --peer 203.0.113.1 \
    --port "$port" --seconds "$seconds" >"$work/$name.cli.out" 2>"$work/$name.cli.err"; then
    log "  $name: lwip_tap failed"
    show "$work/$name.cli.out" "$work/$name.cli.err" "$work/$name.srv.err"
    return 1
  fi
  finish_server "$name" || return 1
  record tap_gbps lwip "$r" "$(val "$work/$name.srv.out" gbps)"
}

# --- the run ----------------------------------------------------------------

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
    [[ $b == peers ]] && order=("${peers[@]}")
    if ((r % 2 == 0)); then
      rev=()
      for stack in "${order[@]}"; do rev=("$stack" "${rev[@]}"); done
      order=("${rev[@]}")
    fi
    for stack in "${order[@]}"; do
      t0=$SECONDS
      srv_pid=""
      if env_up "$b" "$stack"; then
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
      env_down "$b" "$stack"
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
skips=()
for p in "${!skip[@]}"; do skips+=(--skip "$p=${skip[$p]}"); done
/usr/bin/python3 "$top/bench/report.py" --samples "$samples" --out "$out" ${png:+--png "$png"} \
  --benches "$report_benches" --peers "$(IFS=,; echo "${peers[*]}")" "${skips[@]}" \
  --meta "date=$start_time" --meta "command=$cmdline" \
  --meta "machine=$(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)" \
  --meta "load average (1, 5, 15 min)=$load_start at the start, $load_end at the end" \
  --meta "settings=$rounds round(s), bulk $bulk_bytes bytes, rr/crr/udp/tap/peers $seconds s (iperf3 -t $iperf_t), mem $conns connections$smoke_note" \
  --meta "duration=$((SECONDS - t_start)) s" || rc=$?
if ((failed > 0)); then
  log "bench: $failed run(s) failed (see above)"
fi
exit "$rc"
}
