//! What this machine can do for packet faults, found out once per process by trying
//! it in a throwaway network namespace (`flprobe-PID-packet`, removed at once): a
//! `netem` qdisc, and for the fallback an `htb` qdisc with a `u32` filter, the
//! iptables `statistic` match, the `TEE` and `NFQUEUE` targets in the `mangle` table,
//! and binding an NFQUEUE queue from userspace. [`check`] turns what is missing into
//! the preflight's error, naming the piece and the packet faults that need it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{rule_args, PacketConfig, PacketFault, QUEUE};
use crate::host::HostMode;
use crate::{process, sys};

/// What the probe found.
#[derive(Debug, Clone, Default)]
struct Probe {
    /// Whether `tc qdisc add ... netem` works.
    netem: bool,
    /// Fallback pieces that do not work, with why.
    missing: BTreeMap<Piece, String>,
}

/// A piece of the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Piece {
    /// An htb root qdisc with a class and a u32 filter (rate, and the netem carrier).
    Htb,
    /// iptables' statistic match with DROP (loss).
    Statistic,
    /// iptables' TEE target (duplicate).
    Tee,
    /// The NFQUEUE target and a userspace queue (delay, reorder).
    Nfqueue,
}

impl Piece {
    /// What the piece is, for messages.
    fn describe(self) -> &'static str {
        match self {
            Piece::Htb => "the htb qdisc and u32 filter (kernel modules sch_htb, cls_u32)",
            Piece::Statistic => "the iptables statistic match (kernel module xt_statistic)",
            Piece::Tee => "the iptables TEE target (kernel module xt_TEE)",
            Piece::Nfqueue => {
                "the iptables NFQUEUE target and a userspace queue (kernel modules \
                 xt_NFQUEUE, nfnetlink_queue)"
            }
        }
    }

    /// The piece the fallback needs for `fault` (the netem path needs htb only).
    fn for_fault(fault: PacketFault, netem: bool) -> Piece {
        match fault {
            _ if netem => Piece::Htb,
            PacketFault::Rate { .. } => Piece::Htb,
            PacketFault::Loss { .. } => Piece::Statistic,
            PacketFault::Duplicate { .. } => Piece::Tee,
            PacketFault::Delay { .. } | PacketFault::Reorder { .. } => Piece::Nfqueue,
        }
    }
}

/// The probe's result, computed on first use.
fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(run_probe)
}

/// Whether the kernel has netem (probed once; false without root).
pub fn netem_available() -> bool {
    probe().netem
}

/// Tries every piece in a fresh namespace.
fn run_probe() -> Probe {
    let mut found = Probe::default();
    let ns = format!("flprobe-{}-packet", std::process::id());
    if let Err(e) = sys::run("ip", &["netns", "add", &ns], None) {
        for piece in [Piece::Htb, Piece::Statistic, Piece::Tee, Piece::Nfqueue] {
            found
                .missing
                .insert(piece, format!("no network namespace ({e})"));
        }
        return found;
    }
    let tc = |args: &str| -> Result<(), String> {
        let args: Vec<&str> = args.split_whitespace().collect();
        sys::run("tc", &args, Some(&ns))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let _ = sys::run("ip", &["-n", &ns, "link", "set", "lo", "up"], None);
    found.netem =
        tc("qdisc add dev lo root netem delay 1ms").is_ok() && tc("qdisc del dev lo root").is_ok();
    let htb = tc("qdisc add dev lo root handle f119: htb default 0")
        .and_then(|()| tc("class add dev lo parent f119: classid f119:1 htb rate 1mbit"))
        .and_then(|()| {
            tc(
                "filter add dev lo parent f119: protocol ip prio 1 u32 match ip dst \
                127.0.0.1/32 flowid f119:1",
            )
        })
        .and_then(|()| tc("qdisc del dev lo root"));
    if let Err(e) = htb {
        found.missing.insert(Piece::Htb, e);
    }
    let peer = Some("127.0.0.2".parse().expect("an address"));
    for (piece, fault) in [
        (Piece::Statistic, PacketFault::Loss { ppm: 1 }),
        (Piece::Tee, PacketFault::Duplicate { ppm: 1 }),
        (Piece::Nfqueue, PacketFault::Reorder { ppm: 1 }),
    ] {
        let args = rule_args(fault, peer).expect("a rule");
        let mut add = vec!["-w", "-A"];
        add.extend(args.iter().map(String::as_str));
        if let Err(e) = sys::run("iptables", &add, Some(&ns)) {
            found.missing.insert(piece, e.to_string());
        }
    }
    if let std::collections::btree_map::Entry::Vacant(slot) = found.missing.entry(Piece::Nfqueue) {
        if let Err(e) = bind_queue_in(&ns) {
            slot.insert(e);
        }
    }
    let _ = sys::run("ip", &["netns", "del", &ns], None);
    found
}

/// Binds (and releases) the delayer's queue inside `ns`, from a thread that enters it.
fn bind_queue_in(ns: &str) -> Result<(), String> {
    let path = format!("{}/{ns}", sys::NETNS_DIR);
    std::thread::spawn(move || {
        let handle = std::fs::File::open(&path).map_err(|e| format!("opening {path}: {e}"))?;
        nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("entering {path}: {e}"))?;
        let mut queue = nfq::Queue::open().map_err(|e| format!("opening a netlink queue: {e}"))?;
        queue
            .bind(QUEUE)
            .map_err(|e| format!("binding NFQUEUE {QUEUE}: {e}"))?;
        queue
            .unbind(QUEUE)
            .map_err(|e| format!("releasing NFQUEUE {QUEUE}: {e}"))
    })
    .join()
    .unwrap_or_else(|_| Err("the queue probe panicked".into()))
}

