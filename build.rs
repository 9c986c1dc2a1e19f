//! Records the git commit the binary is built from (`FAULTLINE_COMMIT`, shown by
//! `--version` and written into test.json), and compiles etcd's v3 API
//! (`proto/etcd`, a trimmed copy of etcd's protos) into the client of the etcd
//! adapter with a vendored `protoc` (raftkv's protos are compiled by the raftkv crate).
//!
//! A non-empty `FAULTLINE_COMMIT` in the build environment wins (packagers building
//! from a source tarball can pass it); otherwise `git rev-parse` in this source tree;
//! without git, or outside a checkout of this tree, the commit is `unknown` and the
//! build goes on. The script reruns when the checked-out commit moves.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Output of `git ARGS` run in the package folder, trimmed; `None` on any failure.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Whether git's work tree is the one holding this package (not some enclosing repo
/// that a source tarball was unpacked into).
fn checkout_of_this_tree() -> bool {
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    canonical(Path::new(&top)).is_some_and(|t| canonical(&manifest) == Some(t))
}

/// Sets `FAULTLINE_COMMIT` for the crate.
fn record_commit() {
    println!("cargo:rerun-if-env-changed=FAULTLINE_COMMIT");
    let from_env = std::env::var("FAULTLINE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let commit = match from_env {
        Some(c) => c.trim().to_string(),
        None if checkout_of_this_tree() => {
            // HEAD, the branch it names, and packed refs: what moves on a commit or
            // checkout. Only existing files: a missing one would rerun every build.
            let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
            watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
            for name in &watched {
                if let Some(path) = git(&["rev-parse", "--git-path", name]) {
                    if Path::new(&path).exists() {
                        println!("cargo:rerun-if-changed={path}");
                    }
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=FAULTLINE_COMMIT={commit}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    record_commit();
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Build scripts run single-threaded; PROTOC is how prost-build finds protoc.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let protos = ["proto/etcd/rpc.proto", "proto/etcd/kv.proto"];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&protos, &["proto/etcd"])?;
    Ok(())
}
