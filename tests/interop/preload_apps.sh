#!/usr/bin/env bash
# Servers and tools from Debian, unmodified, over io-pkt through iopkt-run
# (issue 6, docs/preload.md), io-pkt in namespace "st" on a veth
# (devnp-packet), Linux in "lx":
#   1. nginx over io-pkt (a master and 2 workers that fork and share the
#      listener; sendfile, epoll, FIONBIO), fetched by Linux curl: a
#      PRELOAD_MB MB file (default 50) by SHA-256, then 20 requests; and
#      curl over io-pkt fetching the same file from nginx on Linux;
#   2. iperf3 over io-pkt against a Linux iperf3, TCP and UDP, each
#      direction (client over io-pkt, and server over io-pkt);
#   3. nc (OpenBSD netcat) over io-pkt and on Linux, each way: TCP (the
#      file, by SHA-256) and UDP (a datagram, by SHA-256);
#   4. sshd over io-pkt (privilege separation, its seccomp sandbox, a
#      re-exec per connection) and Linux ssh running a command that hashes
#      the file it is given; then sshd on Linux and ssh over io-pkt; each
#      time an unknown key is refused and sshd's sandboxed child logs the
#      client's disconnection (it used to die by SIGSYS over io-pkt).
# A program that is not installed skips its part (scripts/setup.sh installs
# them); every run is bounded by a timeout. sshd runs only inside the
# test's namespaces, with a configuration, keys and pid file of its own.
source "$(dirname "$0")/lib.sh"
it_need_plain_build

if ! command -v iopkt-run >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIP: iopkt-run or curl missing"
  exit 77
fi
have_nginx=0
have_iperf3=0
have_nc=0
have_ssh=0
command -v nginx >/dev/null && have_nginx=1
command -v iperf3 >/dev/null && have_iperf3=1
command -v nc >/dev/null && have_nc=1
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && [[ -x /usr/sbin/sshd ]] && have_ssh=1
if ((have_nginx + have_iperf3 + have_nc + have_ssh == 0)); then
  echo "SKIP: none of nginx, iperf3, nc, ssh and sshd is installed"
  exit 77
fi

mb=${PRELOAD_MB:-50}
it_ns lx lx
it_ns st st
it_stack_on_veth
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
data=$it_work/data
head -c $((mb * 1048576)) /dev/urandom >"$data"
want=$(sha_of "$data")
# run_st CMD...: CMD over io-pkt, in namespace st.
run_st() { ip netns exec "$st" iopkt-run -s "$pkt" -- "$@"; }
# wait_listen lx|st PROTO ADDR PORT: until something listens there (bounded:
# 10 s). On Linux `ss`, on io-pkt its netstat.
wait_listen() {
  local side=$1 proto=$2 addr=$3 port=$4
  for _ in $(seq 100); do
    if [[ $side == lx ]]; then
      ip netns exec "$lx" ss -Hln --"$proto" "src $addr:$port" | grep -q . && return 0
    else
      SOCK=$pkt netstat -an 2>/dev/null | grep -Eq "^$proto.* $addr\\.$port " && return 0
    fi
    sleep 0.1
  done
  return 1
}
# got_file WHAT FILE SHA LOGS...: pass if FILE's SHA-256 is SHA.
got_file() {
  local what=$1 file=$2 sha=$3
  shift 3
  if [[ -f $file && $(sha_of "$file") == "$sha" ]]; then
    pass "$what: SHA-256 matches"
  else
    fail "$what: SHA-256 differs ($(stat -c %s "$file" 2>/dev/null || echo no) bytes)"
    sed 's/^/     | /' "$@"
  fi
}
secs_since() { awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $1 }"; }

