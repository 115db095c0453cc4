#!/usr/bin/env bash
# Makes a Debian bookworm base image locally, without pulling from a registry: debootstrap (minbase) with
# python3, python3-venv and CA certificates, imported with `docker import`. For sites (and this project's own
# smoke test) where Docker Hub is out of reach; pass the result as --build-arg BASE_IMAGE=<name>.
#
#   deploy/make-base-image.sh [NAME]        (default NAME: focalserve-base:bookworm; needs root + debootstrap)
#
# The host's CA bundle and pip configuration are copied in, so that pip inside a build reaches the same
# package index (and through the same TLS interception, if any) as pip on the host.
set -euo pipefail

name="${1:-focalserve-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$name" >/dev/null 2>&1; then
    echo "base image $name exists"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

root="$(mktemp -d /tmp/focalserve-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The host's site-wide pip settings (e.g. `cert = ...`), when there are some.
if [[ -f /etc/pip.conf ]]; then
    cp /etc/pip.conf "$root/etc/pip.conf"
fi
# Nothing the image needs: package caches, docs, man pages.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
echo "base image $name made"
