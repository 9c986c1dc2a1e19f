//! Hosts: where each node of the cluster runs, and how a process is started there.
//!
//! Two modes. [`HostMode::Namespaces`] (needs root and `ip` from iproute2): every
//! node gets its own network namespace `fl-<run>-n<i>`, with a veth pair whose root
//! end `flv-<run>-<i>` is enslaved to a bridge `flb-<run>` owned by the controller.
//! Each run picks a free private /24, `10.213.X.0/24`: the bridge (the controller's
//! address) is `.1`, node *i* (1-based) is `.(i+1)`. X is chosen under a lock file
//! (`/run/faultline/net.lock`) from the subnets no interface or route uses yet, so two
//! concurrent runs never collide. The run id is six random hex digits from the OS,
//! deliberately *not* from the test seed: two runs with the same seed must not share
//! interface names. [`HostMode::Loopback`] (no privileges): nodes are plain
//! processes on 127.0.0.1 and the controller gives them distinct ports; faults that
//! need namespaces (partitions) are refused by [`crate::check_capabilities`].
//! [`HostMode::Ssh`]: every node on a remote machine of an inventory
//! ([`crate::inventory`]), reached over SSH ([`crate::ssh`]); its address is the
//! host's peer address, its processes are daemons there, its partitions iptables
//! rules on the host itself. The same [`Host`] methods (spawn, signal, stat, iptables)
//! serve all three modes, so the nemesis and the stores never ask which it is.
//!
//! Every change (bridge, namespace, veth, process) is written to the cleanup
//! [`Journal`] before it is made, so [`Network::teardown`] — or `faultline cleanup`
//! after a crash — removes all of it.

use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::inventory::RemoteHost;
use crate::journal::{Action, CleanupReport, Journal};
use crate::process::ProcStat;
use crate::ssh::Session;
use crate::{process, sys};

/// How nodes are isolated from each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMode {
    /// Plain processes on 127.0.0.1; no partitions possible.
    Loopback,
    /// One network namespace per node on a private bridge; needs root.
    Namespaces,
    /// One remote machine per node, reached over SSH.
    Ssh,
}

impl HostMode {
    /// Namespaces when running as root with `ip` installed, loopback otherwise.
    pub fn auto() -> HostMode {
        if process::is_root() && sys::has_program("ip") {
            HostMode::Namespaces
        } else {
            HostMode::Loopback
        }
    }
}

/// `n` distinct TCP ports on 127.0.0.1 that were free a moment ago: bound together (so
/// they differ), then released for the nodes to take. The one place that picks ports
/// for loopback hosts.
pub fn free_loopback_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Where one node runs.
#[derive(Debug, Clone)]
pub struct Host {
    /// The node's name as the controller calls it (e.g. `n1`).
    pub node: String,
    /// The address the node listens on and peers dial.
    pub ip: IpAddr,
    /// The node's network namespace; `None` in loopback and SSH mode.
    pub namespace: Option<String>,
    /// The connection to the node's remote machine; `None` unless in SSH mode.
    pub ssh: Option<Arc<Session>>,
    /// The run's cleanup journal, where started processes are recorded.
    journal: Arc<Journal>,
}

impl Host {
    /// Starts `cmd` on this host: inside its namespace (if any), in a new process
    /// group, stdin from /dev/null, stdout and stderr appended to `log`. The process is
    /// recorded in the journal; the returned handle's pid is the program's own pid.
    /// On an SSH host the program is first uploaded (unless the host has the same
    /// file already) and `log` is a path on the host; the pid file next to it is
    /// journaled before the daemon starts.
    pub fn spawn(&self, cmd: Command, log: &Path) -> Result<NodeProcess> {
        match &self.ssh {
            Some(session) => self.spawn_remote(session, &cmd, log),
            None => self.spawn_local(cmd, log),
        }
    }

    /// [`Host::spawn`] on an SSH host.
    fn spawn_remote(
        &self,
        session: &Arc<Session>,
        cmd: &Command,
        log: &Path,
    ) -> Result<NodeProcess> {
        let program = session.uploaded(Path::new(cmd.get_program()))?;
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let pid_file = crate::ssh::pid_file(log);
        let journal_id = self.journal.record(Action::RemoteProcess {
            host: session.target().clone(),
            pid_file,
            label: self.node.clone(),
        })?;
        let (pid, start_time) = session.spawn(&program, &args, log)?;
        Ok(NodeProcess {
            handle: Handle::Remote {
                session: Arc::clone(session),
                pid,
            },
            start_time,
            journal: Arc::clone(&self.journal),
            journal_id,
            reaped: false,
        })
    }

