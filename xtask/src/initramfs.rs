//! The initramfs: a cpio "newc" archive the kernel unpacks into its root.
//!
//! It holds busybox (Debian's static build) with a symlink per applet, an `/init`
//! script, a few files in /etc, the userland tests, and whatever `--with` adds.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::build::out_dir;

/// One archive entry.
#[derive(Debug, Clone)]
pub enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(String),
}

/// Archive contents by guest path (without the leading '/').
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// /etc/hosts of the initramfs and of the Debian image.
pub const HOSTS: &str =
    "127.0.0.1\tlocalhost\n127.0.1.1\tkestrel\n::1\tlocalhost ip6-localhost ip6-loopback\n";
/// /etc/resolv.conf: QEMU's user network answers DNS at 10.0.2.3.
pub const RESOLV_CONF: &str = "nameserver 10.0.2.3\n";

const INIT: &str = r#"#!/bin/sh
# Kestrel's /init, made by `cargo xtask`. With /etc/kestrel/cmd (from
# `cargo xtask run --cmd`) it runs that and exits with its status, which the
# kernel reports as it powers off; otherwise it starts an interactive shell.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
[ -n "$TERM" ] || export TERM=linux
cd /root 2>/dev/null || cd /
if [ -f /etc/kestrel/cmd ]; then
    /bin/sh /etc/kestrel/cmd
    exit $?
fi
echo
echo "Kestrel: busybox sh on the serial console. 'exit' or Ctrl-D powers off."
# The shell runs as init's child in a session of its own with the console as its
# controlling terminal, as a getty would start it: then its background jobs
# belong to a group with a parent in the session (not orphaned), and job control
# works as on any Linux system (SIGTTIN, SIGTTOU, fg, bg).
setsid -c /bin/sh -l
exit $?
"#;

const PROFILE: &str = r#"export PS1='kestrel:\w\$ '
alias ll='ls -l'
"#;

