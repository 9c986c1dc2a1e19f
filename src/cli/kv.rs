//! `faultline kv`: a command-line client of raftkv (its etcdctl).
//!
//! It follows leader hints across `--endpoints`, prints results plainly and
//! exits 0 on success, 1 when a key is absent or a CAS did not hold, and 3 on
//! errors, whose message says whether the operation was certainly rejected or
//! its outcome is unknown. `status` follows the verdict contract: 0 when every
//! endpoint answered, 2 when only some did (the cluster's state is partly unknown),
//! 3 when none did. Endpoints are checked before anything is sent (a usage error names the bad one),
//! and when every node refuses the connection the message says so and suggests
//! `faultline cluster`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use raftkv::client::{ClientError, KvClient};

/// The exit codes of `faultline kv`, shown by its `--help`.
pub const KV_EXIT_CODES: &str = "Exit codes: 0 done, 1 the key is absent or the CAS did not hold, \
3 error (the message says whether the operation certainly did not happen or its outcome is \
unknown). status: 0 every endpoint answered, 2 only some did, 3 none did.";

/// Flags of `faultline kv`.
#[derive(clap::Args, Debug)]
pub struct KvArgs {
    /// Node addresses, comma-separated (HOST:PORT,...; an `http://` prefix is allowed).
    #[arg(long, default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")]
    pub endpoints: String,
    /// Deadline of the operation, retries included, e.g. 5000, 5s (plain numbers are
    /// milliseconds).
    #[arg(long, default_value = "5000", value_parser = super::units::parse_millis)]
    pub timeout_ms: u64,
    /// The operation.
    #[command(subcommand)]
    pub op: KvOp,
}

/// One key-value operation.
#[derive(clap::Subcommand, Debug)]
pub enum KvOp {
    /// Print the value of KEY (linearizable unless --serializable).
    Get {
        /// The key.
        key: String,
        /// Read one node's local state without confirming leadership.
        #[arg(long)]
        serializable: bool,
    },
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove KEY.
    Delete {
        /// The key.
        key: String,
    },
    /// Set KEY to NEW if it holds --expected (or is absent when --expected is not given).
    Cas {
        /// The key.
        key: String,
        /// The new value.
        new: String,
        /// The value KEY must hold; omit to require that KEY is absent.
        #[arg(long)]
        expected: Option<String>,
    },
    /// Append VALUE to the value of KEY.
    Append {
        /// The key.
        key: String,
        /// The bytes to append.
        value: String,
    },
    /// Print every endpoint's view of the cluster.
    Status,
}

/// Runs one operation.
pub fn run(args: KvArgs) -> anyhow::Result<u8> {
    let endpoints = parse_endpoints(&args.endpoints)?;
    let client = KvClient::new(endpoints.clone(), fresh_client_id())
        .context("--endpoints")?
        .with_timeout(Duration::from_millis(args.timeout_ms));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let endpoint_list = endpoints.join(",");
    let outcome: anyhow::Result<u8> = runtime.block_on(async move {
        match args.op {
            KvOp::Get { key, serializable } => match client.get(key.as_bytes(), serializable).await? {
                Some(value) => {
                    println!("{}", String::from_utf8_lossy(&value));
                    Ok(0)
                }
                None => {
                    eprintln!("{key}: not found");
                    Ok(1)
                }
            },
            KvOp::Put { key, value } => {
                client.put(key.as_bytes(), value.as_bytes()).await?;
                println!("OK");
                Ok(0)
            }
            KvOp::Delete { key } => {
                client.delete(key.as_bytes()).await?;
                println!("OK");
                Ok(0)
            }
            KvOp::Append { key, value } => {
                client.append(key.as_bytes(), value.as_bytes()).await?;
                println!("OK");
                Ok(0)
            }
            KvOp::Cas { key, new, expected } => {
                if client.cas(key.as_bytes(), expected.as_deref().map(str::as_bytes), new.as_bytes()).await? {
                    println!("OK");
                    Ok(0)
                } else {
                    println!("FAILED: {key} did not hold the expected value");
                    Ok(1)
                }
            }
            KvOp::Status => {
                let mut answered = 0;
                let mut refused = 0;
                for endpoint in &endpoints {
                    match client.status(endpoint).await {
                        Ok(s) => {
                            answered += 1;
                            println!(
                            "{endpoint} {} role={} term={} leader={} leader_addr={} commit={} applied={} last={}",
                            s.node_id,
                            s.role,
                            s.term,
                            if s.leader_id.is_empty() { "none" } else { &s.leader_id },
                            if s.leader_addr.is_empty() { "none" } else { &s.leader_addr },
                            s.commit_index,
                            s.applied_index,
                            s.last_log_index
                            )
                        }
                        Err(e) => {
                            refused += usize::from(is_refusal(&e));
                            println!("{endpoint} unreachable ({e})");
                        }
                    }
                }
                if refused == endpoints.len() {
                    eprintln!("{}", no_cluster_hint(&endpoints.join(",")));
                }
                match answered {
                    0 => {
                        eprintln!("error: none of the {} endpoints answered", endpoints.len());
                        Ok(3)
                    }
                    n if n < endpoints.len() => {
                        eprintln!("{n} of {} endpoints answered", endpoints.len());
                        Ok(2)
                    }
                    _ => Ok(0),
                }
            }
        }
    });
    outcome.map_err(|e| match e.downcast_ref::<ClientError>() {
        Some(c) if is_refusal(c) => anyhow::anyhow!("{c}\n{}", no_cluster_hint(&endpoint_list)),
        _ => e,
    })
}

/// Splits and checks `--endpoints`: each must be `HOST:PORT` with a port in 1..=65535
/// and a host that resolves, so a typo is a usage error rather than a network one.
fn parse_endpoints(text: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for raw in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let endpoint = raw.strip_prefix("http://").unwrap_or(raw);
        let usage = |why: &str| {
            anyhow::anyhow!(
                "--endpoints: {raw:?} {why}; expected HOST:PORT[,HOST:PORT...], \
                 e.g. 127.0.0.1:7001,127.0.0.1:7002"
            )
        };
        let port = match endpoint.parse::<SocketAddr>() {
            Ok(addr) => addr.port(),
            Err(_) => {
                let (host, port) = endpoint
                    .rsplit_once(':')
                    .ok_or_else(|| usage("has no port"))?;
                let valid_host = !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !valid_host {
                    return Err(usage("is not a host name or IP address with a port"));
                }
                let resolved = (host, 0).to_socket_addrs().map(|mut a| a.next().is_some());
                if !matches!(resolved, Ok(true)) {
                    return Err(usage(&format!(
                        "names a host that does not resolve ({host})"
                    )));
                }
                port.parse::<u16>().unwrap_or(0)
            }
        };
        if port == 0 {
            return Err(usage("has no valid port (1-65535)"));
        }
        out.push(endpoint.to_string());
    }
    if out.is_empty() {
        bail!("--endpoints: no address given; expected HOST:PORT[,HOST:PORT...]");
    }
    Ok(out)
}

/// Whether every node refused the connection (nothing is listening there).
fn is_refusal(e: &ClientError) -> bool {
    e.is_rejected()
        && e.to_string()
            .to_ascii_lowercase()
            .contains("connection refused")
}

/// What to say when nothing listens at the endpoints.
fn no_cluster_hint(endpoints: &str) -> String {
    format!(
        "no raftkv node accepted a connection at {endpoints} (connection refused): is a \
         cluster running there? Start a local one with `faultline cluster`"
    )
}

/// A client id unlikely to collide with any other invocation's.
fn fresh_client_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 40)
}
