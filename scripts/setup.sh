#!/usr/bin/env bash
# Installs the system packages faultline needs on a Debian machine, when missing:
# iproute2 (network namespaces, veth, bridges, and `tc` for packet faults), iptables
# (partitions, and the packet faults' fallback where the kernel has no netem), etcd-server
# (the etcd store, `faultline test --db etcd`), fuse3 (the lazy filesystem of the disk
# fault), openssh-server and openssh-client (SSH hosts and scripts/ssh-standins.sh),
# libfaketime (the clock fault), and, with --with-browser, Chromium for the report
# rendering test.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null || need+=(libfaketime)
if [[ "${1:-}" == "--with-browser" ]]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "faultline setup: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    echo "faultline setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Kernel modules of the packet faults, where the kernel has them as modules (built-in
# ones need nothing; without netem, faultline uses its iptables/NFQUEUE fallback, and
# `faultline test --nemesis packet` names any piece that is still missing).
if [[ $(id -u) -eq 0 ]] && command -v modprobe >/dev/null 2>&1; then
    for module in sch_netem sch_htb cls_u32 xt_statistic xt_TEE xt_NFQUEUE nfnetlink_queue; do
        modprobe -q "$module" 2>/dev/null || true
    done
fi
