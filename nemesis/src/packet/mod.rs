//! Packet faults: delay with jitter, loss, duplication, reordering and a bandwidth
//! limit on the packets an affected node sends to the other nodes, applied inside the
//! node's own network namespace (egress of its `eth0`), so that the controller's
//! traffic to and from the nodes is untouched unless `packet:all-traffic` is asked
//! for. A packet fault hits a [`Target`](crate::Target) like a kill does: with target
//! `all` every link in both directions is affected; with `one` only what that node
//! sends (its messages and its replies) is.
//!
//! How, chosen automatically ([`Mechanism`], probed once, see [`probe`]):
//! - the kernel has netem: an `htb` root qdisc (handle [`QDISC_HANDLE`]) whose one
//!   class carries a `netem` qdisc, and `u32` filters steering the packets for the
//!   peers' addresses into it; everything else bypasses the class unshaped;
//! - it has none (this project's machines and CI): loss is an iptables
//!   `statistic --mode random` DROP rule per peer, duplication a `statistic` rule with
//!   the `TEE` target whose gateway is the peer itself (the clone reaches the peer
//!   as a second copy), and delay and reordering an `NFQUEUE` rule per peer feeding
//!   a userspace delayer ([`delayer`], the `faultline packet-delay` process started
//!   inside the namespace) that holds each packet and lets it go after its own
//!   delay, so packets reorder as real ones do. The rules live in the `mangle`
//!   table's `POSTROUTING` chain: a queued packet let go resumes at the next table,
//!   and a partition's DROP rules in `filter OUTPUT` have been passed before, so a
//!   partition is never bypassed. `--queue-bypass` lets packets through if the
//!   delayer is gone, so a dead delayer never blackholes a link;
//! - a bandwidth limit is the same `htb` qdisc with a rate on its class, under both.
//!
//! Every change is journaled before it is made (rules as [`Action::Rule`], the
//! delayer as the process it is, the qdisc as [`Action::Qdisc`]), and healing
//! removes exactly what was added, in reverse order: rules first, then the delayer
//! (SIGTERM, upon which it lets every held packet go, then exits), then the qdisc.
//! Kernel randomness decides which packets are lost or duplicated (netem and
//! `statistic` take no seed); the delayer's choices follow the fault's seed.
//!
//! Namespace hosts only: packet faults on SSH hosts are refused by the preflight.

pub mod delayer;
pub mod probe;
mod spec;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use serde_json::{json, Value};

pub use spec::{PacketFault, REORDER_HOLD};

use crate::control::ClusterControl;
use crate::error::{Error, Result};
use crate::host::{Host, NodeProcess};
use crate::journal::{Action, Journal};
use crate::schedule::Target;
use crate::sys;

/// The interface every namespace host's node uses (see [`crate::host`]).
pub const NODE_DEV: &str = "eth0";

/// Handle of the root qdisc a packet fault adds (hexadecimal, as `tc` wants it).
pub const QDISC_HANDLE: &str = "f119:";

/// The NFQUEUE queue the delayer reads (queues are per network namespace).
pub const QUEUE: u16 = 1919;

/// What `--nemesis packet...` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketConfig {
    /// The packet faults the schedule chooses from.
    pub faults: Vec<PacketFault>,
    /// The targets it chooses from.
    pub targets: Vec<Target>,
    /// Whether the controller's traffic with the nodes is affected too.
    pub all_traffic: bool,
    /// The program run as the delayer (`PROGRAM packet-delay ...`): this executable.
    pub delayer: PathBuf,
}

impl Default for PacketConfig {
    fn default() -> PacketConfig {
        PacketConfig {
            faults: Vec::new(),
            targets: Vec::new(),
            all_traffic: false,
            delayer: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("faultline")),
        }
    }
}

/// How a packet fault is put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// A netem qdisc.
    Netem,
    /// An htb class with a rate.
    Htb,
    /// iptables `statistic` DROP rules.
    IptablesStatistic,
    /// iptables `statistic` rules with the TEE target.
    IptablesTee,
    /// NFQUEUE rules and the userspace delayer.
    NfqueueDelayer,
}

impl Mechanism {
    /// The mechanism for `fault` when the kernel has netem (`netem`) or not.
    pub fn for_fault(fault: PacketFault, netem: bool) -> Mechanism {
        match fault {
            PacketFault::Rate { .. } => Mechanism::Htb,
            _ if netem => Mechanism::Netem,
            PacketFault::Loss { .. } => Mechanism::IptablesStatistic,
            PacketFault::Duplicate { .. } => Mechanism::IptablesTee,
            PacketFault::Delay { .. } | PacketFault::Reorder { .. } => Mechanism::NfqueueDelayer,
        }
    }
}

