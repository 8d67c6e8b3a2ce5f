//! The cluster lock at the command line: `--cluster` and its options
//! turned into an etcd configuration, attaching it to a recorder, and
//! `discrec guard`. Built with the cargo feature `cluster` (on by
//! default). A `discrec` built without it carries no etcd client (a third
//! of the size, and start-up as fast as `flock(1)`'s); given a cluster
//! option, it becomes [`FULL`], the same command line built with it, found
//! beside itself or in [`LIBEXEC`] (the Debian package ships the pair), and
//! refuses the option when there is none.

#[cfg(feature = "cluster")]
pub(crate) use with_etcd::*;
#[cfg(not(feature = "cluster"))]
pub(crate) use without_etcd::*;

use crate::args::ClusterArgs;

/// The name of the command line built with the cluster lock.
pub const FULL: &str = "discrec-cluster";

/// Where an installation keeps [`FULL`] when it is not beside `discrec`.
pub const LIBEXEC: &str = "/usr/libexec/discrec";

/// The cluster options given without an etcd, if any: the flag to name.
fn stray_option(cluster: &ClusterArgs, ttl: Option<u64>) -> Option<&'static str> {
    [
        (cluster.cluster_key.is_some(), "--cluster-key"),
        (ttl.is_some(), "--cluster-ttl"),
        (cluster.user.is_some(), "--user"),
        (cluster.cacert.is_some(), "--cacert"),
        (cluster.cert.is_some(), "--cert"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

#[cfg(feature = "cluster")]
mod with_etcd {
    use std::path::Path;
    use std::time::Duration;

    use discrec::{Error, Recorder};

    use super::stray_option;
    use crate::args::ClusterArgs;
    use crate::output::say;
    use crate::signals::StopSignals;

    pub(crate) use discrec_cluster::Config;

    /// Share `rec` through the etcd `cfg` names, under `key`.
    pub(crate) fn attach(rec: &mut Recorder, cfg: Config, key: Option<String>) -> Result<(), Error> {
        discrec_cluster::attach(rec, cfg, key)
    }

    /// The etcd `--cluster` or `$DISCREC_ETCD` names, if any. Cluster options
    /// without an etcd are an error: the lock would silently be this
    /// machine's alone.
    pub(crate) fn config(cluster: &ClusterArgs, ttl: Option<u64>) -> Result<Option<Config>, Error> {
        let mut cfg = match &cluster.cluster {
            Some(urls) => discrec_cluster::Config::new(urls),
            None => match discrec_cluster::Config::from_env() {
                Some(cfg) => cfg,
                None => {
                    if let Some(flag) = stray_option(cluster, ttl) {
                        return Err(Error::InvalidArgument(format!(
                            "{flag} is for the cluster lock, but no etcd is named: give --cluster http://HOST:2379 or set DISCREC_ETCD (without it the lock would be this machine's alone)"
                        )));
                    }
                    return Ok(None);
                }
            },
        };
        cfg.ttl = Duration::from_secs(ttl.unwrap_or(10));
        if let Some(u) = &cluster.user {
            cfg.user = Some(discrec_cluster::Config::parse_user(u).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "--user takes USER:PASSWORD, not {u:?} (or set ETCDCTL_USER=USER:PASSWORD)"
                ))
            })?);
        }
        if let Some(ca) = &cluster.cacert {
            cfg.cacert = Some(ca.clone());
        }
        if let Some(cert) = &cluster.cert {
            cfg.cert = Some(cert.clone());
        }
        if let Some(key) = &cluster.key {
            cfg.key = Some(key.clone());
        }
        Ok(Some(cfg))
    }

    /// `discrec guard`: hold the drive here for clients of other hosts.
    pub(crate) fn guard(cluster: &ClusterArgs, target: &Path) -> Result<u8, Error> {
        let cfg = config(cluster, None)?.ok_or_else(|| {
            Error::InvalidArgument(
                "guard needs the etcd to watch: give --cluster http://HOST:2379 or set DISCREC_ETCD".into(),
            )
        })?;
        let signals = StopSignals::install()
            .map_err(|e| Error::Fail { what: "cannot install signal handlers".into(), source: e })?;
        let shown = target.display();
        discrec_cluster::guard::guard(target, cfg, cluster.cluster_key.clone(), signals.fd(), |e| {
            use discrec_cluster::guard::GuardEvent;
            let _ = match e {
                GuardEvent::Guarding(o) => say(format_args!(
                    "guarding {shown} for \"{}\" on {}",
                    o.client_name.as_deref().unwrap_or("?"),
                    o.host.as_deref().unwrap_or("?")
                )),
                GuardEvent::Free => say(format_args!("free {shown}")),
                GuardEvent::Busy(Some(o), here) => say(format_args!(
                    "busy {shown}: \"{}\" on {} holds the cluster lock, but this host's drive is {here}; trying again",
                    o.client_name.as_deref().unwrap_or("?"),
                    o.host.as_deref().unwrap_or("?")
                )),
                GuardEvent::Busy(None, here) => say(format_args!(
                    "busy {shown}: etcd cannot be reached, but this host's drive is {here}; trying again"
                )),
                GuardEvent::Unreachable(why) => say(format_args!("holding {shown} until etcd answers: {why}")),
            };
        })?;
        Ok(0)
    }
}

