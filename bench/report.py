#!/usr/bin/python3
"""bench/report.py — the table of bench/run.sh: medians, min–max and the
ratio io-pkt/kernel of every metric, printed, written as markdown, and
plotted (PNG) when matplotlib is there.

Input: a samples file of lines "METRIC<TAB>STACK<TAB>ROUND<TAB>VALUE" (STACK
iopkt, kernel, or a user-space peer: slirp4netns, pasta, lwip). The first
table is io-pkt beside the kernel; the second (benchmark "peers") puts
io-pkt on devnp-tap beside the kernel over a veth and each user-space
stack, with each one's ratio to the kernel and io-pkt's ratio to it. Exit
status 1 when a metric of a requested benchmark has no number for a stack
that should have one, so a smoke run fails when a benchmark broke and never
on what the numbers are. A peer or measure given with --skip NAME=REASON
(not installed, no hardware counters) is reported as skipped, not missing.

Standard library only, apart from the optional plot: the smoke run in CI
must not depend on matplotlib.
"""
import argparse
import statistics
import sys

# (metric, benchmark, label, unit, better, iopkt-only). `better` says which
# way is good for io-pkt, for reading the ratio: "higher" or "lower".
METRICS = [
    ("bulk_gbps", "bulk", "TCP bulk, 1 stream", "Gbit/s", "higher", False),
    ("rr_rate", "rr", "TCP request/response 1 B", "round trips/s", "higher", False),
    ("rr_p50", "rr", "TCP RR latency p50", "µs", "lower", False),
    ("rr_p99", "rr", "TCP RR latency p99", "µs", "lower", False),
    ("crr_rate", "crr", "TCP connect+1 B request+1 B answer+close", "conn/s", "higher", False),
    ("crr_p99", "crr", "TCP CRR p99 (one connection)", "µs", "lower", False),
    ("udp_pps", "udp", "UDP 64 B received", "datagrams/s", "higher", False),
    ("udp_delivered", "udp", "UDP 64 B delivered", "% of sent", "higher", False),
    ("udp_sent_pps", "udp", "UDP 64 B sent", "datagrams/s", "higher", False),
    ("mem_bytes", "mem", "memory per idle connection (io-pkt: RSS; kernel: slab)", "bytes", "lower",
     False),
    ("mem_iopkt_kernel", "mem", "io-pkt: kernel slab of its channels per connection", "bytes",
     "lower", True),
    ("bulk_cpu_machine", "bulk", "CPU per GB, bulk (machine busy time)", "CPU-s/GB", "lower",
     False),
    ("bulk_cpu_proc", "bulk", "CPU per GB, bulk (processes' own time)", "CPU-s/GB", "lower",
     False),
    ("bulk_cycles", "cycles", "cycles per byte, bulk (whole machine, perf stat -a)", "cycles/B",
     "lower", False),
    ("tap_gbps", "tap", "TCP bulk, iperf3, io-pkt on devnp-tap (kernel: veth)", "Gbit/s",
     "higher", False),
    ("tap_rr_rate", "tap", "TCP RR 1 B, io-pkt on devnp-tap (kernel: veth)", "round trips/s",
     "higher", False),
    ("tap_rr_p50", "tap", "TCP RR p50, io-pkt on devnp-tap (kernel: veth)", "µs", "lower", False),
    ("tap_rr_p99", "tap", "TCP RR p99, io-pkt on devnp-tap (kernel: veth)", "µs", "lower", False),
]

# The peers table: (metric, label, unit, better, peers measured).
PEER_METRICS = [
    ("tap_gbps", "TCP bulk, 1 stream (iperf3; lwIP: its own sender)", "Gbit/s", "higher",
     ("slirp4netns", "pasta", "lwip")),
    ("tap_rr_rate", "TCP request/response 1 B", "round trips/s", "higher", ("slirp4netns", "pasta")),
    ("tap_rr_p99", "TCP RR latency p99", "µs", "lower", ("slirp4netns", "pasta")),
]
STACK_LABELS = {
    "kernel": "kernel (veth)",
    "iopkt": "io-pkt (devnp-tap)",
    "slirp4netns": "slirp4netns",
    "pasta": "pasta",
    "lwip": "lwIP 2.1 (TAP)",
}

