//! The connection to etcd: [`Etcd`], its two runtimes and clients, and
//! how a call is made (bounded by the timeout, retried over the members,
//! its failure named with a hint).

use std::sync::Arc;
use std::time::Duration;

use discrec::{Error, Result};

use crate::client::{self, Client};
use crate::config::{connect_hint, hint, Config};

/// The etcd coordinator.
///
/// Two runtimes: calls made for the caller (queueing, reading, waiting,
/// releasing) run on a current-thread runtime driven by the calling thread
/// itself, so that a round trip costs no hop to another thread; the
/// lease keep-alive runs on a one-worker runtime of its own, with its own
/// connection, while the caller does other things.
pub struct Etcd {
    pub(crate) fg: Arc<tokio::runtime::Runtime>,
    pub(crate) client: Client,
    pub(crate) bg: tokio::runtime::Runtime,
    pub(crate) bg_client: Client,
    pub(crate) cfg: Config,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd").field("endpoints", &self.cfg.endpoints).finish_non_exhaustive()
    }
}

impl Etcd {
    /// Connect, within the configured timeout: an etcd that cannot be
    /// reached is an error naming its URLs, never a hang.
    pub fn connect(cfg: Config) -> Result<Etcd> {
        cfg.check()?;
        let service = cfg.endpoints.join(",");
        let fail = |detail: String| Error::Cluster { service: service.clone(), detail };
        let runtime = |b: &mut tokio::runtime::Builder| {
            b.enable_all().build().map_err(|e| fail(format!("cannot start the etcd client's runtime: {e}")))
        };
        let fg = Arc::new(runtime(&mut tokio::runtime::Builder::new_current_thread())?);
        let bg = runtime(tokio::runtime::Builder::new_multi_thread().worker_threads(1))?;
        let opts = client::Options {
            connect_timeout: Some(cfg.timeout),
            timeout: Some(cfg.timeout),
            user: cfg.user.clone(),
            tls: cfg.tls().map_err(&fail)?,
        };
        let (endpoints, timeout, https) = (cfg.endpoints.clone(), cfg.timeout, cfg.https());
        let bg_opts = opts.clone();
        let client = block_on(&fg, async move {
            let c = tokio::time::timeout(timeout, Client::connect(&endpoints, opts))
                .await
                .map_err(|_| format!("no answer within {:?}", timeout))?
                .map_err(|e| e.to_string())?;
            // A connection is lazy: one real call proves etcd answers
            // (any member: a dead one among several is passed over).
            retrying(timeout, || c.status()).await?;
            Ok::<Client, String>(c)
        })
        .map_err(|e| fail(format!("cannot reach etcd: {e}; {}", connect_hint(&e, https))))?;
        let endpoints = cfg.endpoints.clone();
        let bg_client = block_on(&bg, async move {
            tokio::time::timeout(timeout, Client::connect(&endpoints, bg_opts))
                .await
                .map_err(|_| format!("no answer within {timeout:?}"))?
                .map_err(|e| e.to_string())
        })
        .map_err(|e| fail(format!("cannot reach etcd: {e}; {}", connect_hint(&e, https))))?;
        Ok(Etcd { fg, client, bg, bg_client, cfg })
    }

    /// How errors name this etcd: `etcd at URLS`.
    pub(crate) fn name(&self) -> String {
        format!("etcd at {}", self.cfg.endpoints.join(","))
    }

    /// The error of `what` failing with `e`, with the hint that fits.
    pub(crate) fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        let e = e.to_string();
        let h = hint(&e, self.cfg.https());
        let detail = if h.is_empty() { format!("{what}: {e}") } else { format!("{what}: {e}; {h}") };
        Error::Cluster { service: self.name(), detail }
    }

    /// Run `f` to its end on this crate's runtime, from any thread: one
    /// that is itself inside an async runtime (a caller's tokio task)
    /// hands it to a thread of its own rather than nest runtimes.
    pub(crate) fn block<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        block_on(&self.fg, f)
    }

    /// Run the call `f` makes on the runtime, bounded by the timeout, and
    /// again while it fails for want of a member to answer (see
    /// [`retrying`]).
    pub(crate) fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send,
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = std::result::Result<T, client::Error>> + Send,
    {
        self.block(retrying(self.cfg.timeout, f)).map_err(|e| self.fail(what, e))
    }

    /// Revoke `lease`, deleting the keys bound to it (best effort).
    pub(crate) fn revoke(&self, lease: i64) {
        let _ = self.call("revoke", || self.client.lease_revoke(lease));
    }
}

/// `rt.block_on(f)`, or on a thread of its own when this thread is
/// inside an async runtime already (where `block_on` would panic).
pub(crate) fn block_on<F>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Make the call `f` makes until it succeeds or fails for a reason other
/// than an unreachable member (a dead member among several, a leader
/// election: the client's next try goes to another), within `limit`.
pub(crate) async fn retrying<T, F, Fut>(limit: Duration, mut f: F) -> std::result::Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, client::Error>>,
{
    let until = tokio::time::Instant::now() + limit;
    let mut last = format!("no answer within {limit:?}");
    loop {
        match tokio::time::timeout_at(until, f()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => {
                // A member that died mid-call shows as Unknown ("transport
                // error") or Cancelled; every call made through here is
                // safe to repeat.
                let transient = e.is_transient();
                last = e.to_string();
                if !transient {
                    return Err(last);
                }
            }
            Err(_) => return Err(last),
        }
        if tokio::time::Instant::now() + Duration::from_millis(50) >= until {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
