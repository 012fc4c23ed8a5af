#!/usr/bin/env bash
# scripts/demo.sh — set up, build, and show iopkt at work: two io-pkt
# instances, each a whole TCP/IP stack in its own process, joined by a
# shared-memory wire (devnp-vwire), configured with the QNX utilities and
# exchanging UDP; then the same wire made lossy. Needs no network access and
# touches none of the host's interfaces.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
echo "building (first time takes a few minutes)..."
"$top/scripts/build.sh" "$top/build" >/dev/null

bin=$top/build/bin
work=$(mktemp -d /tmp/iopkt-demo.XXXXXX)
export IOPKT_RUNDIR=$work/run   # this demo's own instance registry
wire=demo$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
A=$work/a
B=$work/b
export PATH=$bin:$top/build/examples:$PATH   # our utilities first, as a QNX user would

say "Start two stacks: instance 1 and instance 2, each with one end of the wire '$wire'"
run io-pkt-v4-hc -i 1 -d vwire wire=$wire -p tcpip prefix=$A
run io-pkt-v4-hc -i 2 -d vwire wire=$wire -p tcpip prefix=$B
pids+=("$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.1")" "$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.2")")
echo "(both returned once ready and run in the background: pids ${pids[*]})"

say "Give each stack an address; SOCK names the stack a utility talks to"
run env SOCK=$A ifconfig vw0 192.0.2.1/24
run env SOCK=$B ifconfig vw0 192.0.2.2/24
run env SOCK=$A if_up -p vw0
run env SOCK=$A ifconfig -a

say "ping from stack 1 to stack 2 (ARP resolves first)"
run env SOCK=$A ping -c 3 -i 0.2 192.0.2.2

say "UDP echo from stack 1 to a server on stack 2"
SOCK=$B udpecho server 7 >/dev/null &
pids+=("$!")
sleep 0.3
run env SOCK=$A udpecho client -c 5 -i 100 192.0.2.2 7

say "TCP: 50 MB from stack 1 to a receiver on stack 2, then the connections netstat saw"
SOCK=$B timeout 120 tcpcat listen 5001 &
rx=$!
sleep 0.3
run env SOCK=$A tcpcat send 192.0.2.2 5001 50000000
wait "$rx" || true
run env SOCK=$A netstat -an -p tcp

say "What the stacks counted"
run env SOCK=$A arp -an
run env SOCK=$A netstat -i
run env SOCK=$B sysctl net.inet.icmp.stats.inhist.echo net.inet.udp.stats.ipackets net.inet.arp.stats.txreplies

say "Make the wire lossy: detach stack 2's end, attach it again with 30% loss (mount -T reaches instance 2)"
run env SOCK=$B ifconfig vw0 destroy
run mount -T io-pkt2 -o wire=$wire,loss=30,seed=7 vwire
run env SOCK=$B ifconfig vw0 192.0.2.2/24
run env SOCK=$A ping -c 20 -i 0.05 -q 192.0.2.2 || true

say "TCP over a wire losing 2% each way: retransmissions repair it (SACK recovery)"
run env SOCK=$B ifconfig vw0 destroy
run mount -T io-pkt2 -o wire=$wire,loss=2,seed=7 vwire
run env SOCK=$B ifconfig vw0 192.0.2.2/24
SOCK=$B timeout 120 tcpcat listen 5002 &
rx=$!
sleep 0.3
run env SOCK=$A tcpcat send 192.0.2.2 5002 5000000
wait "$rx" || true
run env SOCK=$A netstat -s -p tcp | grep -Ei 'retransmit|sack|recover' || true

say "Shut down with SIGTERM: each stack detaches its driver and removes its endpoint"
# The echo server first, then the stacks (newest first).
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
  kill "${pids[i]}"
  for _ in $(seq 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
done
pids=()
run ls -A "$A/dev" "$B/dev"
echo "(empty: no endpoint left behind)"
