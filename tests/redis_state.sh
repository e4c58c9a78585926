#!/usr/bin/env bash
# make redis-state: the drivers' state in Redis, through redis-cli on the redis host.
# Shows the number of driver:* hashes against the number of distinct drivers, a sample of
# records, and that no driver appears twice (one hash per driver, hash ⇔ geo member).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r name host < <(ANSIBLE_CONFIG=$PWD/ansible.cfg ansible-inventory --list | /usr/bin/python3 -c \
  'import json,sys; d=json.load(sys.stdin); h=d["redis"]["hosts"][0]; print(h, d["_meta"]["hostvars"][h]["ansible_host"])')
pw=${REDIS_ADMIN_PASSWORD:-rastro-lab-admin-pw}
run() { lab/lab.sh ssh "$name" "$@"; }
cli="redis-cli -h $host --no-auth-warning -a $pw"
echo "== Redis on $name ($host)"
run "$cli --scan --pattern 'driver:*' | sort > /tmp/rastro-keys; wc -l < /tmp/rastro-keys" | sed 's/^/driver:* hashes:              /'
run "$cli ZCARD drivers:geo" | sed 's/^/drivers:geo members:          /'
run "sed 's/^driver://' /tmp/rastro-keys | sort -u | wc -l" | sed 's/^/distinct driver ids in keys:  /'
run "for k in \$(cat /tmp/rastro-keys); do $cli HGET \$k driver_id; done | sort | uniq -d | wc -l" \
  | sed 's/^/driver ids held by 2+ hashes: /'
run "$cli ZRANGE drivers:geo 0 -1 | sort > /tmp/rastro-geo; sed 's/^driver://' /tmp/rastro-keys | comm -3 - /tmp/rastro-geo | wc -l" \
  | sed 's/^/hash without geo or geo without hash: /'
echo "== sample"
run "for k in \$(head -3 /tmp/rastro-keys); do echo \"\$k\"; $cli HGETALL \$k | paste - - | sed 's/^/    /'; done"