/// The `tc` invocations (arguments after `tc`) that put `fault` on `dev` through an
/// htb root qdisc: a class with the rate (or unlimited with a netem qdisc under it
/// for the other faults), fed by one filter per peer address, or by everything
/// when `peers` is `None`.
pub fn qdisc_commands(dev: &str, fault: PacketFault, peers: Option<&[IpAddr]>) -> Vec<Vec<String>> {
    let major = QDISC_HANDLE.trim_end_matches(':');
    let class = format!("{major}:1");
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let mut cmds = Vec::new();
    // Without filters, everything goes to the class by default; with them, only what
    // they pick does and the rest leaves directly (htb's `default 0`).
    let default = if peers.is_some() { "0" } else { "1" };
    cmds.push(words(&format!(
        "qdisc add dev {dev} root handle {QDISC_HANDLE} htb default {default}"
    )));
    let rate = match fault {
        PacketFault::Rate { bits_per_s } => format!("{bits_per_s}bit"),
        _ => "100gbit".to_string(),
    };
    cmds.push(words(&format!(
        "class add dev {dev} parent {QDISC_HANDLE} classid {class} htb rate {rate} ceil {rate}"
    )));
    if let Some(netem) = netem_args(fault) {
        cmds.push(words(&format!(
            "qdisc add dev {dev} parent {class} handle {:x}: netem {netem}",
            u32::from_str_radix(major, 16).expect("hex handle") + 1
        )));
    }
    for peer in peers.unwrap_or_default() {
        cmds.push(words(&format!(
            "filter add dev {dev} parent {QDISC_HANDLE} protocol ip prio 1 u32 match ip dst \
             {peer}/32 flowid {class}"
        )));
    }
    cmds
}

/// netem's parameters for `fault`; `None` for a rate (an htb class alone).
fn netem_args(fault: PacketFault) -> Option<String> {
    let percent = |ppm: u32| format!("{}%", f64::from(ppm) / 10_000.0);
    Some(match fault {
        PacketFault::Delay {
            delay_us,
            jitter_us,
        } => format!("delay {delay_us}us {jitter_us}us"),
        PacketFault::Loss { ppm } => format!("loss {}", percent(ppm)),
        PacketFault::Duplicate { ppm } => format!("duplicate {}", percent(ppm)),
        PacketFault::Reorder { ppm } => format!(
            "delay {}us reorder {}",
            REORDER_HOLD.as_micros(),
            percent(ppm)
        ),
        PacketFault::Rate { .. } => return None,
    })
}

/// The iptables rule (arguments after `-A`) of the fallback for `fault` on packets to
/// `peer` (every packet when `None`; a duplicate always names its peer, the TEE
/// gateway). `None` for the faults the fallback does with a qdisc.
pub fn rule_args(fault: PacketFault, peer: Option<IpAddr>) -> Option<Vec<String>> {
    let probability = |ppm: u32| format!("{:.6}", f64::from(ppm) / 1e6);
    let mut args = vec!["POSTROUTING".to_string(), "-t".into(), "mangle".into()];
    if let Some(peer) = peer {
        args.extend(["-d".to_string(), format!("{peer}/32")]);
    }
    let tail = match fault {
        PacketFault::Loss { ppm } => format!(
            "-m statistic --mode random --probability {} -j DROP",
            probability(ppm)
        ),
        PacketFault::Duplicate { ppm } => format!(
            "-m statistic --mode random --probability {} -j TEE --gateway {}",
            probability(ppm),
            peer.expect("a duplicate is sent to its peer")
        ),
        PacketFault::Delay { .. } | PacketFault::Reorder { .. } => {
            format!("-j NFQUEUE --queue-num {QUEUE} --queue-bypass")
        }
        PacketFault::Rate { .. } => return None,
    };
    args.extend(tail.split_whitespace().map(str::to_string));
    Some(args)
}

/// The delayer's parameters for `fault`: mean delay, jitter, and the share (parts
/// per million) let go at once.
pub fn delayer_params(fault: PacketFault) -> Option<(Duration, Duration, u32)> {
    match fault {
        PacketFault::Delay {
            delay_us,
            jitter_us,
        } => Some((
            Duration::from_micros(delay_us),
            Duration::from_micros(jitter_us),
            0,
        )),
        PacketFault::Reorder { ppm } => Some((REORDER_HOLD, Duration::ZERO, ppm)),
        _ => None,
    }
}

