#!/usr/bin/env bash
# SSH stand-in hosts on this machine, to try `faultline test --hosts ssh` without VMs.
#
#   scripts/ssh-standins.sh up N INVENTORY_FILE   # N hosts h1..hN, inventory written
#   scripts/ssh-standins.sh down                  # removes all of them
#
# Each stand-in is a network namespace `fls-hI` whose `eth0` (10.214.X.(I+1)/24) is
# one end of a veth pair enslaved to the bridge `flsb` (10.214.X.1, the controller's
# address as the hosts see it), running its own sshd (Debian's openssh-server,
# installed when missing) with a generated host key; one generated client key is
# authorized for root on every stand-in. The namespaces share this machine's
# filesystem and process table, so each host gets its own remote_dir under the state
# folder. Names start with `fls`, never `fl-`: faultline's own cleanup never mistakes
# a stand-in for something a run left behind. `down` kills every process left inside
# the namespaces (sshd and anything a run started), deletes the namespaces, veths and
# bridge, and the state folder (keys, configs, remote dirs). Needs root and iproute2.
set -euo pipefail

STATE=${FAULTLINE_STANDINS_DIR:-/var/lib/faultline-standins}
BRIDGE=flsb

die() {
    echo "ssh-standins: $*" >&2
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
    command -v ip >/dev/null 2>&1 || die "needs ip: apt-get install -y iproute2"
}

# The stand-in namespaces that exist now.
namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fls-h[0-9]+$' || true
}

# A free /24 in 10.214.0.0/16 (no address or route uses it yet): prints its third octet.
free_octet() {
    local used
    used=$(ip -o -4 addr show; ip -4 route show table all)
    for x in $(seq 1 254); do
        if ! grep -q "10\.214\.$x\." <<<"$used"; then
            echo "$x"
            return
        fi
    done
    die "no free subnet in 10.214.0.0/16"
}

up() {
    local n=$1 inventory=$2
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 50)) || die "N must be 1..50, got '$n'"
    need_root
    if [[ -n $(namespaces) ]] || ip link show "$BRIDGE" >/dev/null 2>&1 || [[ -e $STATE ]]; then
        die "stand-ins are already up (or left over); run: $0 down"
    fi
    if [[ ! -x /usr/sbin/sshd ]]; then
        echo "ssh-standins: installing openssh-server" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    fi
    command -v ssh >/dev/null 2>&1 || die "needs the ssh client: apt-get install -y openssh-client"
    # From here on, a failure removes what was made.
    trap 'echo "ssh-standins: failed; removing what was made" >&2; down' ERR
    mkdir -p "$STATE" /run/sshd
    chmod 700 "$STATE"
    ssh-keygen -q -t ed25519 -N '' -C faultline-standin-client -f "$STATE/client_key"
    cp "$STATE/client_key.pub" "$STATE/authorized_keys"
    chmod 600 "$STATE/authorized_keys"
    : >"$STATE/known_hosts"
    local x
    x=$(free_octet)
    ip link add "$BRIDGE" type bridge
    ip addr add "10.214.$x.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # Bridged traffic may pass the FORWARD chain (br_netfilter); let ours through.
    if command -v iptables >/dev/null 2>&1 && ! iptables -w -S FORWARD | grep -qx -- '-P FORWARD ACCEPT'; then
        iptables -w -A FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    fi
    {
        echo "# SSH stand-ins made by scripts/ssh-standins.sh; remove with: scripts/ssh-standins.sh down"
        echo "[ssh]"
        echo "user = \"root\""
        echo "port = 22"
        echo "identity = \"$STATE/client_key\""
        echo "strict_host_key_checking = true"
        echo "known_hosts = \"$STATE/known_hosts\""
        echo "remote_dir = \"/var/lib/faultline\""
    } >"$inventory.tmp"
    for i in $(seq 1 "$n"); do
        local ns=fls-h$i veth=flsv-$i peer=flsp-$i ip=10.214.$x.$((i + 1)) dir=$STATE/h$i
        mkdir -p "$dir/remote"
        ip netns add "$ns"
        ip link add "$veth" type veth peer name "$peer" netns "$ns"
        ip link set "$veth" master "$BRIDGE"
        ip link set "$veth" up
        ip -n "$ns" link set "$peer" name eth0
        ip -n "$ns" addr add "$ip/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        ssh-keygen -q -t ed25519 -N '' -C "faultline-standin-h$i" -f "$dir/ssh_host_ed25519_key"
        cat >"$dir/sshd_config" <<EOF
ListenAddress $ip
Port 22
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 100
MaxSessions 100
EOF
        ip netns exec "$ns" /usr/sbin/sshd -f "$dir/sshd_config"
        echo "$ip $(cut -d' ' -f1-2 "$dir/ssh_host_ed25519_key.pub")" >>"$STATE/known_hosts"
        {
            echo
            echo "[[host]]"
            echo "name = \"n$i\""
            echo "address = \"$ip\""
            echo "remote_dir = \"$dir/remote\""
        } >>"$inventory.tmp"
    done
    # Every sshd answers before the inventory appears.
    for i in $(seq 1 "$n"); do
        local ip=10.214.$x.$((i + 1)) ok=
        for _ in $(seq 1 50); do
            if ssh -n -i "$STATE/client_key" -o BatchMode=yes -o ConnectTimeout=2 \
                -o UserKnownHostsFile="$STATE/known_hosts" -o StrictHostKeyChecking=yes \
                "root@$ip" true 2>/dev/null; then
                ok=1
                break
            fi
            sleep 0.2
        done
        [[ -n $ok ]] || die "the sshd of h$i ($ip) does not answer"
    done
    trap - ERR
    mv "$inventory.tmp" "$inventory"
    echo "ssh-standins: $n hosts up on 10.214.$x.0/24; inventory $inventory"
}

down() {
    need_root
    local ns pid veth
    for ns in $(namespaces); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$ns"
    done
    for veth in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^flsv-[0-9]+$' || true); do
        ip link del "$veth" 2>/dev/null || true
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link del "$BRIDGE"
    fi
    if command -v iptables >/dev/null 2>&1; then
        while iptables -w -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
    fi
    rm -rf "$STATE"
    [[ -z $(namespaces) ]] || die "namespaces left: $(namespaces | tr '\n' ' ')"
}

case "${1:-}" in
up)
    [[ $# -eq 3 ]] || die "usage: $0 up N INVENTORY_FILE"
    up "$2" "$3"
    ;;
down)
    [[ $# -eq 1 ]] || die "usage: $0 down"
    down
    ;;
*)
    die "usage: $0 up N INVENTORY_FILE | $0 down"
    ;;
esac
