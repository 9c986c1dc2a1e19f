//! The userspace packet delayer: the body of `faultline packet-delay`, started by a
//! packet fault inside a node's network namespace where the kernel has no netem.
//! It binds an NFQUEUE queue (packets only, no payload copied: a verdict needs none),
//! and gives each packet a release time: at once with probability `at_once`, else
//! after `delay` ± `jitter` (uniform, never negative), drawn from a seeded ChaCha8
//! stream. Packets are let go (verdict ACCEPT) when their time comes, whatever order
//! they arrived in, so a jitter wider than the gap between packets reorders them, as
//! it does on a real network. It polls its socket every millisecond; the queue is
//! set to fail open, so a packet the kernel cannot queue passes instead of being lost.
//!
//! SIGTERM (the fault's heal) lets every held packet go at once, releases the queue
//! and exits 0; SIGKILL (a crashed run's cleanup) drops what it held, and the NFQUEUE
//! rules' `--queue-bypass` lets later packets through until the rules are removed.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::DELAYER_READY;

/// How the delayer treats packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The queue to bind.
    pub queue: u16,
    /// Mean hold time.
    pub delay: Duration,
    /// Half-width of the uniform spread around `delay`.
    pub jitter: Duration,
    /// Parts per million of packets let go at once.
    pub at_once_ppm: u32,
    /// Seed of the choices.
    pub seed: u64,
}

/// How long the loop sleeps when nothing is due sooner.
const TICK: Duration = Duration::from_millis(1);

/// Most packets held in the kernel's queue at once.
const QUEUE_MAX: u32 = 65_536;

/// Set by the SIGTERM handler.
static TERMINATE: AtomicBool = AtomicBool::new(false);

/// The SIGTERM handler: only stores to an atomic, which is async-signal-safe.
extern "C" fn on_term(_: nix::libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

/// When a packet is let go, from its arrival: `None` for at once.
pub fn hold_time(params: &Params, rng: &mut ChaCha8Rng) -> Option<Duration> {
    if params.at_once_ppm > 0 && rng.random_range(0..1_000_000) < params.at_once_ppm {
        return None;
    }
    let delay = params.delay.as_micros() as i64;
    let jitter = params.jitter.as_micros() as i64;
    let spread = if jitter > 0 {
        rng.random_range(-jitter..=jitter)
    } else {
        0
    };
    Some(Duration::from_micros((delay + spread).max(0) as u64))
}

/// Runs the delayer until SIGTERM; prints [`DELAYER_READY`] once the queue is held.
pub fn run(params: Params) -> std::io::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_term),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal::sigaction(Signal::SIGTERM, &action) }.map_err(std::io::Error::from)?;
    let mut queue = nfq::Queue::open()?;
    queue.bind(params.queue)?;
    queue.set_copy_range(params.queue, 0)?;
    queue.set_queue_max_len(params.queue, QUEUE_MAX)?;
    queue.set_fail_open(params.queue, true)?;
    queue.set_nonblocking(true);
    println!("{DELAYER_READY} {} ({params:?})", params.queue);
    std::io::stdout().flush()?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut held: BTreeMap<(Instant, u64), nfq::Message> = BTreeMap::new();
    let mut seq = 0u64;
    let (mut passed, mut delayed) = (0u64, 0u64);
    while !TERMINATE.load(Ordering::SeqCst) {
        loop {
            let mut msg = match queue.recv() {
                Ok(msg) => msg,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match hold_time(&params, &mut rng) {
                None => {
                    msg.set_verdict(nfq::Verdict::Accept);
                    queue.verdict(msg)?;
                    passed += 1;
                }
                Some(hold) => {
                    seq += 1;
                    held.insert((Instant::now() + hold, seq), msg);
                    delayed += 1;
                }
            }
        }
        let now = Instant::now();
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let mut msg = entry.remove();
            msg.set_verdict(nfq::Verdict::Accept);
            queue.verdict(msg)?;
        }
        let next = held
            .first_key_value()
            .map_or(TICK, |((at, _), _)| at.saturating_duration_since(now));
        std::thread::sleep(next.min(TICK));
    }
    let left = held.len();
    for (_, mut msg) in held {
        msg.set_verdict(nfq::Verdict::Accept);
        queue.verdict(msg)?;
    }
    queue.unbind(params.queue)?;
    println!(
        "packet-delay: stopped; {delayed} packets held, {passed} let go at once, {left} \
         released at the end"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(delay_ms: u64, jitter_ms: u64, at_once_ppm: u32) -> Params {
        Params {
            queue: 1,
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            at_once_ppm,
            seed: 7,
        }
    }

    #[test]
    fn holds_stay_within_the_jitter_and_spread_over_it() {
        let p = params(100, 20, 0);
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let holds: Vec<Duration> = (0..2000)
            .map(|_| hold_time(&p, &mut rng).unwrap())
            .collect();
        let (lo, hi) = (Duration::from_millis(80), Duration::from_millis(120));
        assert!(holds.iter().all(|h| (lo..=hi).contains(h)), "{holds:?}");
        assert!(holds.iter().any(|h| *h < Duration::from_millis(85)));
        assert!(holds.iter().any(|h| *h > Duration::from_millis(115)));
        // A jitter wider than the delay never gives a negative hold.
        let p = params(5, 20, 0);
        assert!((0..500).all(|_| hold_time(&p, &mut rng).unwrap() <= Duration::from_millis(25)));
    }

    #[test]
    fn the_at_once_share_is_about_right_and_seeded() {
        let p = params(20, 0, 250_000);
        let mut a = ChaCha8Rng::seed_from_u64(p.seed);
        let at_once = (0..10_000)
            .filter(|_| hold_time(&p, &mut a).is_none())
            .count();
        assert!((2_000..3_000).contains(&at_once), "{at_once} of 10000");
        let mut b = ChaCha8Rng::seed_from_u64(1);
        let mut c = ChaCha8Rng::seed_from_u64(1);
        let xs: Vec<_> = (0..100).map(|_| hold_time(&p, &mut b)).collect();
        let ys: Vec<_> = (0..100).map(|_| hold_time(&p, &mut c)).collect();
        assert_eq!(xs, ys, "one seed, one sequence");
    }
}
