#!/usr/bin/env bash
# TCP between io-pkt and the Linux kernel, checked end to end by SHA-256:
#   1. the impairment relay by itself, the kernel at both ends (namespace —
#      relay namespace — namespace): 100 MB under 2% loss, 1% duplication,
#      0.5% corruption and 5±4 ms delay arrive intact, the relay's counters
#      show each impairment in each direction, and the receiving kernel
#      counted the corrupted segments as checksum errors;
#   2. io-pkt (devnp-packet on a veth) with a Linux peer: curl fetches a body
#      from iopkt_tcp's HTTP server; 100 MB each way (socat <-> iopkt_tcp),
#      first over a clean veth with the kernel's default offloads, then with
#      nftables on the Linux end dropping 2% of TCP frames each way and
#      duplicating 1% of those Linux sends;
#   3. io-pkt behind the relay (Linux — relay — io-pkt) with the impairments
#      of 1: 100 MB each way.
# Each transfer is bounded by timeout (TCP_TIMEOUT_S) and its time printed.
# TCP_SECTIONS (default "1 2 3") picks the sections to run, e.g. "1 3" to
# compare io-pkt behind the relay with Linux through the same relay;
# TCP_BYTES (tcp_common.bash) makes the transfers shorter.
#
# Offloads: wherever frames are impaired (relay, nftables), every veth has
# checksum offload, TSO/GSO and GRO off (ethtool -K), so each frame is at
# most the MTU and carries a complete checksum. Otherwise AF_PACKET and the
# netdev hooks see 64 KB GSO super-frames (one "lost frame" would be 45
# segments) with partial checksums that a corruption cannot be caught by;
# and gso_max_segs 1, or the kernel's TCP hands the nftables egress hook
# multi-segment skbs (tcp_common.bash, tcp_offloads_off).
#
# Note: lib.sh puts io-pkt's utilities first on PATH; the kernel's ping and
# sysctl are called by full path here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_common.bash"
tcp_need socat curl nft ethtool ss nstat

sections=" ${TCP_SECTIONS:-1 2 3} "
# tcp_section N: section N was asked for.
tcp_section() { [[ $sections == *" $1 "* ]]; }

impair=(--seed 7 --loss 2 --dup 1 --corrupt 0.5 --delay-ms 5 --jitter-ms 4)
tcp_make_source

# --- 1. the relay, Linux at both ends ----------------------------------------
if tcp_section 1; then
tcp_relay_path ka kb k2k
ip -n "$ka" addr add 203.0.113.1/24 dev k2k-l
ip -n "$kb" addr add 203.0.113.2/24 dev k2k-r
if tcp_relay_start k2k "${impair[@]}"; then
  tcp_linux_to_linux "relay: $tcp_size Linux -> Linux" "$ka" "$kb" 203.0.113.2 5001
  tcp_linux_stats "$ka"
  tcp_linux_stats "$kb"
  tcp_relay_stop k2k
  tcp_relay_check_counters k2k
  # Each corrupted data frame must have failed the receiver's checksum (the
  # corruption happened after the checksum was computed).
  csum_err=$(ip netns exec "$kb" nstat -az TcpInCsumErrors | awk '/TcpInCsumErrors/{print $2}')
  corrupted=$(tcp_relay_counter k2k "a->b" corrupted)
  if [[ ${csum_err:-0} -gt 0 && ${csum_err:-0} -le ${corrupted:-0} ]]; then
    pass "relay: the receiving kernel counted $csum_err TCP checksum errors ($corrupted frames corrupted)"
  else
    fail "relay: TcpInCsumErrors=${csum_err:-?} for $corrupted frames corrupted"
  fi
fi
fi

# --- 2. io-pkt on a veth, Linux the peer -------------------------------------
if tcp_section 2; then
it_ns lx lx
it_ns st st
it_stack_on_veth packet
check "packet: Linux pings io-pkt" ip netns exec "$lx" /usr/bin/ping -c 2 -i 0.2 -W 2 192.0.2.2

# (a) curl GETs a 10 MB body from iopkt_tcp's HTTP server.
http_bytes=10485760
http_sha=$(iopkt_tcp gen "$http_bytes" --seed 5 | sha256sum | cut -d' ' -f1)
it_bg env "SOCK=$pkt" iopkt_tcp serve 8080 --source "$http_bytes" --http --seed 5 \
  --timeout-s 60 >"$it_work/http.out" 2>"$it_work/http.err"
