#!/usr/bin/env bash
# rastro lab: Debian 12 hosts as systemd-nspawn containers on bridge br-lab. Without an inventory,
# the three of the Vagrantfile (kafka1..3 = 192.168.56.11..13); with one, every host it names: a host
# with ansible_host gets that address, the others one of 192.168.56.21-99 kept in $LAB_DIR/addresses,
# and every lab name resolves through /etc/hosts on every host and on this controller.
# Usage: lab/lab.sh up [INVENTORY]|down [INVENTORY]|status [INVENTORY]|ssh NAME [cmd...]
# Everything expensive (base image, apt cache, SSH key) lives under $RASTRO_LAB_DIR
# so a later run reuses it; every step is idempotent.
set -euo pipefail

LAB_DIR=${RASTRO_LAB_DIR:-/var/lib/rastro-lab}
BRIDGE=${RASTRO_LAB_BRIDGE:-br-lab}
GATEWAY=192.168.56.1
HOSTS=(kafka1 kafka2 kafka3)
declare -A ADDR=([kafka1]=192.168.56.11 [kafka2]=192.168.56.12 [kafka3]=192.168.56.13)
ADDRESSES="$LAB_DIR/addresses"
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
BASE="$LAB_DIR/base"
KEY="$LAB_DIR/ssh/id_ed25519"
ACNG_DIR="$LAB_DIR/apt-cacher-ng"