NOTES = [
    "io-pkt: two io-pkt-v4-hc instances joined by devnp-vwire; kernel: two network namespaces "
    "joined by a veth pair (offloads as the kernel sets them). Same program (bench/tools/"
    "iopkt_bench.c) at both ends; nothing pinned.",
    "Ratio = io-pkt / kernel, of the medians. For metrics where lower is better (latency, "
    "memory, CPU) a ratio under 1 favours io-pkt.",
    "Memory: io-pkt's number is the growth of both instances' VmRSS divided by the connections; "
    "the kernel's is the growth of Slab in /proc/meminfo (machine-wide, so other activity on "
    "the machine shows in it). io-pkt's channels (AF_UNIX socketpairs, two per connection end) "
    "are kernel memory too: the row 'io-pkt: kernel slab of its channels' gives it.",
    "CPU (machine busy time): busy jiffies of /proc/stat (user+nice+system+irq+softirq) over "
    "the transfer, for both stacks — the only measure that charges the kernel's softirq work; "
    "it includes whatever else the machine ran meanwhile. Processes' own time: utime+stime of "
    "the io-pkt instances and of both bench programs (the kernel's row misses the softirq "
    "time not charged to the programs).",
    "Cycles per byte: perf stat -a -e cycles while the bulk client runs (the whole machine, "
    "like the machine busy time), divided by the bytes moved.",
    "tap: one io-pkt-v4-hc on devnp-tap (TAP offloads off, MTU 1500), Linux's end of the TAP "
    "in the namespace io-pkt runs in. Bulk: the unmodified iperf3 -c run through iopkt-run "
    "(libiopkt-preload) to iperf3 -s on Linux, for iperf3 -t seconds, throughput at the "
    "receiver (iperf3 -J end.sum_received); RR: iopkt_bench over libiopkt to iopkt_bench "
    "--kernel. Kernel: the same programs between two namespaces over a veth.",
    "Peers: slirp4netns and pasta carry the kernel stack of a namespace whose only link is "
    "their TAP (MTU 65520, their default) to iperf3 -s / iopkt_bench on the host's loopback "
    "(the gateway address maps to it); their outbound sockets are bound to the loopback. lwIP: "
    "Debian's liblwip with our TAP netif (bench/tools/lwip_tap.c) sends for the same seconds "
    "to iopkt_bench bulk-recv on Linux's end of the TAP (no iperf3 over lwIP; receiver's "
    "throughput). 'x/kernel' is that stack's median over the kernel's (veth); "
    "'io-pkt/x' is io-pkt on devnp-tap over that stack.",
]


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if 0 < a < 0.01:
        return f"{v:.3g}"
    return f"{v:.2f}"


