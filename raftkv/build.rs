//! Compiles the protobuf definitions in `../proto` with a vendored `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Build scripts run single-threaded; PROTOC is how prost-build finds protoc.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let protos: Vec<_> = std::fs::read_dir("../proto")?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    tonic_prost_build::configure()
        .compile_protos(&protos, &[std::path::PathBuf::from("../proto")])?;
    Ok(())
}
