//! The fault vocabulary and the seeded schedule.
//!
//! `--nemesis kill,pause,partition` (or `all`, or `none`) selects [`FaultKind`]s;
//! each kill or pause picks a [`Target`], each partition a [`Shape`]. The
//! [`Schedule`] is an endless, reproducible sequence of [`PlannedFault`]s derived
//! only from the seed and the configuration (ChaCha8): about one fault every
//! `interval`, each lasting between half and twice the interval, so faults of
//! different kinds overlap and combine. Two faults of the same kind never overlap
//! in the plan (a slot whose kinds are all busy stays empty).
//!
//! Choices are drawn in shuffled rounds, never independently: every enabled kind
//! comes once before any kind comes again, and each kind goes through all of its
//! targets (or shapes, or crash points) before it repeats one. A short run with
//! `--nemesis all` therefore covers every kind, and a longer one every variant,
//! instead of leaving it to chance. Which concrete nodes a
//! fault hits is decided when it starts, from the fault's own `pick` seed and the node
//! list (and, for `leader`, whoever leads at that moment), so it is reproducible too
//! for the same cluster.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::disk::{DiskFault, DiskMode};
use crate::error::{Error, Result};
use crate::packet::{PacketConfig, PacketFault};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL, then restart after a while.
    Kill,
    /// SIGSTOP, then SIGCONT after a while.
    Pause,
    /// iptables DROP rules between groups of nodes, then removed.
    Partition,
    /// A crash point armed in every node (the database kills itself there), with
    /// the leader killed now and then when the point lies on the path of an
    /// election, then disarmed, and the nodes that are down restarted.
    Crash,
    /// Delay, loss, duplication, reordering or a bandwidth limit on what the target
    /// nodes send to the other nodes, then removed (see [`crate::packet`]).
    Packet,
    /// The node's lazy filesystem loses unsynced data, tears a write or fails an
    /// fsync (see [`crate::disk`]); power-lost nodes restarted at the heal.
    Disk,
    /// Nodes' clocks jumped, skewed or strobed (libfaketime), then set right again.
    Clock,
}

impl FaultKind {
    /// Every fault kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Crash,
        FaultKind::Packet,
        FaultKind::Disk,
        FaultKind::Clock,
    ];

    /// The faults any database can be given, which `--nemesis all` means. A crash
    /// point needs the database's cooperation, so `crash` is asked for by name.
    pub const GENERIC: [FaultKind; 3] = [FaultKind::Kill, FaultKind::Pause, FaultKind::Partition];

    /// The history `f` of the fault's start.
    pub fn start_f(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Crash => "crash",
            FaultKind::Packet => "packet",
            FaultKind::Disk => "disk",
            FaultKind::Clock => "clock",
        }
    }

    /// The history `f` of the fault's end.
    pub fn stop_f(self) -> &'static str {
        match self {
            FaultKind::Kill => "restart",
            FaultKind::Pause => "resume",
            FaultKind::Partition => "heal",
            FaultKind::Crash => "crash-stop",
            FaultKind::Packet => "packet-stop",
            FaultKind::Disk => "disk-stop",
            FaultKind::Clock => "clock-stop",
        }
    }
}

impl FromStr for FaultKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<FaultKind> {
        match s {
            "kill" => Ok(FaultKind::Kill),
            "pause" => Ok(FaultKind::Pause),
            "partition" => Ok(FaultKind::Partition),
            "crash" => Ok(FaultKind::Crash),
            "packet" => Ok(FaultKind::Packet),
            "disk" => Ok(FaultKind::Disk),
            "clock" => Ok(FaultKind::Clock),
            other => Err(Error::Unsupported(format!(
                "unknown fault `{other}`: expected kill, pause, partition, crash, packet, disk, \
                 clock, all or none"
            ))),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.start_f())
    }
}

/// Which nodes a kill or pause hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// One random node.
    One,
    /// A random minority: (n-1)/2 nodes.
    Minority,
    /// A random majority: n/2+1 nodes.
    Majority,
    /// The current leader.
    Leader,
    /// One random node that is not the current leader.
    Follower,
    /// Every node.
    All,
}

impl Target {
    /// The targets a kill or pause chooses from when none is named.
    pub const DEFAULT: [Target; 5] = [
        Target::One,
        Target::Minority,
        Target::Majority,
        Target::Leader,
        Target::All,
    ];
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Target> {
        match s {
            "one" => Ok(Target::One),
            "minority" => Ok(Target::Minority),
            "majority" => Ok(Target::Majority),
            "leader" => Ok(Target::Leader),
            "follower" => Ok(Target::Follower),
            "all" => Ok(Target::All),
            other => Err(Error::Unsupported(format!(
                "unknown target `{other}`: expected one, minority, majority, leader, \
                 follower or all"
            ))),
        }
    }
}

