//! The command line's cluster lock against a real etcd: two "hosts" (two
//! host names, each with its own image file standing for one shared
//! drive) hold, refuse, name and hand over the drive through `--cluster`.
//! The two-guest test on one iSCSI drive is the guest tier's.

#![cfg(feature = "cluster")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `discrec` on "host" `host`, pointed at etcd by `$DISCREC_ETCD`.
fn on(host: &str, s: &Scratch, url: &str) -> Command {
    let mut c = s.discrec();
    c.env("DISCREC_HOSTNAME", host).env("DISCREC_ETCD", url);
    c
}

#[test]
fn two_hosts_share_one_drive_through_etcd() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let (img_a, img_b) = (s.dir.path().join("a.img"), s.dir.path().join("b.img"));
    std::fs::File::create(&img_a).unwrap();
    std::fs::File::create(&img_b).unwrap();
    let key = ["--cluster-key", "shared-dvd"];
    let ttl = ["--cluster-ttl", "2"];
    // Host A holds it.
    let mut a = on("host-a", &s, &etcd.url);
    a.arg("lock").args(key).args(ttl).args(["--client", "A Burner"]).arg(&img_a);
    let (mut holder, line) = spawn_holder(a);
    assert!(line.starts_with("locked "), "{line}");
    // Host B sees who holds it, and where.
    let o = on("host-b", &s, &etcd.url).arg("owner").args(key).arg(&img_b).output().unwrap();
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).trim()), (Some(0), "A Burner"));
    let o = on("host-b", &s, &etcd.url).args(["owner", "--json"]).args(key).arg(&img_b).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["client_name"].as_str(), v["host"].as_str()), (Some("A Burner"), Some("host-a")), "{v}");
    // Host B is refused, naming client and host; its burn writes nothing.
    let o = on("host-b", &s, &etcd.url).arg("lock").args(key).arg(&img_b).args(["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("\"A Burner\"") && err.contains("on host-a") && err.contains("E_IMAPI_RECORDER_LOCKED"),
        "{err}"
    );
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, vec![7u8; 4096]).unwrap();
    let o = on("host-b", &s, &etcd.url).arg("burn").args(key).arg(&img_b).arg(&src).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&img_b).unwrap().len(), 0, "host B wrote while host A held the drive");
    // Host A is SIGKILLed: its lease expires within the TTL (2 s) and a
    // waiter on host B gets the drive.
    let waiter = on("host-b", &s, &etcd.url)
        .arg("lock")
        .args(key)
        .args(ttl)
        .args(["--wait=15", "--client", "B Burner"])
        .arg(&img_b)
        .args(["--", "true"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let st = waiter.wait_with_output().unwrap().status;
    let took = killed.elapsed();
    println!("host B got the drive {took:?} after host A's holder was SIGKILLed (TTL 2 s)");
    assert!(st.success() && took < Duration::from_secs(3), "{st:?} after {took:?}");
    drop(etcd);
}

#[test]
fn an_image_needs_a_cluster_key_and_etcd_must_answer() {
    let s = Scratch::new();
    let img = s.image("x.img");
    let Some(etcd) = EtcdServer::start() else { return };
    let o = s.discrec().args(["lock", "--cluster", &etcd.url]).arg(&img).args(["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--cluster-key"), "{err}");
    drop(etcd);
    // Nothing listening: a bounded error naming the URL, not a hang and not
    // a silent fallback to the local lock.
    let url = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let t = Instant::now();
    let o = s
        .discrec()
        .args(["lock", "--cluster", &url, "--cluster-key", "k"])
        .arg(&img)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(26), "{err}");
    assert!(err.contains(&url) && t.elapsed() < Duration::from_secs(8), "{err} after {:?}", t.elapsed());
}

