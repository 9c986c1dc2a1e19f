//! Network partitions: computing who may not talk to whom (a "grudge": for each
//! node, the peers it must not hear from nor send to) for each [`Shape`], and turning
//! a grudge into iptables DROP rules on the hosts of the affected nodes (inside their
//! namespaces, or on their remote machines over SSH) — `INPUT -s PEER -j DROP` and
//! `OUTPUT -d PEER -j DROP`, so established connections are cut too. Rules name only
//! peer addresses: they are never put in the root namespace, and the controller's
//! address is never blocked, so the SSH control connection survives every partition. Healing deletes exactly the rules that were added
//! (`iptables -D` with the same spec), each journaled before it is added and marked
//! undone after it is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::control::ClusterControl;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::journal::{Action, Journal};
use crate::schedule::Shape;

/// For each node, the peers it is cut off from. Always symmetric.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// Computes the grudge of `shape` over `nodes` (sorted by the caller for
/// reproducibility). `Err` carries why the shape cannot be applied.
pub fn grudge(
    shape: Shape,
    nodes: &[String],
    leader: Option<String>,
    rng: &mut ChaCha8Rng,
) -> std::result::Result<Grudge, String> {
    let n = nodes.len();
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let g = match shape {
        Shape::Halves => {
            if n < 2 {
                return Err(format!("halves needs at least 2 nodes, have {n}"));
            }
            let (a, b) = shuffled.split_at(n / 2);
            cut(a, b)
        }
        Shape::One => {
            if n < 2 {
                return Err(format!("isolating a node needs at least 2 nodes, have {n}"));
            }
            cut(&shuffled[..1], &shuffled[1..])
        }
        Shape::Leader => {
            let Some(leader) = leader else {
                return Err("no leader known".into());
            };
            if !nodes.contains(&leader) {
                return Err(format!("leader {leader} is not a node of this cluster"));
            }
            let rest: Vec<String> = nodes.iter().filter(|x| **x != leader).cloned().collect();
            if rest.is_empty() {
                return Err("the leader is the only node".into());
            }
            cut(&[leader], &rest)
        }
        Shape::Bridge => {
            if n < 3 {
                return Err(format!("bridge needs at least 3 nodes, have {n}"));
            }
            let rest = &shuffled[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            cut(a, b)
        }
        Shape::MajoritiesRing => majorities_ring(&shuffled)?,
        Shape::Random => {
            if n < 2 {
                return Err(format!("a random split needs at least 2 nodes, have {n}"));
            }
            let k = rng.random_range(1..n);
            let (a, b) = shuffled.split_at(k);
            cut(a, b)
        }
    };
    assert!(is_symmetric(&g), "partition grudges are symmetric");
    Ok(g)
}

/// Every node of `a` cut from every node of `b`, and back.
fn cut(a: &[String], b: &[String]) -> Grudge {
    let mut g = Grudge::new();
    for x in a {
        for y in b {
            g.entry(x.clone()).or_default().insert(y.clone());
            g.entry(y.clone()).or_default().insert(x.clone());
        }
    }
    g
}

/// Nodes on a ring (in the given order); each sees itself and its `d` nearest
/// neighbours on each side, `d` the smallest that makes that a majority. Those
/// windows have distinct centres, so no two nodes see the same majority. Three nodes
/// are a path instead (a ring of three would see everything).
fn majorities_ring(ring: &[String]) -> std::result::Result<Grudge, String> {
    let n = ring.len();
    if n < 3 {
        return Err(format!("majorities-ring needs at least 3 nodes, have {n}"));
    }
    if n == 3 {
        return Ok(cut(&ring[..1], &ring[2..]));
    }
    let majority = n / 2 + 1;
    let d = (majority - 1).div_ceil(2);
    assert!(
        2 * d + 1 < n,
        "a ring window smaller than the ring cuts something"
    );
    let mut g = Grudge::new();
    for i in 0..n {
        for j in 0..n {
            let dist = (i + n - j) % n;
            if dist.min(n - dist) > d {
                g.entry(ring[i].clone())
                    .or_default()
                    .insert(ring[j].clone());
            }
        }
    }
    Ok(g)
}

/// True when every cut is mutual.
fn is_symmetric(g: &Grudge) -> bool {
    g.iter().all(|(x, peers)| {
        peers
            .iter()
            .all(|y| g.get(y).is_some_and(|s| s.contains(x)))
    })
}

/// The nodes each node still sees (itself included), for reports and tests.
pub fn visible(nodes: &[String], g: &Grudge) -> BTreeMap<String, BTreeSet<String>> {
    nodes
        .iter()
        .map(|x| {
            let blocked = g.get(x);
            let seen = nodes
                .iter()
                .filter(|y| !blocked.is_some_and(|b| b.contains(*y)))
                .cloned()
                .collect();
            (x.clone(), seen)
        })
        .collect()
}

/// One rule that was added, for the history and for healing.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledRule {
    /// The node whose host holds the rule.
    pub node: String,
    /// Where the rule lives: the node's namespace, or `host NAME (ADDRESS)`.
    pub namespace: String,
    /// The rule spec after `-A`.
    pub args: Vec<String>,
    /// Its journal action, which also undoes it.
    #[serde(skip)]
    action: Action,
    /// Its journal record.
    #[serde(skip)]
    journal_id: u64,
}

