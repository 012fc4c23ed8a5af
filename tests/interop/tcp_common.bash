# tests/interop/tcp_common.bash — shell helpers shared by the TCP interop
# tests (tcp_linux.sh, tcp_vwire_loss.sh): the source file and its SHA-256,
# bulk transfers between Linux (socat) and io-pkt (iopkt_tcp) checked end to
# end by SHA-256 and timed, and the impairment relay path (impair_relay in a
# middle namespace). Source it after lib.sh. Not named *.sh: every *.sh in
# this folder but lib.sh is registered as a test.
#
# Sizes and limits, overridable from the environment for quicker runs:
#   TCP_BYTES      bytes per bulk transfer (default 100 MiB)
#   TCP_TIMEOUT_S  bound of each transfer (default 600 s)
#   TCP_LINUX_CC   congestion control of the Linux sockets (socat sets
#                  TCP_CONGESTION; default: the kernel's, often bbr, which
#                  ignores random loss: cubic compares like with like,
#                  CUBIC being io-pkt's default)

tcp_bytes=${TCP_BYTES:-104857600}
tcp_timeout=${TCP_TIMEOUT_S:-600}
tcp_seed=11
tcp_src="$it_work/src.bin"
tcp_src_sha=""
tcp_size="$((tcp_bytes / 1048576)) MB" # for the messages
# socat's option for TCP_LINUX_CC (IPPROTO_TCP 6, TCP_CONGESTION 13).
tcp_socat_opts=${TCP_LINUX_CC:+,setsockopt-string=6:13:$TCP_LINUX_CC}
echo "     linux congestion control: ${TCP_LINUX_CC:-$(cat /proc/sys/net/ipv4/tcp_congestion_control)}"

for tool in iopkt_tcp impair_relay; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool not built (tests/interop/tools)"
    exit 77
  fi
done

# tcp_need CMD...: skip the test when a Linux program is missing
# (scripts/setup.sh installs them).
tcp_need() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null; then
      echo "SKIP: $c not installed"
      exit 77
    fi
  done
}

# tcp_make_source: the file Linux sends (the iopkt_tcp stream for the seed,
# so either side can produce it) and its SHA-256 by sha256sum, which also
# checks iopkt_tcp's own SHA-256 against an independent one.
tcp_make_source() {
  iopkt_tcp gen "$tcp_bytes" --seed "$tcp_seed" >"$tcp_src"
  tcp_src_sha=$(sha256sum "$tcp_src" | cut -d' ' -f1)
  check_output "iopkt_tcp's SHA-256 agrees with sha256sum on $tcp_bytes bytes" \
    "^bytes=$tcp_bytes sha256=$tcp_src_sha " iopkt_tcp sha256 "$tcp_src"
}

# tcp_offloads_off NS IF...: no checksum offload, segmentation or receive
# coalescing on these veths, so every frame on the wire is at most the MTU
# and carries a complete checksum: what a relay that corrupts frames after
# the checksum exists (or a per-frame loss rule) needs to see. With GSO off
# the kernel's TCP still builds multi-segment skbs and cuts them up only after
# the netdev egress hook, so an nftables egress rule would drop or duplicate
# several segments at once: gso_max_segs 1 makes TCP build one segment per
# skb.
tcp_offloads_off() {
  local ns=$1 ifname
  shift
  for ifname in "$@"; do
    ip netns exec "$ns" ethtool -K "$ifname" tx off rx off tso off gso off gro off \
      >/dev/null 2>&1 || true
    ip -n "$ns" link set "$ifname" gso_max_segs 1
    if ip netns exec "$ns" ethtool -k "$ifname" |
      grep -Eq '^(tx-checksumming|generic-segmentation-offload|generic-receive-offload): on'; then
      echo "tcp_common: could not turn offloads off on $ifname in $ns" >&2
      return 1
    fi
  done
}

# tcp_wait_for FILE REGEX [TENTHS]: waits (at most TENTHS/10 s, default 10 s)
# until FILE has a line matching REGEX.
tcp_wait_for() {
  local file=$1 re=$2 n=${3:-100} i
  for ((i = 0; i < n; i++)); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# tcp_wait_listen NS PORT: waits (at most 10 s) for a Linux listener.
tcp_wait_listen() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  return 1
}