/// One change a packet fault made on one node's host, undone in reverse order.
#[derive(Debug)]
enum Change {
    /// A journaled rule or qdisc; its action undoes it.
    Journaled {
        /// The node whose namespace holds it.
        node: String,
        /// The change, as journaled.
        action: Action,
        /// Its journal record.
        journal_id: u64,
    },
    /// A delayer process (journaled by [`Host::spawn`]).
    Delayer {
        /// The node whose namespace it runs in.
        node: String,
        /// Its host.
        host: Host,
        /// The process.
        process: NodeProcess,
    },
}

/// A packet fault in place, for healing.
#[derive(Debug)]
pub struct Installed {
    /// What was changed, in order.
    changes: Vec<Change>,
}

impl Installed {
    /// True when nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What [`install`] needs besides the fault.
pub struct Request<'a> {
    /// The cluster.
    pub control: &'a dyn ClusterControl,
    /// The run's journal.
    pub journal: &'a Arc<Journal>,
    /// The affected nodes.
    pub nodes: &'a [String],
    /// Whether the controller's traffic is affected too.
    pub all_traffic: bool,
    /// The delayer program.
    pub delayer: &'a std::path::Path,
    /// Seed of the delayers' choices.
    pub seed: u64,
}

/// Puts `fault` in place on every node of the request and records in `value` what
/// was done: the mechanism, each node's peers, rules, qdisc and delayer pid. Returns
/// the changes made (all of them, also when one failed) and the first error.
pub fn install(
    fault: PacketFault,
    req: &Request<'_>,
    value: &mut Value,
) -> (Installed, Option<Error>) {
    let mechanism = Mechanism::for_fault(fault, probe::netem_available());
    value["mechanism"] = json!(mechanism);
    let mut installed = Installed {
        changes: Vec::new(),
    };
    let mut done = BTreeMap::new();
    let mut error = None;
    for node in req.nodes {
        let mut record = json!({});
        let res = install_on(fault, mechanism, node, req, &mut installed, &mut record);
        done.insert(node.clone(), record);
        if let Err(e) = res {
            error = Some(e);
            break;
        }
    }
    value["hosts"] = json!(done);
    let traffic = if req.all_traffic {
        "all traffic"
    } else {
        "node-to-node traffic"
    };
    value["summary"] = json!(format!(
        "{fault} on what {} send{} ({traffic}), by {}",
        req.nodes.join(", "),
        if req.nodes.len() == 1 { "s" } else { "" },
        serde_json::to_value(mechanism)
            .ok()
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_default()
    ));
    (installed, error)
}

/// [`install`] on one node; fills `record` with what was done there.
fn install_on(
    fault: PacketFault,
    mechanism: Mechanism,
    node: &str,
    req: &Request<'_>,
    installed: &mut Installed,
    record: &mut Value,
) -> Result<()> {
    let host = req
        .control
        .host(node)
        .ok_or_else(|| Error::Unsupported(format!("no host known for node {node}")))?;
    let Some(namespace) = host.namespace.clone().filter(|_| host.ssh.is_none()) else {
        return Err(Error::Unsupported(format!(
            "node {node} has no network namespace: packet faults need namespace hosts (root)"
        )));
    };
    record["namespace"] = json!(namespace);
    let peers: Vec<IpAddr> = {
        let mut nodes = req.control.nodes();
        nodes.sort();
        nodes
            .iter()
            .filter(|n| *n != node)
            .map(|n| {
                req.control
                    .ip(n)
                    .ok_or_else(|| Error::Unsupported(format!("no address known for node {n}")))
            })
            .collect::<Result<_>>()?
    };
    record["peers"] = json!(peers);
    let filter = (!req.all_traffic).then_some(peers.as_slice());
    match mechanism {
        Mechanism::Netem | Mechanism::Htb => {
            let action = Action::Qdisc {
                namespace: namespace.clone(),
                dev: NODE_DEV.to_string(),
                handle: QDISC_HANDLE.to_string(),
            };
            let journal_id = req.journal.record(action.clone())?;
            let cmds = qdisc_commands(NODE_DEV, fault, filter);
            record["tc"] = json!(cmds.iter().map(|c| c.join(" ")).collect::<Vec<_>>());
            for (i, cmd) in cmds.iter().enumerate() {
                let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                let res = sys::run("tc", &args, Some(&namespace));
                if i == 0 {
                    if let Err(e) = res {
                        // The root qdisc was refused: nothing was added.
                        req.journal.undone(journal_id)?;
                        return Err(e);
                    }
                    installed.changes.push(Change::Journaled {
                        node: node.to_string(),
                        action: action.clone(),
                        journal_id,
                    });
                } else {
                    res?;
                }
            }
        }
        Mechanism::NfqueueDelayer => {
            let (delay, jitter, at_once) = delayer_params(fault).expect("delay or reorder");
            let process = start_delayer(&host, req, delay, jitter, at_once)?;
            record["delayer_pid"] = json!(process.pid());
            installed.changes.push(Change::Delayer {
                node: node.to_string(),
                host: host.clone(),
                process,
            });
            add_rules(fault, node, &host, &peers, req, installed, record)?;
        }
        Mechanism::IptablesStatistic | Mechanism::IptablesTee => {
            add_rules(fault, node, &host, &peers, req, installed, record)?;
        }
    }
    Ok(())
}