# --- 1. nginx ------------------------------------------------------------------
# nginx_conf DIR ADDR PORT: a configuration serving $data at /data.
nginx_conf() {
  local ng=$1
  mkdir -p "$ng/www" "$ng/tmp" "$ng/logs"
  ln -s "$data" "$ng/www/data"
  cat >"$ng/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $ng/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $ng/tmp/body;
  proxy_temp_path $ng/tmp/proxy;
  fastcgi_temp_path $ng/tmp/fastcgi;
  uwsgi_temp_path $ng/tmp/uwsgi;
  scgi_temp_path $ng/tmp/scgi;
  server {
    listen $2:$3;
    root $ng/www;
    location = /pid { return 200 "worker \$pid\n"; }
  }
}
EOF
}
if ((have_nginx)); then
  ng=$it_work/nginx
  nginx_conf "$ng" 192.0.2.2 8088
  it_bg ip netns exec "$st" timeout 120 iopkt-run -s "$pkt" -- nginx -p "$ng" -c "$ng/nginx.conf" \
    -e stderr 2>"$ng/err.log"
  up=0
  for _ in $(seq 50); do
    if timeout 5 ip netns exec "$lx" curl -s -o /dev/null --max-time 1 http://192.0.2.2:8088/pid; then
      up=1
      break
    fi
    sleep 0.2
  done
  if ((up)); then
    start=$EPOCHREALTIME
    timeout 120 ip netns exec "$lx" curl -sS --max-time 120 -o "$it_work/ng.got" \
      http://192.0.2.2:8088/data 2>"$it_work/ng.curl" || true
    got_file "nginx over io-pkt served $mb MB to Linux curl in $(secs_since "$start")s" \
      "$it_work/ng.got" "$want" "$it_work/ng.curl" "$ng/err.log"
    : >"$it_work/ng.pids"
    for _ in $(seq 20); do
      timeout 10 ip netns exec "$lx" curl -sS --max-time 5 http://192.0.2.2:8088/pid \
        >>"$it_work/ng.pids" 2>>"$it_work/ng.curl" || true
    done
    served=$(grep -c '^worker [0-9]*$' "$it_work/ng.pids")
    workers=$(sort -u "$it_work/ng.pids" | grep -c '^worker')
    if [[ $served -eq 20 ]]; then
      pass "nginx over io-pkt: 2 workers sharing the listener answered 20 requests ($workers took some)"
    else
      fail "nginx over io-pkt answered $served of 20 requests"
      sed 's/^/     | /' "$it_work/ng.curl" "$ng/err.log"
    fi
  else
    fail "nginx over io-pkt never answered"
    sed 's/^/     | /' "$ng/err.log"
  fi
  # nginx's own log: no error about a socket call.
  if grep -E '\[(alert|crit|emerg)\]' "$ng/err.log" >"$it_work/ng.alerts"; then
    fail "nginx logged alerts over io-pkt"
    sed 's/^/     | /' "$it_work/ng.alerts"
  else
    pass "nginx logged no alert over io-pkt"
  fi

  # nginx on Linux, curl over io-pkt.
  lng=$it_work/nginx-lx
  nginx_conf "$lng" 192.0.2.1 8089
  it_bg ip netns exec "$lx" timeout 120 nginx -p "$lng" -c "$lng/nginx.conf" -e stderr \
    2>"$lng/err.log"
  if wait_listen lx tcp 192.0.2.1 8089; then
    start=$EPOCHREALTIME
    timeout 120 ip netns exec "$st" iopkt-run -s "$pkt" -- curl -sS --max-time 120 \
      -o "$it_work/lng.got" http://192.0.2.1:8089/data 2>"$it_work/lng.curl" || true
    got_file "curl over io-pkt fetched $mb MB from nginx on Linux in $(secs_since "$start")s" \
      "$it_work/lng.got" "$want" "$it_work/lng.curl" "$lng/err.log"
  else
    fail "nginx on Linux never listened"
    sed 's/^/     | /' "$lng/err.log"
  fi
fi