def cell(vals):
    if not vals:
        return "—"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(vals))}–{fmt(max(vals))})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--png")
    ap.add_argument("--benches", default="bulk,rr,crr,udp,mem")
    ap.add_argument("--peers", default="", help="the peers that ran (comma-separated)")
    ap.add_argument("--skip", action="append", default=[],
                    help="NAME=REASON: a peer or measure (cycles) not run, and why")
    ap.add_argument("--meta", action="append", default=[])
    args = ap.parse_args()
    skips = dict(s.partition("=")[::2] for s in args.skip)
    peers_ran = [p for p in args.peers.split(",") if p]

    data = {}
    with open(args.samples) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            metric, stack, _, value = parts
            try:
                data.setdefault((metric, stack), []).append(float(value))
            except ValueError:
                pass  # an empty value: the run gave no number

    benches = set(args.benches.split(","))
    rows, missing, plot_rows = [], [], []
    for metric, bench, label, unit, better, iopkt_only in METRICS:
        if bench not in benches:
            continue
        if bench in skips:
            rows.append([label, unit, "not measured", "not measured", "—", better])
            continue
        io = data.get((metric, "iopkt"), [])
        k = data.get((metric, "kernel"), [])
        if not io or (not k and not iopkt_only):
            missing.append(metric)
        ratio = None
        if io and k and statistics.median(k) != 0:
            ratio = statistics.median(io) / statistics.median(k)
            plot_rows.append((label, ratio, better))
        rows.append([label, unit, cell(io), cell(k), f"{ratio:.2f}" if ratio is not None else "—",
                     better])

    head = ["benchmark", "unit", "io-pkt median (min–max)", "kernel median (min–max)",
            "io-pkt/kernel", "better"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    print(line(head))
    for r in rows:
        print(line(r))

    # The peers: every stack's median, its ratio to the kernel, io-pkt's
    # ratio to it.
    peer_rows = []
    if "peers" in benches:
        for metric, label, unit, better, measured in PEER_METRICS:
            k = data.get((metric, "kernel"), [])
            io = data.get((metric, "iopkt"), [])
            mk = statistics.median(k) if k else None
            mi = statistics.median(io) if io else None
            for stack in ("kernel", "iopkt") + measured:
                vals = data.get((metric, stack), [])
                m = statistics.median(vals) if vals else None
                if stack in skips:
                    peer_rows.append([label, unit, STACK_LABELS[stack], f"skipped: {skips[stack]}",
                                      "—", "—", better])
                    continue
                if not vals and (stack in peers_ran or stack in ("kernel", "iopkt")):
                    missing.append(f"{metric}/{stack}")
                to_k = f"{m / mk:.2f}" if m is not None and mk else "—"
                io_to = "—"
                if stack not in ("kernel", "iopkt") and mi is not None and m:
                    io_to = f"{mi / m:.2f}"
                    plot_rows.append((f"{label}: io-pkt / {STACK_LABELS[stack]}", mi / m, better))
                peer_rows.append([label, unit, STACK_LABELS[stack], cell(vals), to_k, io_to, better])
        peer_head = ["benchmark", "unit", "stack", "median (min–max)", "x/kernel", "io-pkt/x",
                     "better"]
        pw = [max(len(str(r[i])) for r in peer_rows + [peer_head]) for i in range(len(peer_head))]
        print("\nio-pkt beside the user-space stacks (each from a namespace to a Linux peer)")
        print("  ".join(str(c).ljust(w) for c, w in zip(peer_head, pw)))
        for r in peer_rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, pw)))
    notes_skip = [f"{STACK_LABELS.get(name, name)} not measured: {why}." for name, why in sorted(skips.items())]
    if notes_skip:
        print()
        for n in notes_skip:
            print(n)

    with open(args.out, "w") as f:
        f.write("# iopkt benchmarks: io-pkt beside the Linux kernel and user-space stacks\n\n")
        for m in args.meta:
            key, _, value = m.partition("=")
            f.write(f"- {key}: {value}\n")
        f.write("\n| " + " | ".join(head) + " |\n")
        f.write("| " + " | ".join("---" for _ in head) + " |\n")
        for r in rows:
            f.write("| " + " | ".join(r) + " |\n")
        if peer_rows:
            f.write("\n## io-pkt beside the user-space stacks\n\n")
            f.write("| " + " | ".join(peer_head) + " |\n")
            f.write("| " + " | ".join("---" for _ in peer_head) + " |\n")
            for r in peer_rows:
                f.write("| " + " | ".join(r) + " |\n")
        f.write("\n")
        for n in NOTES + notes_skip:
            f.write(f"- {n}\n")
        if missing:
            f.write(f"\nNo number for: {', '.join(missing)} (see the run's log).\n")
    print(f"\nresults: {args.out}")

    if args.png and plot_rows:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("no plot: python3-matplotlib is not installed", file=sys.stderr)
        else:
            labels = [f"{l}\n({b} is better)" for l, _, b in plot_rows]
            ratios = [r for _, r, _ in plot_rows]
            # Green where io-pkt does at least as well as the other stack.
            colors = ["tab:green" if (r >= 1) == (b == "higher") or r == 1 else "tab:red"
                      for _, r, b in plot_rows]
            fig, ax = plt.subplots(figsize=(max(11, 0.6 * len(ratios)), 6.5))
            bars = ax.bar(range(len(ratios)), ratios, color=colors)
            ax.axhline(1.0, color="black", linewidth=1)
            ax.set_yscale("log")
            ax.set_ylabel("io-pkt / kernel or peer (log scale; 1 = same)")
            ax.set_xticks(range(len(ratios)))
            ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
            for b, r in zip(bars, ratios):
                ax.annotate(f"{r:.2f}", (b.get_x() + b.get_width() / 2, r), ha="center",
                            va="bottom", fontsize=8)
            date = next((m.partition("=")[2] for m in args.meta if m.startswith("date=")), "")
            ax.set_title(f"iopkt vs the Linux kernel and user-space stacks, medians ({date})")
            fig.tight_layout()
            fig.savefig(args.png, dpi=110)
            print(f"plot: {args.png}")

    if missing:
        print(f"no number for: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
