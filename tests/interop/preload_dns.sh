#!/usr/bin/env bash
# Name resolution over io-pkt through iopkt-run (issue 6, docs/preload.md
# "Name resolution"). glibc's resolver sends its queries through libc's
# internal socket calls, which the preload library cannot see; its own stub
# resolver (src/client/preload/resolver.cc) replaces getaddrinfo,
# gethostbyname*, gethostbyaddr*, getnameinfo and res_query/res_search, and asks the nameservers of resolv.conf over a stack
# socket. io-pkt runs in namespace "st" on a veth (devnp-packet), dnsmasq in
# namespace "lx" at 192.0.2.1 with web.example.test (A 192.0.2.1),
# alias.example.test (CNAME to it) and big.example.test (40 A records: too
# many for a 512-byte UDP answer). In "st", whose only network is the
# stack's (the namespace itself has lo and the veth io-pkt holds),
# resolv.conf names 192.0.2.1 (ip netns exec mounts /etc/netns/NS/ over
# /etc/):
#   1. getent hosts / ahosts (gethostbyname2, getaddrinfo with CNAME and
#      AI_CANONNAME), a short name through the search list, python's
#      socket.getaddrinfo and gethostbyname_ex, the truncated answer asked
#      again over TCP, getent hosts ADDRESS and getnameinfo (PTR),
#      res_query and res_search (python ctypes) for a TXT record;
#   2. dig over UDP (its own sockets; libuv sends and receives with
#      syscall(SYS_sendmmsg/SYS_recvmmsg), which syscall.cc interposes),
#      and dig +tcp (BIND sets TCP_USER_TIMEOUT on its TCP socket);
#   3. curl by name to python3 http.server on Linux;
#   4. a name that does not exist: getent exit 2, curl "Could not resolve
#      host", python EAI_NONAME;
#   5. with SOCK naming no stack, EAI_AGAIN in a namespace where the
#      kernel could reach the server (nothing leaks to it);
#   6. dnsmasq's log shows every query came from 192.0.2.2 (the stack),
#      and the stack's UDP and TCP counters grew.
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
need dnsmasq dig getent python3 curl iopkt-run

it_ns lx lx
it_ns st st
# resolv.conf for namespace st only; removed before lib.sh's cleanup.
netns_etc=/etc/netns/$st
netns_lx=/etc/netns/$lx
netns_top_made=0
[[ -d /etc/netns ]] || netns_top_made=1
mkdir -p "$netns_etc" "$netns_lx"
dns_cleanup() {
  rm -rf "$netns_etc" "$netns_lx"
  if ((netns_top_made)); then rmdir /etc/netns 2>/dev/null || true; fi
  it_cleanup
}
trap dns_cleanup EXIT
cat >"$netns_etc/resolv.conf" <<'EOF'
# iopkt interop test preload_dns.sh
search example.test
nameserver 192.0.2.1
options timeout:2 attempts:2
EOF
cp "$netns_etc/resolv.conf" "$netns_lx/resolv.conf"

it_stack_on_veth

big=()
for i in $(seq 100 139); do big+=("--host-record=big.example.test,192.0.2.$i"); done
dnslog=$it_work/dnsmasq.log
it_bg ip netns exec "$lx" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
  --user=root --pid-file= --bind-interfaces --listen-address=192.0.2.1 --port=53 \
  --local=/example.test/ --host-record=web.example.test,192.0.2.1 \
  --cname=alias.example.test,web.example.test --txt-record=txt.example.test,"hello over io-pkt" \
  "${big[@]}" \
  --log-queries --log-facility="$dnslog" 2>"$it_work/dnsmasq.err"
for _ in $(seq 50); do
  ip netns exec "$lx" dig @192.0.2.1 +short +time=1 +tries=1 web.example.test 2>/dev/null |
    grep -q 192.0.2.1 && break
  sleep 0.2
done

# run_st CMD...: CMD over io-pkt, in namespace st, bounded.
run_st() { timeout 60 ip netns exec "$st" iopkt-run -s "$pkt" -- "$@"; }
udp_before=$(SOCK=$pkt sysctl -n net.inet.udp.stats.opackets)
tcp_before=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.connattempt)

# --- 1. getent, python --------------------------------------------------------
check_output "getent hosts web.example.test over io-pkt" '^192\.0\.2\.1 +web\.example\.test$' \
  run_st getent hosts web.example.test
check_output "getent ahosts alias.example.test: CNAME followed, canonical name" \
  '^192\.0\.2\.1 +STREAM web\.example\.test$' run_st getent ahosts alias.example.test
check_output "getent hosts alias.example.test: the alias listed" \
  '^192\.0\.2\.1 +web\.example\.test alias\.example\.test$' run_st getent hosts alias.example.test
check_output "getent hosts web: the search list of resolv.conf" '^192\.0\.2\.1 +web\.example\.test$' \
  run_st getent hosts web
check_output "python3 socket.getaddrinfo and gethostbyname_ex over io-pkt" \
  "^\\['192.0.2.1'\\] \\('web.example.test', \\['alias.example.test'\\], \\['192.0.2.1'\\]\\)\$" \
  run_st python3 -c 'import socket
r = socket.getaddrinfo("web.example.test", 80, proto=socket.IPPROTO_TCP)
print(sorted({a[4][0] for a in r}), socket.gethostbyname_ex("alias.example.test"))'
run_st getent ahostsv4 big.example.test >"$it_work/big.out" 2>&1 || true
nbig=$(awk '$2 == "STREAM" { print $1 }' "$it_work/big.out" | sort -u | wc -l)
if [[ $nbig -eq 40 ]]; then
  pass "getent ahostsv4 big.example.test: 40 addresses (truncated UDP answer, asked again over TCP)"