# --- 2. iperf3 -------------------------------------------------------------------
# iperf3_run WHAT SERVER_NS SERVER_OVER_IOPKT CLIENT_NS CLIENT_OVER_IOPKT ADDR PORT ARGS...
iperf3_run() {
  local what=$1 sns=$2 sio=$3 cns=$4 cio=$5 addr=$6 port=$7
  shift 7
  local srv=(ip netns exec "$sns" timeout 60)
  local cli=(ip netns exec "$cns" timeout 60)
  ((sio)) && srv+=(iopkt-run -s "$pkt" --)
  ((cio)) && cli+=(iopkt-run -s "$pkt" --)
  it_bg "${srv[@]}" iperf3 -s -1 -B "$addr" -p "$port" >"$it_work/ip.$port.srv" 2>&1
  local ok=0
  for _ in $(seq 25); do
    if "${cli[@]}" iperf3 -c "$addr" -p "$port" -t 2 "$@" >"$it_work/ip.$port.cli" 2>&1; then
      ok=1
      break
    fi
    # The server may not listen yet: only "connection refused" is retried.
    grep -q 'refused' "$it_work/ip.$port.cli" || break
    sleep 0.2
  done
  local rate
  rate=$(grep -E 'receiver$' "$it_work/ip.$port.cli" | tail -1 | awk '{print $7, $8}')
  if ((ok)) && [[ -n $rate ]]; then
    pass "iperf3 $what: $rate"
  else
    fail "iperf3 $what"
    sed 's/^/     | /' "$it_work/ip.$port.cli" "$it_work/ip.$port.srv"
  fi
}
if ((have_iperf3)); then
  iperf3_run "TCP, client over io-pkt -> Linux server" "$lx" 0 "$st" 1 192.0.2.1 5301
  iperf3_run "TCP, Linux client -> server over io-pkt" "$st" 1 "$lx" 0 192.0.2.2 5302
  iperf3_run "TCP, client over io-pkt <- Linux server (-R)" "$lx" 0 "$st" 1 192.0.2.1 5303 -R
  iperf3_run "UDP 50 Mbit/s, client over io-pkt -> Linux server" "$lx" 0 "$st" 1 192.0.2.1 5304 \
    -u -b 50M
  iperf3_run "UDP 50 Mbit/s, Linux client -> server over io-pkt" "$st" 1 "$lx" 0 192.0.2.2 5305 \
    -u -b 50M
fi

