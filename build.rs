//! Compiles etcd's v3 API (`proto/etcd`, a trimmed copy of etcd's protos) into the
//! client of the etcd adapter, with a vendored `protoc`. raftkv's protos are compiled
//! by the raftkv crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
