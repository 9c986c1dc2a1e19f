//! Preflight: before a run starts, refuse a fault this machine cannot inject and say
//! what to install or how to run instead. Kill and pause only signal processes the
//! run started itself and always work; partitions need root (network namespaces and
//! iptables inside them), `ip` from iproute2 and `iptables`; clock faults need
//! libfaketime and nodes on this machine (SSH hosts are refused: changing a remote
//! host's own clock is not built).
//!
//! Tests ask the same question through [`test_can_run`]: what a test needs that the
//! machine lacks makes it fail under `CI=true` (CI installs everything, so a missing
//! tool there is a broken CI, never a pass) and skip, saying why, elsewhere.

use crate::host::HostMode;
use crate::process;
use crate::schedule::FaultKind;
use crate::sys;

/// `Ok` when every requested fault can be injected here, else the reason and the fix.
pub fn check_capabilities(faults: &[FaultKind]) -> Result<(), String> {
    if faults.contains(&FaultKind::Disk) {
        crate::disk::check_capable()?;
    }
    if faults.contains(&FaultKind::Clock) {
        crate::clock::find_library()?;
    }
    if !faults.contains(&FaultKind::Partition) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !process::is_root() {
        missing.push(
            "root (network namespaces and iptables rules need it): run faultline as root, \
             or drop `partition` from --nemesis"
                .to_string(),
        );
    }
    if !sys::has_program("ip") {
        missing.push("the `ip` command: apt-get install -y iproute2".to_string());
    }
    if !sys::has_program("iptables") {
        missing.push("the `iptables` command: apt-get install -y iptables".to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the partition fault cannot run on this machine; it needs {}",
            missing.join("; and ")
        ))
    }
}

/// Like [`check_capabilities`], for a run whose hosts are already chosen: loopback
/// hosts share one network stack and cannot be partitioned at all; SSH hosts are
/// checked on the hosts themselves, not here.
pub fn check_capabilities_on(faults: &[FaultKind], mode: HostMode) -> Result<(), String> {
    if mode == HostMode::Ssh && faults.contains(&FaultKind::Disk) {
        return Err(
            "the disk fault runs on this machine's hosts only (loopback or namespaces): \
             the lazy filesystem is mounted here, not on SSH hosts"
                .to_string(),
        );
    }
    if mode == HostMode::Ssh && faults.contains(&FaultKind::Clock) {
        return Err(
            "the clock fault cannot run on SSH hosts yet: faultline fakes each node's clock \
             with libfaketime in node processes on this machine, and changing a remote \
             host's own clock is not built; drop `clock` from --nemesis or use namespace \
             or loopback hosts"
                .to_string(),
        );
    }
    if mode == HostMode::Ssh {
        return Ok(()); // the hosts' own preflight checks them (`Network::create_ssh`)
    }
    if mode == HostMode::Loopback && faults.contains(&FaultKind::Partition) {
        return Err(
            "the partition fault needs namespace hosts (one network namespace per node, as \
             root); loopback hosts share one network stack and cannot be partitioned"
                .to_string(),
        );
    }
    check_capabilities(faults)
}

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Running as root.
    Root,
    /// A program on `PATH` (`ip`, `iptables`, `chromium`, ...).
    Program(&'static str),
    /// Creating a network namespace (root without CAP_NET_ADMIN, as in some
    /// containers, cannot).
    Namespaces,
    /// libfaketime, for clock faults.
    Faketime,
}

impl Need {
    /// What is missing, and how to get it; `None` when the machine has it.
    fn missing(self) -> Option<String> {
        match self {
            Need::Root if process::is_root() => None,
            Need::Root => Some("root (network namespaces and iptables need it)".to_string()),
            Need::Program(p) if sys::has_program(p) => None,
            Need::Program(p) => Some(format!(
                "the `{p}` program on PATH (scripts/setup.sh --with-browser installs it)"
            )),
            Need::Faketime => crate::clock::find_library().err(),
            Need::Namespaces => {
                // Tests of one binary probe at once: each probe needs its own name.
                static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let probe = format!("flprobe-{}-{n}", std::process::id());
                match sys::run("ip", &["netns", "add", &probe], None) {
                    Ok(_) => {
                        let _ = sys::run("ip", &["netns", "del", &probe], None);
                        None
                    }
                    Err(e) => Some(format!("a network namespace ({e})")),
                }
            }
        }
    }
}

/// Whether this machine gives the calling test everything in `needs` (checked in
/// order; the first missing one decides). When something is missing: under `CI=true`
/// panics, naming the test (its thread's name) and what is missing; otherwise prints
/// that the test is skipped and why, and returns `false`.
pub fn test_can_run(needs: &[Need]) -> bool {
    let thread = std::thread::current();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match unmet(thread.name().unwrap_or("this test"), needs, in_ci) {
        Ok(None) => true,
        Ok(Some(skipped)) => {
            eprintln!("{skipped}");
            false
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// `Ok(None)` when nothing is missing, `Ok(Some(why skipped))` outside CI, and
/// `Err(why failed)` in CI.
fn unmet(test: &str, needs: &[Need], in_ci: bool) -> Result<Option<String>, String> {
    match needs.iter().find_map(|n| n.missing()) {
        None => Ok(None),
        Some(missing) if in_ci => Err(format!(
            "{test} needs {missing}, which is missing; under CI=true a test must not pass \
             by skipping"
        )),
        Some(missing) => Ok(Some(format!("SKIPPED {test}: needs {missing}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_need_nothing() {
        assert_eq!(
            check_capabilities(&[FaultKind::Kill, FaultKind::Pause]),
            Ok(())
        );
        let signals = [FaultKind::Kill, FaultKind::Pause];
        assert_eq!(check_capabilities_on(&signals, HostMode::Loopback), Ok(()));
    }

    #[test]
    fn loopback_hosts_cannot_be_partitioned() {
        let err = check_capabilities_on(&FaultKind::ALL, HostMode::Loopback).unwrap_err();
        assert!(err.contains("namespace hosts"), "{err}");
    }

    #[test]
    fn clock_faults_need_libfaketime_and_local_nodes() {
        let err = check_capabilities_on(&[FaultKind::Clock], HostMode::Ssh).unwrap_err();
        assert!(err.contains("SSH hosts"), "{err}");
        let local = check_capabilities_on(&[FaultKind::Clock], HostMode::Loopback);
        match crate::clock::find_library() {
            Ok(_) => assert_eq!(local, Ok(())),
            Err(why) => assert_eq!(local, Err(why)),
        }
    }

    #[test]
    fn partition_verdict_matches_the_machine() {
        let able = process::is_root() && sys::has_program("ip") && sys::has_program("iptables");
        match check_capabilities(&[FaultKind::Partition]) {
            Ok(()) => assert!(able),
            Err(why) => {
                assert!(!able);
                assert!(why.contains("partition"), "{why}");
            }
        }
    }

    #[test]
    fn a_missing_program_skips_outside_ci_and_fails_under_ci() {
        let needs = [
            Need::Program("sh"),
            Need::Program("faultline-no-such-program"),
        ];
        let skipped = unmet("t1", &needs, false).unwrap().unwrap();
        assert!(
            skipped.starts_with("SKIPPED t1: needs the `faultline-no-such-program`"),
            "{skipped}"
        );
        let failed = unmet("t1", &needs, true).unwrap_err();
        assert!(
            failed.starts_with("t1 needs the `faultline-no-such-program` program"),
            "{failed}"
        );
        assert_eq!(
            unmet("t1", &needs[..1], true),
            Ok(None),
            "sh is always there"
        );
        assert!(test_can_run(&needs[..1]));
    }
}
