#!/usr/bin/env bash
# Runs a molecule scenario's playbooks in molecule's own sequence, for machines where molecule
# itself is not installable: create → converge → idempotence (second converge must report
# changed=0 on every host) → verify → destroy, with prepare after create where the scenario has one. destroy runs even when an earlier step fails.
#   tests/molecule_sequence.sh SCENARIO             the whole sequence, on lab hosts of its own
#   tests/molecule_sequence.sh --shared-lab SCENARIO  without create/destroy: on lab hosts an earlier
#                                                     scenario left (make molecule creates them once);
#     a prepare made only of import_playbook entries then runs just the playbooks not yet applied
#     to these hosts since they were created (listed in artifacts/molecule/shared-lab-applied).
set -euo pipefail
shared_lab=false
if [[ ${1:-} == --shared-lab ]]; then shared_lab=true; shift; fi
scenario=${1:?usage: $0 [--shared-lab] SCENARIO}
cd "$(dirname "$0")/.."
dir=molecule/$scenario
[[ -f $dir/molecule.yml ]] || { echo "no scenario $dir" >&2; exit 2; }
# Task times in every log (profile_tasks), to see where a scenario spends its time.
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_NOCOLOR=1 MOLECULE_PROJECT_DIRECTORY=$PWD ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
inv=(-i inventories/local)
log_dir=artifacts/molecule/$scenario
mkdir -p "$log_dir"

playbook() {  # playbook NAME → the path molecule.yml gives for it
  local p
  p=$(/usr/bin/python3 -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["provisioner"]["playbooks"][sys.argv[2]])' "$dir/molecule.yml" "$1" 2>/dev/null) || return 1
  echo "$dir/$p"
}

step() { printf '%s [molecule:%s] %s\n' "$(date +%H:%M:%S)" "$scenario" "$*"; }

run() {  # run STEP PLAYBOOK
  local name=$1 pb=$2 start=$SECONDS
  step "$name ($pb)"
  if ! ansible-playbook "${inv[@]}" "$pb" > "$log_dir/$name.log" 2>&1; then
    tail -60 "$log_dir/$name.log"
    step "$name FAILED after $((SECONDS - start)) s (log: $log_dir/$name.log)"
    return 1
  fi
  step "$name ok in $((SECONDS - start)) s"
}

if ! $shared_lab; then
  destroy() { run destroy "$(playbook destroy)" || true; }
  trap destroy EXIT
  run create "$(playbook create)"
fi
applied=artifacts/molecule/shared-lab-applied

# prepare_left PREPARE → a playbook of PREPARE's imports not yet applied to the shared lab (written
# next to it, so relative imports still resolve), "-" when none is left, "" when PREPARE is not
# made of imports only. The imported playbooks' paths are recorded as applied.
prepare_left() {
  /usr/bin/python3 - "$1" "$applied" <<'PY'
import os, sys, yaml
prepare, applied = sys.argv[1], sys.argv[2]
plays = yaml.safe_load(open(prepare)) or []
keys = ("ansible.builtin.import_playbook", "import_playbook")
if not all(any(k in p for k in keys) for p in plays):
    print("")
    sys.exit(0)
done = set(open(applied).read().split()) if os.path.exists(applied) else set()
base = os.path.dirname(os.path.abspath(prepare))
left = [p for p in plays
        if os.path.realpath(os.path.join(base, next(p[k] for k in keys if k in p))) not in done]
if not left:
    print("-")
    sys.exit(0)
out = os.path.join(base, ".prepare-shared-lab.yml")
with open(out, "w") as f:
    yaml.safe_dump(left, f, sort_keys=False, explicit_start=True)
print(out)
PY
}

record_applied() {  # record_applied PLAYBOOK: its imports count as applied to the shared lab
  /usr/bin/python3 - "$1" "$applied" <<'PY'
import os, sys, yaml
pb, applied = sys.argv[1], sys.argv[2]
base = os.path.dirname(os.path.abspath(pb))
keys = ("ansible.builtin.import_playbook", "import_playbook")
with open(applied, "a") as f:
    for p in yaml.safe_load(open(pb)) or []:
        for k in keys:
            if k in p:
                f.write(os.path.realpath(os.path.join(base, p[k])) + "\n")
PY
}

if prepare=$(playbook prepare 2>/dev/null); then
  if $shared_lab && left=$(prepare_left "$prepare") && [[ -n $left ]]; then
    if [[ $left == - ]]; then
      step "prepare: every playbook of $prepare is already applied to the shared lab hosts"
    else
      trap 'rm -f "$left"' EXIT
      run prepare "$left"
      record_applied "$left"
      rm -f "$left"
    fi
  else
    run prepare "$prepare"
    $shared_lab && record_applied "$prepare"
  fi
fi
run converge "$(playbook converge)"
run idempotence "$(playbook converge)"
changed=$(grep -E '^\S+\s+: ok=' "$log_dir/idempotence.log" | grep -v 'changed=0 ' || true)
if [[ -n $changed ]]; then
  step "idempotence FAILED: the second converge changed something:"
  echo "$changed"
  grep -E '^(changed|TASK)' "$log_dir/idempotence.log" | grep -B1 '^changed' || true
  exit 1
fi
step "idempotence: changed=0 on every host"
run verify "$(playbook verify)"
step "passed"