log() { printf '%s [lab] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '%s [lab] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# Every name the lab has ever given an address (so that both lab inventories resolve everywhere).
load_addresses() {
  local name ip
  [[ -f $ADDRESSES ]] || return 0
  while read -r name ip; do [[ -n $name ]] && ADDR[$name]=$ip; done < "$ADDRESSES"
}

save_addresses() {
  local h
  mkdir -p "$LAB_DIR"
  for h in "${!ADDR[@]}"; do echo "$h ${ADDR[$h]}"; done | sort > "$ADDRESSES.tmp"
  mv "$ADDRESSES.tmp" "$ADDRESSES"
}

# HOSTS from an inventory: its hosts (ansible-inventory), each with its ansible_host or a free address.
hosts_from_inventory() {
  local inv=$1 name ip n used
  [[ -e $inv ]] || die "inventory: no such file or directory: $inv"
  HOSTS=()
  while read -r name ip; do
    HOSTS+=("$name")
    if [[ -n $ip ]]; then ADDR[$name]=$ip; continue; fi
    [[ -n ${ADDR[$name]:-} ]] && continue
    used=" ${ADDR[*]} "
    for n in $(seq 21 99); do
      [[ $used == *" 192.168.56.$n "* ]] || { ADDR[$name]=192.168.56.$n; break; }
    done
    [[ -n ${ADDR[$name]:-} ]] || die "no free lab address left for $name"
  done < <(ANSIBLE_INVENTORY_UNPARSED_WARNING=False ansible-inventory -i "$inv" --list 2>/dev/null | /usr/bin/python3 -c '
import json, sys
inv = json.load(sys.stdin)
hostvars = inv.get("_meta", {}).get("hostvars", {})
names = sorted({h for g in inv.values() if isinstance(g, dict) for h in g.get("hosts", [])})
for h in names:
    print(h, hostvars.get(h, {}).get("ansible_host", ""))
')
  ((${#HOSTS[@]})) || die "inventory $inv names no hosts, or ansible-inventory failed on it (an encrypted vault.yml needs ANSIBLE_VAULT_PASSWORD_FILE; try: ansible-inventory -i $inv --list)"
}

# Hosts already created under $LAB_DIR/hosts (down and status without an inventory act on all).
existing_hosts() {
  local d
  HOSTS=()
  for d in "$LAB_DIR"/hosts/*/; do [[ -d $d ]] && HOSTS+=("$(basename "$d")"); done
  ((${#HOSTS[@]})) || HOSTS=(kafka1 kafka2 kafka3)
}

# /etc/hosts with every lab name, on every created host and in a marked block on this controller.
write_etc_hosts() {
  local h d block
  block=$(for h in $(printf '%s\n' "${!ADDR[@]}" | sort); do echo "${ADDR[$h]} $h"; done)
  for d in "$LAB_DIR"/hosts/*/; do
    [[ -f $d/.rastro-host-ok ]] || continue
    # The lab has no DNS: the controller gets a name too, or every reverse lookup of it (the JMX
    # agents' HTTPS server makes one per connection) waits for the resolver to time out (10 s).
    printf '127.0.0.1 localhost\n%s controller\n%s\n' "$GATEWAY" "$block" > "$d/etc/hosts"
  done
  { sed '/^# rastro-lab begin/,/^# rastro-lab end/d' /etc/hosts
    echo "# rastro-lab begin (lab/lab.sh)"; echo "$block"; echo "# rastro-lab end"; } > /etc/hosts.rastro-lab
  cat /etc/hosts.rastro-lab > /etc/hosts && rm -f /etc/hosts.rastro-lab
}

need_root() { [[ $EUID -eq 0 ]] || die "the lab needs root (systemd-nspawn, bridge setup); run with sudo"; }

install_prereqs() {
  local missing=()
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v apt-cacher-ng >/dev/null || [[ -x /usr/sbin/apt-cacher-ng ]] || missing+=(apt-cacher-ng)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v ip >/dev/null || missing+=(iproute2)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE"
    ip link add "$BRIDGE" type bridge
  fi
  [[ $(ip -4 -o addr show dev "$BRIDGE") == *"inet $GATEWAY/24"* ]] || ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

ensure_proxy() {
  mkdir -p "$ACNG_DIR/conf" "$ACNG_DIR/cache" "$ACNG_DIR/log"
  echo "http://deb.debian.org/debian/" > "$ACNG_DIR/conf/backends_debian"
  cat > "$ACNG_DIR/conf/acng.conf" <<CONF
CacheDir: $ACNG_DIR/cache
LogDir: $ACNG_DIR/log
SupportDir: /usr/lib/apt-cacher-ng
Port: 3142
BindAddress: $GATEWAY 127.0.0.1
PidFile: $ACNG_DIR/acng.pid
Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian
Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security
ExThreshold: 4
CONF
  # A pid file can outlive its process (the lab's processes end with the session): trust the port.
  if [[ -f $ACNG_DIR/acng.pid ]] && kill -0 "$(cat "$ACNG_DIR/acng.pid")" 2>/dev/null \
     && (exec 3<>/dev/tcp/$GATEWAY/3142) 2>/dev/null; then
    return
  fi
  log "starting apt-cacher-ng on $GATEWAY:3142 (cache $ACNG_DIR/cache)"
  chown -R apt-cacher-ng: "$ACNG_DIR" 2>/dev/null || true
  /usr/sbin/apt-cacher-ng -c "$ACNG_DIR/conf" ForeGround=0
  for _ in $(seq 1 20); do
    (exec 3<>/dev/tcp/$GATEWAY/3142) 2>/dev/null && return
    sleep 0.5
  done
  die "apt-cacher-ng did not listen on $GATEWAY:3142; see $ACNG_DIR/log"
}

ensure_key() {
  mkdir -p "$(dirname "$KEY")"
  [[ -f $KEY ]] || { log "generating lab SSH key $KEY"; ssh-keygen -q -t ed25519 -N '' -C rastro-lab -f "$KEY"; }
}

ensure_base() {
  if [[ -f $BASE/.rastro-base-ok ]]; then
    log "base image cached at $BASE"
    return
  fi
  rm -rf "$BASE" "$BASE.tmp"
  log "debootstrap $SUITE into $BASE (about a minute; cached afterwards)"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,openssh-server,iproute2,python3,ca-certificates \
    "$SUITE" "$BASE.tmp" "$MIRROR" >"$LAB_DIR/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $LAB_DIR/debootstrap.log"
  # The hosts reach Debian only through the controller's apt proxy.
  echo "Acquire::http::Proxy \"http://$GATEWAY:3142\";" > "$BASE.tmp/etc/apt/apt.conf.d/01proxy"
  echo "deb $MIRROR $SUITE main" > "$BASE.tmp/etc/apt/sources.list"
  # Default policy-rc.d/ssh host keys are regenerated per host below.
  rm -f "$BASE.tmp"/etc/ssh/ssh_host_*
  chroot "$BASE.tmp" systemctl enable systemd-networkd ssh >/dev/null 2>&1
  # Containers have no console login to offer; keep boot quiet and quick.
  chroot "$BASE.tmp" systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
  touch "$BASE.tmp/.rastro-base-ok"
  mv "$BASE.tmp" "$BASE"
  log "base image ready"
}

host_dir() { echo "$LAB_DIR/hosts/$1"; }
pidfile() { echo "$LAB_DIR/run/$1.pid"; }

host_running() {
  local p; p=$(pidfile "$1")
  [[ -f $p ]] && kill -0 "$(cat "$p")" 2>/dev/null
}

prepare_host() {
  local name=$1 dir h; dir=$(host_dir "$name")
  if [[ ! -f $dir/.rastro-host-ok ]]; then
    log "$name: copying base image"
    rm -rf "$dir"; mkdir -p "$LAB_DIR/hosts"
    cp -a "$BASE" "$dir"
    echo "$name" > "$dir/etc/hostname"
    mkdir -p "$dir/etc/systemd/network"
    # 10- sorts before the image's 80-container-host0.network, which would give a link-local address.
    cat > "$dir/etc/systemd/network/10-host0.network" <<NET
[Match]
Name=host0

[Network]
Address=${ADDR[$name]}/24
Gateway=$GATEWAY
NET
    chroot "$dir" ssh-keygen -q -A
    touch "$dir/.rastro-host-ok"
  fi
  install -d -m 700 "$dir/root/.ssh"
  install -m 600 "$KEY.pub" "$dir/root/.ssh/authorized_keys"
}

start_host() {
  local name=$1
  if host_running "$name"; then log "$name: already running"; return; fi
  mkdir -p "$LAB_DIR/run"
  # A container that was killed can leave its veth behind; nspawn then refuses to start.
  ip link del "vb-$name" 2>/dev/null || true
  log "$name: booting (${ADDR[$name]})"
  # --keep-unit without systemd on the controller: nspawn puts the container under "payload" below
  # its own cgroup. Started from one shell, the three hosts shared /payload, so the same unit on two
  # hosts had one cgroup: a stop of redis-server on one host waited (TimeoutStopSec=infinity) for
  # the other hosts' servers to leave it. Each host gets its own cgroup first, in every hierarchy
  # the containers' systemd uses.
  (
    for root in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
      if [[ -f "$root/cgroup.procs" ]]; then
        mkdir -p "$root/rastro-lab-$name" && echo "$BASHPID" > "$root/rastro-lab-$name/cgroup.procs"
      fi
    done
    exec setsid systemd-nspawn -D "$(host_dir "$name")" --register=no --keep-unit -b \
      --network-bridge="$BRIDGE" -M "$name" </dev/null >"$LAB_DIR/run/$name.log" 2>&1
  ) &
  echo $! > "$(pidfile "$name")"
}

ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=3 -o BatchMode=yes)

wait_ssh() {
  local name=$1 i
  for i in $(seq 1 90); do
    if ssh "${ssh_opts[@]}" -i "$KEY" "root@${ADDR[$name]}" true 2>/dev/null; then
      log "$name: ssh ready"; return
    fi
    host_running "$name" || die "$name: container exited; see $LAB_DIR/run/$name.log"
    sleep 1
  done
  die "$name: no ssh after 90 s; see $LAB_DIR/run/$name.log"
}

cmd_up() {
  local h
  need_root; install_prereqs
  mkdir -p "$LAB_DIR"
  ensure_bridge; ensure_proxy; ensure_key; ensure_base
  save_addresses
  for h in "${HOSTS[@]}"; do prepare_host "$h"; done
  write_etc_hosts
  for h in "${HOSTS[@]}"; do start_host "$h"; done
  for h in "${HOSTS[@]}"; do wait_ssh "$h"; done
  log "lab up: ${HOSTS[*]} (key $KEY)"
}

stop_host() {
  local name=$1 p tree; p=$(pidfile "$name")
  if host_running "$name"; then
    log "$name: stopping"
    # The container's processes, taken now: once systemd-nspawn is gone they are no longer its children.
    tree=$(descendants "$(cat "$p")")
    kill -TERM "$(cat "$p")" 2>/dev/null || true
    for _ in $(seq 1 30); do host_running "$name" || break; sleep 1; done
    host_running "$name" && kill -KILL "$(cat "$p")" 2>/dev/null || true
    kill_all "$name" "$tree"
  fi
  rm -f "$p"
  ip link del "vb-$name" 2>/dev/null || true
}

descendants() {
  local pid
  for pid in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$pid"; descendants "$pid"; done
}

# Processes that outlive a killed systemd-nspawn (a JVM) keep writing into the host's directory, and
# its removal then fails with "Directory not empty": kill them and wait until they are gone. Only a
# process in a mount namespace other than the controller's (the container's): a PID of the list whose
# process ended may since have been reused by an unrelated process of the controller (PIDs wrap at
# 32768 here).
kill_all() {
  local name=$1 pids=$2 pid left ns; ns=$(readlink /proc/self/ns/mnt)
  for _ in $(seq 1 20); do
    left=""
    for pid in $pids; do
      case "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" in ""|"$ns") continue ;; esac
      left="$left $pid"; kill -KILL "$pid" 2>/dev/null || true
    done
    [ -z "$left" ] && return 0
    sleep 0.5
  done
  log "$name: processes$left outlived the container"
}

remove_host_dir() {
  local dir; dir=$(host_dir "$1")
  for _ in $(seq 1 10); do
    rm -rf "$dir" 2>/dev/null && return 0
    sleep 1
  done
  rm -rf "$dir"
}

cmd_down() {
  local h
  need_root
  for h in "${HOSTS[@]}"; do stop_host "$h"; remove_host_dir "$h"; done
  log "lab hosts stopped and removed (base image and apt cache kept in $LAB_DIR)"
}

cmd_stop_host() { need_root; stop_host "$1"; }
cmd_start_host() { need_root; start_host "$1"; wait_ssh "$1"; }

cmd_status() {
  local h state
  printf '%-10s %-15s %-8s %s\n' HOST ADDRESS STATE SSH
  for h in "${HOSTS[@]}"; do
    if host_running "$h"; then state=running; else state=stopped; fi
    if [[ $state == running ]] && ssh "${ssh_opts[@]}" -i "$KEY" "root@${ADDR[$h]}" true 2>/dev/null; then
      printf '%-10s %-15s %-8s %s\n' "$h" "${ADDR[$h]}" "$state" ok
    else
      printf '%-10s %-15s %-8s %s\n' "$h" "${ADDR[$h]}" "$state" -
    fi
  done
}

cmd_ssh() { local name=$1; shift; exec ssh "${ssh_opts[@]}" -i "$KEY" "root@${ADDR[$name]}" "$@"; }

load_addresses
select_hosts() {
  if [[ -n ${1:-} ]]; then hosts_from_inventory "$1"; elif [[ ${2:-} == existing ]]; then existing_hosts; fi
}

case ${1:-} in
  up) select_hosts "${2:-}"; cmd_up ;;
  down) select_hosts "${2:-}" existing; cmd_down ;;
  status) select_hosts "${2:-}" existing; cmd_status ;;
  ssh) shift; cmd_ssh "$@" ;;
  stop-host) cmd_stop_host "$2" ;;
  start-host) cmd_start_host "$2" ;;
  *) echo "usage: $0 up [INVENTORY]|down [INVENTORY]|status [INVENTORY]|ssh HOST [cmd]|stop-host HOST|start-host HOST" >&2; exit 2 ;;
esac
