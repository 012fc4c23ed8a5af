#!/usr/bin/env bash
# TCP between two io-pkt instances joined by devnp-vwire with loss=1% on each
# end's transmit side (so data segments and ACKs are both lost): 100 MB each
# way with iopkt_tcp at both ends arrives with a matching SHA-256, within
# TCP_TIMEOUT_S per transfer. The wire is shared memory: no namespace and no
# interface of the host is involved.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_common.bash"

wire="tcpvw$$"
A=$it_work/a
B=$it_work/b
start() { # start INSTANCE PREFIX DRIVER_OPTS
  io-pkt-v4-hc -i "$1" -d vwire "$3" -p tcpip "prefix=$2"
  it_pids+=("$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.$1")")
}
start 1 "$A" "wire=$wire,loss=1%,seed=3"
start 2 "$B" "wire=$wire,loss=1%,seed=4"
env "SOCK=$A" ifconfig vw0 192.0.2.1/24
env "SOCK=$B" ifconfig vw0 192.0.2.2/24
check "vwire: A's interface is up" env "SOCK=$A" if_up -r 20 -s 1 vw0
check "vwire: B's interface is up" env "SOCK=$B" if_up -r 20 -s 1 vw0
check_output "vwire: A pings B" "packets received" env "SOCK=$A" ping -c 5 -i 0.05 192.0.2.2

tcp_make_source
tcp_iopkt_to_iopkt "vwire loss=1%: $tcp_size A -> B" "$A" "$B" 192.0.2.2 5001
tcp_iopkt_to_iopkt "vwire loss=1%: $tcp_size B -> A" "$B" "$A" 192.0.2.1 5002
# How each end recovered (cumulative over both transfers): retransmissions
# against the duplicates the receivers saw tell needless ones apart.
tcp_stack_stats "$A"
tcp_stack_stats "$B"

it_finish