    /// [`Host::spawn`] on this machine.
    fn spawn_local(&self, mut cmd: Command, log: &Path) -> Result<NodeProcess> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("opening log {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("duplicating log {}", log.display()), e))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if let Some(ns) = &self.namespace {
            sys::enter_netns(&mut cmd, ns)?;
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("starting {program} for node {}", self.node), e))?;
        let pid = child.id() as i32;
        // Not yet reaped, so /proc/PID exists even if it already exited.
        let start_time = process::start_time(pid).unwrap_or(0);
        let journal_id = self.journal.record(Action::Process {
            pid,
            start_time,
            label: self.node.clone(),
        });
        let journal_id = match journal_id {
            Ok(id) => id,
            Err(e) => {
                let _ = process::send_signal(pid, Signal::SIGKILL);
                return Err(e);
            }
        };
        Ok(NodeProcess {
            handle: Handle::Local(child),
            start_time,
            journal: Arc::clone(&self.journal),
            journal_id,
            reaped: false,
        })
    }
}

impl Host {
    /// The `/proc/PID/stat` fields of a process on this host; `None` when it is gone.
    /// `Err` only when an SSH host cannot be asked.
    pub fn stat(&self, pid: i32) -> Result<Option<ProcStat>> {
        match &self.ssh {
            Some(session) => session.stat(pid),
            None => Ok(process::proc_stat(pid)),
        }
    }

    /// True when the process that started at `start_time` still runs (not a zombie).
    pub fn is_same_process(&self, pid: i32, start_time: u64) -> Result<bool> {
        Ok(self
            .stat(pid)?
            .is_some_and(|s| s.start_time == start_time && s.state != 'Z'))
    }

    /// Sends `sig` to the process (its group when it leads one); gone is not an error.
    pub fn signal(&self, pid: i32, sig: Signal) -> Result<()> {
        match &self.ssh {
            Some(session) => session.signal(pid, sig),
            None => process::send_signal(pid, sig),
        }
    }

    /// SIGKILLs the process that started at `start_time` and waits until it is gone.
    pub fn kill_confirmed(&self, pid: i32, start_time: u64) -> Result<()> {
        match &self.ssh {
            Some(session) => session.kill_confirmed(pid, start_time),
            None => process::kill_confirmed(pid, start_time),
        }
    }

    /// Where this host's iptables rules live, for messages: its namespace or its
    /// remote machine; `None` for a loopback host, which cannot hold one.
    pub fn rule_place(&self) -> Option<String> {
        match (&self.ssh, &self.namespace) {
            (Some(session), _) => Some(format!("host {}", session.target())),
            (None, Some(ns)) => Some(ns.clone()),
            (None, None) => None,
        }
    }

    /// The journal record of an iptables rule on this host.
    pub fn rule_action(&self, args: &[String]) -> Action {
        match &self.ssh {
            Some(session) => Action::RemoteRule {
                host: session.target().clone(),
                args: args.to_vec(),
            },
            None => Action::Rule {
                namespace: self.namespace.clone(),
                args: args.to_vec(),
            },
        }
    }

    /// Adds an iptables rule (`-A <args>`) on this host: in its namespace, or on its
    /// remote machine.
    pub fn add_rule(&self, args: &[String]) -> Result<()> {
        let mut full = vec!["-A"];
        full.extend(args.iter().map(String::as_str));
        match &self.ssh {
            Some(session) => session.iptables(&full).map(drop),
            None => {
                full.insert(0, "-w");
                sys::run("iptables", &full, self.namespace.as_deref()).map(drop)
            }
        }
    }

    /// The journal record of a SIGSTOP of a process on this host.
    pub fn paused_action(&self, pid: i32, start_time: u64) -> Action {
        match &self.ssh {
            Some(session) => Action::RemotePaused {
                host: session.target().clone(),
                pid,
                start_time,
            },
            None => Action::Paused { pid, start_time },
        }
    }

    /// Creates a node's folder (on the remote machine for an SSH host).
    pub fn make_dir(&self, dir: &Path) -> Result<()> {
        match &self.ssh {
            Some(session) => session.make_dir(dir),
            None => std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e)),
        }
    }

    /// The last `lines` lines of a file on this host, each prefixed with `  | `.
    pub fn tail(&self, path: &Path, lines: usize) -> String {
        let text = match &self.ssh {
            Some(session) => session.tail(path, lines),
            None => std::fs::read_to_string(path).map_err(|e| Error::io("reading", e)),
        };
        match text {
            Ok(text) => sys::last_lines(&text, lines),
            Err(e) => format!("  (cannot read {}: {e})", path.display()),
        }
    }
}