/// Adds the fallback's rules for `fault` on `host`: one per peer, or with
/// `all_traffic` one for every packet. A duplicate names where its copy goes, so
/// with `all_traffic` it gets one rule per address the node talks to: the peers and
/// the controller, which on namespace hosts is the bridge, `.1` of the node's /24.
fn add_rules(
    fault: PacketFault,
    node: &str,
    host: &Host,
    peers: &[IpAddr],
    req: &Request<'_>,
    installed: &mut Installed,
    record: &mut Value,
) -> Result<()> {
    let journal: &Journal = req.journal;
    let mut destinations: Vec<Option<IpAddr>> = peers.iter().copied().map(Some).collect();
    if req.all_traffic {
        destinations = match (fault, host.ip) {
            (PacketFault::Duplicate { .. }, IpAddr::V4(ip)) => {
                let [a, b, c, _] = ip.octets();
                destinations.push(Some(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 1))));
                destinations
            }
            _ => vec![None],
        };
    }
    let specs: Vec<Vec<String>> = destinations
        .into_iter()
        .filter_map(|d| rule_args(fault, d))
        .collect();
    let mut added = Vec::new();
    for args in specs {
        let action = host.rule_action(&args);
        let journal_id = crate::partition::add_rule(journal, host, &args)?;
        added.push(args.join(" "));
        installed.changes.push(Change::Journaled {
            node: node.to_string(),
            action,
            journal_id,
        });
    }
    record["rules"] = json!(added);
    Ok(())
}

/// How long a delayer may take to bind its queue.
const DELAYER_START: Duration = Duration::from_secs(10);

/// The line a delayer prints once it holds its queue.
pub const DELAYER_READY: &str = "packet-delay: holding queue";

/// Starts a delayer in the host's namespace and waits until it holds its queue.
fn start_delayer(
    host: &Host,
    req: &Request<'_>,
    delay: Duration,
    jitter: Duration,
    at_once_ppm: u32,
) -> Result<NodeProcess> {
    let dir = req
        .journal
        .path()
        .parent()
        .map(|d| d.join("packet"))
        .unwrap_or_else(|| PathBuf::from("packet"));
    let log = dir.join(format!(
        "{}-delayer-{}.log",
        host.node,
        req.seed % 1_000_000
    ));
    let mut cmd = Command::new(req.delayer);
    cmd.arg("packet-delay")
        .args(["--queue", &QUEUE.to_string()])
        .args(["--delay-us", &delay.as_micros().to_string()])
        .args(["--jitter-us", &jitter.as_micros().to_string()])
        .args(["--at-once-ppm", &at_once_ppm.to_string()])
        .args(["--seed", &req.seed.to_string()]);
    let mut process = host.spawn(cmd, &log)?;
    let mut exited = None;
    let ready = sys::poll_until(DELAYER_START, || {
        if let Ok(Some(exit)) = process.try_wait() {
            exited = Some(exit);
            return true;
        }
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(DELAYER_READY))
    });
    if ready && exited.is_none() {
        return Ok(process);
    }
    let why = match exited {
        Some(exit) => format!("exited ({exit})"),
        None => {
            let _ = process.kill();
            format!("did not hold queue {QUEUE} within {DELAYER_START:?}")
        }
    };
    Err(Error::Unsupported(format!(
        "the packet delayer of node {} {why}; its log {}:\n{}",
        host.node,
        log.display(),
        host.tail(&log, 5)
    )))
}

