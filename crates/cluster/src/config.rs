//! Where etcd is and how to talk to it: [`Config`], its checks before
//! anything is sent, its TLS settings, and the hints that name the option
//! fixing a failed connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use discrec::{Error, Result};

/// Where etcd is and how to talk to it (the flags and variables `etcdctl`
/// takes).
#[derive(Debug, Clone)]
pub struct Config {
    /// Endpoints, `http://host:2379`.
    pub endpoints: Vec<String>,
    /// Lease time to live.
    pub ttl: Duration,
    /// Longest any one call to etcd may take (connecting included).
    pub timeout: Duration,
    /// User and password (`ETCDCTL_USER=user:password`).
    pub user: Option<(String, String)>,
    /// The CA certificate (PEM) that signed etcd's server certificate
    /// (`ETCDCTL_CACERT`); given, or with `https://` endpoints, the
    /// connection is TLS.
    pub cacert: Option<PathBuf>,
    /// This client's certificate (PEM), for an etcd that checks client
    /// certificates (`ETCDCTL_CERT`); with [`Config::key`].
    pub cert: Option<PathBuf>,
    /// The key of [`Config::cert`] (`ETCDCTL_KEY`).
    pub key: Option<PathBuf>,
    /// This machine's name in owner records (default: the host name).
    pub host: String,
}

/// The longest lease discrec asks for: 30 days (etcd's own limit is
/// 9,000,000,000 s; a longer TTL only delays the release of a dead holder).
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl Config {
    /// `endpoints` separated by commas, with the defaults: TTL 10 s,
    /// timeout 3 s, user from `ETCDCTL_USER`, host name from `uname`
    /// (`DISCREC_HOSTNAME` overrides it).
    pub fn new(endpoints: &str) -> Config {
        let user = std::env::var("ETCDCTL_USER").ok().and_then(|u| Config::parse_user(&u));
        let path = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        let host = std::env::var("DISCREC_HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| rustix::system::uname().nodename().to_string_lossy().into_owned());
        Config {
            endpoints: endpoints.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect(),
            ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
            user,
            cacert: path("ETCDCTL_CACERT"),
            cert: path("ETCDCTL_CERT"),
            key: path("ETCDCTL_KEY"),
            host,
        }
    }

    /// `user:password` as `etcdctl --user` takes it.
    pub fn parse_user(u: &str) -> Option<(String, String)> {
        let (n, p) = u.split_once(':')?;
        Some((n.to_string(), p.to_string()))
    }

    /// Whether the settings make sense, before anything is sent: URLs
    /// given, each `http://` or `https://`; certificates only with
    /// `https://`, readable, PEM, and a client certificate with its key.
    /// A mistake here is `E_INVALIDARG`, naming what to change.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.endpoints.is_empty() {
            return bad("no etcd URL given; use --cluster http://HOST:2379 (or set DISCREC_ETCD)".into());
        }
        if let Some(e) = self.endpoints.iter().find(|e| !(e.starts_with("http://") || e.starts_with("https://"))) {
            return bad(format!("the etcd URL {e:?} is neither http:// nor https://; write it as http://HOST:2379"));
        }
        // Whole URLs: a host, and a port that is one.
        for e in &self.endpoints {
            let uri = e.parse::<tonic::codegen::http::Uri>();
            let ok = uri.as_ref().is_ok_and(|u| {
                let port_ok = |a: &str| match a.rsplit_once(':') {
                    Some((_, p)) if !p.contains(']') => p.parse::<u16>().is_ok_and(|p| p > 0),
                    _ => true,
                };
                u.host().is_some_and(|h| !h.is_empty()) && u.authority().is_some_and(|a| port_ok(a.as_str()))
            });
            if !ok {
                return bad(format!("the etcd URL {e:?} is not a URL with a host (and a port from 1 to 65535); write it as http://HOST:2379"));
            }
        }
        let https = self.https();
        if !https && (self.cacert.is_some() || self.cert.is_some() || self.key.is_some()) {
            return bad("TLS certificates were given, but the etcd URLs are http://; use https://".into());
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => return bad("a client certificate without its key; give --key (or ETCDCTL_KEY)".into()),
            (None, Some(_)) => return bad("a client key without its certificate; give --cert (or ETCDCTL_CERT)".into()),
            _ => {}
        }
        for (p, what) in [
            (&self.cacert, "CA certificate (--cacert)"),
            (&self.cert, "client certificate (--cert)"),
            (&self.key, "client key (--key)"),
        ] {
            if let Some(p) = p {
                let text = std::fs::read(p)
                    .map_err(|e| Error::InvalidArgument(format!("cannot read the {what} {}: {e}", p.display())))?;
                if !text.windows(11).any(|w| w == b"-----BEGIN ") {
                    return bad(format!("the {what} {} is not PEM (no -----BEGIN line)", p.display()));
                }
            }
        }
        Ok(())
    }

    /// The time to live of the lease discrec asks for: [`Config::ttl`],
    /// at least 2 s and at most [`MAX_TTL`].
    pub(crate) fn lease_ttl(&self) -> Duration {
        self.ttl.clamp(Duration::from_secs(2), MAX_TTL)
    }

    /// Whether the connection is TLS (`https://` URLs).
    pub(crate) fn https(&self) -> bool {
        self.endpoints.iter().any(|e| e.starts_with("https://"))
    }

    /// The TLS settings, if the connection is TLS (after [`Config::check`]).
    pub(crate) fn tls(&self) -> std::result::Result<Option<tonic::transport::ClientTlsConfig>, String> {
        if !self.https() {
            return Ok(None);
        }
        let read =
            |p: &Path, what: &str| std::fs::read(p).map_err(|e| format!("cannot read the {what} {}: {e}", p.display()));
        let mut tls = tonic::transport::ClientTlsConfig::new();
        if let Some(ca) = &self.cacert {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca, "CA certificate (--cacert)")?));
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read(cert, "client certificate (--cert)")?,
                read(key, "client key (--key)")?,
            ));
        }
        Ok(Some(tls))
    }

    /// From `DISCREC_ETCD` (else `ETCDCTL_ENDPOINTS`), if set.
    pub fn from_env() -> Option<Config> {
        let e = std::env::var("DISCREC_ETCD").ok().or_else(|| std::env::var("ETCDCTL_ENDPOINTS").ok())?;
        Some(Config::new(&e)).filter(|c| !c.endpoints.is_empty())
    }
}