/// How a [`NodeProcess`] is reached.
#[derive(Debug)]
enum Handle {
    /// Our child on this machine.
    Local(Child),
    /// A daemon on a remote machine.
    Remote {
        /// The connection to its host.
        session: Arc<Session>,
        /// Its pid there (also its session and process group id).
        pid: i32,
    },
}

/// How a node process ended.
#[derive(Debug, Clone, Copy)]
pub enum Exit {
    /// Our child exited with this status.
    Status(ExitStatus),
    /// A remote daemon is no longer running (its status stays on its host).
    Gone,
}

impl Exit {
    /// The signal that ended our child, if one did (`None` for a remote daemon).
    pub fn signal(&self) -> Option<i32> {
        match self {
            Exit::Status(status) => std::os::unix::process::ExitStatusExt::signal(status),
            Exit::Gone => None,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Status(status) => write!(f, "{status}"),
            Exit::Gone => write!(f, "no longer running on its host"),
        }
    }
}

/// A process started on a [`Host`]. Dropping the handle leaves the process running
/// (the journal still lists it); call [`NodeProcess::kill`] or [`NodeProcess::wait`].
#[derive(Debug)]
pub struct NodeProcess {
    /// The child, or the remote daemon.
    handle: Handle,
    /// Its start time from `/proc/PID/stat`.
    start_time: u64,
    /// The journal that lists it.
    journal: Arc<Journal>,
    /// Its journal record.
    journal_id: u64,
    /// Whether it has been waited for (and its record closed).
    reaped: bool,
}

impl NodeProcess {
    /// The process id (also its process group id).
    pub fn pid(&self) -> i32 {
        match &self.handle {
            Handle::Local(child) => child.id() as i32,
            Handle::Remote { pid, .. } => *pid,
        }
    }

    /// Start time from `/proc/PID/stat`, which with the pid identifies the process.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// Returns how the process ended if it has (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Result<Option<Exit>> {
        let pid = self.pid();
        let exit = match &mut self.handle {
            Handle::Local(child) => child
                .try_wait()
                .map_err(|e| Error::io(format!("waiting for pid {pid}"), e))?
                .map(Exit::Status),
            Handle::Remote { session, pid } => {
                (!session.is_same_process(*pid, self.start_time)?).then_some(Exit::Gone)
            }
        };
        if exit.is_some() {
            self.mark_reaped()?;
        }
        Ok(exit)
    }

    /// Waits for the process to exit and reaps it (a remote one: waits up to
    /// [`sys::REMOVAL_GRACE`], then says it still runs).
    pub fn wait(&mut self) -> Result<Exit> {
        let pid = self.pid();
        let exit = match &mut self.handle {
            Handle::Local(child) => Exit::Status(
                child
                    .wait()
                    .map_err(|e| Error::io(format!("waiting for pid {pid}"), e))?,
            ),
            Handle::Remote { session, pid } => {
                session.confirm_gone(*pid, self.start_time, "running")?;
                Exit::Gone
            }
        };
        self.mark_reaped()?;
        Ok(exit)
    }

    /// SIGKILLs the process group (resuming is not needed: SIGKILL ends stopped
    /// processes too), waits for it and closes its journal record.
    pub fn kill(&mut self) -> Result<Exit> {
        if !self.reaped {
            match &self.handle {
                Handle::Local(_) => process::send_signal(self.pid(), Signal::SIGKILL)?,
                Handle::Remote { session, pid } => session.kill_confirmed(*pid, self.start_time)?,
            }
        }
        self.wait()
    }

    /// Closes the journal record once.
    fn mark_reaped(&mut self) -> Result<()> {
        if !self.reaped {
            self.reaped = true;
            self.journal.undone(self.journal_id)?;
        }
        Ok(())
    }
}

/// The hosts of one run and the network joining them.
#[derive(Debug)]
pub struct Network {
    /// Isolation mode.
    mode: HostMode,
    /// Six hex digits naming this run's interfaces and namespaces.
    run_id: String,
    /// One host per node, in the order the nodes were given.
    hosts: Vec<Host>,
    /// The controller's address as nodes see it.
    controller_ip: IpAddr,
    /// The run's cleanup journal.
    journal: Arc<Journal>,
}

