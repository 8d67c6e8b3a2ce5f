//! A small etcd v3 client: the calls the cluster lock makes (range,
//! transaction, lease grant, revoke and keep-alive, watch, status,
//! authenticate), over tonic, with every endpoint in one balanced channel.
//!
//! Written here rather than taken from the `etcd-client` crate because that
//! crate's build script needs `protoc` (and `libprotobuf-dev`): a machine
//! with only Rust could not build discrec. The gRPC code is generated at
//! build time from `proto/etcd.proto` by protox, in Rust. What this module
//! adds to the generated code is what a client of etcd must do beyond the
//! wire format: a user's token on every call, fetched again when etcd
//! says it expired; the request half of a watch or keep-alive stream kept
//! open while its answers are read (etcd ends the stream when it closes);
//! errors that keep their whole cause chain, whose text the cluster lock's
//! hints read.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status, Streaming};

/// etcd's messages and gRPC clients, generated from `proto/etcd.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

use pb::auth_client::AuthClient;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use pb::watch_client::WatchClient;

/// A failed call: the transport, or etcd's answer.
#[derive(Debug)]
pub enum Error {
    /// The settings could not make a connection (a bad URL, TLS settings).
    Transport(tonic::transport::Error),
    /// etcd, or the connection under the call, said no.
    Status(Status),
    /// etcd closed a stream before it answered.
    Closed(&'static str),
}

impl Error {
    /// Whether another try may succeed: the member the call went to is out
    /// of reach, or died mid-call (Unknown "transport error", Cancelled), or
    /// a leader is being elected. Every call the cluster lock makes is safe
    /// to repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            // Only settings make one (a bad URL, TLS files): final.
            Error::Transport(_) => false,
            Error::Status(s) => {
                matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled)
            }
            Error::Closed(_) => true,
        }
    }

    /// Whether etcd refused the user's token, as etcd's own client reads
    /// it: expired or forgotten (an etcd restart), older than a change of
    /// users or roles (JWT tokens), or missing.
    fn is_stale_token(&self) -> bool {
        let Error::Status(s) = self else { return false };
        let m = s.message();
        (s.code() == Code::Unauthenticated && m.contains("invalid auth token"))
            || (s.code() == Code::InvalidArgument && m.contains("revision of auth store is old"))
            || m.contains("user name is empty")
    }
}

impl std::fmt::Display for Error {
    /// The error and every cause under it, `: `-separated: a TLS failure
    /// says "invalid peer certificate: UnknownIssuer", not just "transport
    /// error".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut source: Option<&dyn std::error::Error> = match self {
            Error::Transport(e) => {
                write!(f, "{}", self.head())?;
                std::error::Error::source(e)
            }
            Error::Status(s) => {
                write!(f, "{:?}: {}", s.code(), self.head())?;
                std::error::Error::source(s)
            }
            Error::Closed(what) => return write!(f, "etcd closed the {what} stream"),
        };
        let (mut last, mut said) = (String::new(), self.head());
        while let Some(e) = source {
            let text = e.to_string();
            // Layers often repeat their cause's text: say it once.
            if !text.is_empty() && text != last && !said.contains(&text) {
                write!(f, ": {text}")?;
                said.push_str(&text);
            }
            last = text;
            source = e.source();
        }
        Ok(())
    }
}

impl Error {
    /// The error's own text, without its causes.
    fn head(&self) -> String {
        match self {
            Error::Transport(e) => format!("transport error: {e}"),
            Error::Status(s) => s.message().to_string(),
            Error::Closed(what) => what.to_string(),
        }
    }
}

impl std::error::Error for Error {}

impl From<Status> for Error {
    fn from(s: Status) -> Error {
        Error::Status(s)
    }
}

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Longest wait for a connection to a member.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for the answer to a call (for a stream: its opening).
    pub timeout: Option<Duration>,
    /// User and password: every call carries the token etcd gives for them.
    pub user: Option<(String, String)>,
    /// TLS for `https://` endpoints.
    pub tls: Option<ClientTlsConfig>,
}

/// The token every call carries, shared by the clones of a [`Client`].
type Token = Arc<RwLock<Option<MetadataValue<Ascii>>>>;

/// Adds the user's token to each call but the one that obtains it.
#[derive(Clone)]
struct AddToken(Token);

impl tonic::service::Interceptor for AddToken {
    fn call(&mut self, mut req: Request<()>) -> std::result::Result<Request<()>, Status> {
        if let Some(t) = self.0.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            req.metadata_mut().insert("token", t.clone());
        }
        Ok(req)
    }
}