/// What to do about an etcd error, from its text: the usual causes of a
/// failure to connect or authenticate, named with the option that fixes
/// them. `https`: whether the URLs are (a TLS mistake is possible).
pub(crate) fn hint(e: &str, https: bool) -> &'static str {
    let has = |s: &str| e.contains(s);
    if has("UnknownIssuer") {
        "etcd's certificate is not signed by the CA discrec was given: give its CA with --cacert (or ETCDCTL_CACERT); the host's CA store is not used"
    } else if has("NotValidForName") || has("not valid for name") {
        "etcd's certificate does not name the host in the URL: use the name (or address) it was issued for"
    } else if has("Expired") || (has("expired") && has("certificate")) {
        "etcd's certificate has expired (or is not valid yet): renew it, or check this host's clock"
    } else if has("invalid peer certificate") {
        "etcd's certificate was refused: check it and the CA given with --cacert"
    } else if has("user name is empty") || has("user name not found") {
        "this etcd requires a user: give --user USER:PASSWORD (or ETCDCTL_USER)"
    } else if has("authentication failed") || has("invalid auth token") {
        "check the user and password (--user or ETCDCTL_USER)"
    } else if has("permission denied") {
        "the etcd user may not use discrec's keys: grant its role read-write on the prefix discrec/"
    } else if has("tls handshake eof") || has("InvalidContentType") || has("corrupt message") {
        "is this etcd serving http://, not https://? write the URL to match"
    } else if !https && (has("broken pipe") || has("connection reset") || has("stream closed")) {
        "is this etcd serving https://? write the URL as https:// (with --cacert)"
    } else if https
        && (has("connection closed")
            // TLS 1.3: the client's side of the handshake is done before
            // the server refuses it, so the refusal shows as the next write
            // failing.
            || has("broken pipe")
            || has("stream closed")
            || has("connection reset")
            || has("operation was canceled")
            || has("CertificateRequired")
            || has("BadCertificate")
            || has("certificate required"))
    {
        "the connection was closed during the handshake: this etcd may require a client certificate (--cert and --key)"
    } else if has("dns error") || has("failed to lookup") {
        "the host name in the URL does not resolve"
    } else {
        ""
    }
}

/// [`hint`], or the general advice for a connection that failed.
pub(crate) fn connect_hint(e: &str, https: bool) -> &'static str {
    match hint(e, https) {
        "" => "check the URLs and that etcd runs",
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn a_refused_client_certificate_is_hinted_however_the_refusal_shows() {
        // Seen from etcd 3.4 over TLS 1.3 without --cert: the handshake
        // alert arrives as any of these, depending on timing.
        for e in [
            "transport error: connection error: stream closed because of a broken pipe",
            "transport error: connection reset by peer",
            "received fatal alert: CertificateRequired",
            "connection closed before message completed",
        ] {
            assert!(hint(e, true).contains("--cert"), "{e}");
        }
        // Over http://, the same failures point at the scheme.
        assert!(hint("stream closed because of a broken pipe", false).contains("https://"));
    }
}
