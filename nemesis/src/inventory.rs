//! The inventory of remote hosts (`faultline test --hosts ssh --inventory FILE`): a
//! TOML file with an `[ssh]` table of defaults and one `[[host]]` table per machine.
//!
//! ```toml
//! [ssh]                       # defaults for every host
//! user = "root"               # default: ssh's (the configuration, else the current user)
//! port = 22
//! identity = "/path/to/key"   # default: the user's ssh configuration and agent
//! strict_host_key_checking = true
//! remote_dir = "/var/lib/faultline"   # where binaries, data and logs go on the host
//! [[host]]
//! name = "n1"                 # node name used in histories and reports
//! address = "10.0.0.11"       # what ssh connects to, and (unless peer_address) what peers use
//! # peer_address = "..."      # optional: the address other nodes reach it on
//! ```
//!
//! A `[[host]]` may override any `[ssh]` key for itself; `known_hosts` (a file used
//! instead of the user's) is accepted in both. Other keys are allowed and ignored. A
//! file that is not valid TOML, or misses a required key, is an error naming the file,
//! line and column; duplicate names and addresses that do not resolve are errors
//! naming the host.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ssh::Target;

/// One host of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHost {
    /// How ssh reaches it.
    pub target: Target,
    /// The address other nodes reach it on (and partitions cut).
    pub peer: IpAddr,
}

/// The keys of `[ssh]`, also allowed in each `[[host]]`.
#[derive(Debug, Clone, Default, Deserialize)]
struct SshKeys {
    user: Option<String>,
    port: Option<u16>,
    identity: Option<PathBuf>,
    strict_host_key_checking: Option<bool>,
    known_hosts: Option<PathBuf>,
    remote_dir: Option<PathBuf>,
}

/// One `[[host]]` table.
#[derive(Debug, Deserialize)]
struct HostTable {
    name: String,
    address: String,
    peer_address: Option<String>,
    #[serde(flatten)]
    ssh: SshKeys,
}

/// The whole file.
#[derive(Debug, Deserialize)]
struct InventoryFile {
    #[serde(default)]
    ssh: SshKeys,
    #[serde(default)]
    host: Vec<HostTable>,
}

/// Where `remote_dir` defaults to.
const DEFAULT_REMOTE_DIR: &str = "/var/lib/faultline";

/// Reads and checks an inventory file.
pub fn load(path: &Path) -> Result<Vec<RemoteHost>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading inventory {}", path.display()), e))?;
    parse(path, &text)
}

/// Parses the text of an inventory (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<RemoteHost>> {
    let file: InventoryFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| line_column(text, span.start));
        Error::Unsupported(format!(
            "inventory {}, line {line}, column {column}: {}",
            path.display(),
            e.message()
        ))
    })?;
    let bad = |what: String| Error::Unsupported(format!("inventory {}: {what}", path.display()));
    if file.host.is_empty() {
        return Err(bad("no [[host]] tables: list at least one host".into()));
    }
    let mut hosts: Vec<RemoteHost> = Vec::new();
    for (i, h) in file.host.into_iter().enumerate() {
        let which = format!("host {:?} (the [[host]] table number {})", h.name, i + 1);
        if h.name.is_empty()
            || !h
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(format!(
                "{which}: a name is letters, digits, '-' and '_'"
            )));
        }
        if hosts.iter().any(|o| o.target.name == h.name) {
            return Err(bad(format!("{which}: the name is used twice")));
        }
        let pick = |own: &Option<PathBuf>, default: &Option<PathBuf>| {
            own.clone()
                .or_else(|| default.clone())
                .map(|p| expand_home(&p))
        };
        let port = h.ssh.port.or(file.ssh.port).unwrap_or(22);
        let peer_text = h.peer_address.clone().unwrap_or_else(|| h.address.clone());
        let peer = resolve(&peer_text, port).ok_or_else(|| {
            bad(format!(
                "{which}: cannot resolve {peer_text:?} to an address"
            ))
        })?;
        if hosts.iter().any(|o| o.peer == peer) {
            return Err(bad(format!("{which}: peer address {peer} is used twice")));
        }
        let remote_dir = pick(&h.ssh.remote_dir, &file.ssh.remote_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_REMOTE_DIR));
        if !remote_dir.is_absolute() {
            return Err(bad(format!("{which}: remote_dir must be an absolute path")));
        }
        hosts.push(RemoteHost {
            target: Target {
                name: h.name,
                address: h.address,
                user: h.ssh.user.or_else(|| file.ssh.user.clone()),
                port,
                identity: pick(&h.ssh.identity, &file.ssh.identity),
                strict_host_key_checking: h
                    .ssh
                    .strict_host_key_checking
                    .or(file.ssh.strict_host_key_checking)
                    .unwrap_or(true),
                known_hosts: pick(&h.ssh.known_hosts, &file.ssh.known_hosts),
                remote_dir,
            },
            peer,
        });
    }
    Ok(hosts)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// `~/x` as `$HOME/x`.
fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// An address, or the first address a name resolves to.
fn resolve(text: &str, port: u16) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    (text, port).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[ssh]                       # defaults for every host
user = "root"
port = 2222
identity = "/keys/id"
strict_host_key_checking = true
remote_dir = "/var/lib/faultline"
comment = "other keys are allowed"
[[host]]
name = "n1"
address = "10.0.0.11"
[[host]]
name = "n2"
address = "10.0.0.12"
peer_address = "192.168.5.12"
port = 22
"#;

    #[test]
    fn the_documented_shape_parses_with_defaults_and_overrides() {
        let hosts = parse(Path::new("inv.toml"), EXAMPLE).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].target.user.as_deref(), Some("root"));
        assert_eq!(hosts[0].target.port, 2222);
        assert_eq!(hosts[0].peer, "10.0.0.11".parse::<IpAddr>().unwrap());
        assert_eq!(hosts[1].target.port, 22);
        assert_eq!(hosts[1].target.address, "10.0.0.12");
        assert_eq!(hosts[1].peer, "192.168.5.12".parse::<IpAddr>().unwrap());
        assert_eq!(hosts[1].target.identity, Some(PathBuf::from("/keys/id")));
        let minimal = parse(
            Path::new("m.toml"),
            "[[host]]\nname = \"a\"\naddress = \"10.1.1.1\"\n",
        )
        .unwrap();
        assert_eq!(minimal[0].target.user, None);
        assert_eq!(
            minimal[0].target.remote_dir,
            PathBuf::from(DEFAULT_REMOTE_DIR)
        );
        assert!(minimal[0].target.strict_host_key_checking);
    }

    #[test]
    fn malformed_files_name_file_line_and_column() {
        let err = parse(Path::new("inv.toml"), "[ssh]\nport = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("inv.toml, line 2, column 8"), "{err}");
        let err = parse(
            Path::new("inv.toml"),
            "[[host]]\nname = \"n1\"\naddress = \n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("inv.toml, line 3"), "{err}");
        let err = parse(Path::new("inv.toml"), "[[host]]\nname = \"n1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("address"), "{err}");
        let err = parse(Path::new("inv.toml"), "[ssh]\nuser = \"root\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no [[host]]"), "{err}");
        let dup = "[[host]]\nname = \"n1\"\naddress = \"10.0.0.1\"\n[[host]]\nname = \"n1\"\naddress = \"10.0.0.2\"\n";
        let err = parse(Path::new("inv.toml"), dup).unwrap_err().to_string();
        assert!(
            err.contains("used twice") && err.contains("number 2"),
            "{err}"
        );
    }
}