type Chan = InterceptedService<Channel, AddToken>;

/// A connection to an etcd cluster: cheap to clone, clones share it.
#[derive(Clone)]
pub struct Client {
    chan: Chan,
    /// The channel without the token, for `Authenticate`.
    plain: Channel,
    token: Token,
    user: Option<(String, String)>,
    /// One token refresh at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
    /// etcd said authentication is not enabled: calls go without a token.
    auth_off: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// The range end that makes `key` a prefix: `key` with its last byte
/// below 0xff raised by one (etcd's `clientv3.GetPrefixRangeEnd`).
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from `key` on.
    vec![0]
}

impl Client {
    /// A client of the members at `endpoints` (`http://` or `https://`),
    /// authenticated if `opts.user` is set. Must run inside a tokio
    /// runtime. Members are connected, and the user authenticated, lazily:
    /// the first call shows whether one answers (a caller that retries
    /// calls on another member retries the authentication with them).
    pub async fn connect(endpoints: &[String], opts: Options) -> Result<Client, Error> {
        let mut list = Vec::new();
        for url in endpoints {
            let mut ep = Endpoint::from_shared(url.clone()).map_err(Error::Transport)?;
            if url.starts_with("https://") {
                ep = ep.tls_config(opts.tls.clone().unwrap_or_default()).map_err(Error::Transport)?;
            }
            if let Some(t) = opts.timeout {
                ep = ep.timeout(t);
            }
            if let Some(t) = opts.connect_timeout {
                ep = ep.connect_timeout(t);
            }
            list.push(ep);
        }
        let plain = Channel::balance_list(list.into_iter());
        let token: Token = Arc::default();
        let client = Client {
            chan: InterceptedService::new(plain.clone(), AddToken(token.clone())),
            plain,
            token,
            user: opts.user,
            refreshing: Arc::default(),
            auth_off: Arc::default(),
        };
        Ok(client)
    }

    /// Ask etcd for a token for the user, and use it from now on. An etcd
    /// without authentication needs none (as etcdctl, it is not an error).
    async fn authenticate(&self) -> Result<(), Error> {
        let Some((name, password)) = self.user.clone() else { return Ok(()) };
        let r = match AuthClient::new(self.plain.clone()).authenticate(pb::AuthenticateRequest { name, password }).await
        {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::FailedPrecondition && s.message().contains("authentication is not enabled") => {
                self.auth_off.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            Err(s) => return Err(s.into()),
        };
        let token = MetadataValue::try_from(r.token.as_str())
            .map_err(|_| Error::Status(Status::internal("etcd gave a token that is not ASCII")))?;
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(())
    }

    /// Authenticate if the token is still `stale` (no other call did
    /// meanwhile): one at a time.
    async fn refresh(&self, stale: &Option<MetadataValue<Ascii>>) -> Result<(), Error> {
        let _one = self.refreshing.lock().await;
        if *self.token.read().unwrap_or_else(|e| e.into_inner()) == *stale {
            self.authenticate().await?;
        }
        Ok(())
    }

    /// Make the call `f` makes, with the user's token (fetched first if
    /// there is none yet); if etcd refused the token (it expires, an etcd
    /// restart forgets it, a change of users outdates it), authenticate
    /// again and make it once more.
    async fn with_token<T, F, Fut>(&self, mut f: F) -> Result<T, Error>
    where
        F: FnMut(Chan) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let auth = self.user.is_some() && !self.auth_off.load(std::sync::atomic::Ordering::Relaxed);
        let mut stale = self.token.read().unwrap_or_else(|e| e.into_inner()).clone();
        if auth && stale.is_none() {
            self.refresh(&stale).await?;
            stale = self.token.read().unwrap_or_else(|e| e.into_inner()).clone();
        }
        match f(self.chan.clone()).await {
            Err(e) if auth && e.is_stale_token() => {
                self.refresh(&stale).await?;
                f(self.chan.clone()).await
            }
            r => r,
        }
    }

    /// The status of the member that answers: proves one does.
    pub async fn status(&self) -> Result<pb::StatusResponse, Error> {
        self.with_token(
            |c| async move { Ok(MaintenanceClient::new(c).status(pb::StatusRequest {}).await?.into_inner()) },
        )
        .await
    }

    /// Read keys.
    pub async fn range(&self, req: pb::RangeRequest) -> Result<pb::RangeResponse, Error> {
        self.with_token(|c| {
            let req = req.clone();
            async move { Ok(KvClient::new(c).range(req).await?.into_inner()) }
        })
        .await
    }