/// Adds the DROP rules for `grudge`. Returns the rules added so far and, if one
/// failed, the error (the partition is then only partly in place, or not at all when
/// no rule was added).
pub fn install(
    grudge: &Grudge,
    control: &dyn ClusterControl,
    journal: &Arc<Journal>,
) -> (Vec<InstalledRule>, Option<Error>) {
    let mut installed = Vec::new();
    for (node, peers) in grudge {
        let Some((host, namespace)) = control
            .host(node)
            .and_then(|h| h.rule_place().map(|place| (h, place)))
        else {
            let e = Error::Unsupported(format!(
                "node {node} has no network namespace nor remote host: partitions need \
                 namespace hosts (root) or SSH hosts"
            ));
            return (installed, Some(e));
        };
        for peer in peers {
            let Some(ip) = control.ip(peer) else {
                return (
                    installed,
                    Some(Error::Unsupported(format!(
                        "no address known for node {peer}"
                    ))),
                );
            };
            let ip = ip.to_string();
            for args in [
                ["INPUT", "-s", ip.as_str(), "-j", "DROP"],
                ["OUTPUT", "-d", ip.as_str(), "-j", "DROP"],
            ] {
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                match add_rule(journal, &host, &args) {
                    Ok(journal_id) => installed.push(InstalledRule {
                        node: node.clone(),
                        namespace: namespace.clone(),
                        action: host.rule_action(&args),
                        args,
                        journal_id,
                    }),
                    Err(e) => return (installed, Some(e)),
                }
            }
        }
    }
    (installed, None)
}

/// Journals, then adds, one rule (also a packet fault's); returns its journal record.
pub(crate) fn add_rule(journal: &Journal, host: &Host, args: &[String]) -> Result<u64> {
    let id = journal.record(host.rule_action(args))?;
    if let Err(e) = host.add_rule(args) {
        // iptables waited for its lock (-w) and refused: the rule is not there.
        journal.undone(id)?;
        return Err(e);
    }
    Ok(id)
}

/// Removes exactly these rules; returns the ones whose removal failed, with errors.
pub fn heal(rules: &[InstalledRule], journal: &Journal) -> Vec<(InstalledRule, Error)> {
    let mut failed = Vec::new();
    for rule in rules {
        match rule
            .action
            .undo()
            .and_then(|()| journal.undone(rule.journal_id))
        {
            Ok(()) => {}
            Err(e) => failed.push((rule.clone(), e)),
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in 3..=9 {
            let ns = nodes(n);
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let g = grudge(Shape::MajoritiesRing, &ns, None, &mut rng).unwrap();
            let seen = visible(&ns, &g);
            let distinct: BTreeSet<_> = seen.values().collect();
            assert_eq!(distinct.len(), n, "n={n}: {seen:?}");
            for (x, s) in &seen {
                assert!(s.len() > n / 2, "n={n}: {x} sees only {s:?}");
                // Only the middle of the three-node path sees everyone.
                assert!(s.len() < n || n == 3, "n={n}: {x} sees everyone");
            }
        }
    }

    #[test]
    fn bridge_node_sees_both_halves_which_do_not_see_each_other() {
        let ns = nodes(5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let g = grudge(Shape::Bridge, &ns, None, &mut rng).unwrap();
        let seen = visible(&ns, &g);
        let bridges: Vec<_> = seen.iter().filter(|(_, s)| s.len() == 5).collect();
        assert_eq!(bridges.len(), 1, "{seen:?}");
        assert!(
            seen.values().filter(|s| s.len() == 3).count() == 4,
            "{seen:?}"
        );
    }

    #[test]
    fn halves_leader_and_one_shapes() {
        let ns = nodes(5);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let g = grudge(Shape::Halves, &ns, None, &mut rng).unwrap();
        let sizes: BTreeSet<usize> = visible(&ns, &g).values().map(BTreeSet::len).collect();
        assert_eq!(sizes, BTreeSet::from([2, 3]));
        let g = grudge(Shape::Leader, &ns, Some("n4".into()), &mut rng).unwrap();
        assert_eq!(g["n4"].len(), 4);
        assert_eq!(g["n1"], BTreeSet::from(["n4".to_string()]));
        let err = grudge(Shape::Leader, &ns, None, &mut rng).unwrap_err();
        assert!(err.contains("no leader"), "{err}");
        let g = grudge(Shape::One, &ns, None, &mut rng).unwrap();
        assert_eq!(g.values().filter(|s| s.len() == 4).count(), 1);
        let g = grudge(Shape::Random, &ns, None, &mut rng).unwrap();
        assert!(!g.is_empty());
        assert!(grudge(Shape::Halves, &nodes(1), None, &mut rng).is_err());
    }
}
