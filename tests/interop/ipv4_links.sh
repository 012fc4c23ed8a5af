#!/usr/bin/env bash
# IPv4 against the Linux kernel on real links (issue 4 "Must show"): io-pkt
# attached by devnp-packet to a veth whose other end is a Linux namespace,
# and by devnp-tap to a TAP in its own namespace. Each way: the kernel pings
# io-pkt and io-pkt's ping pings the kernel (also 4,000-byte payloads, so
# fragments cross), ARP resolves in both directions, and UDP echoes through
# socat on the Linux side, both directions.
source "$(dirname "$0")/lib.sh"

# exercise NAME LINUX_NS PREFIX IF: the checks, once the link is configured
# (Linux has 192.0.2.1, io-pkt 192.0.2.2 on IF).
exercise() {
  local name=$1 lx=$2 prefix=$3 ifname=$4
  local st_sock=(env "SOCK=$prefix")
  check "$name: io-pkt's interface is up with its address" "${st_sock[@]}" if_up -r 20 -s 1 "$ifname"
  check "$name: Linux pings io-pkt" ip netns exec "$lx" /usr/bin/ping -c 3 -i 0.2 -W 2 192.0.2.2
  check "$name: Linux pings io-pkt with 4000-byte payloads (fragments)" \
    ip netns exec "$lx" /usr/bin/ping -c 2 -i 0.2 -W 2 -s 4000 192.0.2.2
  check_output "$name: io-pkt pings Linux" " 0.0% packet loss" "${st_sock[@]}" ping -c 3 -i 0.2 192.0.2.1
  check_output "$name: io-pkt pings Linux with 4000-byte payloads" " 0.0% packet loss" \
    "${st_sock[@]}" ping -c 2 -i 0.2 -s 4000 192.0.2.1
  check_output "$name: Linux resolved io-pkt's address" "192.0.2.2 .*lladdr" ip -n "$lx" neigh show 192.0.2.2
  check_output "$name: io-pkt resolved Linux's address" "\(192\.0\.2\.1\) at [0-9a-f:]{17}" \
    "${st_sock[@]}" arp -an
  # UDP: a socat echo on Linux, io-pkt's udpecho client...
  it_bg ip netns exec "$lx" socat -T 10 UDP4-RECVFROM:7007,fork,reuseaddr PIPE
  sleep 0.3
  check_output "$name: UDP io-pkt -> Linux socat echo" " 0.0% datagram loss" \
    "${st_sock[@]}" udpecho client -c 5 -i 50 -W 2000 192.0.2.1 7007
  # ...and a udpecho server on io-pkt, Linux socat as the client.
  it_bg env "SOCK=$prefix" udpecho server 7008
  sleep 0.3
  check_output "$name: UDP Linux socat -> io-pkt echo" "^hello from linux$" \
    ip netns exec "$lx" bash -c 'echo "hello from linux" | socat -T 3 - UDP4:192.0.2.2:7008'
}

# --- devnp-packet on a veth --------------------------------------------------
it_ns lx lx
it_ns st st
it_veth "$lx" veth-lx "$st" veth-st
ip -n "$lx" addr add 192.0.2.1/24 dev veth-lx
# Default offloads on the Linux end: GSO super-frames and partial checksums
# reach the driver, which must cope (ROBUSTNESS.md §1.2).
it_iopkt "$st" "$it_work/pkt" 1 -d packet if=veth-st
SOCK=$it_work/pkt ifconfig en0 192.0.2.2/24
exercise packet "$lx" "$it_work/pkt" en0

# Short frames leave padded with zeros, never stale bytes (SPEC §5,
# CVE-2003-0001): capture io-pkt's 42-byte ARP reply on the Linux side.
st_mac=$(ip -n "$st" -br link show veth-st | awk '{print $3}')
cat >"$it_work/pad.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0))
s.settimeout(1)
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
end = time.time() + 8
while time.time() < end:
    try:
        f = s.recv(4096)
    except socket.timeout:
        continue
    if f[6:12] == mac:
        print(len(f), f[42:].hex())
        sys.exit(0 if len(f) == 60 and f[42:] == bytes(18) else 1)
sys.exit(2)
PY
ip netns exec "$lx" /usr/bin/python3 "$it_work/pad.py" veth-lx "$st_mac" >"$it_work/pad.out" 2>&1 &
pad_pid=$!
it_pids+=("$pad_pid")
sleep 0.5
ip -n "$lx" neigh flush dev veth-lx
ip netns exec "$lx" /usr/bin/ping -c 1 -W 2 192.0.2.2 >/dev/null 2>&1 || true
if wait "$pad_pid"; then
  pass "packet: a 42-byte ARP reply leaves as 60 bytes padded with zeros ($(cat "$it_work/pad.out"))"
else
  fail "packet: ARP reply padding ($(cat "$it_work/pad.out"))"
fi

# --- devnp-tap: the TAP is io-pkt's link to its own namespace's kernel -------
it_ns tp tap
it_iopkt "$tp" "$it_work/tap" 2 -d tap ifname=iotap0,up
ip -n "$tp" addr add 192.0.2.1/24 dev iotap0
SOCK=$it_work/tap ifconfig en0 192.0.2.2/24
exercise tap "$tp" "$it_work/tap" en0

it_finish