    /// Delete keys.
    pub async fn delete_range(&self, req: pb::DeleteRangeRequest) -> Result<pb::DeleteRangeResponse, Error> {
        self.with_token(|c| {
            let req = req.clone();
            async move { Ok(KvClient::new(c).delete_range(req).await?.into_inner()) }
        })
        .await
    }

    /// A transaction: compares, then one list of operations or the other.
    pub async fn txn(&self, req: pb::TxnRequest) -> Result<pb::TxnResponse, Error> {
        self.with_token(|c| {
            let req = req.clone();
            async move { Ok(KvClient::new(c).txn(req).await?.into_inner()) }
        })
        .await
    }

    /// A new lease of `ttl` seconds.
    pub async fn lease_grant(&self, ttl: i64) -> Result<pb::LeaseGrantResponse, Error> {
        self.with_token(|c| async move {
            Ok(LeaseClient::new(c).lease_grant(pb::LeaseGrantRequest { ttl, id: 0 }).await?.into_inner())
        })
        .await
    }

    /// End lease `id`, deleting every key bound to it.
    pub async fn lease_revoke(&self, id: i64) -> Result<pb::LeaseRevokeResponse, Error> {
        self.with_token(|c| async move {
            Ok(LeaseClient::new(c).lease_revoke(pb::LeaseRevokeRequest { id }).await?.into_inner())
        })
        .await
    }

    /// Open a keep-alive stream for lease `id`, renewing it once: the
    /// answer's TTL is 0 if the lease is gone.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<(KeepAlive, i64), Error> {
        self.with_token(|c| async move {
            let (tx, rx) = mpsc::channel(4);
            tx.send(pb::LeaseKeepAliveRequest { id }).await.map_err(|_| Error::Closed("keep-alive"))?;
            let mut answers = LeaseClient::new(c).lease_keep_alive(ReceiverStream::new(rx)).await?.into_inner();
            let first = answers.message().await?.ok_or(Error::Closed("keep-alive"))?;
            Ok((KeepAlive { id, tx, answers }, first.ttl))
        })
        .await
    }

    /// Watch the keys `req` names, from its start revision on; returns
    /// once etcd has created the watch.
    pub async fn watch(&self, req: pb::WatchCreateRequest) -> Result<Watch, Error> {
        self.with_token(|c| {
            let req = req.clone();
            async move {
                let (tx, rx) = mpsc::channel(4);
                let create =
                    pb::WatchRequest { request_union: Some(pb::watch_request::RequestUnion::CreateRequest(req)) };
                tx.send(create).await.map_err(|_| Error::Closed("watch"))?;
                let mut events = WatchClient::new(c).watch(ReceiverStream::new(rx)).await?.into_inner();
                let first = events.message().await?.ok_or(Error::Closed("watch"))?;
                // A watch whose start was compacted away is cancelled, in
                // this first answer or a later one: the caller sees it.
                let pending = (first.canceled || !first.events.is_empty()).then_some(first);
                Ok(Watch { _tx: tx, events, pending })
            }
        })
        .await
    }
}

/// A lease's keep-alive stream.
#[derive(Debug)]
pub struct KeepAlive {
    id: i64,
    tx: mpsc::Sender<pb::LeaseKeepAliveRequest>,
    answers: Streaming<pb::LeaseKeepAliveResponse>,
}

impl KeepAlive {
    /// Renew the lease once: its TTL now, 0 if etcd no longer has it.
    pub async fn renew(&mut self) -> Result<i64, Error> {
        self.tx.send(pb::LeaseKeepAliveRequest { id: self.id }).await.map_err(|_| Error::Closed("keep-alive"))?;
        Ok(self.answers.message().await?.ok_or(Error::Closed("keep-alive"))?.ttl)
    }
}

/// A watch's stream of events.
#[derive(Debug)]
pub struct Watch {
    /// The request half: etcd ends the watch when it closes.
    _tx: mpsc::Sender<pb::WatchRequest>,
    events: Streaming<pb::WatchResponse>,
    /// An answer read with the creation that belongs to the caller.
    pending: Option<pb::WatchResponse>,
}

impl Watch {
    /// The next answer, `None` when etcd ended the stream.
    pub async fn message(&mut self) -> Result<Option<pb::WatchResponse>, Error> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        Ok(self.events.message().await?)
    }
}

impl pb::WatchResponse {
    /// Whether any event is a deletion.
    pub fn has_delete(&self) -> bool {
        self.events.iter().any(|e| e.r#type == pb::event::EventType::Delete as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_raises_the_last_byte_below_ff() {
        assert_eq!(prefix_end(b"discrec/drive/a/"), b"discrec/drive/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