# tcp_report WHAT OK T0 DETAIL: the ok/FAIL line of a transfer with its
# elapsed time and rate.
tcp_report() {
  local what=$1 ok=$2 t0=$3 detail=${4:-}
  local secs rate
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b - a}')
  rate=$(awk -v n="$tcp_bytes" -v a="$t0" -v b="$EPOCHREALTIME" \
    'BEGIN{printf "%.1f", (b > a ? n / (b - a) / 1e6 : 0)}')
  if [[ $ok == 1 ]]; then
    pass "$what: SHA-256 matches ($secs s, $rate MB/s)"
  else
    fail "$what ($secs s): $detail"
  fi
}

# tcp_show FILE...: indents files into the log after a failure.
tcp_show() {
  local f
  for f in "$@"; do
    if [[ -s $f ]]; then
      awk -v n="$(basename "$f")" '{print "     | " n ": " $0}' "$f"
    fi
  done
  return 0
}

# tcp_stack_stats PREFIX: the stack's non-zero TCP counters on one line, to
# show after a failed transfer (a stack bug is then easier to place).
tcp_stack_stats() {
  local line
  line=$(env "SOCK=$1" sysctl -a 2>/dev/null | grep '^net\.inet\.tcp\.stats\.' |
    grep -v ' = 0$' | sed 's/^net\.inet\.tcp\.stats\.//; s/ = /=/' | tr '\n' ' ') || true
  echo "     | io-pkt tcp stats: ${line:-none}"
}

# tcp_linux_stats NS: the namespace's kernel TCP counters about loss
# recovery on one line (absolute, nstat's history left alone).
tcp_linux_stats() {
  local line
  line=$(ip netns exec "$1" nstat -as 2>/dev/null |
    awk 'tolower($1) ~ /retrans|reorder|dsack|undo|lost|timeout|sackrecovery|probe|spurious|ofo|paws|insegs|outsegs|prune|drop/ && $2 != 0 {printf "%s=%s ", $1, $2}') || true
  echo "     | linux tcp stats: ${line:-none}"
}

# tcp_reap PID CLIENT_RC: waits for a transfer's server; when the client
# failed, the server will never finish, so it is stopped first. Returns the
# server's status.
tcp_reap() {
  if [[ $2 != 0 ]]; then
    kill "$1" 2>/dev/null || true
  fi
  wait "$1"
}

# tcp_linux_to_linux WHAT SRC_NS DST_NS DST_ADDR PORT: the kernel both ends
# (socat), to validate a path by itself.
tcp_linux_to_linux() {
  local what=$1 src_ns=$2 dst_ns=$3 addr=$4 port=$5
  local out="$it_work/k2k.$port" rc=0 got size
  rm -f "$out"
  it_bg ip netns exec "$dst_ns" timeout "$tcp_timeout" \
    socat -u "TCP4-LISTEN:$port,reuseaddr$tcp_socat_opts" "CREATE:$out" 2>"$out.srv.err"
  local spid=$!
  if ! tcp_wait_listen "$dst_ns" "$port"; then
    fail "$what: socat did not listen"
    return 0
  fi
  local t0=$EPOCHREALTIME
  timeout "$tcp_timeout" ip netns exec "$src_ns" socat -u "FILE:$tcp_src" "TCP4:$addr:$port$tcp_socat_opts" \
    2>"$out.cli.err" || rc=$?
  tcp_reap "$spid" "$rc" || rc=$((rc == 0 ? $? : rc))
  got=$(sha256sum "$out" 2>/dev/null | cut -d' ' -f1) || true
  size=$(stat -c %s "$out" 2>/dev/null) || size=0
  rm -f "$out"
  if [[ $rc == 0 && $got == "$tcp_src_sha" ]]; then
    tcp_report "$what" 1 "$t0"
  else
    tcp_report "$what" 0 "$t0" "exit $rc, got $size bytes sha256=$got"
    tcp_show "$out.srv.err" "$out.cli.err"
  fi
}

