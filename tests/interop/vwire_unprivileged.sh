#!/usr/bin/env bash
# Two io-pkt instances over devnp-vwire, run as an unprivileged user (the
# wire needs no privileges): ping and UDP both ways, the clients
# unprivileged too (ping through ICMP echo sockets); with loss= on one end
# the loss shows in ping's statistics. Configuring a stack stays root's
# (issue 9). Also the router-less path: a reject route, no route, and an
# address behind a down interface.
source "$(dirname "$0")/lib.sh"

user=nobody
# A command prefix, not a function: in the background its pid is the
# program's own (setpriv and env exec), so cleanup can kill it by PID.
as_user=(setpriv --reuid="$user" --regid=nogroup --clear-groups --inh-caps=-all)
export IOPKT_RUNDIR="$it_work/run-$user"
mkdir -p "$IOPKT_RUNDIR" "$it_work/u"
chown "$user" "$IOPKT_RUNDIR" "$it_work/u"
wire="vw$$"

start() {  # start INSTANCE PREFIX DRIVER_OPTS
  "${as_user[@]}" io-pkt-v4-hc -i "$1" -d vwire "$3" -p "tcpip" "prefix=$2"
  it_pids+=("$(cut -d' ' -f1 "$IOPKT_RUNDIR/io-pkt.$1")")
}
A=$it_work/u/a
B=$it_work/u/b
start 1 "$A" "wire=$wire"
start 2 "$B" "wire=$wire,loss=25,seed=3"
check "instances run as $user" bash -c "ps -o user= -p ${it_pids[0]} | grep -qx $user"
env SOCK=$A ifconfig vw0 192.0.2.1/24
env SOCK=$B ifconfig vw0 192.0.2.2/24
check_output "$user may not configure" "Operation not permitted" "${as_user[@]}" env SOCK=$A ifconfig vw0 mtu 1400

check_output "ping A -> B" "packets received" "${as_user[@]}" env SOCK=$A ping -c 20 -i 0.05 192.0.2.2
loss=$(grep -Eo '[0-9.]+% packet loss' "$it_work/out" | cut -d% -f1)
if awk "BEGIN{exit !($loss > 5 && $loss < 60)}"; then
  pass "loss=25 on B's side shows in ping's statistics ($loss%)"
else
  fail "loss=25 on B's side shows in ping's statistics ($loss%)"
fi
check_output "ping B -> A" "packets received" "${as_user[@]}" env SOCK=$B ping -c 5 -i 0.05 192.0.2.1
it_bg "${as_user[@]}" env SOCK=$A udpecho server 9009
sleep 0.3
check_output "UDP B -> A" "[1-9][0-9]* received" "${as_user[@]}" env SOCK=$B udpecho client -c 10 -i 20 -W 500 192.0.2.1 9009
it_bg "${as_user[@]}" env SOCK=$B udpecho server 9010
sleep 0.3
check_output "UDP A -> B" "[1-9][0-9]* received" "${as_user[@]}" env SOCK=$A udpecho client -c 10 -i 20 -W 500 192.0.2.2 9010

# The router-less path.
check "a reject route" env SOCK=$A route add -net 203.0.113.0/24 -reject
check_output "ping through a reject route: No route to host" "No route to host" \
  env SOCK=$A ping -c 1 203.0.113.5
check_output "no route at all: Network is unreachable" "Network is unreachable" \
  env SOCK=$A ping -c 1 198.51.100.5
env SOCK=$A ifconfig vw0 down
check_output "an address behind a down interface is unreachable" "No route to host" \
  env SOCK=$A ping -c 1 192.0.2.2
it_finish
