//! Real Debian programs over Kestrel's TCP/IP: what they need besides their
//! libraries (configuration, directories, Python's library), the host packages
//! they come from, and their end-to-end checks in `cargo xtask test`.
//!
//! `--with /usr/sbin/nginx` brings a minimal nginx configuration made here (the
//! host's /etc is not used), and `--with /usr/bin/python3` brings Python's
//! standard library without the parts no server needs; see [`add_companions`].

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::initramfs::{Node, Tree};
use crate::{Opts, build, deps, qemu};

/// One program of the end-to-end checks: (host path, Debian package).
pub const PROGRAMS: &[(&str, &str)] = &[
    ("/usr/bin/redis-server", "redis-server"),
    ("/usr/bin/redis-benchmark", "redis-tools"),
    ("/usr/bin/redis-cli", "redis-tools"),
    ("/usr/sbin/nginx", "nginx-light"),
    ("/usr/bin/wrk", "wrk"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/iperf3", "iperf3"),
    ("/usr/bin/socat", "socat"),
    ("/usr/bin/python3", "python3"),
];

/// The Debian package a program path comes from, if it is one of [`PROGRAMS`].
pub fn package_of(path: &Path) -> Option<&'static str> {
    PROGRAMS
        .iter()
        .find(|(p, _)| Path::new(p) == path)
        .map(|(_, pkg)| *pkg)
}

/// `--with` of one of [`PROGRAMS`] that the host lacks: installs its package
/// with apt-get when running as root (saying so), otherwise fails with the
/// package to install. Other paths are left to `--with`'s own checks.
pub fn ensure_for_with(with: &[String]) -> Result<(), String> {
    let wanted: Vec<(&str, &str)> = with
        .iter()
        .map(|w| w.split_once(':').map_or(w.as_str(), |(h, _)| h))
        .filter_map(|h| {
            PROGRAMS
                .iter()
                .find(|(p, _)| *p == h && !Path::new(p).exists())
                .copied()
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    deps::ensure_tools(&wanted)
}

/// nginx's configuration: one worker (as `nobody`, so the master's setgid,
/// initgroups and setuid run), the access log on (the host's requests are
/// looked for there), sendfile, both address families on port 80.
pub const NGINX_CONF: &str = "\
# Made by cargo xtask for Kestrel (xtask/src/apps.rs).
user nobody nogroup;
worker_processes 1;
error_log stderr notice;
pid /run/nginx.pid;
events {
    worker_connections 512;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    server {
        listen 80;
        listen [::]:80;
        root /var/www/html;
        index index.html;
    }
}
";

const MIME_TYPES: &str = "\
types {
    text/html html htm;
    text/plain txt;
    text/css css;
    application/javascript js;
    application/json json;
    image/png png;
    image/jpeg jpg jpeg;
}
";

const INDEX_HTML: &str =
    "<!DOCTYPE html>\n<title>nginx on Kestrel</title>\n<p>nginx on Kestrel</p>\n";

/// Parts of Python's library that no server started with `python3 -m` needs:
/// the static library and build files (25 MB), the test suite, GUI and
/// packaging tools.
const PYTHON_SKIP: &[&str] = &[
    "config-",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "distutils",
];

/// What a program brought with `--with` needs besides its libraries, added to
/// `t`: for nginx its configuration, document root and the directories it
/// writes; for `python3.N`, /usr/lib/python3.N without [`PYTHON_SKIP`]. A file
/// already in the archive (a configuration of the user's own) is kept.
pub fn add_companions(t: &mut Tree, resolved: &Path) -> Result<(), String> {
    let Some(name) = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return Ok(());
    };
    let keep = |t: &mut Tree, path: &str, node: Node| {
        if t.get(path).is_none() {
            t.add(path, node);
        }
    };
    if name == "nginx" {
        keep(
            t,
            "etc/nginx/nginx.conf",
            Node::File(0o644, NGINX_CONF.as_bytes().to_vec()),
        );
        keep(
            t,
            "etc/nginx/mime.types",
            Node::File(0o644, MIME_TYPES.as_bytes().to_vec()),
        );
        keep(
            t,
            "var/www/html/index.html",
            Node::File(0o644, INDEX_HTML.as_bytes().to_vec()),
        );
        for d in ["var/lib/nginx", "var/log/nginx", "run"] {
            keep(t, d, Node::Dir(0o755));
        }
    } else if let Some(version) = name.strip_prefix("python")
        && version.starts_with("3.")
        && version[2..].bytes().all(|b| b.is_ascii_digit())
    {
        let lib = Path::new("/usr/lib").join(&name);
        if !lib.is_dir() {
            return Ok(());
        }
        let mut entries: Vec<_> = std::fs::read_dir(&lib)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let entry = e.file_name().to_string_lossy().into_owned();
            if PYTHON_SKIP
                .iter()
                .any(|s| entry == *s || (s.ends_with('-') && entry.starts_with(s)))
            {
                continue;
            }
            let guest = format!("{}/{entry}", lib.display());
            if t.get(&guest).is_none() {
                t.add_host(&e.path(), &guest)?;
            }
        }
    }
    Ok(())
}

