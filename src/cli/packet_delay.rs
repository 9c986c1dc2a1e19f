//! `faultline packet-delay` (hidden): the userspace packet delayer a `packet` fault
//! starts inside a node's network namespace when the kernel has no netem. It holds
//! each packet of an NFQUEUE queue for its delay and then lets it go; SIGTERM lets
//! everything go and exits. See `nemesis::packet::delayer`; users never run it by hand.

use std::time::Duration;

use anyhow::Context;
use nemesis::packet::delayer::{self, Params};

/// Flags of `faultline packet-delay`.
#[derive(clap::Args, Debug)]
pub struct PacketDelayArgs {
    /// The NFQUEUE queue number to hold.
    #[arg(long)]
    pub queue: u16,
    /// Mean hold time of a packet, in microseconds.
    #[arg(long)]
    pub delay_us: u64,
    /// Half-width of the uniform spread around the delay, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter_us: u64,
    /// Parts per million of packets let go at once (the others overtaken by them).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub at_once_ppm: u32,
    /// Seed of the per-packet choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the delayer until SIGTERM.
pub fn run(args: PacketDelayArgs) -> anyhow::Result<u8> {
    delayer::run(Params {
        queue: args.queue,
        delay: Duration::from_micros(args.delay_us),
        jitter: Duration::from_micros(args.jitter_us),
        at_once_ppm: args.at_once_ppm,
        seed: args.seed,
    })
    .with_context(|| format!("holding NFQUEUE queue {}", args.queue))?;
    Ok(0)
}
