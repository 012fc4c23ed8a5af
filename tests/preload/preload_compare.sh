# tests/preload/preload_compare.sh — ctest preload.compare (docs/preload.md):
#   1. preload_check against the kernel (on loopback, in a network namespace
#      of its own when this runs as root) and under iopkt-run against an
#      io-pkt instance's lo0: the outputs must be the same, line for line;
#      the stack's counters must show the sockets were its own;
#   2. the stack killed under open sockets: every call returns, with an
#      error (no hang, no crash);
#   3. iopkt-run's usage and errors.
# Env (ctest): IOPKT_BIN_DIR, IOPKT_PRELOAD_CHECK, IOPKT_SANITIZE. Needs no
# privilege; every wait is bounded and the instance killed by pid.
set -u

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

bin=${IOPKT_BIN_DIR:?IOPKT_BIN_DIR must name the bin folder of the build}
check=${IOPKT_PRELOAD_CHECK:?IOPKT_PRELOAD_CHECK must name preload_check}
if [ -n "${IOPKT_SANITIZE:-}" ]; then
  # A sanitizer runtime must come first in a process; a preloaded library
  # built with one cannot be put into programs built without.
  echo "SKIP: the preload library is not tested in a sanitizer build"
  exit 77
fi
T=$(mktemp -d /tmp/iopkt-preload-XXXXXX) || fail "mktemp"
export IOPKT_RUNDIR=$T/run
unset SOCK LD_PRELOAD
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT

start_stack() {
  timeout 20 "$bin/io-pkt-v4-hc" -i 1 -p tcpip "prefix=$T/a" || fail "io-pkt-v4-hc did not start"
  read -r pid _ <"$IOPKT_RUNDIR/io-pkt.1" || fail "no registry entry"
}
counter() { SOCK=$T/a timeout 10 "$bin/sysctl" -n "$1"; }

# --- 1. the kernel and the stack answer alike --------------------------------
if [ "$(id -u)" -eq 0 ] && timeout 10 unshare -n true 2>/dev/null; then
  timeout 120 unshare -n sh -c 'ip link set lo up && exec "$0" -i lo' "$check" >"$T/kernel.out" 2>&1
else
  timeout 120 "$check" -i lo >"$T/kernel.out" 2>&1
fi
rc=$?
[ $rc -eq 0 ] || { cat "$T/kernel.out"; fail "preload_check against the kernel: exit $rc"; }

start_stack
timeout 120 "$bin/iopkt-run" -s "$T/a" -- "$check" -i lo0 >"$T/stack.out" 2>&1
rc=$?
if ! diff -u "$T/kernel.out" "$T/stack.out"; then
  fail "preload_check: the stack's answers (+) differ from the kernel's (-)"
fi
[ $rc -eq 0 ] || fail "preload_check under iopkt-run: exit $rc"
echo "preload_check: $(wc -l <"$T/stack.out") checks, the same against the kernel and over io-pkt"
# The sockets were the stack's: it counted the connections and datagrams.
accepts=$(counter net.inet.tcp.stats.accepts) || fail "sysctl"
udp_in=$(counter net.inet.udp.stats.ipackets) || fail "sysctl"
[ "${accepts:-0}" -ge 3 ] || fail "the stack accepted ${accepts:-0} connections; the test made 3 or more"
[ "${udp_in:-0}" -ge 8 ] || fail "the stack received ${udp_in:-0} UDP datagrams; the test sent 8 or more"
echo "the stack counted $accepts accepted connections and $udp_in UDP datagrams"

# --- 2. the stack goes away under open sockets --------------------------------
mkfifo "$T/in" || fail "mkfifo"
timeout 60 "$bin/iopkt-run" -s "$T/a" -- "$check" --stack-gone <"$T/in" >"$T/gone.out" 2>&1 &
gone=$!
exec 3>"$T/in"
for _ in $(seq 100); do grep -q '^gone: ready' "$T/gone.out" && break; sleep 0.1; done
grep -q '^gone: ready' "$T/gone.out" || { cat "$T/gone.out"; fail "--stack-gone never got ready"; }
kill -KILL "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
pid=
echo go >&3
exec 3>&-
wait "$gone"
rc=$?
cat "$T/gone.out"
[ $rc -eq 0 ] || fail "--stack-gone: exit $rc (124: it hung)"
# Each call fails as on a connection or network that went away.
bad=$(grep -E '^gone: (tcp|udp|getsockname|socket)' "$T/gone.out" |
  grep -Ev -- '-1 (ECONNRESET|EPIPE|ENOENT|ECONNREFUSED|ENOTCONN)$')
[ -z "$bad" ] || fail "after the stack died: $bad"
grep -q '^gone: close: ok' "$T/gone.out" || fail "close after the stack died"

# --- 3. iopkt-run's usage and errors --------------------------------------------
"$bin/iopkt-run" -h | grep -q '^usage: iopkt-run' || fail "iopkt-run -h"
"$bin/iopkt-run" 2>"$T/err"
[ $? -eq 2 ] && grep -q 'no command given' "$T/err" || fail "iopkt-run without a command"
"$bin/iopkt-run" -s "$T/nowhere" -- true 2>"$T/err"
[ $? -eq 1 ] && grep -q "no io-pkt stack at $T/nowhere/dev/socket" "$T/err" ||
  fail "iopkt-run with no stack"
start_stack
"$bin/iopkt-run" -s "$T/a" -- no-such-command-xyz 2>"$T/err"
[ $? -eq 127 ] && grep -q 'command not found' "$T/err" || fail "iopkt-run of a missing command"
out=$("$bin/iopkt-run" -s "$T/a" -- sh -c 'echo "$SOCK $LD_PRELOAD"') || fail "iopkt-run sh"
case "$out" in
  "$T/a /"*libiopkt-preload.so*) ;;
  *) fail "iopkt-run's environment: $out" ;;
esac
echo "all preload checks passed"