http_pid=$!
if tcp_wait_for "$it_work/http.err" "listening|iopkt_tcp:" && grep -q listening "$it_work/http.err"; then
  got=$(timeout 60 ip netns exec "$lx" curl -sS --max-time 60 http://192.0.2.2:8080/data 2>"$it_work/curl.err" |
    sha256sum | cut -d' ' -f1) || true
  wait "$http_pid" || true
  if [[ $got == "$http_sha" ]]; then
    pass "packet: curl GET of a 10 MB body from io-pkt: SHA-256 matches"
  else
    fail "packet: curl GET from io-pkt: sha256=$got, want $http_sha"
    tcp_show "$it_work/curl.err" "$it_work/http.err" "$it_work/http.out"
  fi
else
  fail "packet: iopkt_tcp --http did not listen"
  tcp_show "$it_work/http.err"
fi

# (b) 100 MB each way on a clean link; the Linux end keeps its default
# offloads (GSO super-frames reach devnp-packet, which must cope).
tcp_linux_to_iopkt "packet: $tcp_size Linux -> io-pkt" "$lx" "$pkt" 192.0.2.2 5002
tcp_iopkt_to_linux "packet: $tcp_size io-pkt -> Linux" "$lx" "$pkt" 192.0.2.1 5003

# (c) the same with nftables faults on the Linux end: per-frame rules, so
# offloads off on both ends of the veth.
tcp_offloads_off "$lx" veth-lx
tcp_offloads_off "$st" veth-st
if ip netns exec "$lx" nft -f - <<'NFT'; then
table netdev impair {
  chain in {
    type filter hook ingress device "veth-lx" priority 0;
    ip protocol tcp numgen random mod 100 < 2 counter drop
  }
  chain out {
    type filter hook egress device "veth-lx" priority 0;
    ip protocol tcp numgen random mod 100 < 2 counter drop
    ip protocol tcp numgen random mod 100 < 1 counter dup to "veth-lx"
  }
}
NFT
  tcp_linux_to_iopkt "packet+nft: $tcp_size Linux -> io-pkt (2% loss, 1% dup)" "$lx" "$pkt" 192.0.2.2 5004
  tcp_iopkt_to_linux "packet+nft: $tcp_size io-pkt -> Linux (2% loss, 1% dup)" "$lx" "$pkt" 192.0.2.1 5005
  tcp_stack_stats "$pkt"
  ip netns exec "$lx" nft list table netdev impair >"$it_work/nft.out"
  sed 's/^/     nft: /' "$it_work/nft.out"
  # Each of the three rules acted.
  if [[ $(grep -Ec 'counter packets [1-9][0-9]* ' "$it_work/nft.out") == 3 ]]; then
    pass "packet+nft: the drop and dup rules matched frames"
  else
    fail "packet+nft: a drop or dup rule never matched"
  fi
  ip netns exec "$lx" nft delete table netdev impair
else
  fail "packet+nft: nft refused the netdev ingress/egress rules"
fi
fi

# --- 3. io-pkt behind the relay ----------------------------------------------
if tcp_section 3; then
tcp_relay_path ra rb rly
ip -n "$ra" addr add 198.51.100.1/24 dev rly-l
it_iopkt "$rb" "$it_work/rly" 2 -d packet if=rly-r
rly=$it_work/rly
SOCK=$rly ifconfig en0 198.51.100.2/24
check "relay: io-pkt's interface is up" env "SOCK=$rly" if_up -r 20 -s 1 en0
if tcp_relay_start rly "${impair[@]}"; then
  # After each direction: io-pkt's counters (cumulative) and the Linux
  # end's, which tell how each side recovered and whether the other's ACKs
  # misled it.
  tcp_linux_to_iopkt "relay: $tcp_size Linux -> io-pkt" "$ra" "$rly" 198.51.100.2 5006
  tcp_stack_stats "$rly"
  tcp_linux_stats "$ra"
  tcp_iopkt_to_linux "relay: $tcp_size io-pkt -> Linux" "$ra" "$rly" 198.51.100.1 5007
  tcp_relay_stop rly
  tcp_relay_check_counters rly
  # io-pkt too must have dropped the corrupted segments it received by their
  # checksum. Its TCP counters are shown: they tell how it recovered.
  badsum=$(env "SOCK=$rly" sysctl -n net.inet.tcp.stats.rcvbadsum 2>/dev/null) || badsum=""
  corrupted=$(tcp_relay_counter rly "a->b" corrupted)
  if [[ ${badsum:-0} -gt 0 && ${badsum:-0} -le ${corrupted:-0} ]]; then
    pass "relay: io-pkt counted $badsum TCP checksum errors ($corrupted frames corrupted)"
  else
    fail "relay: io-pkt's rcvbadsum=${badsum:-?} for $corrupted frames corrupted"
  fi
  tcp_stack_stats "$rly"
fi
fi

it_finish