impl Network {
    /// Creates one host per node name. In namespace mode this builds the bridge,
    /// namespaces and veths (each journaled first); on error, what was already built
    /// is torn down again.
    pub fn create(journal: Arc<Journal>, nodes: &[String], mode: HostMode) -> Result<Network> {
        assert!(!nodes.is_empty(), "a network needs at least one node");
        let run_id = new_run_id();
        match mode {
            HostMode::Loopback => {
                let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
                let hosts = nodes
                    .iter()
                    .map(|n| Host {
                        node: n.clone(),
                        ip,
                        namespace: None,
                        ssh: None,
                        journal: Arc::clone(&journal),
                    })
                    .collect();
                Ok(Network {
                    mode,
                    run_id,
                    hosts,
                    controller_ip: ip,
                    journal,
                })
            }
            HostMode::Ssh => Err(Error::Unsupported(
                "SSH hosts come from an inventory: use Network::create_ssh".into(),
            )),
            HostMode::Namespaces => {
                if !process::is_root() {
                    return Err(Error::Unsupported(
                        "network namespaces need root; run as root or use loopback hosts".into(),
                    ));
                }
                if nodes.len() > 250 {
                    return Err(Error::Unsupported(format!(
                        "{} nodes do not fit in one /24",
                        nodes.len()
                    )));
                }
                match build_namespaces(&journal, &run_id, nodes) {
                    Ok((hosts, controller_ip)) => Ok(Network {
                        mode,
                        run_id,
                        hosts,
                        controller_ip,
                        journal,
                    }),
                    Err(e) => {
                        let _ = journal.cleanup();
                        Err(e)
                    }
                }
            }
        }
    }

    /// One host per inventory entry, the first `nodes` of them (all when `None`),
    /// each checked by a preflight (in parallel): reachable, root or passwordless
    /// sudo, free disk, and `iptables` when `iptables` is set. Every failing host is
    /// named in the error. Node names are the inventory's host names.
    pub fn create_ssh(
        journal: Arc<Journal>,
        inventory: &[RemoteHost],
        nodes: Option<usize>,
        iptables: bool,
    ) -> Result<Network> {
        let n = nodes.unwrap_or(inventory.len());
        if n == 0 || n > inventory.len() {
            return Err(Error::Unsupported(format!(
                "{n} nodes asked for, but the inventory lists {} hosts",
                inventory.len()
            )));
        }
        let chosen = &inventory[..n];
        let sessions: Vec<Arc<Session>> = chosen
            .iter()
            .map(|h| Arc::new(Session::new(h.target.clone())))
            .collect();
        let failures: Vec<String> = std::thread::scope(|scope| {
            let checks: Vec<_> = sessions
                .iter()
                .map(|s| scope.spawn(move || s.preflight(iptables)))
                .collect();
            checks
                .into_iter()
                .filter_map(|c| match c.join() {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("a preflight check panicked".to_string()),
                })
                .collect()
        });
        if !failures.is_empty() {
            for s in &sessions {
                s.close();
            }
            return Err(Error::Unsupported(format!(
                "preflight of the SSH hosts failed:\n  {}",
                failures.join("\n  ")
            )));
        }
        for session in &sessions {
            session.register();
        }
        let hosts = chosen
            .iter()
            .zip(sessions)
            .map(|(h, session)| Host {
                node: h.target.name.clone(),
                ip: h.peer,
                namespace: None,
                ssh: Some(session),
                journal: Arc::clone(&journal),
            })
            .collect();
        Ok(Network {
            mode: HostMode::Ssh,
            run_id: new_run_id(),
            hosts,
            controller_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            journal,
        })
    }

    /// The isolation mode.
    pub fn mode(&self) -> HostMode {
        self.mode
    }

    /// The run id used in interface and namespace names.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// All hosts, in node order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host of a node.
    pub fn host(&self, node: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.node == node)
    }

    /// The controller's address as the nodes see it (the bridge, or 127.0.0.1).
    pub fn controller_ip(&self) -> IpAddr {
        self.controller_ip
    }

    /// The run's cleanup journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// Undoes everything the journal lists: processes still running, rules, paused
    /// processes, veths, namespaces, the bridge.
    pub fn teardown(&self) -> Result<CleanupReport> {
        let report = self.journal.cleanup();
        for session in self.hosts.iter().filter_map(|h| h.ssh.as_ref()) {
            session.close();
        }
        report
    }
}