/// How a partition splits the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Two halves (a minority and a majority, or two equal halves).
    Halves,
    /// One random node isolated from all others.
    One,
    /// The current leader isolated from all others.
    Leader,
    /// Every node sees a majority, no two nodes see the same majority.
    MajoritiesRing,
    /// Two halves that cannot talk to each other, joined by one node that sees both.
    Bridge,
    /// A random non-trivial split into two groups.
    Random,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 6] = [
        Shape::Halves,
        Shape::One,
        Shape::Leader,
        Shape::MajoritiesRing,
        Shape::Bridge,
        Shape::Random,
    ];
}

impl FromStr for Shape {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shape> {
        match s {
            "halves" => Ok(Shape::Halves),
            "one" => Ok(Shape::One),
            "leader" => Ok(Shape::Leader),
            "majorities-ring" => Ok(Shape::MajoritiesRing),
            "bridge" => Ok(Shape::Bridge),
            "random" => Ok(Shape::Random),
            other => Err(Error::Unsupported(format!(
                "unknown partition shape `{other}`: expected halves, one, leader, \
                 majorities-ring, bridge or random"
            ))),
        }
    }
}

/// Where a node armed by the `crash` fault kills itself. The database implements
/// the points (raftkv: `raftkv::server::crash`); the nemesis only names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashPoint {
    /// After granting a vote, before storing the next entries it receives (for a
    /// voter of the winner: the new leader's first entry).
    AfterVote,
    /// On a leader, after storing entries it appended and before sending them: the
    /// entries exist on that node alone.
    AfterAppend,
}

impl CrashPoint {
    /// Every crash point.
    pub const ALL: [CrashPoint; 2] = [CrashPoint::AfterVote, CrashPoint::AfterAppend];

    /// The point's name, as the database knows it.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::AfterVote => "after-vote",
            CrashPoint::AfterAppend => "after-append",
        }
    }

    /// Whether the point lies on the path of an election, which a cluster with a
    /// stable leader never takes: the crash fault then kills leaders to make
    /// elections happen. A leader appends whenever clients write, so `after-append`
    /// needs no help (and killing its leaders would pre-empt the crashes it plays).
    pub fn needs_elections(self) -> bool {
        match self {
            CrashPoint::AfterVote => true,
            CrashPoint::AfterAppend => false,
        }
    }
}

impl FromStr for CrashPoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<CrashPoint> {
        by_name(&CrashPoint::ALL, CrashPoint::name, s, "crash point")
    }
}

/// The item of `all` whose `name` is `s`, or an error naming `s` and listing them.
fn by_name<T: Copy>(all: &[T], name: fn(T) -> &'static str, s: &str, what: &str) -> Result<T> {
    all.iter().copied().find(|x| name(*x) == s).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|x| name(*x)).collect();
        Error::Unsupported(format!(
            "unknown {what} `{s}`: expected one of {}",
            names.join(", ")
        ))
    })
}

/// How a clock fault changes the clocks of the nodes it hits (each node its own way:
/// the sizes are drawn per node when the fault starts, see [`crate::clock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// The clock steps forwards by seconds, or goes back by seconds (slewed: it runs
    /// slow until it is that far behind), and stays there.
    Jump,
    /// The clock runs slow (the leader) or fast (the other nodes) from now on.
    Skew,
    /// The clock goes back and forth rapidly: small forward steps, each slewed back.
    Strobe,
}

impl ClockMode {
    /// Every mode.
    pub const ALL: [ClockMode; 3] = [ClockMode::Jump, ClockMode::Skew, ClockMode::Strobe];

    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ClockMode::Jump => "jump",
            ClockMode::Skew => "skew",
            ClockMode::Strobe => "strobe",
        }
    }
}

impl FromStr for ClockMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<ClockMode> {
        by_name(&ClockMode::ALL, ClockMode::name, s, "clock fault")
    }
}

/// A fault with its parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", content = "of", rename_all = "kebab-case")]
pub enum FaultSpec {
    /// Kill the target's processes.
    Kill(Target),
    /// Pause the target's processes.
    Pause(Target),
    /// Partition in this shape.
    Partition(Shape),
    /// Arm this crash point.
    Crash(CrashPoint),
    /// This packet fault on the target's links to the other nodes.
    Packet(PacketFault, Target),
    /// Make the target's disks lie this way.
    Disk(DiskFault),
    /// Change the target's clocks this way.
    Clock(ClockMode, Target),
}