#[test]
fn the_guard_holds_the_drive_here_for_a_client_of_another_host() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let (img_a, img_b) = (s.image("a.img"), s.image("b.img"));
    let key = ["--cluster-key", "guarded-dvd"];
    // The guard of host B.
    let mut g = on("host-b", &s, &etcd.url);
    g.arg("guard").args(key).arg(&img_b).stdout(Stdio::piped());
    let mut guard = g.spawn().unwrap();
    let mut guard_out = BufReader::new(guard.stdout.take().unwrap());
    let mut line = String::new();
    guard_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("free {}", img_b.display()));
    // Host A takes the drive: host B's guard holds it there for A.
    let mut a = on("host-a", &s, &etcd.url);
    a.arg("lock").args(key).args(["--client", "A Burner"]).arg(&img_a);
    let (mut holder, line) = spawn_holder(a);
    assert!(line.starts_with("locked "), "{line}");
    let mut next = String::new();
    guard_out.read_line(&mut next).unwrap();
    assert_eq!(next.trim(), format!("guarding {} for \"A Burner\" on host-a", img_b.display()));
    // A program of host B that knows nothing of etcd is refused, and is
    // told whom for.
    let o = s.discrec().arg("lock").arg(&img_b).args(["--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("A Burner on host-a"), "{err}");
    // A releases: the guard lets go.
    rustix::process::kill_process(rustix::process::Pid::from_child(&holder), rustix::process::Signal::TERM).unwrap();
    assert!(holder.wait().unwrap().success());
    next.clear();
    guard_out.read_line(&mut next).unwrap();
    assert_eq!(next.trim(), format!("free {}", img_b.display()));
    let o = s.discrec().arg("lock").arg(&img_b).args(["--", "true"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    rustix::process::kill_process(rustix::process::Pid::from_child(&guard), rustix::process::Signal::TERM).unwrap();
    assert!(guard.wait().unwrap().success());
}

#[test]
fn a_holder_cut_off_from_etcd_stops_its_command_and_says_so() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let img = s.image("a.img");
    let marker = s.dir.path().join("still-running");
    let orphan = s.dir.path().join("orphan-running");
    // COMMAND writes through a child of its own and through an orphan in a
    // session of its own (a daemon): all must stop.
    let mut c = on("host-a", &s, &etcd.url);
    c.args(["lock", "--cluster-key", "cut-dvd", "--cluster-ttl", "3"]).arg(&img).args([
        "--",
        "sh",
        "-c",
        &format!(
            "(while :; do touch '{m}'; sleep 0.1; done) & (setsid sh -c 'while :; do touch {o}; sleep 0.1; done' &); echo started; wait",
            m = marker.display(),
            o = orphan.display()
        ),
    ]);
    let (mut holder, line) = spawn_holder(c);
    assert_eq!(line.trim(), "started");
    // etcd stops answering (SIGSTOP: its sockets stay open, nothing moves).
    let etcd_pid = rustix::process::Pid::from_child(&etcd.child);
    rustix::process::kill_process(etcd_pid, rustix::process::Signal::STOP).unwrap();
    let cut = Instant::now();
    let st = holder.wait().unwrap();
    let took = cut.elapsed();
    rustix::process::kill_process(etcd_pid, rustix::process::Signal::CONT).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(holder.stderr.as_mut().unwrap(), &mut err).unwrap();
    println!("the cut-off holder stopped its command {took:?} after etcd stopped (TTL 3 s)");
    assert_eq!(st.code(), Some(26), "{err}");
    assert!(err.contains("cluster lock") && err.contains("lost"), "{err}");
    // Told before the lease could expire in etcd (TTL 3 s), and COMMAND is gone.
    assert!(took < Duration::from_secs(3), "{took:?}");
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(&orphan);
    std::thread::sleep(Duration::from_millis(400));
    assert!(!marker.exists(), "COMMAND's child still runs after the lock was lost");
    assert!(!orphan.exists(), "an orphan COMMAND left still runs after the lock was lost");
}

#[test]
fn command_dies_with_its_supervisor_and_hears_its_signals() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let img = s.image("a.img");
    let key = ["--cluster-key", "sup-dvd"];
    // SIGTERM to discrec reaches COMMAND, whose status comes back.
    let mut c = on("host-a", &s, &etcd.url);
    c.arg("lock").args(key).arg(&img).args([
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo started; while :; do sleep 0.05; done",
    ]);
    c.stdout(Stdio::piped());
    let mut holder = c.spawn().unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "started");
    rustix::process::kill_process(rustix::process::Pid::from_child(&holder), rustix::process::Signal::TERM).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "got-term");
    assert_eq!(holder.wait().unwrap().code(), Some(7));
    // discrec SIGKILLed: COMMAND does not outlive it.
    let mut c = on("host-a", &s, &etcd.url);
    c.arg("lock").args(key).arg(&img).args(["--", "sh", "-c", "echo $$; exec sleep 60"]);
    let (mut holder, line) = spawn_holder(c);
    let command_pid: i32 = line.trim().parse().unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let t = Instant::now();
    while discrec::procfs::is_running(command_pid) {
        assert!(t.elapsed() < Duration::from_secs(2), "COMMAND {command_pid} outlived its SIGKILLed supervisor");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cluster_keys_are_separate_ttls_are_bounded_and_waits_are_announced() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let (img_a, img_b) = (s.image("a.img"), s.image("b.img"));
    let mut a = on("host-a", &s, &etcd.url);
    a.args(["lock", "--cluster-key", "lab/2", "--client", "Lab Two"]).arg(&img_a);
    let (mut holder, line) = spawn_holder(a);
    assert!(line.starts_with("locked "), "{line}");
    // "lab" is another drive than "lab/2".
    let o = on("host-b", &s, &etcd.url).args(["owner", "--cluster-key", "lab"]).arg(&img_b).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    // A waiter is told whom it waits for, on another host too.
    let o = on("host-b", &s, &etcd.url)
        .args(["lock", "--verbose", "--wait=1", "--cluster-key", "lab/2"])
        .arg(&img_b)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("waiting for") && err.contains("Lab Two") && err.contains("on host-a"), "{err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // A TTL beyond 30 days is refused before anything is taken.
    let o = on("host-a", &s, &etcd.url)
        .args(["lock", "--cluster-key", "k", "--cluster-ttl", "18446744073709551615"])
        .arg(&img_a)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_guard_never_gives_up_the_drive() {
    let s = Scratch::new();
    let img = s.image("b.img");
    // etcd out of reach from the start: the guard holds the drive.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut g = s.discrec();
    g.args(["guard", "--cluster", &url, "--cluster-key", "g"]).arg(&img).stdout(Stdio::piped());
    let mut guard = g.spawn().unwrap();
    // Held from the start, not from when the first call to etcd gives up
    // (3 s): no program of this host gets the drive in between.
    let started = std::time::Instant::now();
    let owner =
        || String::from_utf8_lossy(&s.discrec().arg("owner").arg(&img).output().unwrap().stdout).trim().to_string();
    assert!(
        eventually(Duration::from_secs(1), || owner() == "discrec guard: etcd unreachable"),
        "the drive was not held within a second of the guard's start"
    );
    eprintln!("timing: the guard held the drive {:?} after its start", started.elapsed());
    let mut out = BufReader::new(guard.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("holding ") && line.contains(&url), "{line}");
    let o = s.discrec().arg("owner").arg(&img).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "discrec guard: etcd unreachable");
    rustix::process::kill_process(rustix::process::Pid::from_child(&guard), rustix::process::Signal::TERM).unwrap();
    assert!(guard.wait().unwrap().success());

    // The drive busy here when another host takes it: the guard says so
    // and takes the drive once it is free, instead of leaving.
    let Some(etcd) = EtcdServer::start() else { return };
    let mut g = on("host-b", &s, &etcd.url);
    g.args(["guard", "--cluster-key", "g2"]).arg(&img).stdout(Stdio::piped());
    let mut guard = g.spawn().unwrap();
    let mut out = BufReader::new(guard.stdout.take().unwrap());
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("free "), "{line}");
    let mut local = s.discrec();
    local.args(["lock", "--client", "Local Tool"]).arg(&img);
    let (mut local, l) = spawn_holder(local);
    assert!(l.starts_with("locked "), "{l}");
    let img_a = s.image("a.img");
    let mut a = on("host-a", &s, &etcd.url);
    a.args(["lock", "--cluster-key", "g2", "--client", "A Burner"]).arg(&img_a);
    let (mut holder, l) = spawn_holder(a);
    assert!(l.starts_with("locked "), "{l}");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("busy ") && line.contains("Local Tool"), "{line}");
    local.kill().unwrap();
    local.wait().unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("guarding ") && line.contains("A Burner"), "{line}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    rustix::process::kill_process(rustix::process::Pid::from_child(&guard), rustix::process::Signal::TERM).unwrap();
    assert!(guard.wait().unwrap().success());
}

