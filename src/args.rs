//! The command line's grammar (clap definitions) and what a usage error
//! says: one line, `E_INVALIDARG`, with a hint for the usual slips.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use discrec::{Error, WaitPolicy};

fn exit_codes_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, what) in discrec::error::SUCCESS_EXIT_CODES {
        s.push_str(&format!("  {code:>3}  {what}\n"));
    }
    for k in discrec::error::KINDS {
        s.push_str(&format!("  {:>3}  {} 0x{:08X}: {}\n", k.exit_code, k.name, k.value, k.when));
    }
    s.push_str("  lock -- COMMAND exits with COMMAND's status (128+N if killed by signal N)\n");
    s
}

/// `discrec`: the whole command line.
#[derive(Parser)]
#[command(name = "discrec", version, about = "Exclusive access to disc recorders: who holds a drive, and keep everyone else off it", after_help = exit_codes_help())]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The subcommands. Each one's options are built only when it is the one
/// run (`defer`): building all of them cost every command ~115 KB of
/// heap and ~30 page faults at start.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Hold exclusive access to a recorder, or run COMMAND while holding it
    #[command(after_help = exit_codes_help())]
    Lock(LockArgs),
    /// Print the client name of whoever holds a recorder (exit 1 when free)
    #[command(after_help = exit_codes_help())]
    Owner {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// The cluster lock
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Drive (/dev/srN, a by-id link, an sg node) or image file
        target: PathBuf,
    },
    /// Show for each recorder whether it is free, held (by whom) or mounted
    #[command(after_help = exit_codes_help())]
    Status {
        /// One JSON object per line, one line per target
        #[arg(long)]
        json: bool,
        /// The cluster lock
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Drives or image files
        #[arg(required = true)]
        targets: Vec<PathBuf>,
    },
    /// List every recorder: device, sg node, links, vendor, product, revision, bus, tray, mounts, owner
    #[command(after_help = exit_codes_help())]
    List {
        /// One JSON array
        #[arg(long)]
        json: bool,
        /// The cluster lock (each drive's key from its identity): holders on other hosts are shown
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Everything `list` shows for one drive, plus MMC profiles, features, mode pages and the medium (for an image file: its medium)
    #[command(after_help = exit_codes_help())]
    Info {
        /// One JSON object
        #[arg(long)]
        json: bool,
        /// Drive (/dev/srN, a by-id link, an sg node) or image file
        target: PathBuf,
    },
    /// Eject the medium, or close the tray with --close (refused while another client holds the drive)
    #[command(after_help = exit_codes_help())]
    Eject {
        /// Close the tray (load) instead
        #[arg(long)]
        close: bool,
        /// Client name for the moment discrec holds the drive
        #[arg(long, default_value = "discrec", value_name = "NAME")]
        client: String,
        /// Print one JSON object when done: target, action, ok
        #[arg(long)]
        json: bool,
        /// Drive
        target: PathBuf,
    },
    /// Write an ISO image, a directory, a device or a stream to a recorder's medium, holding the drive while it writes, then verify it
    #[command(after_help = exit_codes_help())]
    Burn(BurnArgs),
    /// Erase a rewritable disc (CD-RW: BLANK; DVD-RW, DVD+RW, DVD-RAM, BD-RE: FORMAT UNIT and clearing; --full: every sector), holding the drive while it does; a write-once disc is refused before any command
    #[command(after_help = exit_codes_help())]
    Erase {
        /// Erase every sector (IMAPI2 FullErase): as long as writing the whole disc
        #[arg(long)]
        full: bool,
        /// Client name other programs see as the owner while it erases
        #[arg(long, default_value = "discrec", value_name = "NAME")]
        client: String,
        /// One JSON object per progress update, then one with the medium after
        #[arg(long)]
        json: bool,
        /// Wait for a drive another client holds: forever, or at most SECONDS
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "inf")]
        wait: Option<String>,
        /// The cluster lock
        #[command(flatten)]
        cluster: ClusterLockArgs,
        /// Drive
        target: PathBuf,
    },
    /// Keep this host's programs (xorriso, growisofs, wodim: any that open the drive with O_EXCL) off a shared drive while a client on another host holds its cluster lock; runs until SIGINT or SIGTERM
    #[command(after_help = exit_codes_help())]
    Guard {
        /// The cluster lock (--cluster or $DISCREC_ETCD is required)
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Drive shared with other hosts
        target: PathBuf,
    },
    /// Lock or unlock the tray (PREVENT ALLOW MEDIUM REMOVAL)
    #[command(after_help = exit_codes_help())]
    Tray {
        /// lock or unlock
        #[arg(value_parser = ["lock", "unlock"])]
        action: String,
        /// Client name for the moment discrec holds the drive
        #[arg(long, default_value = "discrec", value_name = "NAME")]
        client: String,
        /// Print one JSON object when done: target, action, ok
        #[arg(long)]
        json: bool,
        /// Drive
        target: PathBuf,
    },
    /// Print the udev properties discrec's rule imports for a drive (DISCREC_HOLD=1 while a discrec client holds it or is about to); run by udev
    #[command(name = "udev-properties")]
    UdevProperties {
        /// Drive (the rule passes $devnode)
        target: PathBuf,
    },
}

