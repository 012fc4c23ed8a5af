# tests/interop/lib.sh — shared pieces of the interop tests (DESIGN.md test
# layer 4): network namespaces the test creates itself, io-pkt instances
# inside them, and cleanup by name and PID. Source it; needs root.
#
# Network safety: only namespaces made here, only 192.0.2.0/24,
# 198.51.100.0/24 and 203.0.113.0/24; nothing touches the host's interfaces.

set -euo pipefail

: "${IOPKT_BIN_DIR:?set by ctest}"
: "${IOPKT_MODULE_DIR:?set by ctest}"
top_build=$(dirname "$IOPKT_BIN_DIR")
export PATH="$IOPKT_BIN_DIR:$top_build/examples:$top_build/tests/interop-tools:$PATH"

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: interop tests need root (network namespaces)"
  exit 77
fi

# it_stack_on_veth [LABEL]: the usual pair, after `it_ns lx lx; it_ns st
# st`: Linux in $lx with 192.0.2.1/24 on veth-lx, io-pkt (instance 1,
# devnp-packet) in $st with 192.0.2.2/24 on en0 over veth-st. Sets pkt to
# the instance's prefix and checks that its interface came up.
it_stack_on_veth() {
  it_veth "$lx" veth-lx "$st" veth-st
  ip -n "$lx" addr add 192.0.2.1/24 dev veth-lx
  it_iopkt "$st" "$it_work/pkt" 1 -d packet if=veth-st
  pkt=$it_work/pkt
  SOCK=$pkt ifconfig en0 192.0.2.2/24
  check "${1:+$1: }io-pkt's interface is up" env "SOCK=$pkt" if_up -r 20 -s 1 en0
}

# it_need_plain_build: for tests that put the preload library into
# Debian's programs: a sanitizer-instrumented one cannot go there (the
# sanitizer's runtime must come first in a process), so a sanitizer build
# skips them; the normal build runs them.
it_need_plain_build() {
  if [[ -n ${IOPKT_SANITIZE:-} ]]; then
    echo "SKIP: the preload library is not tested in a sanitizer build ($IOPKT_SANITIZE)"
    exit 77
  fi
}

it_id="it$$"
it_work=$(mktemp -d "/tmp/iopkt-$it_id.XXXXXX")
chmod 755 "$it_work"
export IOPKT_RUNDIR="$it_work/run"
it_netns=()
it_pids=()
it_failures=0

it_cleanup() {
  local pid
  for pid in "${it_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${it_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for ns in "${it_netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$it_work"
}
trap it_cleanup EXIT

# it_ns VAR NAME: creates namespace "$it_id-NAME" with lo up, remembers it
# for cleanup and stores its name in VAR. (Not called as $(it_ns ...): a
# command substitution is a subshell, and the cleanup list would be lost.)
it_ns() {
  local ns="$it_id-$2"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  it_netns+=("$ns")
  printf -v "$1" '%s' "$ns"
}

# it_veth NS_A IF_A NS_B IF_B: a veth pair between two namespaces, both up.
it_veth() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

# it_iopkt NS PREFIX INSTANCE ARGS...: start io-pkt-v4-hc in NS (returns
# when ready) and remember its pid.
it_iopkt() {
  local ns=$1 prefix=$2 inst=$3
  shift 3
  ip netns exec "$ns" io-pkt-v4-hc -i "$inst" -p tcpip "prefix=$prefix" "$@"
  it_pids+=("$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.$inst")")
}

# it_bg CMD...: start a background helper and remember its pid.
it_bg() {
  "$@" &
  it_pids+=("$!")
}

pass() { printf 'ok   %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*"
  it_failures=$((it_failures + 1))
}
# check DESCRIPTION CMD...: run CMD, pass if it succeeds.
check() {
  local what=$1
  shift
  if "$@" >"$it_work/out" 2>&1; then
    pass "$what"
  else
    fail "$what"
    sed 's/^/     | /' "$it_work/out"
  fi
}
# check_output DESCRIPTION REGEX CMD...: pass if CMD's output matches REGEX.
check_output() {
  local what=$1 re=$2
  shift 2
  "$@" >"$it_work/out" 2>&1 || true
  if grep -Eq -- "$re" "$it_work/out"; then
    pass "$what"
  else
    fail "$what (wanted /$re/)"
    sed 's/^/     | /' "$it_work/out"
  fi
}
it_finish() {
  if ((it_failures > 0)); then
    echo "$it_failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
