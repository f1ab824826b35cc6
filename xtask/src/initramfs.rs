//! The initramfs: a cpio "newc" archive the kernel unpacks into its root.
//!
//! It holds busybox (Debian's static build) with a symlink per applet, an `/init`
//! script, a few files in /etc, the userland tests, and whatever `--with` adds.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

    /// Adds a host file or directory tree at `guest`.
    pub fn add_host(&mut self, host: &Path, guest: &str) -> Result<(), String> {
        let meta =
            fs::symlink_metadata(host).map_err(|e| format!("--with {}: {e}", host.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(host).map_err(|e| e.to_string())?;
            self.add(guest, Node::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            self.add(guest, Node::Dir(meta.permissions().mode() & 0o7777));
            let mut entries: Vec<_> = fs::read_dir(host)
                .map_err(|e| e.to_string())?
                .flatten()
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                self.add_host(
                    &e.path(),
                    &format!("{}/{}", guest.trim_end_matches('/'), name),
                )?;
            }
        } else {
            let data = fs::read(host).map_err(|e| format!("--with {}: {e}", host.display()))?;
            self.add(guest, Node::File(meta.permissions().mode() & 0o7777, data));
        }
        Ok(())
    }

    /// Writes the archive.
    pub fn write_cpio(&self, path: &Path) -> Result<(), String> {
        let mut out = Vec::new();
        let mut ino = 1u32;
        let mut entry = |out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
            let fields = [
                ino,
                mode,
                0,
                0,
                1,
                0,
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
    t.add(
        "etc/passwd",
        Node::File(0o644, b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
    );
    t.add("etc/group", Node::File(0o644, b"root:x:0:\n".to_vec()));
    t.add("etc/hostname", Node::File(0o644, b"kestrel\n".to_vec()));
    for d in ["root", "tmp", "proc", "dev", "sys", "usr/lib"] {
        t.add(d, Node::Dir(if d == "tmp" { 0o1777 } else { 0o755 }));
    }
    Ok(t)
}

/// Adds `--with HOST[:GUEST]` entries, and what their dynamically linked programs
/// need (see [`crate::dynlib`]).
pub fn add_with(t: &mut Tree, with: &[String]) -> Result<(), String> {
    for w in with {
        let (host, guest) = match w.split_once(':') {
            Some((h, g)) => (h.to_string(), g.to_string()),
            None => {
                let abs = fs::canonicalize(w).map_err(|e| format!("--with {w}: {e}"))?;
                (w.clone(), abs.to_string_lossy().into_owned())
            }
        };
        t.add_host(&PathBuf::from(&host), &guest)?;
        crate::dynlib::add_needs(t, Path::new(&host), &guest)?;
    }
    Ok(())
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
