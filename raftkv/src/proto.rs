//! Generated gRPC types and services.

/// The client API (`proto/kv.proto`).
pub mod kv {
    tonic::include_proto!("faultline.kv");
}