# tcp_linux_to_iopkt WHAT LINUX_NS PREFIX IOPKT_ADDR PORT: socat sends the
# source file, iopkt_tcp on the stack at PREFIX sinks it.
tcp_linux_to_iopkt() {
  local what=$1 lx=$2 prefix=$3 addr=$4 port=$5
  local out="$it_work/l2i.$port" rc=0
  it_bg env "SOCK=$prefix" iopkt_tcp serve "$port" --sink --timeout-s "$tcp_timeout" \
    >"$out" 2>"$out.srv.err"
  local spid=$!
  if ! tcp_wait_for "$out.srv.err" "listening|iopkt_tcp:"; then
    fail "$what: iopkt_tcp did not listen"
    tcp_show "$out.srv.err"
    return 0
  fi
  if ! grep -q listening "$out.srv.err"; then
    fail "$what: iopkt_tcp serve failed"
    tcp_show "$out.srv.err"
    return 0
  fi
  local t0=$EPOCHREALTIME
  timeout "$tcp_timeout" ip netns exec "$lx" socat -u "FILE:$tcp_src" "TCP4:$addr:$port$tcp_socat_opts" \
    2>"$out.cli.err" || rc=$?
  tcp_reap "$spid" "$rc" || rc=$((rc == 0 ? $? : rc))
  if [[ $rc == 0 ]] && grep -q "^bytes=$tcp_bytes sha256=$tcp_src_sha " "$out"; then
    tcp_report "$what" 1 "$t0"
  else
    tcp_report "$what" 0 "$t0" "exit $rc, $(cat "$out")"
    tcp_show "$out.srv.err" "$out.cli.err"
    tcp_stack_stats "$prefix"
  fi
}

# tcp_iopkt_to_linux WHAT LINUX_NS PREFIX LINUX_ADDR PORT: iopkt_tcp on the
# stack at PREFIX sends the stream, socat on Linux writes it to a file that
# sha256sum checks.
tcp_iopkt_to_linux() {
  local what=$1 lx=$2 prefix=$3 addr=$4 port=$5
  local out="$it_work/i2l.$port" rc=0 got size
  rm -f "$out"
  it_bg ip netns exec "$lx" timeout "$tcp_timeout" \
    socat -u "TCP4-LISTEN:$port,reuseaddr$tcp_socat_opts" "CREATE:$out" 2>"$out.srv.err"
  local spid=$!
  if ! tcp_wait_listen "$lx" "$port"; then
    fail "$what: socat did not listen"
    return 0
  fi
  local t0=$EPOCHREALTIME
  timeout "$tcp_timeout" env "SOCK=$prefix" iopkt_tcp connect "$addr" "$port" \
    --source "$tcp_bytes" --seed "$tcp_seed" --timeout-s "$tcp_timeout" \
    >"$out.cli" 2>"$out.cli.err" || rc=$?
  tcp_reap "$spid" "$rc" || rc=$((rc == 0 ? $? : rc))
  got=$(sha256sum "$out" 2>/dev/null | cut -d' ' -f1) || true
  size=$(stat -c %s "$out" 2>/dev/null) || size=0
  rm -f "$out"
  if [[ $rc == 0 && $got == "$tcp_src_sha" ]] &&
    grep -q "^bytes=$tcp_bytes sha256=$tcp_src_sha " "$out.cli"; then
    tcp_report "$what" 1 "$t0"
  else
    tcp_report "$what" 0 "$t0" \
      "exit $rc, socat got $size bytes sha256=$got, iopkt_tcp: $(cat "$out.cli")"
    tcp_show "$out.srv.err" "$out.cli.err"
    tcp_stack_stats "$prefix"
  fi
}

# tcp_iopkt_to_iopkt WHAT SRC_PREFIX DST_PREFIX DST_ADDR PORT: iopkt_tcp at
# both ends, on two stacks.
tcp_iopkt_to_iopkt() {
  local what=$1 src=$2 dst=$3 addr=$4 port=$5
  local out="$it_work/i2i.$port" rc=0
  it_bg env "SOCK=$dst" iopkt_tcp serve "$port" --sink --timeout-s "$tcp_timeout" \
    >"$out" 2>"$out.srv.err"
  local spid=$!
  if ! tcp_wait_for "$out.srv.err" "listening|iopkt_tcp:" || ! grep -q listening "$out.srv.err"; then
    fail "$what: iopkt_tcp serve failed"
    tcp_show "$out.srv.err"
    return 0
  fi
  local t0=$EPOCHREALTIME
  timeout "$tcp_timeout" env "SOCK=$src" iopkt_tcp connect "$addr" "$port" \
    --source "$tcp_bytes" --seed "$tcp_seed" --timeout-s "$tcp_timeout" \
    >"$out.cli" 2>"$out.cli.err" || rc=$?
  tcp_reap "$spid" "$rc" || rc=$((rc == 0 ? $? : rc))
  if [[ $rc == 0 ]] && grep -q "^bytes=$tcp_bytes sha256=$tcp_src_sha " "$out" &&
    grep -q "^bytes=$tcp_bytes sha256=$tcp_src_sha " "$out.cli"; then
    tcp_report "$what" 1 "$t0"
  else
    tcp_report "$what" 0 "$t0" "exit $rc, sink: $(cat "$out"), source: $(cat "$out.cli")"
    tcp_show "$out.srv.err" "$out.cli.err"
    tcp_stack_stats "$src"
    tcp_stack_stats "$dst"
  fi
}