else
  fail "getent ahostsv4 big.example.test: $nbig addresses, wanted 40"
  sed 's/^/     | /' "$it_work/big.out"
fi

check_output "getent hosts 192.0.2.1: gethostbyaddr asks for the PTR record" \
  '^192\.0\.2\.1 +web\.example\.test$' run_st getent hosts 192.0.2.1
check_output "python3 socket.getnameinfo over io-pkt" "^\\('web.example.test', 'http'\\)\$" \
  run_st python3 -c 'import socket; print(socket.getnameinfo(("192.0.2.1", 80), 0))'

check_output "res_query and res_search (python ctypes) over io-pkt: TXT record" \
  '^res_query [0-9]+ True res_search [0-9]+ True nxdomain -1$' run_st python3 -c 'import ctypes
libc = ctypes.CDLL(None)
buf = ctypes.create_string_buffer(4096)
n = libc.res_query(b"txt.example.test", 1, 16, buf, 4096)
q = n > 0 and b"hello over io-pkt" in buf.raw[:n]
m = libc.res_search(b"txt", 1, 16, buf, 4096)
s = m > 0 and b"hello over io-pkt" in buf.raw[:m]
print("res_query", n, q, "res_search", m, s, "nxdomain", libc.res_query(b"no.example.test", 1, 16, buf, 4096))'

# --- 2. dig -----------------------------------------------------------------------
check_output "dig @192.0.2.1 web.example.test +short over io-pkt" '^192\.0\.2\.1$' \
  run_st dig @192.0.2.1 web.example.test +short +time=2 +tries=2
check_output "dig alias.example.test (the server from resolv.conf) over io-pkt" '^192\.0\.2\.1$' \
  run_st dig alias.example.test +short +time=2 +tries=2
check_output "dig +tcp @192.0.2.1 web.example.test +short over io-pkt" '^192\.0\.2\.1$' \
  run_st dig +tcp @192.0.2.1 web.example.test +short +time=2 +tries=2

# --- 3. curl by name ------------------------------------------------------------
mkdir -p "$it_work/www"
echo "hello by name" >"$it_work/www/index.txt"
it_bg ip netns exec "$lx" python3 -m http.server --bind 192.0.2.1 --directory "$it_work/www" 8081 \
  >"$it_work/http.log" 2>&1
for _ in $(seq 50); do
  ip netns exec "$lx" curl -s -o /dev/null --max-time 1 http://192.0.2.1:8081/ && break
  sleep 0.2
done
check_output "curl http://web.example.test:8081/ over io-pkt" '^hello by name$' \
  run_st curl -sS --max-time 20 http://web.example.test:8081/index.txt

# --- 4. a name that does not exist ---------------------------------------------
rc=0
run_st getent hosts nowhere.example.test >"$it_work/out" 2>&1 || rc=$?
if [[ $rc -eq 2 ]]; then
  pass "getent hosts nowhere.example.test: exit 2 (not found)"
else
  fail "getent hosts nowhere.example.test: exit $rc, wanted 2"
fi
check_output "curl http://nowhere.example.test/: could not resolve" 'Could not resolve host' \
  run_st curl -sS --max-time 20 http://nowhere.example.test:8081/
check_output "python3 getaddrinfo(nowhere.example.test): EAI_NONAME" '^EAI_NONAME$' \
  run_st python3 -c 'import socket
try:
    socket.getaddrinfo("nowhere.example.test", 80)
except socket.gaierror as e:
    print("EAI_NONAME" if e.errno == socket.EAI_NONAME else e)'

# --- 5. no stack: an error, not the kernel's network -----------------------------
# In namespace lx the kernel reaches dnsmasq (glibc alone resolves the name
# there); with SOCK naming no stack the preloaded resolver must fail with
# EAI_AGAIN rather than ask through the kernel.
check_output "without the preload, glibc in lx resolves web.example.test" '^192\.0\.2\.1 ' \
  timeout 20 ip netns exec "$lx" getent hosts web.example.test
check_output "SOCK naming no stack: getaddrinfo fails with EAI_AGAIN, nothing leaks" '^EAI_AGAIN$' \
  timeout 20 ip netns exec "$lx" env SOCK="$it_work/nostack" \
  LD_PRELOAD="$top_build/lib/libiopkt-preload.so" python3 -c 'import socket
try:
    print(socket.getaddrinfo("web.example.test", 80))
except socket.gaierror as e:
    print("EAI_AGAIN" if e.errno == socket.EAI_AGAIN else e)'

# --- 6. the queries went through the stack ---------------------------------------
if grep -q 'query\[A\] web\.example\.test from 192\.0\.2\.2$' "$dnslog" &&
  ! grep -E 'query\[.*from ' "$dnslog" | grep -v -q 'from 192\.0\.2\.[12]$'; then
  pass "dnsmasq saw the queries from 192.0.2.2 (io-pkt): $(grep -c 'from 192\.0\.2\.2$' "$dnslog")"
else
  fail "dnsmasq's log does not show the queries coming from io-pkt"
  sed 's/^/     | /' "$dnslog" "$it_work/dnsmasq.err"
fi
udp_after=$(SOCK=$pkt sysctl -n net.inet.udp.stats.opackets)
tcp_after=$(SOCK=$pkt sysctl -n net.inet.tcp.stats.connattempt)
if [[ ${udp_after:-0} -gt $((${udp_before:-0} + 10)) && ${tcp_after:-0} -gt ${tcp_before:-0} ]]; then
  pass "io-pkt sent $((udp_after - udp_before)) UDP datagrams and made $((tcp_after - tcp_before)) TCP connections"
else
  fail "io-pkt's counters: udp opackets ${udp_before:-?} -> ${udp_after:-?}, tcp connattempt ${tcp_before:-?} -> ${tcp_after:-?}"
fi

it_finish