impl FaultSpec {
    /// The kind of fault.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultSpec::Kill(_) => FaultKind::Kill,
            FaultSpec::Pause(_) => FaultKind::Pause,
            FaultSpec::Partition(_) => FaultKind::Partition,
            FaultSpec::Crash(_) => FaultKind::Crash,
            FaultSpec::Packet(..) => FaultKind::Packet,
            FaultSpec::Disk(_) => FaultKind::Disk,
            FaultSpec::Clock(..) => FaultKind::Clock,
        }
    }
}

/// What the nemesis does and how often.
#[derive(Debug, Clone)]
pub struct NemesisConfig {
    /// Enabled fault kinds, sorted; empty means the nemesis does nothing.
    pub faults: Vec<FaultKind>,
    /// Mean time between fault starts (`--nemesis-interval`).
    pub interval: Duration,
    /// The run seed.
    pub seed: u64,
    /// Targets kills choose from.
    pub kill_targets: Vec<Target>,
    /// Targets pauses choose from.
    pub pause_targets: Vec<Target>,
    /// Shapes partitions choose from.
    pub shapes: Vec<Shape>,
    /// Points crashes choose from.
    pub crash_points: Vec<CrashPoint>,
    /// What packet faults choose from.
    pub packet: PacketConfig,
    /// What disk faults choose from.
    pub disk_modes: Vec<DiskMode>,
    /// Targets disk faults choose from.
    pub disk_targets: Vec<Target>,
    /// Ways clock faults choose from.
    pub clock_modes: Vec<ClockMode>,
    /// Targets clock faults choose from.
    pub clock_targets: Vec<Target>,
}

impl NemesisConfig {
    /// A configuration of `faults` with the default targets and every shape.
    pub fn new(mut faults: Vec<FaultKind>, interval: Duration, seed: u64) -> NemesisConfig {
        faults.sort();
        faults.dedup();
        NemesisConfig {
            faults,
            interval,
            seed,
            kill_targets: Target::DEFAULT.to_vec(),
            pause_targets: Target::DEFAULT.to_vec(),
            shapes: Shape::ALL.to_vec(),
            crash_points: CrashPoint::ALL.to_vec(),
            packet: PacketConfig {
                faults: PacketFault::DEFAULTS.to_vec(),
                targets: Target::DEFAULT.to_vec(),
                ..PacketConfig::default()
            },
            disk_modes: DiskMode::ALL.to_vec(),
            disk_targets: Target::DEFAULT.to_vec(),
            clock_modes: ClockMode::ALL.to_vec(),
            clock_targets: Target::DEFAULT.to_vec(),
        }
    }

