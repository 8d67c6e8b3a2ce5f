//! Generates the etcd client's gRPC code from `proto/etcd.proto` with
//! protox, a protobuf compiler written in Rust: building discrec needs no
//! `protoc` and no system package (the `etcd-client` crate's build script
//! runs `protoc`, which a machine with only Rust does not have).

fn main() {
    let proto = "proto/etcd.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = match protox::compile([proto], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("{proto}: {e}"),
    };
    if let Err(e) = tonic_prost_build::configure().build_server(false).compile_fds(fds) {
        panic!("cannot generate the etcd client from {proto}: {e}");
    }
}