/// The bytes `seq 1 n` prints.
fn seq(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

/// The result of one check, printed as PASS, FAIL or SKIP.
enum Outcome {
    Pass(String),
    Fail(String),
}

/// Whether the host has `programs` (after [`deps::ensure_tools`] tried to
/// install them): the SKIP reason if not.
fn missing(programs: &[&str], install_error: &Option<String>) -> Option<String> {
    let lacking: Vec<&str> = programs
        .iter()
        .filter(|p| !Path::new(p).exists())
        .copied()
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let mut pkgs: Vec<&str> = lacking
        .iter()
        .filter_map(|p| package_of(Path::new(p)))
        .collect();
    pkgs.dedup();
    Some(format!(
        "no {} on this host (apt-get install {}{})",
        lacking.join(", "),
        pkgs.join(" "),
        install_error
            .as_ref()
            .map(|_| ", as root")
            .unwrap_or_default()
    ))
}

/// Boots with `programs` brought by `--with` and runs `cmd`, echoing nothing;
/// the serial lines come back.
fn boot(
    opts: &Opts,
    a: &build::Artefacts,
    programs: &[&str],
    cmd: &str,
    cpio: &str,
    show: &mut dyn FnMut(&str) -> bool,
) -> Result<qemu::Captured, String> {
    let with: Vec<String> = programs.iter().map(|p| p.to_string()).collect();
    qemu::run_workload(
        opts,
        a,
        &qemu::Workload {
            cmd,
            with: &with,
            cpio,
            cmdline: "",
        },
        Duration::from_secs(180),
        show,
    )
}

/// The value after `prefix` on the first line that has it.
fn after<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| l.trim_end().strip_prefix(prefix))
}

/// The tail of a boot's output, for a FAIL line.
fn tail(c: &qemu::Captured) -> String {
    let n = c.lines.len().saturating_sub(12);
    let mut s = String::new();
    for l in &c.lines[n..] {
        s.push_str(&format!("\n    | {l}"));
    }
    if c.timed_out {
        s.push_str("\n    (timed out)");
    }
    s
}