    /// Parses a `--nemesis` list: comma-separated words, each `all` (kill, pause
    /// and partition), `none`, a fault kind (`kill`, `pause`, `partition`, `crash`:
    /// every target, shape or point), or a kind narrowed to one target, shape or
    /// point (`kill:leader`, `pause:follower`, `partition:majorities-ring`,
    /// `crash:after-vote`). Narrowed words of one kind add up; a bare kind next to
    /// narrowed ones adds its defaults to them. `packet` is narrowed by a packet fault
    /// with its parameters (`packet:delay=100ms~20ms`, see [`PacketFault`]), by a
    /// target (`packet:leader`) or by `packet:all-traffic` (the controller's traffic
    /// too); a part left unnamed takes every default. `disk` is narrowed by a mode
    /// (`disk:lose-unsynced`, `disk:torn`, `disk:fsync-eio`) or a target
    /// (`disk:leader`), each independently: modes not named default to all three,
    /// targets not named to kill's defaults. `clock` is narrowed by a mode
    /// (`clock:jump`, `clock:skew`, `clock:strobe`).
    pub fn parse(text: &str, interval: Duration, seed: u64) -> Result<NemesisConfig> {
        let mut config = NemesisConfig {
            faults: Vec::new(),
            interval,
            seed,
            kill_targets: Vec::new(),
            pause_targets: Vec::new(),
            shapes: Vec::new(),
            crash_points: Vec::new(),
            packet: PacketConfig::default(),
            disk_modes: Vec::new(),
            disk_targets: Vec::new(),
            clock_modes: Vec::new(),
            clock_targets: Vec::new(),
        };
        let mut disk_bare = false;
        let mut clock_bare = false;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let (kind, choice) = match word.split_once(':') {
                Some((kind, choice)) => (kind.trim(), Some(choice.trim())),
                None => (word, None),
            };
            let kinds = match kind {
                "none" | "all" if choice.is_some() => {
                    return Err(Error::Unsupported(format!(
                        "`{word}`: {kind} takes no target or shape"
                    )))
                }
                "none" => continue,
                "all" => FaultKind::GENERIC.to_vec(),
                _ => vec![kind.parse::<FaultKind>()?],
            };
            for kind in kinds {
                config.faults.push(kind);
                match (kind, choice) {
                    (FaultKind::Kill, None) => config.kill_targets.extend(Target::DEFAULT),
                    (FaultKind::Kill, Some(c)) => config.kill_targets.push(c.parse()?),
                    (FaultKind::Pause, None) => config.pause_targets.extend(Target::DEFAULT),
                    (FaultKind::Pause, Some(c)) => config.pause_targets.push(c.parse()?),
                    (FaultKind::Partition, None) => config.shapes.extend(Shape::ALL),
                    (FaultKind::Partition, Some(c)) => config.shapes.push(c.parse()?),
                    (FaultKind::Crash, None) => config.crash_points.extend(CrashPoint::ALL),
                    (FaultKind::Crash, Some(c)) => config.crash_points.push(c.parse()?),
                    (FaultKind::Packet, None) => {
                        config.packet.faults.extend(PacketFault::DEFAULTS);
                        config.packet.targets.extend(Target::DEFAULT);
                    }
                    (FaultKind::Packet, Some("all-traffic")) => config.packet.all_traffic = true,
                    (FaultKind::Packet, Some(c)) => match c.parse::<Target>() {
                        Ok(target) => config.packet.targets.push(target),
                        Err(_) => config.packet.faults.push(c.parse()?),
                    },
                    (FaultKind::Disk, None) => disk_bare = true,
                    (FaultKind::Disk, Some(c)) => match c.parse::<Target>() {
                        Ok(target) => config.disk_targets.push(target),
                        Err(_) => config.disk_modes.push(c.parse()?),
                    },
                    (FaultKind::Clock, None) => clock_bare = true,
                    (FaultKind::Clock, Some(c)) => match c.parse::<Target>() {
                        Ok(target) => config.clock_targets.push(target),
                        Err(_) => config.clock_modes.push(c.parse().map_err(|e| {
                            Error::Unsupported(format!(
                                "{e}, or a target: one, minority, majority, leader, \
                                 follower, all"
                            ))
                        })?),
                    },
                }
            }
        }
        config.faults.sort();
        config.faults.dedup();
        if config.faults.contains(&FaultKind::Disk) {
            if disk_bare || config.disk_modes.is_empty() {
                config.disk_modes.extend(DiskMode::ALL);
            }
            if disk_bare || config.disk_targets.is_empty() {
                config.disk_targets.extend(Target::DEFAULT);
            }
        }
        if config.faults.contains(&FaultKind::Clock) {
            if clock_bare || config.clock_modes.is_empty() {
                config.clock_modes.extend(ClockMode::ALL);
            }
            if clock_bare || config.clock_targets.is_empty() {
                config.clock_targets.extend(Target::DEFAULT);
            }
        }
        dedup_keeping_order(&mut config.disk_modes);
        dedup_keeping_order(&mut config.clock_modes);
        for list in [
            &mut config.kill_targets,
            &mut config.pause_targets,
            &mut config.disk_targets,
            &mut config.clock_targets,
        ] {
            dedup_keeping_order(list);
        }
        dedup_keeping_order(&mut config.shapes);
        dedup_keeping_order(&mut config.crash_points);
        if config.faults.contains(&FaultKind::Packet) {
            let packet = &mut config.packet;
            if packet.faults.is_empty() {
                packet.faults = PacketFault::DEFAULTS.to_vec();
            }
            if packet.targets.is_empty() {
                packet.targets = Target::DEFAULT.to_vec();
            }
            dedup_keeping_order(&mut packet.faults);
            dedup_keeping_order(&mut packet.targets);
        }
        Ok(config)
    }
}

/// Removes later repeats from `list`, keeping the first occurrence of each item.
fn dedup_keeping_order<T: PartialEq + Copy>(list: &mut Vec<T>) {
    let mut seen = Vec::with_capacity(list.len());
    list.retain(|item| {
        let fresh = !seen.contains(item);
        if fresh {
            seen.push(*item);
        }
        fresh
    });
}

/// One fault of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedFault {
    /// When it starts, after the nemesis started.
    pub at: Duration,
    /// How long it lasts before it is healed.
    pub duration: Duration,
    /// What it is.
    pub spec: FaultSpec,
    /// Seed for its node choices when it starts.
    pub pick: u64,
}

