//! Test doubles for clients of the KV API. [`SilentServer`] accepts every connection
//! and request and never answers, so the only thing that ends an operation sent to it
//! is the client's own deadline: the case where a write may or may not have been
//! applied, which every client must report as unknown (`info`), never as failed.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::proto::kv::kv_server::{Kv, KvServer};
use crate::proto::kv::{
    AppendRequest, CasRequest, CrashRequest, CrashResponse, DeleteRequest, GetRequest, GetResponse,
    PutRequest, StatusRequest, StatusResponse, WriteResponse,
};

/// A KV server on 127.0.0.1 that never answers; it stops when dropped.
#[derive(Debug)]
pub struct SilentServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Dropping it stops the server.
    _stop: oneshot::Sender<()>,
}

impl SilentServer {
    /// Starts one on a free port (inside a tokio runtime).
    pub async fn start() -> std::io::Result<SilentServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(KvServer::new(Silent))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            });
        tokio::spawn(server);
        Ok(SilentServer { addr, _stop: stop })
    }
}

/// The service: every call waits forever.
struct Silent;

/// Never completes.
async fn never<T>() -> Result<Response<T>, Status> {
    std::future::pending().await
}

#[tonic::async_trait]
impl Kv for Silent {
    async fn get(&self, _: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        never().await
    }
    async fn put(&self, _: Request<PutRequest>) -> Result<Response<WriteResponse>, Status> {
        never().await
    }
    async fn delete(&self, _: Request<DeleteRequest>) -> Result<Response<WriteResponse>, Status> {
        never().await
    }
    async fn cas(&self, _: Request<CasRequest>) -> Result<Response<WriteResponse>, Status> {
        never().await
    }
    async fn append(&self, _: Request<AppendRequest>) -> Result<Response<WriteResponse>, Status> {
        never().await
    }
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        never().await
    }
    async fn crash(&self, _: Request<CrashRequest>) -> Result<Response<CrashResponse>, Status> {
        never().await
    }
}
