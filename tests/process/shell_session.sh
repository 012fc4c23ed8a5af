# process/shell_session.sh — what a user types, from a shell (ctest
# process.shell_session; env IOPKT_BIN_DIR, IOPKT_MODULE_DIR,
# IOPKT_SOURCE_DIR): io-pkt returns only once ready and runs on in the
# background; ifconfig -a shows lo0 with its address; sysctl shows the tcpip
# options' values; mount -T io-pkt1 adds an interface that if_up -p then
# finds; SIGTERM removes the endpoint and the registry entry. Every wait is
# bounded and the instance is killed by pid on any exit.
set -u

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

bin=${IOPKT_BIN_DIR:?IOPKT_BIN_DIR must name the bin folder of the build}
tests_dir=$(dirname "$bin")/tests/modules
T=$(mktemp -d /tmp/iopkt-sh-XXXXXX) || fail "mktemp"
export IOPKT_RUNDIR=$T/run
export IOPKT_MODULE_PATH=$tests_dir
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

# Started from a shell: returns when ready, exit 0.
timeout 20 "$bin/io-pkt-v4-hc" -i 1 -p tcpip "prefix=$T/a,mclbytes=4096" ||
  fail "io-pkt-v4-hc did not start"
read -r pid prefix <"$IOPKT_RUNDIR/io-pkt.1" || fail "no registry entry"
[ "$prefix" = "$T/a" ] || fail "registry prefix '$prefix'"
kill -0 "$pid" || fail "daemon $pid not running"
[ -S "$T/a/dev/socket" ] || fail "no endpoint $T/a/dev/socket"

export SOCK=$T/a
out=$(timeout 10 "$bin/ifconfig" -a) || fail "ifconfig -a"
echo "$out"
echo "$out" | grep -q '^lo0: flags=.*UP.*LOOPBACK' || fail "ifconfig -a shows no lo0 up"
echo "$out" | grep -q 'inet 127\.0\.0\.1 netmask 0xff000000' || fail "lo0 has no 127.0.0.1/8"

v=$(timeout 10 "$bin/sysctl" -n qnx.tcpip.mclbytes) || fail "sysctl -n"
[ "$v" = 4096 ] || fail "qnx.tcpip.mclbytes is '$v'"

if [ -f "$tests_dir/devnp-testnic.so" ]; then
  # mount finds instance 1 through the registry, not SOCK.
  SOCK=$T/elsewhere timeout 10 "$bin/mount" -T io-pkt1 -o name=sh testnic ||
    fail "mount -T io-pkt1"
  timeout 10 "$bin/if_up" -p sh0 || fail "if_up -p sh0"
  timeout 10 "$bin/ifconfig" sh0 | grep -q '^sh0:' || fail "ifconfig sh0"
fi
# if_up gives up (non-zero) on an interface that never comes.
timeout 20 "$bin/if_up" -r 3 -m 100 -p nosuch0 2>/dev/null && fail "if_up -p nosuch0 succeeded"

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "still running 10 s after SIGTERM"
[ -e "$T/a/dev/socket" ] && fail "endpoint left behind"
[ -e "$IOPKT_RUNDIR/io-pkt.1" ] && fail "registry entry left behind"
pid=
echo "PASS"