# --- 3. nc -----------------------------------------------------------------------
# nc_pair WHAT PROTO LISTEN_SIDE ADDR PORT FILE: nc listens on one side (-d:
# never reads its stdin; UDP: ends after one datagram), nc on the other
# sends FILE (TCP: -N, a FIN after the file; UDP: -q 1, ends a second after
# it); what the listener wrote must hash as FILE does.
nc_pair() {
  local what=$1 proto=$2 side=$3 addr=$4 port=$5 file=$6
  local got=$it_work/nc.$port.got lerr=$it_work/nc.$port.lerr cerr=$it_work/nc.$port.cerr
  local lsn=(ip netns exec "$lx" timeout 60) snd=(timeout 60 ip netns exec "$st" iopkt-run -s "$pkt" --)
  if [[ $side == st ]]; then
    lsn=(ip netns exec "$st" timeout 60 iopkt-run -s "$pkt" --)
    snd=(timeout 60 ip netns exec "$lx")
  fi
  local opts=(-N) lopts=()
  [[ $proto == udp ]] && opts=(-u -q 1) && lopts=(-u -W 1)
  it_bg "${lsn[@]}" nc -d -l "${lopts[@]}" "$addr" "$port" >"$got" 2>"$lerr"
  local lpid=$!
  if ! wait_listen "$side" "$proto" "$addr" "$port"; then
    fail "nc $what: the listener never listened"
    sed 's/^/     | /' "$lerr"
    return
  fi
  local start=$EPOCHREALTIME
  for _ in $(seq 10); do
    "${snd[@]}" nc "${opts[@]}" "$addr" "$port" <"$file" 2>>"$cerr" || true
    # A TCP sender runs once; a UDP one again until the listener had it.
    [[ $proto == tcp ]] && break
    kill -0 "$lpid" 2>/dev/null || break
  done
  for _ in $(seq 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.1; done
  got_file "nc $what ($(stat -c %s "$file") bytes, $(secs_since "$start")s)" "$got" "$(sha_of "$file")" \
    "$lerr" "$cerr"
}
if ((have_nc)); then
  head -c 1200 "$data" >"$it_work/dgram"
  nc_pair "TCP, over io-pkt -> Linux" tcp lx 192.0.2.1 9100 "$data"
  nc_pair "TCP, Linux -> listening over io-pkt" tcp st 192.0.2.2 9101 "$data"
  nc_pair "UDP, over io-pkt -> Linux" udp lx 192.0.2.1 9102 "$it_work/dgram"
  nc_pair "UDP, Linux -> listening over io-pkt" udp st 192.0.2.2 9103 "$it_work/dgram"
fi

# --- 4. ssh and sshd ---------------------------------------------------------------
# sshd's privilege separation needs /run/sshd (empty, root's); made here if
# missing and then removed again, by this test only.
made_run_sshd=0
end_ssh() {
  if ((made_run_sshd)); then
    rmdir /run/sshd 2>/dev/null || true
  fi
}
trap 'it_cleanup; end_ssh' EXIT
# ssh_run WHAT SERVER_SIDE ADDR: sshd on one side, ssh on the other runs
# "echo hello; sha256sum" with the file as its input.
ssh_run() {
  local what=$1 side=$2 addr=$3
  local sd=$it_work/ssh conf=$it_work/ssh/sshd.$side.conf log=$it_work/ssh/sshd.$side.log
  cat >"$conf" <<EOF
Port 2222
ListenAddress $addr
HostKey $sd/host_key
PidFile $sd/sshd.$side.pid
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $sd/authorized_keys
StrictModes no
UseDNS no
LogLevel VERBOSE
EOF
  local srv=(ip netns exec "$lx" timeout 60) cli=(timeout 60 ip netns exec "$st" iopkt-run -s "$pkt" --)
  if [[ $side == st ]]; then
    srv=(ip netns exec "$st" timeout 60 iopkt-run -s "$pkt" --)
    cli=(timeout 60 ip netns exec "$lx")
  fi
  it_bg "${srv[@]}" /usr/sbin/sshd -D -e -f "$conf" -p 2222 2>"$log"
  if ! wait_listen "$side" tcp "$addr" 2222; then
    fail "sshd $what: never listened"
    sed 's/^/     | /' "$log"
    return
  fi
  local start=$EPOCHREALTIME
  "${cli[@]}" ssh -F /dev/null -i "$sd/user_key" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 -p 2222 "root@$addr" \
    'echo hello; sha256sum' <"$data" >"$sd/out.$side" 2>"$sd/err.$side" || true
  if [[ $(cat "$sd/out.$side") == "hello"$'\n'"$want  -" ]]; then
    pass "ssh $what: the command ran and hashed $mb MB alike ($(secs_since "$start")s)"
  else
    fail "ssh $what"
    sed 's/^/     | /' "$sd/out.$side" "$sd/err.$side" "$log"
  fi
  # A key sshd does not know: refused, and sshd's sandboxed child reads the
  # client's end of file and says so (docs/preload.md, seccomp sandboxes).
  "${cli[@]}" ssh -F /dev/null -i "$sd/bad_key" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 -p 2222 "root@$addr" \
    true </dev/null >"$sd/bad.$side" 2>&1 || true
  for _ in $(seq 50); do
    grep -q 'Connection closed by authenticating user root' "$log" && break
    sleep 0.1
  done
  if grep -q 'Permission denied (publickey' "$sd/bad.$side" &&
    grep -q 'Connection closed by authenticating user root' "$log"; then
    pass "ssh $what: an unknown key is refused, and sshd's sandboxed child saw the end"
  else
    fail "ssh $what: an unknown key"
    sed 's/^/     | /' "$sd/bad.$side" "$log"
  fi
}
if ((have_ssh)); then
  mkdir -p "$it_work/ssh"
  ssh-keygen -q -t ed25519 -N '' -C iopkt-host -f "$it_work/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -C iopkt-user -f "$it_work/ssh/user_key"
  ssh-keygen -q -t ed25519 -N '' -C iopkt-unknown -f "$it_work/ssh/bad_key"
  cp "$it_work/ssh/user_key.pub" "$it_work/ssh/authorized_keys"
  if [[ ! -d /run/sshd ]]; then
    mkdir -m 0755 /run/sshd
    made_run_sshd=1
  fi
  ssh_run "from Linux to sshd over io-pkt" st 192.0.2.2
  ssh_run "over io-pkt to sshd on Linux" lx 192.0.2.1
fi

# --- 5. the traffic was the stack's ------------------------------------------------
accepts=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.accepts)
connects=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.connattempt)
udp_out=$(SOCK=$pkt sysctl -n net.inet.udp.stats.opackets)
if [[ ${accepts:-0} -ge 1 && (${have_iperf3} -eq 0 || (${connects:-0} -ge 2 && ${udp_out:-0} -ge 100)) ]]; then
  pass "io-pkt counted $accepts accepted and $connects attempted connections, $udp_out UDP datagrams sent"
else
  fail "io-pkt counted accepts=${accepts:-?} connattempt=${connects:-?} udp opackets=${udp_out:-?}"
fi

it_finish