/// `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (apt install openssl)");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn etcd_over_tls_with_client_certificates_and_a_password() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("DISCREC_REQUIRE_ALL").as_deref() != Ok("1"),
            "openssl is required (apt install openssl)"
        );
        println!("SKIP: openssl is needed to make the test certificates");
        return;
    }
    let s = Scratch::new();
    let d = s.dir.path();
    // A CA, etcd's server certificate for 127.0.0.1, a client certificate.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let (key, csr, crt) = (format!("{who}-key.pem"), format!("{who}.csr"), format!("{who}.pem"));
        openssl(
            d,
            &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={who}"), "-keyout", &key, "-out", &csr],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                &crt,
            ],
        );
    }
    let p = |f: &str| d.join(f).display().to_string();
    let tls = [
        "--cert-file".to_string(),
        p("server.pem"),
        "--key-file".into(),
        p("server-key.pem"),
        "--trusted-ca-file".into(),
        p("ca.pem"),
        "--client-cert-auth".into(),
    ];
    let Some(etcd) = EtcdServer::start_with("https", &tls) else { return };
    let img = s.image("tls.img");
    let lock = |extra: &[&str]| {
        s.discrec()
            .args(["lock", "--cluster", &etcd.url, "--cluster-key", "tls-dvd"])
            .args(extra)
            .arg(&img)
            .args(["--", "true"])
            .env_remove("DISCREC_ETCD")
            .output()
            .unwrap()
    };
    let certs = ["--cacert", &p("ca.pem"), "--cert", &p("client.pem"), "--key", &p("client-key.pem")];
    let o = lock(&certs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The same through etcdctl's variables.
    let o = s
        .discrec()
        .args(["owner", "--cluster", &etcd.url, "--cluster-key", "tls-dvd"])
        .arg(&img)
        .env("ETCDCTL_CACERT", p("ca.pem"))
        .env("ETCDCTL_CERT", p("client.pem"))
        .env("ETCDCTL_KEY", p("client-key.pem"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    // No client certificate: a clear error naming etcd, not a hang.
    let o = lock(&["--cacert", &p("ca.pem")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(26), "{err}");
    assert!(err.contains(&etcd.url), "{err}");
    assert!(err.contains("--cert"), "no hint at the client certificate: {err}");
    // A certificate that is not there: a usage error naming it.
    let o = lock(&["--cacert", &p("nope.pem")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("nope.pem"), "{err}");

    // A user and password (etcd's auth): root must exist to enable it.
    let tls = ["--cacert", &p("ca.pem"), "--cert", &p("client.pem"), "--key", &p("client-key.pem")];
    let ctl = |args: &[&str]| etcdctl(&etcd.url, &tls, args);
    ctl(&["user", "add", "root:s3cret"]);
    ctl(&["auth", "enable"]);
    let o = lock(&[&certs[..], &["--user", "root:s3cret"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = lock(&[&certs[..], &["--user", "root:wrong"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(26), "{err}");
    assert!(err.to_lowercase().contains("auth"), "{err}");
}

#[test]
fn a_remote_holder_with_our_parents_pid_is_not_our_parent() {
    let Some(etcd) = EtcdServer::start() else { return };
    let s = Scratch::new();
    let img = s.dir.path().join("b.img");
    std::fs::File::create(&img).unwrap();
    let src = s.dir.path().join("src.iso");
    std::fs::write(&src, vec![7u8; 4096]).unwrap();
    // A holder on another host whose pid happens to be (or is forged to
    // be) the pid of the process that runs `discrec burn` here.
    let me = std::process::id();
    let record = serde_json::json!({"client_name": "Far Away", "host": "host-a", "pid": me, "uid": 0,
        "user": "root", "since_ms": 0, "command": null});
    let o = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.url, "put", "discrec/drive/pid-dvd/1", &record.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = on("host-b", &s, &etcd.url)
        .env(discrec::recorder::HOLDER_PID_VAR, me.to_string())
        .args(["burn", "--cluster-key", "pid-dvd"])
        .arg(&img)
        .arg(&src)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("Far Away") && err.contains("host-a"), "{err}");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 0, "burned while another host held the drive");
}

#[test]
fn cluster_mistakes_are_usage_errors_never_a_local_only_lock() {
    let s = Scratch::new();
    let img = s.image("a.img");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = s.discrec();
        c.env_remove("DISCREC_ETCD").env_remove("ETCDCTL_ENDPOINTS");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.args(args).arg(&img).args(["--", "true"]).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    // Cluster options without an etcd: refused, not a local lock.
    let (code, err) = run(&["lock", "--cluster-key", "k"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--cluster-key") && err.contains("DISCREC_ETCD"), "{err}");
    let (code, err) = run(&["lock", "--cluster-ttl", "5"], &[]);
    assert_eq!(code, Some(2), "{err}");
    // Bad URLs and certificate settings: usage errors naming the fix.
    for (args, env, says) in [
        (&["lock", "--cluster", "", "--cluster-key", "k"][..], &[][..], "no etcd URL"),
        (&["lock", "--cluster", "ftp://127.0.0.1:1", "--cluster-key", "k"], &[], "neither http:// nor https://"),
        (&["lock", "--cluster", "http://bad host:2379", "--cluster-key", "k"], &[], "is not a URL"),
        (&["lock", "--cluster", "http://127.0.0.1:99999", "--cluster-key", "k"], &[], "is not a URL"),
        (&["lock", "--cluster", "https://", "--cluster-key", "k"], &[], "is not a URL"),
        (
            &["lock", "--cluster", "http://127.0.0.1:1", "--cluster-key", "k", "--cacert", "/etc/hostname"],
            &[],
            "https://",
        ),
        (
            &["lock", "--cluster", "https://127.0.0.1:1", "--cluster-key", "k", "--cacert", "/nonexistent.pem"],
            &[],
            "cannot read",
        ),
        (
            &["lock", "--cluster", "https://127.0.0.1:1", "--cluster-key", "k", "--cacert", "/etc/hostname"],
            &[],
            "not PEM",
        ),
        (
            &["lock", "--cluster", "https://127.0.0.1:1", "--cluster-key", "k"],
            &[("ETCDCTL_CERT", "/etc/hostname")],
            "--key",
        ),
        (&["lock", "--cluster", "http://127.0.0.1:1", "--cluster-key", "k", "--user", "burner"], &[], "USER:PASSWORD"),
    ] {
        let (code, err) = run(args, env);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
