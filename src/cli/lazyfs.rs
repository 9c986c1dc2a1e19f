//! `faultline lazyfs`: serves one lazy filesystem (see the `lazyfs` crate) until
//! SIGTERM, SIGINT or an unmount. The disk fault starts one per node over the node's
//! data directory; it can also be run by hand to try a store on a disk that lies.

use std::path::PathBuf;

use anyhow::Context;

/// Flags of `faultline lazyfs`.
#[derive(clap::Args, Debug)]
pub struct LazyfsArgs {
    /// The real directory that holds what is durable (created if missing).
    #[arg(long)]
    pub backing: PathBuf,
    /// Where to mount the filesystem (an existing directory).
    #[arg(long)]
    pub mount: PathBuf,
    /// Path of the control socket (requests: lose-unsynced, torn BYTES, fsync-eio,
    /// disarm, status; one line each, e.g. with `socat - UNIX:PATH`).
    #[arg(long)]
    pub control: PathBuf,
}

/// Mounts and serves; exit 0 after a clean unmount.
pub fn run(args: LazyfsArgs) -> anyhow::Result<u8> {
    let spec = lazyfs::mount::MountSpec {
        backing: args.backing,
        mountpoint: args.mount,
        control: args.control,
    };
    lazyfs::mount::run(&spec, || {
        eprintln!(
            "lazyfs: mounted over {} (durable state in {}, control {})",
            spec.mountpoint.display(),
            spec.backing.display(),
            spec.control.display()
        );
    })
    .with_context(|| {
        format!(
            "serving the lazy filesystem at {}",
            spec.mountpoint.display()
        )
    })?;
    eprintln!("lazyfs: {} unmounted", spec.mountpoint.display());
    Ok(0)
}