/// Removes exactly what `installed` added, newest first (leaving it empty); returns
/// what could not be removed, by node, with the error.
pub fn heal(installed: &mut Installed, journal: &Journal) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    for change in std::mem::take(&mut installed.changes).into_iter().rev() {
        match change {
            Change::Journaled {
                node,
                action,
                journal_id,
            } => {
                if let Err(e) = action.undo().and_then(|()| journal.undone(journal_id)) {
                    errors.insert(format!("{node}: {action}"), e.to_string());
                }
            }
            Change::Delayer {
                node,
                host,
                mut process,
            } => {
                if let Err(e) = stop_delayer(&host, &mut process) {
                    errors.insert(format!("{node}: delayer {}", process.pid()), e.to_string());
                }
            }
        }
    }
    errors
}

/// Asks a delayer to let its packets go and exit (SIGTERM); SIGKILLs it if it has not
/// within [`sys::REMOVAL_GRACE`].
fn stop_delayer(host: &Host, process: &mut NodeProcess) -> Result<()> {
    host.signal(process.pid(), Signal::SIGTERM)?;
    if sys::poll_until(sys::REMOVAL_GRACE, || {
        matches!(process.try_wait(), Ok(Some(_)))
    }) {
        return Ok(());
    }
    process.kill().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips() -> Vec<IpAddr> {
        vec!["10.213.7.3".parse().unwrap(), "10.213.7.4".parse().unwrap()]
    }

    #[test]
    fn netem_or_fallback_per_fault() {
        for fault in PacketFault::DEFAULTS {
            let with = Mechanism::for_fault(fault, true);
            let without = Mechanism::for_fault(fault, false);
            match fault {
                PacketFault::Rate { .. } => {
                    assert_eq!((with, without), (Mechanism::Htb, Mechanism::Htb))
                }
                _ => {
                    assert_eq!(with, Mechanism::Netem);
                    assert_ne!(without, Mechanism::Netem);
                }
            }
        }
    }

    #[test]
    fn qdisc_steers_only_peer_traffic_unless_all() {
        let rate = PacketFault::Rate {
            bits_per_s: 256_000,
        };
        let cmds = qdisc_commands("eth0", rate, Some(&ips()));
        let lines: Vec<String> = cmds.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "qdisc add dev eth0 root handle f119: htb default 0",
                "class add dev eth0 parent f119: classid f119:1 htb rate 256000bit ceil 256000bit",
                "filter add dev eth0 parent f119: protocol ip prio 1 u32 match ip dst 10.213.7.3/32 flowid f119:1",
                "filter add dev eth0 parent f119: protocol ip prio 1 u32 match ip dst 10.213.7.4/32 flowid f119:1",
            ]
        );
        let all = qdisc_commands("eth0", rate, None);
        assert_eq!(all.len(), 2, "no filters: everything goes to the class");
        assert!(all[0].join(" ").ends_with("htb default 1"));
        let delay: PacketFault = "delay=100ms~20ms".parse().unwrap();
        let netem = qdisc_commands("eth0", delay, Some(&ips()));
        assert_eq!(
            netem[2].join(" "),
            "qdisc add dev eth0 parent f119:1 handle f11a: netem delay 100000us 20000us"
        );
        let reorder: PacketFault = "reorder=25%".parse().unwrap();
        let netem = qdisc_commands("eth0", reorder, None);
        assert_eq!(
            netem[2].join(" "),
            "qdisc add dev eth0 parent f119:1 handle f11a: netem delay 20000us reorder 25%"
        );
    }

    #[test]
    fn fallback_rules_name_their_peer_and_mechanism() {
        let peer: IpAddr = "10.213.7.3".parse().unwrap();
        let line =
            |f: &str, p: Option<IpAddr>| rule_args(f.parse().unwrap(), p).map(|a| a.join(" "));
        assert_eq!(
            line("loss=10%", Some(peer)).unwrap(),
            "POSTROUTING -t mangle -d 10.213.7.3/32 -m statistic --mode random --probability 0.100000 -j DROP"
        );
        assert_eq!(
            line("duplicate=5%", Some(peer)).unwrap(),
            "POSTROUTING -t mangle -d 10.213.7.3/32 -m statistic --mode random --probability 0.050000 -j TEE --gateway 10.213.7.3"
        );
        assert_eq!(
            line("delay", None).unwrap(),
            "POSTROUTING -t mangle -j NFQUEUE --queue-num 1919 --queue-bypass"
        );
        assert_eq!(line("rate", Some(peer)), None);
        assert_eq!(
            delayer_params("reorder=30%".parse().unwrap()),
            Some((REORDER_HOLD, Duration::ZERO, 300_000))
        );
        assert_eq!(delayer_params("loss".parse().unwrap()), None);
    }
}