// Sharing a drive with other machines through etcd. (A plain comment: a
// doc comment here would become the about of every deferred subcommand
// that flattens these options.)
#[derive(Args, Clone, Default)]
pub struct ClusterArgs {
    /// etcd endpoints (comma-separated URLs) holding the cluster lock; default: $DISCREC_ETCD
    #[arg(long, value_name = "URLS")]
    pub cluster: Option<String>,
    /// The drive's name in the cluster (default: from its vital product data; required for image files)
    #[arg(long, value_name = "KEY")]
    pub cluster_key: Option<String>,
    /// etcd user and password, as etcdctl takes them (default: $ETCDCTL_USER, which other users cannot read in ps)
    #[arg(long, value_name = "USER:PASSWORD")]
    pub user: Option<String>,
    /// CA certificate (PEM) of etcd's TLS server certificate (default: $ETCDCTL_CACERT)
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM) for an etcd that checks them (default: $ETCDCTL_CERT)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key (PEM) of --cert (default: $ETCDCTL_KEY)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

// The cluster lock, for commands that take it: the connection and the
// lease's time to live. (A plain comment, as on `ClusterArgs`.)
#[derive(Args, Clone, Default)]
pub struct ClusterLockArgs {
    /// The cluster lock
    #[command(flatten)]
    pub conn: ClusterArgs,
    /// Lease time to live in seconds, 2 to 2592000 (30 days; default 10): a holder that dies frees the drive after at most this long
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(2..=2_592_000))]
    pub cluster_ttl: Option<u64>,
}

impl ClusterLockArgs {
    /// The TTL in seconds.
    pub fn ttl(&self) -> u64 {
        self.cluster_ttl.unwrap_or(10)
    }
}

/// Write an ISO image, a directory, a device or a stream to a recorder's medium, holding the drive while it writes, then verify it
// (The same words as on `Cmd::Burn`: a deferred subcommand takes its
// about from here when it is built.)
#[derive(Args)]
pub struct BurnArgs {
    /// Client name other programs see as the owner while it writes
    #[arg(long, default_value = "discrec", value_name = "NAME")]
    pub client: String,
    /// Do not read the written sectors back and compare them with the source
    #[arg(long)]
    pub no_verify: bool,
    /// Close the disc so that nothing can be appended (IMAPI2 ForceMediaToBeClosed)
    #[arg(long)]
    pub close: bool,
    /// Write over the data a rewritable disc holds (IMAPI2 ForceOverwrite); a CD-RW or a sequential DVD-RW is erased first
    #[arg(long, conflicts_with = "append")]
    pub overwrite: bool,
    /// Add the directory SOURCE to what the disc holds, as a new session (IMAPI2 ImportFileSystem; growisofs -M): its files go over the disc's root, replacing old files of the same name, every other file kept; on a disc written at random (DVD+RW, DVD-RAM, BD-RE, an image file) the file system grows in place; a blank disc gets a first session
    #[arg(long)]
    pub append: bool,
    /// Write speed: `max` (default), a multiple of 1x (`8`, `2.4x`) or sectors per second (`3000s`); one the drive does not offer for the disc is refused, listing those it does (`discrec info` shows them)
    #[arg(long, value_name = "SPEED", default_value = "max")]
    pub speed: String,
    /// One JSON object per progress update, then one with the result
    #[arg(long)]
    pub json: bool,
    /// Wait for a drive another client holds: forever, or at most SECONDS
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "inf")]
    pub wait: Option<String>,
    /// Volume name of the image made of a directory SOURCE (default: the directory's name; with --append, the disc's)
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    /// The size of a SOURCE of `-` (standard input), in bytes: a multiple of 2048
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u64>,
    /// The cluster lock
    #[command(flatten)]
    pub cluster: ClusterLockArgs,
    /// Drive (/dev/srN), block device or image file to write to
    pub target: PathBuf,
    /// ISO image, block device, or a directory (made into ISO 9660 + Joliet + Rock Ridge as it is written), or `-` for standard input (with --size)
    pub source: PathBuf,
}

