//! What a seed decides: the cluster and its configuration ([`Setup`]), the
//! mix of faults (a [`Generator`]'s weights), and every step.
//!
//! Each seed switches on a random subset of the fault kinds, each at a random
//! rate ("swarm testing"): a trace with only drops and crashes explores other
//! corners than one where every kind of fault competes, and some bugs need
//! one fault to be frequent and the others absent.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::action::Action;
use super::world::World;
use crate::raft::{Bugs, Config};

/// The cluster a trace runs on, drawn from its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// Cluster size (3 to 7).
    pub nodes: u8,
    /// What every node runs with, apart from its id, peers and seed.
    pub raft: Config,
    /// A planted mistake of the runtime: send a Ready's messages before its
    /// writes are durable (unit-test builds only).
    #[cfg(test)]
    pub(crate) send_before_persist: bool,
}

impl Setup {
    /// The setup seed `seed` draws, with `bugs` switched on.
    pub fn from_seed(seed: u64, bugs: Bugs) -> Setup {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nodes = [3, 3, 3, 4, 5, 5, 7][rng.random_range(0..7)];
        let mut raft = Config::new(1, vec![1], seed);
        raft.election_tick = rng.random_range(2..=10);
        raft.heartbeat_tick = rng.random_range(1..=(raft.election_tick / 2).max(1));
        raft.pre_vote = rng.random_bool(0.5);
        raft.check_quorum = rng.random_bool(0.5);
        raft.max_entries_per_message = [1, 2, 3, 256][rng.random_range(0..4)];
        raft.max_inflight_messages = [1, 2, 64][rng.random_range(0..3)];
        raft.bugs = bugs;
        Setup {
            seed,
            nodes,
            raft,
            #[cfg(test)]
            send_before_persist: false,
        }
    }

    /// The configuration of node `i` (Raft id `i + 1`).
    pub fn config(&self, i: u8) -> Config {
        Config {
            id: u64::from(i) + 1,
            peers: (1..=u64::from(self.nodes)).collect(),
            seed: self.seed ^ (u64::from(i) << 56),
            ..self.raft.clone()
        }
    }

    /// Whether the runtime sends messages before persisting (a planted
    /// mistake; never outside unit-test builds).
    pub fn sends_before_persisting(&self) -> bool {
        #[cfg(test)]
        return self.send_before_persist;
        #[cfg(not(test))]
        false
    }
}

/// Draws the steps of one trace.
pub(crate) struct Generator {
    rng: ChaCha8Rng,
    /// Steps before the faults stop.
    pub length: u64,
    /// Relative tick rate of each node.
    tick_rate: Vec<u32>,
    /// Weight of delivering, per message in flight.
    deliver: u32,
    /// Percent of deliveries taken from behind the head of a queue.
    reorder: u32,
    drop: u32,
    duplicate: u32,
    propose: u32,
    read: u32,
    compact: u32,
    crash: u32,
    restart: u32,
    pause: u32,
    partition: u32,
    heal: u32,
}