/// root, and the unprivileged user servers drop to (nginx's workers).
const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The service names programs give getaddrinfo (wrk's `http://host/` asks for
/// "http"), as Debian's netbase has them.
const SERVICES: &str = "\
ftp\t\t21/tcp
ssh\t\t22/tcp
telnet\t\t23/tcp
smtp\t\t25/tcp
domain\t\t53/tcp
domain\t\t53/udp
http\t\t80/tcp\t\twww
ntp\t\t123/udp
https\t\t443/tcp
https\t\t443/udp
http-alt\t8080/tcp\t\twebcache
";

impl Tree {
    fn add_parents(&mut self, path: &str) {
        let mut cur = String::new();
        for part in path
            .split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            self.nodes.entry(cur.clone()).or_insert(Node::Dir(0o755));
        }
    }

    /// Adds (or replaces) a node at `path`.
    pub fn add(&mut self, path: &str, node: Node) {
        let path = self.follow_parents(path);
        self.add_parents(&path);
        self.nodes.insert(path, node);
    }

    /// `path` (without the leading '/') with each parent that is a symlink in the
    /// archive replaced by its target, as the kernel's path walk will see it: the
    /// kernel's cpio unpacker refuses an entry below a symlink (ENOTDIR), and a
    /// dynamically linked `--with` program brings links such as `lib -> usr/lib`.
    fn follow_parents(&self, path: &str) -> String {
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some(last) = parts.pop() else {
            return String::new();
        };
        let mut rest: Vec<&str> = parts.into_iter().rev().collect();
        let mut out: Vec<&str> = Vec::new();
        // Linux's MAXSYMLINKS; past it the path is taken as written.
        let mut links = 40;
        while let Some(part) = rest.pop() {
            match part {
                "." => continue,
                ".." => {
                    out.pop();
                    continue;
                }
                _ => out.push(part),
            }
            if let Some(Node::Symlink(target)) = self.nodes.get(&out.join("/"))
                && links > 0
            {
                links -= 1;
                out.pop();
                if target.starts_with('/') {
                    out.clear();
                }
                rest.extend(target.split('/').filter(|p| !p.is_empty()).rev());
            }
        }
        out.push(last);
        out.join("/")
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path.trim_start_matches('/'))
    }

    /// Adds the host's `host` at `guest` as `cp -rL` would for `host` itself: a
    /// symlink named here is followed and what it leads to is copied. Inside a
    /// directory, symlinks are copied as symlinks (as `cp -a` does): following
    /// them could pull in anything, up to the whole host.
    pub fn add_host(&mut self, host: &Path, guest: &str) -> Result<(), String> {
        check_host(host)?;
        let meta = fs::metadata(host).map_err(|e| format!("{}: {e}", host.display()))?;
        self.copy_host(host, guest, &meta, &mut Vec::new())
    }

    /// Copies `host` (whose followed metadata is `meta`) to `guest`; `ancestors`
    /// are the (device, inode) pairs of the directories being copied around it, so
    /// that a directory met again inside itself (a bind mount of a parent) is an
    /// error rather than a copy without end.
    fn copy_host(
        &mut self,
        host: &Path,
        guest: &str,
        meta: &fs::Metadata,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<(), String> {
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(host).map_err(|e| format!("{}: {e}", host.display()))?;
            self.add(guest, Node::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                return Err(format!(
                    "{}: a directory loop: this directory contains itself",
                    host.display()
                ));
            }
            self.add(guest, Node::Dir(mode));
            let mut entries: Vec<_> = fs::read_dir(host)
                .map_err(|e| format!("{}: {e}", host.display()))?
                .flatten()
                .collect();
            entries.sort_by_key(|e| e.file_name());
            ancestors.push(id);
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                let meta = fs::symlink_metadata(&path)
                    .map_err(|err| format!("{}: {err}", path.display()))?;
                let guest = format!("{}/{}", guest.trim_end_matches('/'), name);
                self.copy_host(&path, &guest, &meta, ancestors)?;
            }
            ancestors.pop();
        } else if meta.is_file() {
            let data = fs::read(host).map_err(|e| format!("{}: {e}", host.display()))?;
            self.add(guest, Node::File(mode, data));
        }
        // Sockets, FIFOs and device nodes have no place in a cpio of files.
        Ok(())
    }

    /// Adds the host's `path` (absolute) at the same path in the archive, the way
    /// the host resolves it: each symlink met on the way, the last component
    /// included, is recreated as a symlink and followed, so the link *and* what it
    /// leads to come along (`/usr/bin/redis-server -> redis-check-rdb`, `/lib64 ->
    /// usr/lib64`, `libfoo.so.1 -> libfoo.so.1.2`). What the walk ends at, a file
    /// or a directory tree, is copied; its host path is returned.
    ///
    /// Where the archive already has a real directory (busybox's /bin) and the host
    /// a symlink (`/bin -> usr/bin` on a merged-/usr system), the archive keeps its
    /// directory, the walk goes on where the host's link leads, and the path as
    /// given becomes a symlink to where it ended: `--with /bin/bash` gives
    /// `/usr/bin/bash` and `/bin/bash -> /usr/bin/bash`, as on the host.
    pub fn add_as_on_host(&mut self, path: &Path) -> Result<PathBuf, String> {
        let mut rest: Vec<String> = Vec::new();
        push_components(&mut rest, path);
        let mut cur = PathBuf::from("/");
        let mut links = 0;
        let mut aliases: Vec<PathBuf> = Vec::new();
        let mut meta = fs::metadata("/").map_err(|e| format!("/: {e}"))?;
        while let Some(part) = rest.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    meta = fs::metadata(&cur).map_err(|e| format!("{}: {e}", cur.display()))?;
                    continue;
                }
                _ => {}
            }
            let next = cur.join(&part);
            let guest = next.to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&next).map_err(|e| format!("{guest}: {e}"))?;
            if m.file_type().is_symlink() {
                // Linux's MAXSYMLINKS.
                links += 1;
                if links > 40 {
                    return Err(format!(
                        "{}: a symlink loop (more than 40 symlinks on the way)",
                        path.display()
                    ));
                }
                let target = fs::read_link(&next).map_err(|e| format!("{guest}: {e}"))?;
                if matches!(self.get(&guest), Some(Node::Dir(_))) {
                    let mut alias = next.clone();
                    alias.extend(rest.iter().rev());
                    aliases.push(alias);
                } else {
                    self.add(&guest, Node::Symlink(target.to_string_lossy().into_owned()));
                }
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                push_components(&mut rest, &target);
            } else if m.is_dir() || rest.is_empty() {
                // A directory to go on from, or what the walk ends at.
                cur = next;
                meta = m;
            } else {
                return Err(format!("{}: {guest} is not a directory", path.display()));
            }
        }
        let resolved = cur.to_string_lossy().into_owned();
        if meta.is_dir() {
            self.copy_host(&cur, &resolved, &meta, &mut Vec::new())?;
        } else if meta.is_file() {
            let data = fs::read(&cur).map_err(|e| format!("{resolved}: {e}"))?;
            self.add(
                &resolved,
                Node::File(meta.permissions().mode() & 0o7777, data),
            );
        } else {
            return Err(format!(
                "{}: {resolved} is not a regular file or directory",
                path.display()
            ));
        }
        for alias in aliases {
            let at = alias.to_string_lossy();
            let (archive_at, archive_resolved) =
                (self.follow_parents(&at), self.follow_parents(&resolved));
            if archive_at != archive_resolved
                && !matches!(self.get(&archive_at), Some(Node::Dir(_)))
            {
                self.add(&at, Node::Symlink(resolved.clone()));
            }
        }
        Ok(cur)
    }

    /// Writes the archive.
    pub fn write_cpio(&self, path: &Path) -> Result<(), String> {
        let mut out = Vec::new();
        let mut ino = 1u32;
        let mtime = archive_mtime();
        let mut entry = |out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
            let fields = [
                ino,
                mode,
                0,
                0,
                1,
                mtime,
                data.len() as u32,
                0,
                0,
                0,
                0,
                name.len() as u32 + 1,
                0,
            ];
            ino += 1;
            out.extend_from_slice(b"070701");
            for f in fields {
                out.extend_from_slice(format!("{f:08X}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
            out.extend_from_slice(data);
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        };
        for (name, node) in &self.nodes {
            match node {
                Node::Dir(m) => entry(&mut out, name, 0o040000 | m, b""),
                Node::File(m, d) => entry(&mut out, name, 0o100000 | m, d),
                Node::Symlink(t) => entry(&mut out, name, 0o120777, t.as_bytes()),
            }
        }
        entry(&mut out, "TRAILER!!!", 0, b"");
        fs::write(path, out).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// The modification time every file of an archive gets: SOURCE_DATE_EPOCH
/// when set (reproducible builds), else the start of today (UTC), so that the
/// guest's files are not dated 1970 (zip refuses times before 1980, `find
/// -mtime` and make see them as ancient) and an archive made twice in a day is
/// the same.
fn archive_mtime() -> u32 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
    {
        return t;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(now - now % 86_400).unwrap_or(u32::MAX)
}

/// busybox and its applets, /init, /etc.
pub fn base() -> Result<Tree, String> {
    let mut t = Tree::default();
    let busybox = fs::read("/bin/busybox")
        .map_err(|e| format!("reading /bin/busybox (busybox-static): {e}"))?;
    t.add("bin/busybox", Node::File(0o755, busybox));
    let list = Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .map_err(|e| format!("busybox --list-full: {e}"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        t.add(applet, Node::Symlink("/bin/busybox".into()));
    }
    t.add("init", Node::File(0o755, INIT.as_bytes().to_vec()));
    t.add(
        "etc/profile",
        Node::File(0o644, PROFILE.as_bytes().to_vec()),
    );
    t.add("etc/passwd", Node::File(0o644, PASSWD.as_bytes().to_vec()));
    t.add("etc/group", Node::File(0o644, GROUP.as_bytes().to_vec()));
    t.add(
        "etc/services",
        Node::File(0o644, SERVICES.as_bytes().to_vec()),
    );
    t.add("etc/hostname", Node::File(0o644, b"kestrel\n".to_vec()));
    // Names as a Debian system resolves them: /etc/hosts first, then DNS at the
    // address QEMU's user network answers on (--net user), for glibc's and
    // musl's resolvers alike.
    t.add("etc/hosts", Node::File(0o644, HOSTS.as_bytes().to_vec()));
    t.add(
        "etc/resolv.conf",
        Node::File(0o644, RESOLV_CONF.as_bytes().to_vec()),
    );
    t.add(
        "etc/nsswitch.conf",
        Node::File(
            0o644,
            b"passwd: files\ngroup: files\nhosts: files dns\n".to_vec(),
        ),
    );
    for d in ["root", "tmp", "proc", "dev", "sys", "usr/lib"] {
        t.add(d, Node::Dir(if d == "tmp" { 0o1777 } else { 0o755 }));
    }
    Ok(t)
}

/// One `--with HOST[:GUEST]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct With {
    /// The host path as given, made absolute (lexically: its symlinks are kept,
    /// for [`Tree::add_as_on_host`] to recreate).
    pub host: PathBuf,
    /// Where the guest has it, if given; otherwise at `host`, as the host has it.
    pub guest: Option<String>,
}

impl With {
    /// Parses `HOST[:GUEST]` and checks that HOST leads somewhere (see
    /// [`check_host`]), so that a mistake stops xtask before anything is built.
    pub fn parse(arg: &str) -> Result<Self, String> {
        let (host, guest) = match arg.split_once(':') {
            Some((h, g)) if !g.is_empty() => (h, Some(g.to_string())),
            Some((h, _)) => (h, None),
            None => (arg, None),
        };
        if host.is_empty() {
            return Err(format!("--with {arg:?}: no host path"));
        }
        let host = std::path::absolute(host).map_err(|e| format!("--with {host}: {e}"))?;
        check_host(&host).map_err(|e| format!("--with {e}"))?;
        Ok(Self { host, guest })
    }
}

/// `ELOOP` (x86-64 Linux): a symlink loop.
const ELOOP: i32 = 40;

/// Whether the host's `path` leads to a file or directory, symlinks followed;
/// if not, an error that names the path and says why: it does not exist, it is a
/// symlink whose target does not, its symlinks loop, or it is neither a regular
/// file nor a directory.
pub fn check_host(path: &Path) -> Result<(), String> {
    let p = path.display();
    match fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{p}: not a regular file, directory or symlink to one"
        )),
        Err(e) if e.raw_os_error() == Some(ELOOP) => Err(format!(
            "{p}: a symlink loop (too many levels of symbolic links)"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::read_link(path) {
            Ok(target) => Err(format!(
                "{p}: a dangling symlink: it points to {}, which does not exist",
                target.display()
            )),
            Err(_) => Err(format!("{p}: no such file or directory")),
        },
        Err(e) => Err(format!("{p}: {e}")),
    }
}

/// Checks every `--with` argument; the first bad one is the error.
pub fn check_with(with: &[String]) -> Result<(), String> {
    with.iter().try_for_each(|w| With::parse(w).map(|_| ()))
}

/// Adds `--with HOST[:GUEST]` entries, and what their dynamically linked programs
/// need (see [`crate::dynlib`]). Without GUEST, HOST goes where the host has it,
/// with the symlinks on the way ([`Tree::add_as_on_host`]); with GUEST, what HOST
/// leads to is copied there ([`Tree::add_host`]).
pub fn add_with(t: &mut Tree, with: &[String]) -> Result<(), String> {
    for w in with {
        let w = With::parse(w)?;
        let err = |e: String| format!("--with {}: {e}", w.host.display());
        match &w.guest {
            None => {
                let resolved = t.add_as_on_host(&w.host).map_err(err)?;
                crate::dynlib::add_needs(t, &resolved, &resolved.to_string_lossy()).map_err(err)?;
                crate::apps::add_companions(t, &resolved).map_err(err)?;
            }
            Some(guest) => {
                let resolved = fs::canonicalize(&w.host).map_err(|e| err(e.to_string()))?;
                t.add_host(&resolved, guest).map_err(err)?;
                crate::dynlib::add_needs(t, &resolved, guest).map_err(err)?;
                crate::apps::add_companions(t, &resolved).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Pushes `path`'s components onto the stack `rest`, first component last.
fn push_components(rest: &mut Vec<String>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => rest.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => rest.push("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

/// Makes the command file for `--cmd` (and the test runner).
pub fn add_cmd(t: &mut Tree, cmd: &str) {
    t.add(
        "etc/kestrel/cmd",
        Node::File(0o644, format!("{cmd}\n").into_bytes()),
    );
}

/// Writes `t` as the initramfs named `name` and returns its path.
pub fn write(t: &Tree, name: &str) -> Result<PathBuf, String> {
    fs::create_dir_all(out_dir()).map_err(|e| e.to_string())?;
    let path = out_dir().join(name);
    t.write_cpio(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::OnceLock;

    /// A fresh directory (symlinks resolved, so that archive paths can be
    /// compared with it), removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(fs::canonicalize(&dir).unwrap())
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// `userland::build_with_fixture`, built once for all the tests here with the
    /// host's gcc; None (the test does nothing) where there is no gcc.
    fn fixture() -> Option<&'static Path> {
        static FIXTURE: OnceLock<Option<PathBuf>> = OnceLock::new();
        FIXTURE
            .get_or_init(|| {
                Command::new("gcc").arg("--version").output().ok()?;
                let dir = crate::build::out_dir().join("with-fixture-unit");
                crate::userland::build_with_fixture(&dir, "gcc").unwrap();
                Some(fs::canonicalize(dir).unwrap())
            })
            .as_deref()
    }

    fn at<'t>(t: &'t Tree, dir: &Path, p: &str) -> Option<&'t Node> {
        t.get(&dir.join(p).to_string_lossy())
    }

    fn with(t: &mut Tree, arg: &Path) -> Result<(), String> {
        add_with(t, &[arg.to_string_lossy().into_owned()])
    }

    #[test]
    fn symlinks_on_the_way_are_recreated() {
        let tmp = TempDir::new("on-the-way");
        let dir = &tmp.0;
        fs::create_dir_all(dir.join("real/sub")).unwrap();
        fs::write(dir.join("real/sub/libx.so.1.2"), b"lib").unwrap();
        symlink("libx.so.1.2", dir.join("real/sub/libx.so.1")).unwrap();
        symlink("real", dir.join("link")).unwrap();
        let mut t = Tree::default();
        let resolved = t.add_as_on_host(&dir.join("link/sub/libx.so.1")).unwrap();
        assert_eq!(resolved, dir.join("real/sub/libx.so.1.2"));
        assert!(matches!(at(&t, dir, "link"), Some(Node::Symlink(l)) if l == "real"));
        assert!(
            matches!(at(&t, dir, "real/sub/libx.so.1"), Some(Node::Symlink(l)) if l == "libx.so.1.2")
        );
        assert!(
            matches!(at(&t, dir, "real/sub/libx.so.1.2"), Some(Node::File(_, d)) if d == b"lib")
        );
        assert!(at(&t, dir, "link/sub").is_none());
    }

    #[test]
    fn a_path_through_an_archive_directory_becomes_a_link_to_where_the_host_leads() {
        // A merged-/usr host (/bin -> usr/bin) and busybox's real /bin in the archive.
        let tmp = TempDir::new("usrmerge");
        let dir = &tmp.0;
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        fs::write(dir.join("usr/bin/bash"), b"bash").unwrap();
        symlink("usr/bin", dir.join("bin")).unwrap();
        let mut t = Tree::default();
        t.add(
            &dir.join("bin/ls").to_string_lossy(),
            Node::Symlink("/bin/busybox".into()),
        );
        let resolved = t.add_as_on_host(&dir.join("bin/bash")).unwrap();
        assert_eq!(resolved, dir.join("usr/bin/bash"));
        assert!(matches!(at(&t, dir, "bin"), Some(Node::Dir(_))));
        assert!(matches!(at(&t, dir, "bin/ls"), Some(Node::Symlink(_))));
        let target = dir.join("usr/bin/bash").to_string_lossy().into_owned();
        assert!(matches!(at(&t, dir, "bin/bash"), Some(Node::Symlink(l)) if *l == target));
        assert!(matches!(at(&t, dir, "usr/bin/bash"), Some(Node::File(_, d)) if d == b"bash"));
        // The directory itself stays a directory.
        t.add_as_on_host(&dir.join("bin")).unwrap();
        assert!(matches!(at(&t, dir, "bin"), Some(Node::Dir(_))));
    }

    #[test]
    fn with_a_symlinked_program_brings_the_link_its_target_and_libraries() {
        let Some(dir) = fixture() else { return };
        let mut t = Tree::default();
        with(&mut t, &dir.join("real/bin/kt-with-link")).unwrap();
        assert!(
            matches!(at(&t, dir, "real/bin/kt-with-link"), Some(Node::Symlink(l)) if l == "kt-with")
        );
        assert!(
            matches!(at(&t, dir, "real/bin/kt-with"), Some(Node::File(m, _)) if m & 0o111 != 0)
        );
        assert!(matches!(
            at(&t, dir, "real/lib/libkt-with.so.1.0"),
            Some(Node::File(..))
        ));
        let interp = crate::dynlib::needs(&dir.join("real/bin/kt-with"), Path::new("/x"))
            .unwrap()
            .unwrap()
            .interpreter;
        assert!(
            t.get(&t.follow_parents(&interp.to_string_lossy()))
                .is_some()
        );
    }

    #[test]
    fn with_a_program_under_a_symlinked_directory_resolves_as_on_the_host() {
        let Some(dir) = fixture() else { return };
        let mut t = Tree::default();
        with(&mut t, &dir.join("link/bin/kt-with")).unwrap();
        assert!(matches!(at(&t, dir, "link"), Some(Node::Symlink(l)) if l == "real"));
        assert!(matches!(
            at(&t, dir, "real/bin/kt-with"),
            Some(Node::File(..))
        ));
        assert!(matches!(
            at(&t, dir, "real/lib/libkt-with.so.1.0"),
            Some(Node::File(..))
        ));
        assert!(at(&t, dir, "link/bin").is_none());
    }

    #[test]
    fn with_a_symlinked_shared_library_brings_the_link_and_its_file() {
        let Some(dir) = fixture() else { return };
        let mut t = Tree::default();
        with(&mut t, &dir.join("real/bin/kt-with")).unwrap();
        assert!(
            matches!(at(&t, dir, "real/lib/libkt-with.so.1"), Some(Node::Symlink(l)) if l == "libkt-with.so.1.0")
        );
        let Some(Node::File(_, lib)) = at(&t, dir, "real/lib/libkt-with.so.1.0") else {
            panic!("libkt-with.so.1.0 is not in the archive");
        };
        let soname = crate::dynlib::Dynamic::parse(lib).unwrap().soname;
        assert_eq!(soname.as_deref(), Some("libkt-with.so.1"));
    }

    #[test]
    fn with_a_guest_path_copies_what_the_symlink_leads_to() {
        let Some(dir) = fixture() else { return };
        let mut t = Tree::default();
        let arg = format!(
            "{}:/opt/kt/bin/kt",
            dir.join("link/bin/kt-with-link").display()
        );
        add_with(&mut t, &[arg]).unwrap();
        assert!(matches!(t.get("opt/kt/bin/kt"), Some(Node::File(..))));
        // $ORIGIN/../lib, from where the program is in the guest: the library's
        // contents, not a link that would lead nowhere there.
        assert!(matches!(
            t.get("opt/kt/lib/libkt-with.so.1"),
            Some(Node::File(..))
        ));
    }

    #[test]
    fn with_a_directory_copies_its_symlinks_as_symlinks() {
        let tmp = TempDir::new("with-dir");
        let dir = &tmp.0;
        fs::create_dir_all(dir.join("app/lib")).unwrap();
        fs::write(dir.join("app/lib/libz.so.1.3"), b"z").unwrap();
        symlink("libz.so.1.3", dir.join("app/lib/libz.so.1")).unwrap();
        symlink("app", dir.join("app-link")).unwrap();
        let mut t = Tree::default();
        with(&mut t, &dir.join("app-link")).unwrap();
        assert!(matches!(at(&t, dir, "app-link"), Some(Node::Symlink(l)) if l == "app"));
        assert!(
            matches!(at(&t, dir, "app/lib/libz.so.1"), Some(Node::Symlink(l)) if l == "libz.so.1.3")
        );
        assert!(matches!(at(&t, dir, "app/lib/libz.so.1.3"), Some(Node::File(_, d)) if d == b"z"));
    }

    #[test]
    fn with_a_missing_path_a_dangling_symlink_or_a_loop_is_one_error_naming_it() {
        let tmp = TempDir::new("with-bad");
        let dir = &tmp.0;
        symlink("nowhere", dir.join("dangling")).unwrap();
        symlink("loop-b", dir.join("loop-a")).unwrap();
        symlink("loop-a", dir.join("loop-b")).unwrap();
        fs::write(dir.join("file"), b"").unwrap();
        let cases = [
            ("missing", "no such file or directory"),
            ("dangling", "a dangling symlink: it points to nowhere"),
            ("loop-a", "a symlink loop"),
            ("loop-a/x", "a symlink loop"),
            ("file/x", "/file/x: "),
        ];
        for (name, why) in cases {
            let path = dir.join(name);
            let arg = path.to_string_lossy().into_owned();
            let err = check_with(std::slice::from_ref(&arg)).unwrap_err();
            assert!(err.starts_with(&format!("--with {arg}: ")), "{err}");
            assert!(err.contains(why), "{name}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            let mut t = Tree::default();
            assert_eq!(add_with(&mut t, &[arg]).unwrap_err(), err);
            assert!(t.nodes.is_empty());
        }
        assert!(check_with(&[":/guest".into()]).is_err());
    }

    #[test]
    fn with_a_relative_path_is_taken_from_the_working_directory() {
        // cargo runs a crate's tests in its directory.
        let w = With::parse("Cargo.toml:/etc/x").unwrap();
        assert_eq!(w.host, std::env::current_dir().unwrap().join("Cargo.toml"));
        assert_eq!(w.guest.as_deref(), Some("/etc/x"));
        assert_eq!(With::parse("Cargo.toml").unwrap().guest, None);
    }

    #[test]
    fn entries_below_an_archive_symlink_go_to_its_target() {
        let mut t = Tree::default();
        t.add("lib", Node::Symlink("usr/lib".into()));
        t.add("abs", Node::Symlink("/usr/share/../lib".into()));
        t.add("lib/x/libc.so.6", Node::File(0o644, b"c".to_vec()));
        t.add("/abs/y", Node::File(0o644, b"y".to_vec()));
        assert!(matches!(t.get("usr/lib/x/libc.so.6"), Some(Node::File(..))));
        assert!(matches!(t.get("usr/lib/y"), Some(Node::File(..))));
        assert!(matches!(t.get("usr/lib/x"), Some(Node::Dir(_))));
        assert!(t.get("lib/x").is_none());
        // The link itself is still replaced by a node added at its own path.
        t.add("lib", Node::Dir(0o755));
        assert!(matches!(t.get("lib"), Some(Node::Dir(_))));
    }

    #[test]
    fn a_symlink_loop_in_the_archive_ends() {
        let mut t = Tree::default();
        t.add("a", Node::Symlink("b".into()));
        t.add("b", Node::Symlink("a".into()));
        t.add("a/f", Node::File(0o644, Vec::new()));
        assert_eq!(t.nodes.len(), 3);
    }
}