/// The endless, seeded sequence of faults (an iterator).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The interval between slots.
    interval: Duration,
    /// The random stream.
    rng: ChaCha8Rng,
    /// Index of the next slot.
    slot: u64,
    /// When each kind's last planned fault ends.
    busy_until: [Duration; FaultKind::ALL.len()],
    /// The round of kinds.
    kinds: Rounds<FaultKind>,
    /// The rounds of each kind's choices.
    kill_targets: Rounds<Target>,
    pause_targets: Rounds<Target>,
    shapes: Rounds<Shape>,
    crash_points: Rounds<CrashPoint>,
    packet_faults: Rounds<PacketFault>,
    packet_targets: Rounds<Target>,
    disk_modes: Rounds<DiskMode>,
    disk_targets: Rounds<Target>,
    clock_modes: Rounds<ClockMode>,
    clock_targets: Rounds<Target>,
}

/// Draws without replacement: `items` in a shuffled order, reshuffled once all
/// have been drawn.
#[derive(Debug, Clone)]
struct Rounds<T> {
    /// Everything a round holds.
    items: Vec<T>,
    /// What the current round has not drawn yet, in draw order.
    left: Vec<T>,
}

impl<T: Copy> Rounds<T> {
    /// Rounds over `items`.
    fn new(items: Vec<T>) -> Rounds<T> {
        Rounds {
            items,
            left: Vec::new(),
        }
    }

    /// The first item left in the round that `allowed` accepts (a new shuffled
    /// round when this one is used up); `None` when no item left is allowed.
    fn draw(&mut self, rng: &mut ChaCha8Rng, allowed: impl Fn(&T) -> bool) -> Option<T> {
        if self.left.is_empty() {
            self.left = self.items.clone();
            self.left.shuffle(rng);
        }
        let at = self.left.iter().position(allowed)?;
        Some(self.left.remove(at))
    }
}

impl Schedule {
    /// A schedule for `config`; panics on a zero interval, which config parsing refuses.
    pub fn new(config: NemesisConfig) -> Schedule {
        assert!(
            !config.interval.is_zero(),
            "nemesis interval must be positive"
        );
        // Mix a constant in so the schedule's stream differs from others seeded alike.
        let rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6e65_6d65_7369_7300);
        // A kind with nothing to choose from is never drawn.
        let kinds = config
            .faults
            .iter()
            .copied()
            .filter(|kind| match kind {
                FaultKind::Kill => !config.kill_targets.is_empty(),
                FaultKind::Pause => !config.pause_targets.is_empty(),
                FaultKind::Partition => !config.shapes.is_empty(),
                FaultKind::Crash => !config.crash_points.is_empty(),
                FaultKind::Packet => {
                    !config.packet.faults.is_empty() && !config.packet.targets.is_empty()
                }
                FaultKind::Disk => !config.disk_modes.is_empty() && !config.disk_targets.is_empty(),
                FaultKind::Clock => {
                    !config.clock_modes.is_empty() && !config.clock_targets.is_empty()
                }
            })
            .collect();
        Schedule {
            interval: config.interval,
            rng,
            slot: 0,
            busy_until: [Duration::ZERO; FaultKind::ALL.len()],
            kinds: Rounds::new(kinds),
            kill_targets: Rounds::new(config.kill_targets),
            pause_targets: Rounds::new(config.pause_targets),
            shapes: Rounds::new(config.shapes),
            crash_points: Rounds::new(config.crash_points),
            packet_faults: Rounds::new(config.packet.faults),
            packet_targets: Rounds::new(config.packet.targets),
            disk_modes: Rounds::new(config.disk_modes),
            disk_targets: Rounds::new(config.disk_targets),
            clock_modes: Rounds::new(config.clock_modes),
            clock_targets: Rounds::new(config.clock_targets),
        }
    }
}

impl Iterator for Schedule {
    type Item = PlannedFault;