/// Six random hex digits not used by any existing interface or namespace.
fn new_run_id() -> String {
    loop {
        let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        if !sys::link_exists(&format!("flb-{id}")) && !sys::netns_exists(&format!("fl-{id}-n1")) {
            return id;
        }
    }
}

/// Builds bridge, namespaces and veths; returns the hosts and the bridge address.
fn build_namespaces(
    journal: &Arc<Journal>,
    run_id: &str,
    nodes: &[String],
) -> Result<(Vec<Host>, IpAddr)> {
    let bridge = format!("flb-{run_id}");
    let x = {
        std::fs::create_dir_all("/run/faultline")
            .map_err(|e| Error::io("creating /run/faultline", e))?;
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/faultline/net.lock")
            .map_err(|e| Error::io("opening /run/faultline/net.lock", e))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Error::io(
                "locking /run/faultline/net.lock",
                std::io::Error::from(errno),
            )
        })?;
        let x = free_subnet(run_id)?;
        let gateway = format!("10.213.{x}.1/24");
        journal.record(Action::Bridge {
            name: bridge.clone(),
        })?;
        sys::run("ip", &["link", "add", &bridge, "type", "bridge"], None)?;
        sys::run("ip", &["addr", "add", &gateway, "dev", &bridge], None)?;
        sys::run("ip", &["link", "set", &bridge, "up"], None)?;
        x
    };
    allow_bridged_forwarding(journal, &bridge)?;
    let mut hosts = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let n = i + 1;
        let ns = format!("fl-{run_id}-n{n}");
        let veth = format!("flv-{run_id}-{n}");
        let peer = format!("flp-{run_id}-{n}");
        let ip = Ipv4Addr::new(10, 213, x, (n + 1) as u8);
        journal.record(Action::Namespace { name: ns.clone() })?;
        sys::run("ip", &["netns", "add", &ns], None)?;
        journal.record(Action::Veth { name: veth.clone() })?;
        sys::run(
            "ip",
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &ns,
            ],
            None,
        )?;
        sys::run("ip", &["link", "set", &veth, "master", &bridge], None)?;
        sys::run("ip", &["link", "set", &veth, "up"], None)?;
        let addr = format!("{ip}/24");
        for args in [
            vec!["-n", &ns, "link", "set", &peer, "name", "eth0"],
            vec!["-n", &ns, "addr", "add", &addr, "dev", "eth0"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
        ] {
            sys::run("ip", &args, None)?;
        }
        hosts.push(Host {
            node: node.clone(),
            ip: IpAddr::V4(ip),
            namespace: Some(ns),
            ssh: None,
            journal: Arc::clone(journal),
        });
    }
    Ok((hosts, IpAddr::V4(Ipv4Addr::new(10, 213, x, 1))))
}

/// With `br_netfilter` loaded, traffic between two ports of a bridge passes the root
/// namespace's FORWARD chain; if its policy drops (as Docker sets it), node-to-node
/// traffic would silently vanish. In that case one ACCEPT rule for our bridge is added
/// (journaled like every other rule).
fn allow_bridged_forwarding(journal: &Journal, bridge: &str) -> Result<()> {
    if !sys::has_program("iptables") {
        return Ok(());
    }
    let Ok(rules) = sys::run("iptables", &["-w", "-S", "FORWARD"], None) else {
        return Ok(());
    };
    if rules.lines().any(|l| l.trim() == "-P FORWARD ACCEPT") {
        return Ok(());
    }
    let args: Vec<String> = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    journal.record(Action::Rule {
        namespace: None,
        args: args.clone(),
    })?;
    let mut full = vec!["-w", "-A"];
    full.extend(args.iter().map(String::as_str));
    sys::run("iptables", &full, None).map(drop)
}

/// A third octet X such that 10.213.X.0/24 is used by no address or route.
fn free_subnet(run_id: &str) -> Result<u8> {
    let mut used = sys::run("ip", &["-o", "-4", "addr", "show"], None)?;
    used.push_str(&sys::run(
        "ip",
        &["-4", "route", "show", "table", "all"],
        None,
    )?);
    let start = u32::from_str_radix(run_id, 16).unwrap_or(0) % 254;
    (0..254u32)
        .map(|k| ((start + k) % 254 + 1) as u8)
        .find(|x| !used.contains(&format!("10.213.{x}.")))
        .ok_or_else(|| Error::Unsupported("no free subnet left in 10.213.0.0/16".into()))
}
