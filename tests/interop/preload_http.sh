#!/usr/bin/env bash
# Unmodified Linux programs over io-pkt through iopkt-run (issue 6,
# docs/preload.md). io-pkt runs in namespace "st" on a veth (devnp-packet),
# the Linux peer in namespace "lx":
#   1. python3 -m http.server over io-pkt, fetched by Linux curl;
#   2. curl over io-pkt fetching from python3 -m http.server on Linux;
#   3. socat over io-pkt sending to a Linux socat, and a Linux socat sending
#      to socat listening over io-pkt (TCP); a UDP datagram each way;
#   4. python asyncio echo servers and clients (epoll, non-blocking
#      connect): over io-pkt to and from Linux, and over io-pkt both ends;
#   5. a prefork server (3 workers forked after listen, nginx's way) over
#      io-pkt serving 12 requests from Linux curl;
#   6. if_nameindex and if_nametoindex (python's socket module) over io-pkt
#      name the stack's interfaces, not the namespace's;
#   7. the stack's counters show the traffic was its own.
# Each transfer is a PRELOAD_MB MB file (default 50) checked by SHA-256 and
# bounded by a timeout. The programs over io-pkt run inside "st" as well,
# so that a socket the preload let through would find no network there.
source "$(dirname "$0")/lib.sh"
it_need_plain_build

need() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null; then
      echo "SKIP: $c not installed (scripts/setup.sh installs it)"
      exit 77
    fi
  done
}
need python3 curl socat sha256sum iopkt-run

mb=${PRELOAD_MB:-50}
it_ns lx lx
it_ns st st
it_stack_on_veth

mkdir -p "$it_work/www"
head -c $((mb * 1048576)) /dev/urandom >"$it_work/www/data"
want=$(sha256sum <"$it_work/www/data" | cut -d' ' -f1)
# run_st CMD...: CMD over io-pkt, in namespace st.
run_st() { ip netns exec "$st" iopkt-run -s "$pkt" -- "$@"; }
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
# wait_http NS URL: until the server answers (bounded: 10 s).
wait_http() {
  local ns=$1 url=$2
  for _ in $(seq 50); do
    if [[ $ns == st ]]; then
      run_st curl -s -o /dev/null --max-time 1 "$url" && return 0
    else
      ip netns exec "$lx" curl -s -o /dev/null --max-time 1 "$url" && return 0
    fi
    sleep 0.2
  done
  return 1
}

# --- 1. python3 http.server over io-pkt, Linux curl ---------------------------
# (Started as one command, not through run_st: it_bg must record the pid of
# the program itself, which ip netns exec and iopkt-run become by exec.)
it_bg ip netns exec "$st" iopkt-run -s "$pkt" -- python3 -m http.server --bind 192.0.2.2 \
  --directory "$it_work/www" 8080 >"$it_work/srv1.log" 2>&1
if wait_http lx http://192.0.2.2:8080/; then
  start=$EPOCHREALTIME
  timeout 120 ip netns exec "$lx" curl -sS --max-time 120 -o "$it_work/got1" \
    http://192.0.2.2:8080/data 2>"$it_work/curl1.err" || true
  secs=$(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $start }")
  if [[ -f $it_work/got1 && $(sha_of "$it_work/got1") == "$want" ]]; then
    pass "Linux curl fetched $mb MB from python3 http.server over io-pkt: SHA-256 matches (${secs}s)"
  else
    fail "Linux curl from python3 http.server over io-pkt: SHA-256 differs"
    sed 's/^/     | /' "$it_work/curl1.err" "$it_work/srv1.log"
  fi
else
  fail "python3 http.server over io-pkt never answered"
  sed 's/^/     | /' "$it_work/srv1.log"
fi

# --- 2. curl over io-pkt, python3 http.server on Linux -------------------------
it_bg ip netns exec "$lx" python3 -m http.server --bind 192.0.2.1 --directory "$it_work/www" 8081 \
  >"$it_work/srv2.log" 2>&1
if wait_http st http://192.0.2.1:8081/; then
  start=$EPOCHREALTIME
  timeout 120 ip netns exec "$st" iopkt-run -s "$pkt" -- curl -sS --max-time 120 \
    -o "$it_work/got2" http://192.0.2.1:8081/data 2>"$it_work/curl2.err" || true
  secs=$(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $start }")
  if [[ -f $it_work/got2 && $(sha_of "$it_work/got2") == "$want" ]]; then
    pass "curl over io-pkt fetched $mb MB from python3 http.server on Linux: SHA-256 matches (${secs}s)"
  else
    fail "curl over io-pkt from Linux: SHA-256 differs"
    sed 's/^/     | /' "$it_work/curl2.err" "$it_work/srv2.log"
  fi
