#!/usr/bin/env bash
# Builds Debian's librdkafka package of the version in librdkafka/version (from Debian 13's
# sources) for Debian 12 into /var/cache/rastro/librdkafka/ (outside the clone, so that a fresh
# clone reuses it). Why: Kafka 4 checks SCRAM nonces strictly and refuses every SCRAM login of
# librdkafka before 2.6.1 (confluentinc/librdkafka#4895), and Debian 12 ships 2.0.2, which confluent-kafka, the producer, the exporter and every tool here link against.
# The binary keeps the soname librdkafka.so.1, so Debian's python3-confluent-kafka uses it as is.
# Idempotent: an existing build is reused. Needs root (apt-get) and Debian's deb-src archive.
set -euo pipefail
cd "$(dirname "$0")"
version=$(cat version)
target=${RASTRO_LIBRDKAFKA_DIR:-/var/cache/rastro/librdkafka}
log() { printf '%s [librdkafka] %s\n' "$(date +%H:%M:%S)" "$*"; }
if compgen -G "$target/librdkafka1_${version}_*.deb" >/dev/null; then
  log "librdkafka $version already built in $target"; exit 0
fi
src=/etc/apt/sources.list.d/rastro-librdkafka-src.sources
if [[ ! -f $src ]]; then
  log "adding Debian 13's source archive (deb-src only: no binary package comes from it)"
  cat > "$src" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -q >/dev/null
log "installing the build dependencies"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q build-essential debhelper dpkg-dev fakeroot pkgconf \
  libcurl4-openssl-dev liblz4-dev libsasl2-dev libssl-dev libzstd-dev rapidjson-dev zlib1g-dev python3 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
log "fetching the source of librdkafka $version"
apt-get source -q "librdkafka=$version" >/dev/null
cd librdkafka-*/
log "building (a few minutes on 2 cores; tests skipped)"
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -uc -us > "$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }
mkdir -p "$target"
cp ../librdkafka1_"${version}"_*.deb "$target/"
log "built $(ls "$target")"
