#!/usr/bin/env bash
# scripts/setup.sh — install what iopkt needs to build, test and demo on
# Debian 12 (run as root). Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake g++ pkg-config          # the build
  libgtest-dev libgmock-dev googletest          # unit, scenario and process tests
  clang libclang-rt-14-dev                      # libFuzzer targets (bounded runs in the tests)
  iproute2 procps psmisc util-linux             # namespaces, process control, system mount
  socat iputils-ping curl python3               # Linux-side peers in the interop tests
  nginx-light iperf3                            # unmodified programs over io-pkt (docs/preload.md)
  openssh-server netcat-openbsd                 # more of them: sshd/ssh and nc over io-pkt
  dnsmasq-base bind9-dnsutils                   # a DNS server on the Linux side, dig
  nftables ethtool                              # fault injection and offloads in the interop tests
  liblwip-dev                                   # lwIP's side of bench/run.sh's user-space peers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