else
  fail "curl over io-pkt never reached python3 http.server on Linux"
  sed 's/^/     | /' "$it_work/srv2.log"
fi

# --- 3. socat, both ways; UDP ---------------------------------------------------
# (a) io-pkt -> Linux: Linux listens, socat over io-pkt connects and sends.
it_bg ip netns exec "$lx" timeout 120 socat -u TCP-LISTEN:9000,bind=192.0.2.1,reuseaddr \
  "CREATE:$it_work/got3" 2>"$it_work/socat3l.err"
l3=$!
sleep 0.5
timeout 120 ip netns exec "$st" iopkt-run -s "$pkt" -- socat -u "OPEN:$it_work/www/data" \
  TCP:192.0.2.1:9000 2>"$it_work/socat3c.err" || true
wait "$l3" 2>/dev/null || true
if [[ -f $it_work/got3 && $(sha_of "$it_work/got3") == "$want" ]]; then
  pass "socat over io-pkt sent $mb MB to socat on Linux: SHA-256 matches"
else
  fail "socat over io-pkt -> Linux socat: SHA-256 differs"
  sed 's/^/     | /' "$it_work/socat3l.err" "$it_work/socat3c.err"
fi

# (b) Linux -> io-pkt: socat over io-pkt listens, Linux socat connects.
it_bg ip netns exec "$st" timeout 120 iopkt-run -s "$pkt" -- socat -u \
  TCP-LISTEN:9001,bind=192.0.2.2,reuseaddr "CREATE:$it_work/got4" 2>"$it_work/socat4l.err"
l4=$!
for _ in $(seq 50); do
  SOCK=$pkt netstat -an 2>/dev/null | grep -q '192.0.2.2.9001 .*LISTEN' && break
  sleep 0.1
done
timeout 120 ip netns exec "$lx" socat -u "OPEN:$it_work/www/data" TCP:192.0.2.2:9001 \
  2>"$it_work/socat4c.err" || true
wait "$l4" 2>/dev/null || true
if [[ -f $it_work/got4 && $(sha_of "$it_work/got4") == "$want" ]]; then
  pass "socat on Linux sent $mb MB to socat listening over io-pkt: SHA-256 matches"
else
  fail "Linux socat -> socat over io-pkt: SHA-256 differs"
  sed 's/^/     | /' "$it_work/socat4l.err" "$it_work/socat4c.err"
fi

# (c) UDP: a datagram each way between socat over io-pkt and Linux socat.
it_bg ip netns exec "$st" timeout 30 iopkt-run -s "$pkt" -- socat -u \
  UDP-RECV:9002,bind=192.0.2.2 "CREATE:$it_work/udp.in" 2>"$it_work/udp1.err"
it_bg ip netns exec "$lx" timeout 30 socat -u UDP-RECV:9003,bind=192.0.2.1 \
  "CREATE:$it_work/udp.out" 2>"$it_work/udp2.err"
sleep 0.5
for _ in $(seq 20); do
  echo "to io-pkt" | ip netns exec "$lx" socat -u - UDP-SENDTO:192.0.2.2:9002 2>/dev/null
  echo "to Linux" | ip netns exec "$st" iopkt-run -s "$pkt" -- socat -u - UDP-SENDTO:192.0.2.1:9003 \
    2>>"$it_work/udp3.err"
  [[ -s $it_work/udp.in && -s $it_work/udp.out ]] && break
  sleep 0.2
done
check_output "UDP: Linux socat -> socat over io-pkt" '^to io-pkt$' cat "$it_work/udp.in"
check_output "UDP: socat over io-pkt -> Linux socat" '^to Linux$' cat "$it_work/udp.out"

# --- 4. python asyncio (epoll, non-blocking connect) -----------------------------
cat >"$it_work/echo.py" <<'PY'
import asyncio, os, sys

async def handle(r, w):
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()

async def server(host, port):
    srv = await asyncio.start_server(handle, host, port)
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()

async def client(host, port, n):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    data = os.urandom(n)
    async def send():
        w.write(data)
        await w.drain()
        w.write_eof()
    t = asyncio.create_task(send())
    got = bytearray()
    while chunk := await asyncio.wait_for(r.read(65536), 20):
        got += chunk
    await t
    print("echoed", len(got), "bytes:", "same" if bytes(got) == data else "differ")