/// True when `dev` in `namespace` has the root qdisc `handle` (the namespace and the
/// interface existing).
pub fn root_qdisc_is(namespace: &str, dev: &str, handle: &str) -> bool {
    if !sys::netns_exists(namespace) {
        return false;
    }
    sys::run("tc", &["qdisc", "show", "dev", dev], Some(namespace)).is_ok_and(|out| {
        out.lines()
            .any(|l| l.starts_with("qdisc ") && l.contains(&format!(" {handle} root")))
    })
}

/// `Ok` when the packet faults of `config` can run on hosts of `mode`; otherwise
/// what is missing, and for which faults.
pub fn check(config: &PacketConfig, mode: HostMode) -> Result<(), String> {
    if config.faults.is_empty() {
        return Ok(());
    }
    match mode {
        HostMode::Namespaces => {}
        HostMode::Loopback => {
            return Err(
                "the packet fault needs namespace hosts (one network namespace per \
                        node, as root); loopback hosts share one network stack"
                    .into(),
            )
        }
        HostMode::Ssh => {
            return Err(
                "the packet fault is not available on SSH hosts yet: run it on \
                        namespace hosts (as root, without --inventory)"
                    .into(),
            )
        }
    }
    let mut missing = Vec::new();
    if !process::is_root() {
        missing.push("root (network namespaces, qdiscs and iptables rules need it)".to_string());
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("tc", "iproute2"),
        ("iptables", "iptables"),
    ] {
        if !sys::has_program(program) {
            missing.push(format!(
                "the `{program}` command: apt-get install -y {package}"
            ));
        }
    }
    if missing.is_empty() {
        let probe = probe();
        let mut needed: BTreeMap<Piece, Vec<&str>> = BTreeMap::new();
        for fault in &config.faults {
            needed
                .entry(Piece::for_fault(*fault, probe.netem))
                .or_default()
                .push(fault.name());
        }
        for (piece, names) in needed {
            if let Some(why) = probe.missing.get(&piece) {
                let netem = if probe.netem {
                    ""
                } else {
                    " (the kernel has no netem qdisc, so the fallback is used)"
                };
                missing.push(format!(
                    "{} for {}{netem}: {why}",
                    piece.describe(),
                    names.join(", ")
                ));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the packet fault cannot run on this machine; it needs {}",
            missing.join("; and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_faults_are_refused_off_namespace_hosts() {
        let config = PacketConfig {
            faults: PacketFault::DEFAULTS.to_vec(),
            ..PacketConfig::default()
        };
        let err = check(&config, HostMode::Loopback).unwrap_err();
        assert!(err.contains("namespace hosts"), "{err}");
        let err = check(&config, HostMode::Ssh).unwrap_err();
        assert!(err.contains("SSH hosts"), "{err}");
        assert_eq!(check(&PacketConfig::default(), HostMode::Loopback), Ok(()));
    }

    #[test]
    fn each_fault_needs_its_piece() {
        let loss = PacketFault::Loss { ppm: 1 };
        assert_eq!(Piece::for_fault(loss, false), Piece::Statistic);
        assert_eq!(Piece::for_fault(loss, true), Piece::Htb);
        let delay = PacketFault::DEFAULTS[0];
        assert_eq!(Piece::for_fault(delay, false), Piece::Nfqueue);
    }
}