# tcp_relay_path LEFT_VAR RIGHT_VAR NAME: three namespaces NAME-l, NAME-m,
# NAME-r; veths NAME-l <-> NAME-ma in the middle and NAME-mb <-> NAME-r;
# offloads off on all four (impair_relay.c says why) and no IPv6 in the
# middle, whose kernel must stay silent. Stores the outer namespaces' names
# in LEFT_VAR and RIGHT_VAR, the middle's in tcp_relay_ns.
tcp_relay_path() {
  local name=$3 l m r
  it_ns l "$name-l"
  it_ns m "$name-m"
  it_ns r "$name-r"
  ip netns exec "$m" /usr/sbin/sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
  it_veth "$l" "$name-l" "$m" "$name-ma"
  it_veth "$m" "$name-mb" "$r" "$name-r"
  tcp_offloads_off "$l" "$name-l"
  tcp_offloads_off "$m" "$name-ma" "$name-mb"
  tcp_offloads_off "$r" "$name-r"
  tcp_relay_ns=$m
  printf -v "$1" '%s' "$l"
  printf -v "$2" '%s' "$r"
}

# tcp_relay_start NAME ARGS...: impair_relay between NAME-ma and NAME-mb
# (after tcp_relay_path), its output in $it_work/relay.NAME; returns when it
# is ready. Its pid in tcp_relay_pid.
tcp_relay_start() {
  local name=$1
  shift
  local log="$it_work/relay.$name"
  it_bg ip netns exec "$tcp_relay_ns" impair_relay --if-a "$name-ma" --if-b "$name-mb" "$@" \
    >"$log" 2>&1
  tcp_relay_pid=$!
  if ! tcp_wait_for "$log" "ready"; then
    fail "impair_relay did not start"
    tcp_show "$log"
    return 1
  fi
}

# tcp_relay_stop NAME: SIGTERM, then the counters (shown in the log).
tcp_relay_stop() {
  local log="$it_work/relay.$1"
  kill -TERM "$tcp_relay_pid" 2>/dev/null || true
  wait "$tcp_relay_pid" || true
  sed 's/^/     relay: /' "$log"
}

# tcp_relay_counter NAME DIRECTION COUNTER: a counter from the relay's exit
# lines (DIRECTION a->b or b->a).
tcp_relay_counter() {
  grep -E "^$2: " "$it_work/relay.$1" | grep -Eo " $3=[0-9]+" | cut -d= -f2
}

# tcp_relay_check_counters NAME: every impairment happened in the direction
# that carried the data (and no frame was over the MTU or owed a checksum).
tcp_relay_check_counters() {
  local name=$1 dir c v ok=1 summary=""
  for dir in "a->b" "b->a"; do
    for c in forwarded lost duplicated corrupted reordered; do
      v=$(tcp_relay_counter "$name" "$dir" "$c")
      summary+=" $dir.$c=${v:-?}"
    done
  done
  # Data flows both ways over the runs, so both directions saw bulk frames.
  for dir in "a->b" "b->a"; do
    for c in forwarded lost duplicated corrupted reordered; do
      v=$(tcp_relay_counter "$name" "$dir" "$c")
      [[ ${v:-0} -gt 0 ]] || ok=0
    done
    for c in oversize csum_partial; do
      v=$(tcp_relay_counter "$name" "$dir" "$c")
      [[ ${v:-1} -eq 0 ]] || ok=0
    done
  done
  if ((ok)); then
    pass "$name relay: frames were lost, duplicated, corrupted and reordered each way ($summary )"
  else
    fail "$name relay: an impairment did not happen, or a frame was oversize/csum_partial"
  fi
}