if sys.argv[1] == "server":
    asyncio.run(server(sys.argv[2], int(sys.argv[3])))
else:
    asyncio.run(client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
PY
echo_bytes=$((mb * 1048576 / 4))
it_bg ip netns exec "$st" timeout 120 iopkt-run -s "$pkt" -- python3 "$it_work/echo.py" server \
  192.0.2.2 9010 >"$it_work/echo_srv.log" 2>&1
it_bg ip netns exec "$lx" timeout 120 python3 "$it_work/echo.py" server 192.0.2.1 9011 \
  >"$it_work/echo_lsrv.log" 2>&1
for _ in $(seq 50); do
  grep -q listening "$it_work/echo_srv.log" && grep -q listening "$it_work/echo_lsrv.log" && break
  sleep 0.2
done
check_output "asyncio: Linux client, echo server over io-pkt" "^echoed $echo_bytes bytes: same\$" \
  timeout 60 ip netns exec "$lx" python3 "$it_work/echo.py" client 192.0.2.2 9010 "$echo_bytes"
check_output "asyncio: client over io-pkt, echo server over io-pkt" "^echoed $echo_bytes bytes: same\$" \
  timeout 60 ip netns exec "$st" iopkt-run -s "$pkt" -- python3 "$it_work/echo.py" client 192.0.2.2 \
  9010 "$echo_bytes"
check_output "asyncio: client over io-pkt, echo server on Linux" "^echoed $echo_bytes bytes: same\$" \
  timeout 60 ip netns exec "$st" iopkt-run -s "$pkt" -- python3 "$it_work/echo.py" client 192.0.2.1 \
  9011 "$echo_bytes"

# --- 5. prefork: workers fork after listen and share the listener (nginx's way) --
cat >"$it_work/prefork.py" <<'PY'
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
s.settimeout(0.5)  # non-blocking listener + poll, in every worker
parent, deadline = os.getpid(), time.monotonic() + 60
for _ in range(3):
    if os.fork() == 0:
        # A worker ends with its parent or after 60 s, whichever first.
        while os.getppid() == parent and time.monotonic() < deadline:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            c.settimeout(5)
            c.recv(4096)
            body = b"worker %d\n" % os.getpid()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            c.close()
        os._exit(0)
s.close()
print("listening", flush=True)
time.sleep(60)
PY
it_bg ip netns exec "$st" timeout 90 iopkt-run -s "$pkt" -- python3 "$it_work/prefork.py" \
  192.0.2.2 9020 >"$it_work/prefork.log" 2>&1
for _ in $(seq 50); do grep -q listening "$it_work/prefork.log" && break; sleep 0.2; done
: >"$it_work/prefork.out"
for _ in $(seq 12); do
  timeout 10 ip netns exec "$lx" curl -sS --max-time 5 http://192.0.2.2:9020/ \
    >>"$it_work/prefork.out" 2>>"$it_work/prefork.err" || true
done
served=$(grep -c '^worker [0-9]*$' "$it_work/prefork.out")
workers=$(sort -u "$it_work/prefork.out" | grep -c '^worker')
if [[ $served -eq 12 ]]; then
  pass "prefork: 3 workers over io-pkt sharing one listener served 12 requests ($workers of them took some)"
else
  fail "prefork: $served of 12 requests served"
  sed 's/^/     | /' "$it_work/prefork.log" "$it_work/prefork.err"
fi

# --- 6. interface names ---------------------------------------------------------
# The namespace has lo and veth-st; the stack has lo0 and en0.
check_output "if_nameindex over io-pkt lists the stack's interfaces" "^lo0 en0 [0-9]+ [0-9]+\$" \
  run_st python3 -c 'import socket
names = [n for _, n in socket.if_nameindex()]
print(" ".join(names), socket.if_nametoindex("en0"), socket.if_nametoindex("lo0"))'

# --- 7. the traffic was the stack's ---------------------------------------------
accepts=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.accepts)
connects=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.connattempt)
if [[ ${accepts:-0} -ge 2 && ${connects:-0} -ge 2 ]]; then
  pass "io-pkt counted $accepts accepted and $connects attempted connections"
else
  fail "io-pkt counted accepts=${accepts:-?} connattempt=${connects:-?}: the programs bypassed it"
fi

it_finish