#[cfg(not(feature = "cluster"))]
mod without_etcd {
    use std::path::{Path, PathBuf};

    use discrec::{Error, Recorder};

    use super::stray_option;
    use crate::args::ClusterArgs;

    /// No etcd configuration exists in a build without the cluster lock.
    pub(crate) enum Config {}

    /// Where [`super::FULL`] may be: beside this program, then in
    /// [`super::LIBEXEC`].
    fn full_candidates() -> Vec<PathBuf> {
        let beside = std::env::current_exe().ok().map(|e| e.with_file_name(super::FULL));
        beside.into_iter().chain([Path::new(super::LIBEXEC).join(super::FULL)]).collect()
    }

    /// Become the first of `candidates` there is, with our arguments; when
    /// there is none (or it cannot be run), an error naming the cluster
    /// option `what` that was given.
    fn full_or_refuse(what: &str, candidates: &[PathBuf]) -> Error {
        use std::os::unix::process::CommandExt;
        let mut why = String::new();
        if let Some(exe) = candidates.iter().find(|c| c.is_file()) {
            // Only returns on failure.
            let e = std::process::Command::new(exe).arg0("discrec").args(std::env::args_os().skip(1)).exec();
            why = format!(" ({} cannot be run: {e})", exe.display());
        }
        let asked = if what == "guard" { "discrec guard".to_string() } else { what.to_string() };
        let leave = if what == "guard" { String::new() } else { format!(", or leave {what} out") };
        Error::InvalidArgument(format!(
            "{asked} needs the cluster lock, which this discrec leaves to {full}, and there is no {full} beside it or in {dir}{why}; reinstall the discrec package (it ships {dir}/{full}), or build with the cargo feature \"cluster\"{leave}",
            full = super::FULL,
            dir = super::LIBEXEC
        ))
    }

    /// `None`; given a cluster option, [`super::FULL`] runs instead, or an
    /// error names the option.
    pub(crate) fn config(cluster: &ClusterArgs, ttl: Option<u64>) -> Result<Option<Config>, Error> {
        config_in(cluster, ttl, &full_candidates())
    }

    /// [`config`], looking for [`super::FULL`] among `candidates`.
    pub(super) fn config_in(
        cluster: &ClusterArgs,
        ttl: Option<u64>,
        candidates: &[PathBuf],
    ) -> Result<Option<Config>, Error> {
        let given = if cluster.cluster.is_some() {
            Some("--cluster")
        } else {
            ["DISCREC_ETCD", "ETCDCTL_ENDPOINTS"]
                .into_iter()
                .find(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
                .or_else(|| stray_option(cluster, ttl))
        };
        match given {
            Some(what) => Err(full_or_refuse(what, candidates)),
            None => Ok(None),
        }
    }

    pub(crate) fn attach(_: &mut Recorder, cfg: Config, _: Option<String>) -> Result<(), Error> {
        match cfg {}
    }

    pub(crate) fn guard(cluster: &ClusterArgs, _: &Path) -> Result<u8, Error> {
        config(cluster, None)?;
        Err(full_or_refuse("guard", &full_candidates()))
    }
}

#[cfg(all(test, not(feature = "cluster")))]
mod tests {
    use super::without_etcd::config_in;
    use super::*;

    #[test]
    fn a_build_without_the_cluster_lock_refuses_every_cluster_option() {
        // With nowhere to find discrec-cluster (the real search would find
        // an installed one and become it).
        let none = ClusterArgs::default();
        assert!(matches!(config_in(&none, None, &[]), Ok(None)));
        let given = ClusterArgs { cluster: Some("http://127.0.0.1:2379".into()), ..ClusterArgs::default() };
        let e = config_in(&given, None, &[]).err().expect("refused");
        assert_eq!(e.exit_code(), 2, "{e}");
        let e = e.to_string();
        assert!(e.contains("--cluster") && e.contains("reinstall") && e.contains(FULL), "{e}");
        let e = config_in(&none, Some(30), &[]).err().expect("refused").to_string();
        assert!(e.contains("--cluster-ttl"), "{e}");
    }
}