/// redis-server with redis-cli's SET and GET and redis-benchmark's (1000
/// requests each, 10 clients) over loopback.
fn redis(opts: &Opts, a: &build::Artefacts) -> Result<Outcome, String> {
    let cmd = "\
redis-server --daemonize yes --save '' --appendonly no --logfile /tmp/redis.log; \
n=0; until [ \"$(redis-cli ping 2>/dev/null)\" = PONG ] || [ $n -ge 100 ]; do sleep 0.1; n=$((n+1)); done; \
redis-cli set kestrel-key 'hello from redis' >/dev/null; \
echo \"redis get: $(redis-cli get kestrel-key)\"; \
redis-benchmark -q -n 1000 -c 10 -t set,get 2>&1 | tr '\\r' '\\n' | grep 'requests per second' | sed 's/^ */redis bench: /'; \
redis-cli shutdown nosave >/dev/null 2>&1; echo redis-done";
    let c = boot(
        opts,
        a,
        &[
            "/usr/bin/redis-server",
            "/usr/bin/redis-cli",
            "/usr/bin/redis-benchmark",
        ],
        cmd,
        "initramfs-app-redis.cpio",
        &mut |_| false,
    )?;
    let got = after(&c.lines, "redis get: ");
    let rps = |what: &str| {
        after(&c.lines, &format!("redis bench: {what}: "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    Ok(match (got, rps("SET"), rps("GET")) {
        (Some("hello from redis"), Some(set), Some(get)) if set > 0.0 && get > 0.0 => {
            Outcome::Pass(format!("SET {set:.0} rps, GET {get:.0} rps"))
        }
        _ => Outcome::Fail(format!(
            "redis-cli get gave {got:?}, benchmark SET {:?} GET {:?}{}",
            rps("SET"),
            rps("GET"),
            tail(&c)
        )),
    })
}

/// What the host's curl got: the body, or why not.
type Fetched = Result<Vec<u8>, String>;

/// A host port nobody listens on now (bound and closed again).
fn free_host_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// nginx (a master and a worker running as nobody) serving a file to wget and
/// wrk (2 s, 10 connections) in the guest, and to the host's curl through
/// QEMU's port forwarding; the host's request must reach nginx's access log.
fn nginx(opts: &Opts, a: &build::Artefacts) -> Result<Outcome, String> {
    const LINES: u32 = 20_000;
    let body = seq(LINES);
    let want = crate::test::md5(&body)?;
    let port = free_host_port()?;
    let cmd = format!(
        "seq 1 {LINES} > /var/www/html/f; nginx; \
n=0; until wget -q -O /dev/null http://127.0.0.1/ || [ $n -ge 100 ]; do sleep 0.1; n=$((n+1)); done; \
echo \"nginx wget: $(wget -q -O - http://127.0.0.1/f | md5sum)\"; \
echo \"nginx wget6: $(wget -q -O - 'http://[::1]/f' | md5sum)\"; \
wrk -d2 -c10 -t1 http://127.0.0.1/f 2>&1 | sed 's/^/nginx wrk: /'; \
echo nginx-ready-for-the-host; \
n=0; until grep -q '^10.0.2.2 ' /var/log/nginx/access.log || [ $n -ge 300 ]; do sleep 0.1; n=$((n+1)); done; \
echo \"nginx host requests: $(grep -c '^10.0.2.2 ' /var/log/nginx/access.log)\"; \
echo \"nginx worker user: $(ps -o user,args | grep -c '^nobody *nginx: worker process')\"; \
nginx -s quit; n=0; while [ -e /run/nginx.pid ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; \
echo \"nginx stopped: $([ -e /run/nginx.pid ] && echo no || echo yes)\""
    );
    let mut o = opts.clone();
    o.net = Some(format!("user,hostfwd=tcp:127.0.0.1:{port}-:80"));
    let fetched: Arc<Mutex<Option<Fetched>>> = Arc::new(Mutex::new(None));
    let mut curl: Option<std::thread::JoinHandle<()>> = None;
    let c = boot(
        &o,
        a,
        &["/usr/sbin/nginx", "/usr/bin/wrk"],
        &cmd,
        "initramfs-app-nginx.cpio",
        &mut |line| {
            if line.trim_end() == "nginx-ready-for-the-host" && curl.is_none() {
                let slot = fetched.clone();
                curl = Some(std::thread::spawn(move || {
                    let out = std::process::Command::new("curl")
                        .args(["-s", "-f", "-m", "30"])
                        .arg(format!("http://127.0.0.1:{port}/f"))
                        .output();
                    *slot.lock().unwrap() = Some(match out {
                        Ok(o) if o.status.success() => Ok(o.stdout),
                        Ok(o) => Err(format!("curl exited with {:?}", o.status.code())),
                        Err(e) => Err(format!("cannot run curl: {e}")),
                    });
                }));
            }
            false
        },
    )?;
    if let Some(t) = curl {
        let _ = t.join();
    }
    let host = fetched.lock().unwrap().take();
    let host_ok = matches!(&host, Some(Ok(b)) if *b == body);
    let wget = format!("{want}  -");
    // wrk's `  2008 requests in 2.05s, 17.52MB read`
    let requests = c.lines.iter().find_map(|l| {
        let r = l.strip_prefix("nginx wrk: ")?.trim();
        let (n, rest) = r.split_once(' ')?;
        if rest.starts_with("requests in") {
            n.parse::<u64>().ok()
        } else {
            None
        }
    });
    let rps = c
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("nginx wrk: Requests/sec:"))
        .map(|r| r.trim().to_string());
    let errors = c.lines.iter().any(|l| {
        l.starts_with("nginx wrk: ") && (l.contains("Socket errors") || l.contains("Non-2xx"))
    });
    let checks = [
        (
            "wget over 127.0.0.1",
            after(&c.lines, "nginx wget: ") == Some(&wget),
        ),
        (
            "wget over ::1",
            after(&c.lines, "nginx wget6: ") == Some(&wget),
        ),
        ("wrk's requests", requests.is_some_and(|n| n > 0) && !errors),
        ("the host's curl", host_ok),
        (
            "the host's request in the access log",
            after(&c.lines, "nginx host requests: ").is_some_and(|n| n != "0"),
        ),
        (
            "a worker running as nobody, titled as nginx titles it",
            after(&c.lines, "nginx worker user: ") == Some("1"),
        ),
        (
            "nginx -s quit",
            after(&c.lines, "nginx stopped: ") == Some("yes"),
        ),
    ];
    let failed: Vec<&str> = checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
    Ok(if failed.is_empty() {
        Outcome::Pass(format!(
            "wrk {} requests, {} rps; the host's curl got {} bytes",
            requests.unwrap_or(0),
            rps.unwrap_or_default(),
            body.len()
        ))
    } else {
        let host = match host {
            Some(Ok(b)) => format!("{} bytes", b.len()),
            Some(Err(e)) => e,
            None => "not run".into(),
        };
        Outcome::Fail(format!(
            "failed: {failed:?} (host curl: {host}){}",
            tail(&c)
        ))
    })
}

/// `python3 -m http.server` (Debian's Python with its library) serving a file
/// and a directory listing to busybox wget.
fn python(opts: &Opts, a: &build::Artefacts) -> Result<Outcome, String> {
    const LINES: u32 = 20_000;
    let want = format!("{}  -", crate::test::md5(&seq(LINES))?);
    let cmd = format!(
        "mkdir -p /srv/www; cd /srv/www; seq 1 {LINES} > f; \
python3 -m http.server 8000 --bind 127.0.0.1 >/tmp/py.log 2>&1 & pid=$!; \
n=0; until wget -q -O /dev/null http://127.0.0.1:8000/ || [ $n -ge 300 ]; do sleep 0.1; n=$((n+1)); done; \
echo \"python wget: $(wget -q -O - http://127.0.0.1:8000/f | md5sum)\"; \
echo \"python listing: $(wget -q -O - http://127.0.0.1:8000/ | grep -c 'href=\"f\"')\"; \
echo \"python log: $(grep -c '\"GET /f HTTP/1.1\" 200' /tmp/py.log)\"; kill $pid"
    );
    let c = boot(
        opts,
        a,
        &["/usr/bin/python3"],
        &cmd,
        "initramfs-app-python.cpio",
        &mut |_| false,
    )?;
    let checks = [
        ("the file", after(&c.lines, "python wget: ") == Some(&want)),
        (
            "the listing",
            after(&c.lines, "python listing: ") == Some("1"),
        ),
        (
            "the request log",
            after(&c.lines, "python log: ") == Some("1"),
        ),
    ];
    let failed: Vec<&str> = checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
    Ok(if failed.is_empty() {
        Outcome::Pass(String::new())
    } else {
        Outcome::Fail(format!("failed: {failed:?}{}", tail(&c)))
    })
}

/// iperf3's server and client over loopback: 2 s client to server, then 1 s
/// the other way (-R), once the server listens again for its second test.
fn iperf3(opts: &Opts, a: &build::Artefacts) -> Result<Outcome, String> {
    let cmd = "\
iperf3 -s >/tmp/iperf3.log 2>&1 & pid=$!; \
n=0; until grep -q 'Server listening' /tmp/iperf3.log || [ $n -ge 100 ]; do sleep 0.1; n=$((n+1)); done; \
iperf3 -c 127.0.0.1 -t 2 2>&1 | grep -E 'receiver|error' | sed 's/^/iperf3 send: /'; \
n=0; until grep -q 'Server listening on 5201 (test #2)' /tmp/iperf3.log || [ $n -ge 100 ]; do sleep 0.1; n=$((n+1)); done; \
iperf3 -c 127.0.0.1 -t 1 -R 2>&1 | grep -E 'receiver|error' | sed 's/^/iperf3 reverse: /'; \
kill $pid";
    let c = boot(
        opts,
        a,
        &["/usr/bin/iperf3"],
        cmd,
        "initramfs-app-iperf3.cpio",
        &mut |_| false,
    )?;
    // `[  5]   0.00-2.00   sec  45.1 MBytes   188 Mbits/sec   receiver`
    let rate = |prefix: &str| {
        let l = after(&c.lines, prefix)?;
        let words: Vec<&str> = l.split_whitespace().collect();
        let i = words.iter().position(|w| w.ends_with("bits/sec"))?;
        Some(format!("{} {}", words.get(i.checked_sub(1)?)?, words[i]))
    };
    let errors = c
        .lines
        .iter()
        .any(|l| l.starts_with("iperf3 ") && l.contains("error"));
    Ok(match (rate("iperf3 send: "), rate("iperf3 reverse: ")) {
        (Some(s), Some(r)) if !errors => Outcome::Pass(format!("{s}, reverse {r}")),
        (s, r) => Outcome::Fail(format!("send {s:?}, reverse {r:?}{}", tail(&c))),
    })
}

/// A UDP echo server made of socat (a child per datagram, `cat` echoing it)
/// answering socat clients over IPv4 and IPv6 loopback. A client sends again
/// until it hears back: the servers may still be starting (a datagram before
/// they bind is refused).
fn socat(opts: &Opts, a: &build::Artefacts) -> Result<Outcome, String> {
    let cmd = "\
socat UDP4-RECVFROM:9000,fork EXEC:cat & p4=$!; socat UDP6-RECVFROM:9001,fork EXEC:cat & p6=$!; \
echo_to() { n=0; while [ $n -lt 20 ]; do r=$(echo $1 | socat -t 1 - $2 2>/dev/null); [ -n \"$r\" ] && break; sleep 0.2; n=$((n+1)); done; echo \"$r\"; }; \
echo \"udp4 echo: $(echo_to kestrel-udp4 UDP4:127.0.0.1:9000)\"; \
echo \"udp6 echo: $(echo_to kestrel-udp6 'UDP6:[::1]:9001')\"; \
kill $p4 $p6";
    let c = boot(
        opts,
        a,
        &["/usr/bin/socat"],
        cmd,
        "initramfs-app-socat.cpio",
        &mut |_| false,
    )?;
    let four = after(&c.lines, "udp4 echo: ") == Some("kestrel-udp4");
    let six = after(&c.lines, "udp6 echo: ") == Some("kestrel-udp6");
    Ok(if four && six {
        Outcome::Pass(String::new())
    } else {
        Outcome::Fail(format!("udp4 echoed {four}, udp6 echoed {six}{}", tail(&c)))
    })
}

type Check = fn(&Opts, &build::Artefacts) -> Result<Outcome, String>;

/// The checks: (name, host programs they need, check).
const CHECKS: &[(&str, &[&str], Check)] = &[
    (
        "apps.redis_server_answers_redis_cli_and_redis_benchmark_over_loopback",
        &[
            "/usr/bin/redis-server",
            "/usr/bin/redis-cli",
            "/usr/bin/redis-benchmark",
        ],
        redis,
    ),
    (
        "apps.nginx_serves_wget_and_wrk_in_the_guest_and_curl_on_the_host",
        &["/usr/sbin/nginx", "/usr/bin/wrk", "/usr/bin/curl"],
        nginx,
    ),
    (
        "apps.python_http_server_serves_wget",
        &["/usr/bin/python3"],
        python,
    ),
    (
        "apps.iperf3_client_and_server_over_loopback_both_ways",
        &["/usr/bin/iperf3"],
        iperf3,
    ),
    (
        "apps.socat_udp_echo_over_ipv4_and_ipv6_loopback",
        &["/usr/bin/socat"],
        socat,
    ),
];

/// `cargo xtask apps`: the checks of [`check`] alone, on a freshly built kernel.
pub fn run(opts: &Opts) -> Result<u8, String> {
    let a = build::build_all(opts)?;
    let (accel, why) = qemu::accelerator(opts);
    println!("xtask: accelerator: {accel} ({why})");
    let (passed, failed) = check(opts, &a)?;
    println!("{passed} passed, {failed} failed");
    Ok(u8::from(failed > 0))
}

/// `cargo xtask test`'s real programs: installs their packages where it can
/// (as root, with apt-get), runs each check, and returns (passed, failed); a
/// check whose programs the host lacks prints SKIP.
pub fn check(opts: &Opts, a: &build::Artefacts) -> Result<(u32, u32), String> {
    let install_error = deps::ensure_tools(PROGRAMS).err();
    if let Some(e) = &install_error {
        println!("xtask: {e}");
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, programs, check) in CHECKS {
        if let Some(why) = missing(programs, &install_error) {
            println!("SKIP {name}: {why}");
            continue;
        }
        match check(opts, a)? {
            Outcome::Pass(what) if what.is_empty() => {
                println!("PASS {name}");
                passed += 1;
            }
            Outcome::Pass(what) => {
                println!("PASS {name}: {what}");
                passed += 1;
            }
            Outcome::Fail(why) => {
                println!("FAIL {name}: {why}");
                failed += 1;
            }
        }
    }
    Ok((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_brings_its_configuration_unless_one_is_there() {
        let mut t = Tree::default();
        add_companions(&mut t, Path::new("/usr/sbin/nginx")).unwrap();
        assert!(
            matches!(t.get("etc/nginx/nginx.conf"), Some(Node::File(_, d)) if d == NGINX_CONF.as_bytes())
        );
        assert!(matches!(t.get("var/lib/nginx"), Some(Node::Dir(_))));
        let mut t = Tree::default();
        t.add("etc/nginx/nginx.conf", Node::File(0o644, b"mine".to_vec()));
        add_companions(&mut t, Path::new("/usr/sbin/nginx")).unwrap();
        assert!(matches!(t.get("etc/nginx/nginx.conf"), Some(Node::File(_, d)) if d == b"mine"));
    }

    #[test]
    fn other_programs_bring_nothing() {
        let mut t = Tree::default();
        add_companions(&mut t, Path::new("/usr/bin/redis-server")).unwrap();
        add_companions(&mut t, Path::new("/usr/bin/python3-config")).unwrap();
        assert!(t.get("etc").is_none() && t.get("usr").is_none());
    }

    #[test]
    fn seq_is_what_seq_prints() {
        assert_eq!(seq(3), b"1\n2\n3\n");
    }

    #[test]
    fn packages_are_named_for_the_programs() {
        assert_eq!(
            package_of(Path::new("/usr/bin/redis-cli")),
            Some("redis-tools")
        );
        assert_eq!(package_of(Path::new("/usr/bin/ls")), None);
    }
}
