#!/usr/bin/env bash
# Makes a Debian 13 (trixie) root with Triton's perf_analyzer in it, for benchmarks/perf_analyzer.py.
#
#   scripts/perf-analyzer-root.sh [DIR]     (default DIR: /var/tmp/focalserve-trixie; needs root + debootstrap)
#
# Why a root: the perf-analyzer wheel on PyPI (2.60.0) carries a binary built for glibc 2.38, and Debian 12 has
# 2.36. Debian 13 has 2.41. The root shares this host's network, so the binary inside reaches a service on
# 127.0.0.1 directly. Made once (debootstrap ~40 s, the wheel a few seconds) and reused while DIR/opt/pa exists.
set -euo pipefail

root="${1:-/var/tmp/focalserve-trixie}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
version="${PERF_ANALYZER_VERSION:-2.60.0}"

if [[ -x "$root/opt/pa/bin/perf_analyzer" ]]; then
    echo "perf_analyzer root $root exists"
    exit 0
fi
[[ "$(id -u)" == 0 ]] || { echo "making the root needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

if [[ ! -x "$root/usr/bin/python3" ]]; then
    mkdir -p "$root"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates trixie "$root" "$mirror" >/dev/null
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The host's site-wide pip settings (an index mirror, a CA), when there are some.
[[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$root/etc/pip.conf"
chroot "$root" /usr/bin/python3 -m venv /opt/pa
chroot "$root" /opt/pa/bin/pip install -q "perf-analyzer==$version"
echo "perf_analyzer root $root made"
