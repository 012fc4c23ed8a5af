#!/usr/bin/env bash
# TCP urgent data (RFC 6093) between io-pkt and the Linux kernel, each way:
# a program over io-pkt (iopkt_urgent, libiopkt) and the same program over
# the kernel's TCP (--kernel) in a namespace across a veth. The sender sends
# "ab", "X" with MSG_OOB, "cd"; the receiver must get POLLPRI, read "ab" up
# to the mark (SIOCATMARK), "X" by recv(MSG_OOB) and then "cd"; then the
# roles swap on the same connection. So the urgent pointer io-pkt sends is
# the one Linux reads (the byte after the urgent byte), and the reverse.
source "$(dirname "$0")/lib.sh"

if ! command -v iopkt_urgent >/dev/null; then
  echo "SKIP: iopkt_urgent not built (tests/interop/tools)"
  exit 77
fi

it_ns lx lx
it_ns st st
it_stack_on_veth
check "Linux pings io-pkt" ip netns exec "$lx" /usr/bin/ping -c 2 -i 0.2 -W 2 192.0.2.2

# wait_line FILE REGEX: at most 10 s for a line in FILE.
wait_line() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# urgent_pair WHAT SERVER_CMD... -- CLIENT_CMD...: the server in the
# background, then the client; both must exit 0 with the expected lines.
urgent_pair() {
  local what=$1
  shift
  local srv=() cli=()
  while [[ $1 != -- ]]; do srv+=("$1"); shift; done
  shift
  cli=("$@")
  # The last pair's files go first: the redirections below truncate them
  # only once the background job runs, and wait_line must not find the
  # last server's "listening" line meanwhile (a client that connected
  # before its server listened was refused, seen under load).
  rm -f "$it_work/srv.out" "$it_work/srv.err" "$it_work/cli.out" "$it_work/cli.err"
  "${srv[@]}" >"$it_work/srv.out" 2>"$it_work/srv.err" &
  local spid=$!
  it_pids+=("$spid")
  if ! wait_line "$it_work/srv.err" "listening|iopkt_urgent:"; then
    fail "$what: the server did not start"
    return
  fi
  local crc=0 src=0
  "${cli[@]}" >"$it_work/cli.out" 2>"$it_work/cli.err" || crc=$?
  wait "$spid" || src=$?
  if [[ $crc == 0 && $src == 0 ]] &&
    grep -q "received before_mark=ab urgent=X after=cd" "$it_work/srv.out" &&
    grep -q "received before_mark=12 urgent=3 after=45" "$it_work/cli.out"; then
    pass "$what: the urgent byte arrived out of band at the mark, both ways"
  else
    fail "$what (client exit $crc, server exit $src)"
    sed 's/^/     | /' "$it_work/srv.out" "$it_work/srv.err" "$it_work/cli.out" "$it_work/cli.err"
  fi
}

urg_before=$(env "SOCK=$pkt" sysctl -n net.inet.tcp.stats.rcvurg)
urgent_pair "Linux client, io-pkt server" \
  env "SOCK=$pkt" iopkt_urgent serve 7001 -- \
  ip netns exec "$lx" iopkt_urgent connect 192.0.2.2 7001 --kernel
urgent_pair "io-pkt client, Linux server" \
  ip netns exec "$lx" iopkt_urgent serve 7002 --kernel -- \
  env "SOCK=$pkt" iopkt_urgent connect 192.0.2.1 7002

# io-pkt took an urgent pointer from Linux on each connection, and sent one.
rcvurg=$(env "SOCK=$pkt" sysctl -n net.inet.tcp.stats.rcvurg)
sndurg=$(env "SOCK=$pkt" sysctl -n net.inet.tcp.stats.sndurg)
if ((rcvurg - urg_before >= 2 && sndurg >= 2)); then
  pass "io-pkt counted urgent pointers: $rcvurg received, $sndurg segments sent with URG"
else
  fail "io-pkt's urgent counters: rcvurg=$rcvurg (from $urg_before) sndurg=$sndurg"
fi

it_finish
