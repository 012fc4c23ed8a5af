#!/usr/bin/env bash
# Servers and tools from Debian, unmodified, over io-pkt through iopkt-run
# (issue 6, docs/preload.md), io-pkt in namespace "st" on a veth
# (devnp-packet), Linux in "lx":
#   1. nginx over io-pkt (a master and 2 workers that fork and share the
#      listener; sendfile, epoll, FIONBIO), fetched by Linux curl: a
#      PRELOAD_MB MB file by SHA-256, then 20 requests;
#   2. iperf3 over io-pkt against a Linux iperf3, TCP and UDP, each
#      direction (client over io-pkt, and server over io-pkt).
# A program that is not installed skips its part (scripts/setup.sh installs
# them); every run is bounded by a timeout.
source "$(dirname "$0")/lib.sh"

if ! command -v iopkt-run >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIP: iopkt-run or curl missing"
  exit 77
fi
have_nginx=0
have_iperf3=0
command -v nginx >/dev/null && have_nginx=1
command -v iperf3 >/dev/null && have_iperf3=1
if ((have_nginx + have_iperf3 == 0)); then
  echo "SKIP: neither nginx nor iperf3 is installed"
  exit 77
fi

mb=${PRELOAD_MB:-8}
it_ns lx lx
it_ns st st
it_veth "$lx" veth-lx "$st" veth-st
ip -n "$lx" addr add 192.0.2.1/24 dev veth-lx
it_iopkt "$st" "$it_work/pkt" 1 -d packet if=veth-st
pkt=$it_work/pkt
SOCK=$pkt ifconfig en0 192.0.2.2/24
check "io-pkt's interface is up" env "SOCK=$pkt" if_up -r 20 -s 1 en0
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }

# --- 1. nginx ------------------------------------------------------------------
if ((have_nginx)); then
  ng=$it_work/nginx
  mkdir -p "$ng/www" "$ng/tmp" "$ng/logs"
  head -c $((mb * 1048576)) /dev/urandom >"$ng/www/data"
  want=$(sha_of "$ng/www/data")
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
    listen 192.0.2.2:8088;
    root $ng/www;
    location = /pid { return 200 "worker \$pid\n"; }
  }
}
EOF
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
    secs=$(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $start }")
    if [[ -f $it_work/ng.got && $(sha_of "$it_work/ng.got") == "$want" ]]; then
      pass "nginx over io-pkt served $mb MB to Linux curl: SHA-256 matches (${secs}s)"
    else
      fail "nginx over io-pkt -> Linux curl: SHA-256 differs"
      sed 's/^/     | /' "$it_work/ng.curl" "$ng/err.log"
    fi
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

# --- 3. the traffic was the stack's ------------------------------------------------
accepts=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.accepts)
connects=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.connattempt)
udp_out=$(SOCK=$pkt sysctl -n net.inet.udp.stats.opackets)
if [[ ${accepts:-0} -ge 1 && (${have_iperf3} -eq 0 || (${connects:-0} -ge 2 && ${udp_out:-0} -ge 100)) ]]; then
  pass "io-pkt counted $accepts accepted and $connects attempted connections, $udp_out UDP datagrams sent"
else
  fail "io-pkt counted accepts=${accepts:-?} connattempt=${connects:-?} udp opackets=${udp_out:-?}"
fi

it_finish