impl Generator {
    /// The fault mix seed `seed` draws for a cluster of `nodes` nodes.
    pub fn new(seed: u64, nodes: u8) -> Generator {
        // A stream apart from the setup's, so the two stay independent.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let mut some = |max: u32, p: f64| {
            if rng.random_bool(p) {
                rng.random_range(1..=max)
            } else {
                0
            }
        };
        let drop = some(30, 0.5);
        let duplicate = some(30, 0.4);
        let reorder = some(50, 0.5);
        let read = some(20, 0.5);
        let compact = some(5, 0.4);
        let crash = some(3, 0.5);
        let pause = some(3, 0.3);
        let partition = some(3, 0.5);
        let propose = rng.random_range(5..=60);
        let deliver = rng.random_range(20..=200);
        let skewed = rng.random_bool(0.3);
        let tick_rate = (0..nodes)
            .map(|_| {
                if skewed && rng.random_bool(0.3) {
                    rng.random_range(1..=3)
                } else {
                    rng.random_range(10..=30)
                }
            })
            .collect();
        let length = rng.random_range(100..=4000);
        Generator {
            rng,
            length,
            tick_rate,
            deliver,
            reorder,
            drop,
            duplicate,
            propose,
            read,
            compact,
            crash,
            restart: 20 * crash.min(1),
            pause,
            partition,
            heal: 10 * partition.min(1),
        }
    }

    /// The next step for `world`.
    pub fn next(&mut self, world: &World) -> Action {
        let n = world.len();
        let messages = world.in_flight() as u32;
        let up = (0..n).filter(|&i| world.is_up(i)).count() as u32;
        let down = n as u32 - up;
        let paused = (0..n).filter(|&i| world.is_paused(i)).count() as u32;
        let ticks: u32 = (0..n)
            .filter(|&i| world.is_up(i) && !world.is_paused(i))
            .map(|i| self.tick_rate[i])
            .sum();
        let per_message = self.deliver + self.drop + self.duplicate;
        let healing = if world.is_partitioned() { self.heal } else { 0 };
        let weights = [
            ticks,
            per_message * messages,
            self.propose,
            self.read,
            self.compact,
            self.crash * up,
            self.restart * down,
            self.pause * up,
            10 * paused,
            self.partition,
            healing,
        ];
        let total: u32 = weights.iter().sum();
        let mut pick = self.rng.random_range(0..total.max(1));
        let mut kind = 0;
        while kind < weights.len() - 1 && pick >= weights[kind] {
            pick -= weights[kind];
            kind += 1;
        }
        match kind {
            0 => {
                let mut i = 0;
                loop {
                    let w = if world.is_up(i) && !world.is_paused(i) {
                        self.tick_rate[i]
                    } else {
                        0
                    };
                    if pick < w {
                        return Action::Tick(i as u8);
                    }
                    pick -= w;
                    i += 1;
                }
            }
            1 => self.message_action(world),
            2 => Action::Propose(self.client_target(world)),
            3 => Action::Read(self.client_target(world)),
            4 => Action::Compact(self.rng.random_range(0..n) as u8),
            5 => {
                let node = self.pick_node(world, |w, i| w.is_up(i));
                if self.rng.random_bool(0.4) && !world.is_armed(node as usize) {
                    let keep = self.rng.random_range(0..3);
                    Action::CrashInWrite { node, keep }
                } else {
                    Action::Crash(node)
                }
            }
            6 => Action::Restart(self.pick_node(world, |w, i| !w.is_up(i))),
            7 => Action::Pause(self.pick_node(world, |w, i| w.is_up(i))),
            8 => Action::Resume(self.pick_node(world, |w, i| w.is_paused(i))),
            9 => {
                let mask = if self.rng.random_bool(0.5) {
                    1u16 << self.rng.random_range(0..n)
                } else {
                    self.rng.random_range(1..(1u16 << n) - 1)
                };
                Action::Partition(mask as u8)
            }
            _ => Action::Heal,
        }
    }

    /// A delivery, drop or duplication of a random message in flight.
    fn message_action(&mut self, world: &World) -> Action {
        let n = world.len();
        let mut k = self.rng.random_range(0..world.in_flight());
        let (mut from, mut to) = (0, 0);
        'find: for f in 0..n {
            for t in 0..n {
                let q = world.queued(f, t);
                if k < q {
                    (from, to) = (f, t);
                    break 'find;
                }
                k -= q;
            }
        }
        let queued = world.queued(from, to);
        let nth = if self.rng.random_range(0..100) < self.reorder {
            self.rng.random_range(0..queued.min(8))
        } else {
            0
        };
        let (from, to, nth) = (from as u8, to as u8, nth as u8);
        let roll = self
            .rng
            .random_range(0..self.deliver + self.drop + self.duplicate);
        if roll < self.deliver {
            Action::Deliver { from, to, nth }
        } else if roll < self.deliver + self.drop {
            Action::Drop { from, to, nth }
        } else {
            Action::Duplicate { from, to, nth }
        }
    }

    /// Where a client sends a request: mostly to a node that believes it
    /// leads, sometimes anywhere.
    fn client_target(&mut self, world: &World) -> u8 {
        let n = world.len();
        let start = self.rng.random_range(0..n);
        if self.rng.random_bool(0.9) {
            if let Some(i) = (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| world.is_leader(i))
            {
                return i as u8;
            }
        }
        start as u8
    }

    /// A random node satisfying `ok` (the weights guarantee one exists).
    fn pick_node(&mut self, world: &World, ok: impl Fn(&World, usize) -> bool) -> u8 {
        let n = world.len();
        let start = self.rng.random_range(0..n);
        let i = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| ok(world, i))
            .unwrap_or(start);
        i as u8
    }
}