/// Hold exclusive access to a recorder, or run COMMAND while holding it
// (The same words as on `Cmd::Lock`: a deferred subcommand takes its
// about from here when it is built.)
#[derive(Args)]
pub struct LockArgs {
    /// Unmount file systems mounted from the drive (a busy one stays mounted and is reported)
    #[arg(long)]
    pub force: bool,
    /// Client name other programs see as the owner (A-Z a-z 0-9 space . , : ; _ -, at most 63)
    #[arg(long, default_value = "discrec", value_name = "NAME")]
    pub client: String,
    /// Wait for the drive: forever, or at most SECONDS (fractions allowed)
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "inf")]
    pub wait: Option<String>,
    /// Without COMMAND: print a JSON object instead of `locked TARGET`
    #[arg(long)]
    pub json: bool,
    /// Say on stderr when the drive is taken, and whom a wait waits for (a terminal always hears that)
    #[arg(long, short)]
    pub verbose: bool,
    /// Keep the kernel's exclusive claim for COMMAND too (for writers that do not open the drive with O_EXCL themselves, e.g. dd); tools that do (xorriso, growisofs, cdrskin) then fail with EBUSY
    #[arg(long)]
    pub keep_claim: bool,
    /// The cluster lock
    #[command(flatten)]
    pub cluster: ClusterLockArgs,
    /// Drive (/dev/srN, a by-id link, an sg node) or image file
    pub target: PathBuf,
    /// Command to become while holding the drive (with a cluster lock: to run as a child, stopped if the lock is lost): it keeps the drive as long as it runs, and its stdout, signals and exit status are its own (discrec prints nothing on stdout)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl LockArgs {
    /// How long to wait: not at all without `--wait`, forever with a bare
    /// `--wait`. Also refuses the two usual slips clap lets through: an
    /// empty `--`, and `--wait 5 DRIVE` (clap took 5 for the drive).
    pub fn wait(&self) -> Result<WaitPolicy, Error> {
        let wait = wait_policy(self.wait.as_deref())?;
        if self.command.is_empty() && std::env::args_os().next_back().is_some_and(|a| a == "--") {
            return Err(Error::InvalidArgument(
                "`--` is not followed by a command; name the command to run, or leave out `--` to just hold the drive"
                    .into(),
            ));
        }
        if let (Some("inf"), Some(t)) = (self.wait.as_deref(), self.target.to_str()) {
            if t.parse::<f64>().is_ok() && !self.target.exists() {
                return Err(Error::InvalidArgument(format!(
                    "`--wait {t}` names {t} as the drive; write --wait={t} to wait at most {}",
                    seconds(t)
                )));
            }
        }
        Ok(wait)
    }
}

/// `t` seconds in words: "1 second", "2.5 seconds".
fn seconds(t: &str) -> String {
    match t.parse::<f64>() {
        Ok(1.0) => format!("{t} second"),
        _ => format!("{t} seconds"),
    }
}

/// `--wait=SECONDS`: `inf` (bare `--wait`) is forever.
/// The wait `--wait[=SECONDS]` asks for (`None`: no `--wait`).
pub fn wait_policy(w: Option<&str>) -> Result<WaitPolicy, Error> {
    Ok(match w {
        None => WaitPolicy::NoWait,
        Some(w) => WaitPolicy::at_most(parse_wait(w)?),
    })
}

pub fn parse_wait(w: &str) -> Result<Option<Duration>, Error> {
    if w == "inf" {
        return Ok(None);
    }
    w.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--wait={w} is not a number of seconds from 0 to 999999999; write e.g. --wait=2.5, or --wait to wait forever"
            ))
        })
}

/// What clap could not parse, as the one-line `E_INVALIDARG` every other
/// failure gets; `None` for help and version, which clap prints itself.
pub fn usage_error(e: &clap::Error) -> Option<Error> {
    use clap::error::ErrorKind;
    use clap::CommandFactory;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return None;
    }
    let cli = Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
    // The top level takes no option with a value: the first word that is
    // not an option is the subcommand.
    // Arguments as the user gave them: paths need not be UTF-8.
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let sub = args.iter().skip(1).find(|a| !a.starts_with('-')).filter(|a| names.contains(&a.as_str())).cloned();
    let help = match &sub {
        Some(s) => format!("discrec {s} --help"),
        None => "discrec --help".into(),
    };
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!("no command given (one of {})", names.join(", "))
    } else {
        one_line(&e.render().to_string())
    };
    // `--wait 5`: the value must be attached (`--wait` alone waits forever).
    let wait_hint = args
        .windows(2)
        .find(|w| w[0] == "--wait" && w[1].parse::<f64>().is_ok())
        .map(|w| format!("; to wait at most {} write --wait={}", seconds(&w[1]), w[1]))
        .unwrap_or_default();
    // `discrec lock IMG cmd`: the command needs `--` before it.
    let dash_hint = if sub.as_deref() == Some("lock")
        && e.kind() == ErrorKind::UnknownArgument
        && !args.iter().any(|a| a == "--")
    {
        "; to run a command while holding the drive, put `--` before it (`discrec lock TARGET -- COMMAND`)"
    } else {
        ""
    };
    Some(Error::InvalidArgument(format!("{message}{wait_hint}{dash_hint}; see `{help}`")))
}

/// clap's text ("error: MESSAGE", indented continuation lines, tips in
/// paragraphs of their own, then usage and a pointer to --help) as one
/// line: the message and tips joined by `; `.
fn one_line(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let (mut new_paragraph, mut skipping) = (true, false);
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            (new_paragraph, skipping) = (true, false);
            continue;
        }
        skipping |= t.starts_with("Usage:") || t.starts_with("For more information");
        if skipping {
            continue;
        }
        match parts.last_mut() {
            Some(last) if !new_paragraph && line.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(t);
            }
            _ => parts.push(t.strip_prefix("error: ").unwrap_or(t).to_string()),
        }
        new_paragraph = false;
    }
    parts.join("; ")
}