    fn next(&mut self) -> Option<PlannedFault> {
        if self.kinds.items.is_empty() {
            return None;
        }
        let interval = self.interval;
        loop {
            self.slot += 1;
            // Slot k starts somewhere in the last quarter before k * interval.
            let jitter = interval.mul_f64(self.rng.random_range(0.0..0.25));
            let at = interval * self.slot as u32 - jitter;
            let duration = interval.mul_f64(self.rng.random_range(0.5..2.0));
            let pick: u64 = self.rng.random();
            let busy_until = self.busy_until;
            let Some(kind) = self
                .kinds
                .draw(&mut self.rng, |k| busy_until[*k as usize] <= at)
            else {
                continue;
            };
            /// Every choice of a kind is allowed at any time.
            fn any<T>(_: &T) -> bool {
                true
            }
            let rng = &mut self.rng;
            let spec = match kind {
                FaultKind::Kill => self.kill_targets.draw(rng, any).map(FaultSpec::Kill),
                FaultKind::Pause => self.pause_targets.draw(rng, any).map(FaultSpec::Pause),
                FaultKind::Partition => self.shapes.draw(rng, any).map(FaultSpec::Partition),
                FaultKind::Crash => self.crash_points.draw(rng, any).map(FaultSpec::Crash),
                FaultKind::Packet => self
                    .packet_faults
                    .draw(rng, any)
                    .zip(self.packet_targets.draw(rng, any))
                    .map(|(fault, target)| FaultSpec::Packet(fault, target)),
                FaultKind::Disk => {
                    let mode = self.disk_modes.draw(rng, any);
                    let target = self.disk_targets.draw(rng, any);
                    mode.zip(target)
                        .map(|(mode, target)| FaultSpec::Disk(DiskFault { mode, target }))
                }
                FaultKind::Clock => self
                    .clock_modes
                    .draw(rng, any)
                    .zip(self.clock_targets.draw(rng, any))
                    .map(|(mode, target)| FaultSpec::Clock(mode, target)),
            };
            let spec = spec.expect("only kinds with choices are drawn");
            self.busy_until[kind as usize] = at + duration;
            return Some(PlannedFault {
                at,
                duration,
                spec,
                pick,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> NemesisConfig {
        NemesisConfig::new(FaultKind::ALL.to_vec(), Duration::from_secs(5), seed)
    }

    #[test]
    fn same_seed_same_schedule() {
        let a: Vec<_> = Schedule::new(config(42)).take(50).collect();
        let b: Vec<_> = Schedule::new(config(42)).take(50).collect();
        assert_eq!(a, b);
        let c: Vec<_> = Schedule::new(config(43)).take(50).collect();
        assert_ne!(a, c, "a different seed gives a different schedule");
    }

    #[test]
    fn every_kind_and_every_choice_comes_before_any_repeats() {
        for seed in 0..20 {
            let config = config(seed);
            let kinds = config.faults.len();
            let plan: Vec<_> = Schedule::new(config.clone()).take(200).collect();
            let first: Vec<FaultKind> = plan[..kinds].iter().map(|f| f.spec.kind()).collect();
            for kind in &config.faults {
                assert!(first.contains(kind), "seed {seed}: {first:?} lacks {kind}");
            }
            // Each kind's own faults go through all its choices in rounds.
            let rounds = |specs: Vec<FaultSpec>, choices: usize| {
                for round in specs.chunks(choices).filter(|r| r.len() == choices) {
                    let unique: std::collections::HashSet<String> =
                        round.iter().map(|f| format!("{f:?}")).collect();
                    assert_eq!(
                        unique.len(),
                        choices,
                        "seed {seed}: a round repeats: {round:?}"
                    );
                }
            };
            let of = |kind: FaultKind| -> Vec<FaultSpec> {
                plan.iter()
                    .map(|f| f.spec)
                    .filter(|s| s.kind() == kind)
                    .collect()
            };
            rounds(of(FaultKind::Kill), config.kill_targets.len());
            rounds(of(FaultKind::Pause), config.pause_targets.len());
            rounds(of(FaultKind::Partition), config.shapes.len());
            rounds(of(FaultKind::Crash), config.crash_points.len());
            rounds(of(FaultKind::Packet), config.packet.faults.len());
            rounds(of(FaultKind::Clock), config.clock_modes.len());
        }
    }

    #[test]
    fn faults_overlap_but_never_with_their_own_kind() {
        let plan: Vec<_> = Schedule::new(config(7)).take(200).collect();
        let mut overlaps = 0;
        for (i, a) in plan.iter().enumerate() {
            for b in &plan[i + 1..] {
                if b.at < a.at + a.duration {
                    overlaps += 1;
                    assert_ne!(a.spec.kind(), b.spec.kind(), "{a:?} overlaps {b:?}");
                }
            }
        }
        assert!(overlaps > 0, "different kinds do combine");
        for kind in FaultKind::ALL {
            assert!(
                plan.iter().any(|p| p.spec.kind() == kind),
                "{kind} is scheduled"
            );
        }
        assert!(
            plan.windows(2).all(|w| w[0].at < w[1].at),
            "starts are ordered"
        );
    }

    fn parse(text: &str) -> Result<NemesisConfig> {
        NemesisConfig::parse(text, Duration::from_secs(1), 1)
    }

    #[test]
    fn parses_fault_lists() {
        assert_eq!(parse("all").unwrap().faults, FaultKind::GENERIC.to_vec());
        let config = parse("partition, kill,kill").unwrap();
        assert_eq!(config.faults, vec![FaultKind::Kill, FaultKind::Partition]);
        assert_eq!(config.kill_targets, Target::DEFAULT.to_vec());
        assert!(config.pause_targets.is_empty());
        assert_eq!(config.shapes, Shape::ALL.to_vec());
        assert!(parse("none").unwrap().faults.is_empty());
        for bad in [
            "kill,clocks",
            "clock:sideways",
            "kill:nobody",
            "partition:leader,pause:ring",
            "none:x",
            "crash:before-lunch",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            let culprit = bad.rsplit([',', ':']).next().unwrap();
            assert!(err.contains(culprit), "{bad}: {err}");
        }
        assert_eq!(
            Schedule::new(NemesisConfig::new(vec![], Duration::from_secs(1), 1)).next(),
            None
        );
    }

    #[test]
    fn narrowed_faults_use_only_their_targets_and_shapes() {
        let config = parse("kill:leader, pause:follower, pause:leader, partition:leader").unwrap();
        assert_eq!(config.faults, FaultKind::GENERIC.to_vec());
        assert_eq!(config.kill_targets, vec![Target::Leader]);
        assert_eq!(config.pause_targets, vec![Target::Follower, Target::Leader]);
        assert_eq!(config.shapes, vec![Shape::Leader]);
        let plan: Vec<_> = Schedule::new(config).take(100).collect();
        for fault in &plan {
            let allowed = match fault.spec {
                FaultSpec::Kill(t) => t == Target::Leader,
                FaultSpec::Pause(t) => matches!(t, Target::Follower | Target::Leader),
                FaultSpec::Partition(s) => s == Shape::Leader,
                FaultSpec::Crash(_)
                | FaultSpec::Packet(..)
                | FaultSpec::Disk(_)
                | FaultSpec::Clock(..) => false,
            };
            assert!(allowed, "{fault:?} is outside the narrowed choices");
        }
        assert!(plan
            .iter()
            .any(|f| f.spec == FaultSpec::Pause(Target::Follower)));
        let both = parse("kill,kill:follower").unwrap();
        assert_eq!(both.kill_targets.len(), Target::DEFAULT.len() + 1);
    }

    #[test]
    fn crash_points_are_asked_for_by_name() {
        assert!(!parse("all").unwrap().faults.contains(&FaultKind::Crash));
        let cases = [
            ("crash", CrashPoint::ALL.to_vec()),
            ("crash:after-vote", vec![CrashPoint::AfterVote]),
            ("kill:leader,crash:after-vote", vec![CrashPoint::AfterVote]),
            ("crash:after-append", vec![CrashPoint::AfterAppend]),
        ];
        for (text, points) in cases {
            let config = parse(text).unwrap();
            assert!(config.faults.contains(&FaultKind::Crash), "{text}");
            assert_eq!(config.crash_points, points, "{text}");
            let plan: Vec<_> = Schedule::new(config).take(40).collect();
            for point in points {
                assert!(
                    plan.iter().any(|f| f.spec == FaultSpec::Crash(point)),
                    "{text}: {plan:?}"
                );
            }
        }
        let err = parse("crash:before-lunch").unwrap_err().to_string();
        assert!(
            err.contains("before-lunch") && err.contains("after-append"),
            "{err}"
        );
        assert_eq!(FaultKind::Crash.start_f(), "crash");
        assert_eq!(FaultKind::Crash.stop_f(), "crash-stop");
    }

    #[test]
    fn packet_faults_are_asked_for_by_name_and_narrowed() {
        assert!(!parse("all").unwrap().faults.contains(&FaultKind::Packet));
        let bare = parse("packet").unwrap();
        assert_eq!(bare.faults, vec![FaultKind::Packet]);
        assert_eq!(bare.packet.faults, PacketFault::DEFAULTS.to_vec());
        assert_eq!(bare.packet.targets, Target::DEFAULT.to_vec());
        assert!(!bare.packet.all_traffic);
        let narrow =
            parse("packet:delay=100ms~20ms,packet:all,packet:loss=5%,packet:all-traffic").unwrap();
        assert_eq!(
            narrow.packet.faults,
            vec![
                PacketFault::Delay {
                    delay_us: 100_000,
                    jitter_us: 20_000
                },
                PacketFault::Loss { ppm: 50_000 }
            ]
        );
        assert_eq!(narrow.packet.targets, vec![Target::All]);
        assert!(narrow.packet.all_traffic);
        let plan: Vec<_> = Schedule::new(narrow).take(20).collect();
        assert!(plan
            .iter()
            .all(|f| matches!(f.spec, FaultSpec::Packet(_, Target::All))));
        assert!(plan
            .iter()
            .any(|f| matches!(f.spec, FaultSpec::Packet(PacketFault::Loss { .. }, _))));
        // Only a target named: every packet fault on it.
        let leader = parse("packet:leader").unwrap();
        assert_eq!(leader.packet.faults, PacketFault::DEFAULTS.to_vec());
        assert_eq!(leader.packet.targets, vec![Target::Leader]);
        for (bad, culprit) in [
            ("packet:loss=150%", "over 100%"),
            ("packet:delay=-5ms", "negative"),
            ("packet:jitter", "unknown packet fault `jitter`"),
            ("packets", "unknown fault `packets`"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(culprit), "{bad}: {err}");
        }
        assert_eq!(FaultKind::Packet.start_f(), "packet");
        assert_eq!(FaultKind::Packet.stop_f(), "packet-stop");
    }

    #[test]
    fn disk_faults_are_asked_for_by_name_and_narrowed_by_mode_or_target() {
        assert!(!parse("all").unwrap().faults.contains(&FaultKind::Disk));
        let bare = parse("disk").unwrap();
        assert_eq!(bare.faults, vec![FaultKind::Disk]);
        assert_eq!(bare.disk_modes, DiskMode::ALL.to_vec());
        assert_eq!(bare.disk_targets, Target::DEFAULT.to_vec());
        let one = parse("disk:lose-unsynced").unwrap();
        assert_eq!(one.disk_modes, vec![DiskMode::LoseUnsynced]);
        assert_eq!(one.disk_targets, Target::DEFAULT.to_vec());
        let narrowed = parse("disk:torn,disk:leader,kill").unwrap();
        assert_eq!(narrowed.disk_modes, vec![DiskMode::Torn]);
        assert_eq!(narrowed.disk_targets, vec![Target::Leader]);
        let plan: Vec<_> = Schedule::new(narrowed).take(40).collect();
        let disks: Vec<_> = plan
            .iter()
            .filter_map(|f| match f.spec {
                FaultSpec::Disk(d) => Some(d),
                _ => None,
            })
            .collect();
        assert!(!disks.is_empty(), "{plan:?}");
        assert!(disks
            .iter()
            .all(|d| d.mode == DiskMode::Torn && d.target == Target::Leader));
        let every = parse("disk,disk:fsync-eio").unwrap();
        assert_eq!(every.disk_modes.len(), DiskMode::ALL.len());
        let plan: Vec<_> = Schedule::new(every).take(3).collect();
        let modes: std::collections::HashSet<_> = plan
            .iter()
            .filter_map(|f| match f.spec {
                FaultSpec::Disk(d) => Some(d.mode),
                _ => None,
            })
            .collect();
        assert_eq!(modes.len(), 3, "each mode comes once per round: {plan:?}");
        let err = parse("disk:melt").unwrap_err().to_string();
        assert!(
            err.contains("melt") && err.contains("lose-unsynced"),
            "{err}"
        );
        assert_eq!(FaultKind::Disk.start_f(), "disk");
        assert_eq!(FaultKind::Disk.stop_f(), "disk-stop");
    }

    #[test]
    fn clock_faults_are_asked_for_by_name_and_narrowed_by_mode_or_target() {
        assert!(!parse("all").unwrap().faults.contains(&FaultKind::Clock));
        let config = parse("clock").unwrap();
        assert_eq!(config.faults, vec![FaultKind::Clock]);
        assert_eq!(config.clock_modes, ClockMode::ALL.to_vec());
        assert_eq!(config.clock_targets, Target::DEFAULT.to_vec());
        let narrowed = parse("clock:strobe,clock:jump,clock:leader,kill").unwrap();
        assert_eq!(
            narrowed.clock_modes,
            vec![ClockMode::Strobe, ClockMode::Jump]
        );
        assert_eq!(narrowed.clock_targets, vec![Target::Leader]);
        let plan: Vec<_> = Schedule::new(narrowed).take(60).collect();
        for mode in [ClockMode::Strobe, ClockMode::Jump] {
            assert!(
                plan.iter()
                    .any(|f| f.spec == FaultSpec::Clock(mode, Target::Leader)),
                "{mode:?}"
            );
        }
        assert!(!plan.iter().any(|f| matches!(
            f.spec,
            FaultSpec::Clock(ClockMode::Skew, _) | FaultSpec::Clock(_, Target::All)
        )));
        let every_mode = parse("clock:one").unwrap();
        assert_eq!(every_mode.clock_modes, ClockMode::ALL.to_vec());
        let err = parse("clock:sideways").unwrap_err().to_string();
        assert!(
            err.contains("sideways") && err.contains("strobe") && err.contains("leader"),
            "{err}"
        );
        assert_eq!(FaultKind::Clock.stop_f(), "clock-stop");
    }
}
