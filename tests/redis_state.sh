#!/usr/bin/env bash
# make redis-state: the drivers' state in Redis, through redis-cli on the controller.
# Shows the number of driver:* hashes against the number of distinct drivers, a sample of
# records, and that no driver appears twice (one hash per driver, hash ⇔ one geo member, in the geo
# set of the status the hash holds).
# Asks the Sentinels where the primary is, then reads it. Logs in as the Redis admin of credentials/<inventory>/redis-admin.properties (written by
# site.yml); the password travels in REDISCLI_AUTH, never on a command line.
set -euo pipefail
cd "$(dirname "$0")/.."
creds=${RASTRO_CREDENTIALS:-credentials/local}/redis-admin.properties
[[ -r $creds ]] || { echo "redis-state: $creds is missing: run ansible-playbook site.yml first" >&2; exit 2; }
prop() { sed -n "s/^$1=//p" "$creds" | head -1; }
port=$(prop port) user=$(prop user)
tls=()
[[ $(prop tls) == true ]] && tls=(--tls --cacert "$(dirname "$creds")/$(prop cafile)")
REDISCLI_AUTH=$(prop password)
export REDISCLI_AUTH
# The primary, as the first Sentinel that answers names it (a file without sentinels= names host=).
host=$(prop host)
IFS=, read -ra sentinels <<< "$(prop sentinels)"
for s in "${sentinels[@]}"; do
  if addr=$(timeout 5 redis-cli -h "${s%:*}" -p "${s##*:}" --user "$user" --no-auth-warning "${tls[@]}" \
              SENTINEL GET-MASTER-ADDR-BY-NAME "$(prop sentinel_master)" 2>/dev/null) && [[ -n $addr ]]; then
    host=$(head -1 <<< "$addr")
    echo "== Sentinel $s names the primary: $host"
    break
  fi
done
[[ -n $host ]] || { echo "redis-state: no Sentinel of $(prop sentinels) named the primary" >&2; exit 1; }
cli() { redis-cli -h "$host" -p "$port" --user "$user" --no-auth-warning "${tls[@]}" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== Redis at $host:$port (user $user${tls:+, TLS})"
cli --scan --pattern 'driver:*' | sort > "$tmp/keys"
printf 'driver:* hashes:              %s\n' "$(wc -l < "$tmp/keys")"
for status in available busy offline; do
  printf '%-30s%s\n' "drivers:geo:$status members:" "$(cli ZCARD "drivers:geo:$status")"
done
printf 'distinct driver ids in keys:  %s\n' "$(sed 's/^driver://' "$tmp/keys" | sort -u | wc -l)"
printf 'driver ids held by 2+ hashes: %s\n' \
  "$(sed 's/^/HGET /; s/$/ driver_id/' "$tmp/keys" | cli | sort | uniq -d | wc -l)"
for status in available busy offline; do cli ZRANGE "drivers:geo:$status" 0 -1; done | sort > "$tmp/geo"
printf 'drivers in two geo sets:      %s\n' "$(uniq -d "$tmp/geo" | wc -l)"
printf 'hash without geo or geo without hash: %s\n' "$(sed 's/^driver://' "$tmp/keys" | comm -3 - <(sort -u "$tmp/geo") | wc -l)"
# Each driver in the geo set of the status its hash holds (a sample of 1,000: one HGET each).
head -1000 "$tmp/keys" | sed 's/^/HGET /; s/$/ status/' | cli > "$tmp/status"
missing=$(paste -d' ' <(head -1000 "$tmp/keys" | sed 's/^driver://') "$tmp/status" \
  | while read -r id status; do echo "ZSCORE drivers:geo:$status $id"; done | cli | grep -c '^$' || true)
printf "sampled drivers not in their status's geo set: %s\n" "$missing"
echo "== sample"
for k in $(head -3 "$tmp/keys"); do echo "$k"; cli HGETALL "$k" | paste - - | sed 's/^/    /'; done
