//! Preflight: before a run starts, refuse a fault this machine cannot inject and say
//! what to install or how to run instead. Kill and pause only signal processes the
//! run started itself and always work; partitions need root (network namespaces and
//! iptables inside them), `ip` from iproute2 and `iptables`.

use crate::host::HostMode;
use crate::process;
use crate::schedule::FaultKind;
use crate::sys;

/// `Ok` when every requested fault can be injected here, else the reason and the fix.
pub fn check_capabilities(faults: &[FaultKind]) -> Result<(), String> {
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
/// hosts share one network stack and cannot be partitioned at all.
pub fn check_capabilities_on(faults: &[FaultKind], mode: HostMode) -> Result<(), String> {
    if mode == HostMode::Loopback && faults.contains(&FaultKind::Partition) {
        return Err(
            "the partition fault needs namespace hosts (one network namespace per node, as \
             root); loopback hosts share one network stack and cannot be partitioned"
                .to_string(),
        );
    }
    check_capabilities(faults)
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
    fn partition_verdict_matches_the_machine() {
        let able = process::is_root() && sys::has_program("ip") && sys::has_program("iptables");
        match check_capabilities(&FaultKind::ALL) {
            Ok(()) => assert!(able),
            Err(why) => {
                assert!(!able);
                assert!(why.contains("partition"), "{why}");
            }
        }
    }
}
