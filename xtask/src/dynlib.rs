//! The run-time needs of dynamically linked `--with` programs.
//!
//! A program with a PT_INTERP is not complete on its own: execve(2) maps the
//! interpreter it names (the dynamic linker), and that loads each DT_NEEDED
//! library, and theirs, breadth-first, searching the directories ld.so(8) lists.
//! For such a program `--with` also adds its interpreter and every library it
//! needs, at the absolute paths they have on the host, with the symlinks met on
//! the way (`/lib64 -> usr/lib64`, `ld-linux-x86-64.so.2 -> ...`) as symlinks, so
//! the guest's dynamic linker finds them exactly as the host's does.
//!
//! The dependencies are found by reading the ELF files here, not by running the
//! host's `ldd` (`ld.so --list`), because:
//! - glibc's ld.so cannot list a musl program: it would look for musl's
//!   `libc.so` in glibc's directories and find a linker script; musl's loader
//!   lists only when started under the name `ldd`. Reading the files handles both.
//! - `--with HOST:GUEST` may move a program whose DT_RUNPATH says `$ORIGIN/../lib`:
//!   the guest looks for those libraries next to GUEST, and only a search that
//!   knows both paths can put them there.
//! - nothing of the program's (its loader, its preloads) runs on the host.
//!
//! The search follows the two loaders' rules. glibc (ld.so(8), elf/dl-load.c):
//! the DT_RPATH of the requesting object and of the objects that loaded it, unless
//! the requester has a DT_RUNPATH; then that DT_RUNPATH; then ld.so.cache, which
//! is stood in for by the directories of /etc/ld.so.conf in order; then the system
//! directories. musl (ldso/dynlink.c, `load_library`): the DT_RUNPATH, else
//! DT_RPATH, of the requester and its loaders, then /etc/ld-musl-ARCH.path or its
//! default; libc and the libraries glibc splits out of it are the loader itself.
//! LD_LIBRARY_PATH is not consulted: the guest does not set it.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::initramfs::{Node, Tree};

const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Bytes enough to recognise an ELF file (`e_ident` and `e_machine`).
const ELF_PROBE: usize = 20;

/// What a dynamic linker reads from an ELF file: the PT_INTERP program header and
/// the names in the dynamic section (elf(5)).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dynamic {
    pub interp: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
}

fn field<const N: usize>(b: &[u8], off: u64) -> Option<[u8; N]> {
    let off = usize::try_from(off).ok()?;
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], off: u64) -> Option<u16> {
    field(b, off).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], off: u64) -> Option<u32> {
    field(b, off).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], off: u64) -> Option<u64> {
    field(b, off).map(u64::from_le_bytes)
}

fn slice(b: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    b.get(off..off.checked_add(usize::try_from(len).ok()?)?)
}

/// The C string at the start of `b`.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Whether `header` starts a 64-bit little-endian x86-64 ELF file, the only kind
/// the x86-64 dynamic linkers load (glibc skips other files it meets on a search).
fn is_x86_64_elf(header: &[u8]) -> bool {
    header.starts_with(b"\x7fELF")
        && header.get(4) == Some(&2)
        && header.get(5) == Some(&1)
        && u16_at(header, 18) == Some(EM_X86_64)
}

/// Whether the file at `path` (symlinks followed) is an x86-64 ELF file.
fn file_is_x86_64_elf(path: &Path) -> bool {
    let mut header = [0u8; ELF_PROBE];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && is_x86_64_elf(&header)
}

/// One program header, the fields needed here.
struct Phdr {
    p_type: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_filesz: u64,
}

impl Dynamic {
    /// Reads an x86-64 ELF file's PT_INTERP and dynamic section.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        if !is_x86_64_elf(file) {
            return Err("not a 64-bit x86-64 ELF file".into());
        }
        Self::parse_elf64(file).ok_or_else(|| "truncated or malformed ELF file".into())
    }

    fn parse_elf64(file: &[u8]) -> Option<Self> {
        let phoff = u64_at(file, 32)?;
        let phentsize = u64::from(u16_at(file, 54)?);
        let phnum = u64::from(u16_at(file, 56)?);
        let mut phdrs = Vec::new();
        for i in 0..phnum {
            let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
            phdrs.push(Phdr {
                p_type: u32_at(file, at)?,
                p_offset: u64_at(file, at.checked_add(8)?)?,
                p_vaddr: u64_at(file, at.checked_add(16)?)?,
                p_filesz: u64_at(file, at.checked_add(32)?)?,
            });
        }
        let mut d = Dynamic::default();
        // The first PT_INTERP counts, as in the kernel's load_elf_binary.
        if let Some(ph) = phdrs.iter().find(|ph| ph.p_type == PT_INTERP) {
            d.interp = Some(c_str(slice(file, ph.p_offset, ph.p_filesz)?));
        }
        let Some(dynamic) = phdrs.iter().find(|ph| ph.p_type == PT_DYNAMIC) else {
            return Some(d);
        };
        let table = slice(file, dynamic.p_offset, dynamic.p_filesz)?;
        let entries: Vec<(u64, u64)> = table
            .chunks_exact(16)
            .map(|e| (u64_at(e, 0).unwrap_or(DT_NULL), u64_at(e, 8).unwrap_or(0)))
            .take_while(|&(tag, _)| tag != DT_NULL)
            .collect();
        let value = |tag| entries.iter().find(|e| e.0 == tag).map(|e| e.1);
        let (Some(strtab), Some(strsz)) = (value(DT_STRTAB), value(DT_STRSZ)) else {
            return Some(d);
        };
        // DT_STRTAB is a virtual address: the PT_LOAD segment holding it says
        // where that is in the file.
        let load = phdrs.iter().find(|ph| {
            ph.p_type == PT_LOAD && strtab >= ph.p_vaddr && strtab - ph.p_vaddr < ph.p_filesz
        })?;
        let strings = slice(file, load.p_offset + (strtab - load.p_vaddr), strsz)?;
        let string = |off: u64| Some(c_str(strings.get(usize::try_from(off).ok()?..)?));
        for &(tag, val) in &entries {
            match tag {
                DT_NEEDED => d.needed.push(string(val)?),
                DT_SONAME => d.soname = Some(string(val)?),
                DT_RPATH => d.rpath = Some(string(val)?),
                DT_RUNPATH => d.runpath = Some(string(val)?),
                _ => {}
            }
        }
        Some(d)
    }
}

/// The dynamic linker a program names, which decides how libraries are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Glibc,
    Musl,
}

impl Loader {
    fn of(interp: &Path) -> Self {
        let name = interp.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("ld-musl-") {
            Loader::Musl
        } else {
            Loader::Glibc
        }
    }

    /// The loader's own search configuration, which goes into the guest too so
    /// that it searches as the host's does: glibc's ld.so.cache (it lists the
    /// ld.so.conf directories' libraries, which the guest's loader would not look
    /// for otherwise), musl's path file.
    fn config_file(self) -> &'static str {
        match self {
            Loader::Glibc => "/etc/ld.so.cache",
            Loader::Musl => "/etc/ld-musl-x86_64.path",
        }
    }

    /// Where the loader looks after the RPATH/RUNPATH directories.
    fn system_dirs(self) -> Vec<PathBuf> {
        match self {
            Loader::Glibc => {
                let mut dirs = Vec::new();
                ld_so_conf(Path::new("/etc/ld.so.conf"), 0, &mut dirs);
                // Debian's multiarch directories, then glibc's compiled-in ones.
                for d in [
                    "/lib/x86_64-linux-gnu",
                    "/usr/lib/x86_64-linux-gnu",
                    "/lib64",
                    "/usr/lib64",
                    "/lib",
                    "/usr/lib",
                ] {
                    dirs.push(PathBuf::from(d));
                }
                dirs
            }
            Loader::Musl => {
                // musl reads the file whole and splits it at newlines and colons;
                // without one it uses its compiled-in path.
                let list = fs::read_to_string(self.config_file())
                    .unwrap_or_else(|_| "/lib:/usr/local/lib:/usr/lib".into());
                list.split([':', '\n'])
                    .filter(|d| d.starts_with('/'))
                    .map(PathBuf::from)
                    .collect()
            }
        }
    }

    /// Whether the loader provides `name` itself rather than looking for it: musl
    /// answers for libc and the libraries glibc splits out of it (`load_library`'s
    /// "c.pthread.rt.m.dl.util.xnet." list, each matched with its dot).
    fn provides(self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix("lib") else {
            return false;
        };
        self == Loader::Musl
            && ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."]
                .iter()
                .any(|r| rest.starts_with(r))
    }
}

/// Appends the directories an ld.so.conf file lists, following its `include`
/// lines (a `*` in the last component is expanded, as glob(3) would, sorted).
fn ld_so_conf(path: &Path, depth: u32, dirs: &mut Vec<PathBuf>) {
    if depth > 8 {
        return;
    }
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(patterns) = line.strip_prefix("include ") {
            for pattern in patterns.split_whitespace() {
                let base = path.parent().unwrap_or(Path::new("/"));
                for file in glob(&base.join(pattern)) {
                    ld_so_conf(&file, depth + 1, dirs);
                }
            }
        } else if !line.starts_with("hwcap ") {
            // ldconfig also accepts "DIR=TYPE" and several directories to a line.
            for d in line.split([' ', '\t', ':', ',']) {
                let d = d.split('=').next().unwrap_or("");
                if d.starts_with('/') {
                    dirs.push(PathBuf::from(d));
                }
            }
        }
    }
}

/// The files matching `pattern`, whose last component may hold one `*`.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern.file_name().unwrap_or_default().to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// A shared library a program needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// The DT_NEEDED name.
    pub name: String,
    /// Where it was found on the host.
    pub host: PathBuf,
    /// Where the guest's loader will look for it: the same as `host` unless it was
    /// found through a `$ORIGIN` of a program placed elsewhere in the guest.
    pub guest: PathBuf,
}

/// What a dynamically linked program needs at run time.
#[derive(Debug, Clone)]
pub struct Needs {
    /// The PT_INTERP path, the same on host and guest.
    pub interpreter: PathBuf,
    pub loader: Loader,
    /// Every library, in the dynamic linker's breadth-first load order.
    pub libraries: Vec<Library>,
    /// DT_NEEDED names found nowhere on the host.
    pub missing: Vec<String>,
}

/// An object in the load order, with the index of the one whose DT_NEEDED
/// brought it in (the loader chain that glibc's and musl's RPATH search walks).
struct Object {
    host: PathBuf,
    guest: PathBuf,
    dynamic: Dynamic,
    loaded_by: Option<usize>,
}

impl Object {
    /// The directory `$ORIGIN` names, on host and guest. For the program glibc
    /// takes it from /proc/self/exe, which has symlinks resolved.
    fn origin(&self, is_program: bool) -> (PathBuf, PathBuf) {
        let host = if is_program {
            fs::canonicalize(&self.host).unwrap_or_else(|_| self.host.clone())
        } else {
            self.host.clone()
        };
        let parent = |p: &Path| p.parent().unwrap_or(Path::new("/")).to_path_buf();
        (parent(&host), parent(&self.guest))
    }
}

/// The directories of a DT_RPATH or DT_RUNPATH list as (host, guest) pairs.
fn search_list(list: &str, origin: &(PathBuf, PathBuf)) -> Vec<(PathBuf, PathBuf)> {
    list.split(':')
        .filter_map(|entry| {
            let rest = entry
                .strip_prefix("$ORIGIN")
                .or_else(|| entry.strip_prefix("${ORIGIN}"));
            match rest {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    let rest = rest.trim_start_matches('/');
                    Some((origin.0.join(rest), origin.1.join(rest)))
                }
                // $LIB and $PLATFORM depend on the guest's loader; an empty or
                // relative entry names the process's working directory.
                _ if entry.contains('$') || !entry.starts_with('/') => None,
                _ => Some((PathBuf::from(entry), PathBuf::from(entry))),
            }
        })
        .collect()
}

/// The interpreter and libraries the program at `host` needs, if it is a
/// dynamically linked x86-64 ELF program; `guest` is where it is in the guest.
pub fn needs(host: &Path, guest: &Path) -> Result<Option<Needs>, String> {
    if !file_is_x86_64_elf(host) {
        return Ok(None);
    }
    let data = fs::read(host).map_err(|e| format!("{}: {e}", host.display()))?;
    let dynamic = Dynamic::parse(&data).map_err(|e| format!("{}: {e}", host.display()))?;
    let Some(interp) = dynamic.interp.clone() else {
        return Ok(None);
    };
    let interpreter = PathBuf::from(&interp);
    if !interpreter.is_absolute() {
        return Err(format!(
            "{}: its interpreter {interp:?} is not an absolute path",
            host.display()
        ));
    }
    let loader = Loader::of(&interpreter);
    let system = loader.system_dirs();
    // glibc answers a DT_NEEDED naming the interpreter (libc.so.6 needs
    // ld-linux-x86-64.so.2) with the interpreter already loaded, by its soname.
    let mut seen: HashSet<String> = HashSet::new();
    if let Some(name) = interpreter.file_name() {
        seen.insert(name.to_string_lossy().into_owned());
    }
    if let Ok(ld) = fs::read(&interpreter)
        && let Ok(Dynamic {
            soname: Some(soname),
            ..
        }) = Dynamic::parse(&ld)
    {
        seen.insert(soname);
    }
    let mut objects = vec![Object {
        host: host.to_path_buf(),
        guest: guest.to_path_buf(),
        dynamic,
        loaded_by: None,
    }];
    let mut needs = Needs {
        interpreter,
        loader,
        libraries: Vec::new(),
        missing: Vec::new(),
    };
    let mut i = 0;
    while i < objects.len() {
        let mut needed = objects[i].dynamic.needed.clone();
        // glibc's libc dlopens libgcc_s.so.1 to unwind the stack for
        // pthread_exit, pthread_cancel and backtrace ("libgcc_s.so.1 must be
        // installed for pthread_exit to work", then abort): it comes along
        // when the host has it, though no DT_NEEDED names it.
        let dlopened =
            loader == Loader::Glibc && objects[i].dynamic.soname.as_deref() == Some("libc.so.6");
        if dlopened {
            needed.push(String::from("libgcc_s.so.1"));
        }
        for name in needed {
            if loader.provides(&name) || !seen.insert(name.clone()) {
                continue;
            }
            let Some((lib_host, lib_guest)) = find(&objects, i, &name, loader, &system) else {
                if !(dlopened && name == "libgcc_s.so.1") {
                    needs.missing.push(name);
                }
                continue;
            };
            let data = fs::read(&lib_host).map_err(|e| format!("{}: {e}", lib_host.display()))?;
            let dynamic =
                Dynamic::parse(&data).map_err(|e| format!("{}: {e}", lib_host.display()))?;
            if let Some(soname) = &dynamic.soname {
                seen.insert(soname.clone());
            }
            needs.libraries.push(Library {
                name,
                host: lib_host.clone(),
                guest: lib_guest.clone(),
            });
            objects.push(Object {
                host: lib_host,
                guest: lib_guest,
                dynamic,
                loaded_by: Some(i),
            });
        }
        i += 1;
    }
    Ok(Some(needs))
}

/// Where the loader finds `name`, needed by `objects[by]`, as (host, guest) paths.
fn find(
    objects: &[Object],
    by: usize,
    name: &str,
    loader: Loader,
    system: &[PathBuf],
) -> Option<(PathBuf, PathBuf)> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return file_is_x86_64_elf(&p).then(|| (p.clone(), p));
    }
    let chain: Vec<usize> = std::iter::successors(Some(by), |&j| objects[j].loaded_by).collect();
    let origin = |j: usize| objects[j].origin(j == 0);
    let mut dirs = Vec::new();
    match loader {
        Loader::Glibc => {
            let runpath = &objects[by].dynamic.runpath;
            if runpath.is_none() {
                for &j in &chain {
                    let d = &objects[j].dynamic;
                    if let (None, Some(rpath)) = (&d.runpath, &d.rpath) {
                        dirs.extend(search_list(rpath, &origin(j)));
                    }
                }
            }
            if let Some(runpath) = runpath {
                dirs.extend(search_list(runpath, &origin(by)));
            }
        }
        Loader::Musl => {
            for &j in &chain {
                let d = &objects[j].dynamic;
                if let Some(list) = d.runpath.as_ref().or(d.rpath.as_ref()) {
                    dirs.extend(search_list(list, &origin(j)));
                }
            }
        }
    }
    dirs.extend(system.iter().map(|d| (d.clone(), d.clone())));
    dirs.into_iter()
        .map(|(h, g)| (h.join(name), g.join(name)))
        .find(|(h, _)| file_is_x86_64_elf(h))
}

/// `path` with `.` and `..` removed lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Puts what `needs` lists into `tree`.
fn install(tree: &mut Tree, needs: &Needs) -> Result<(), String> {
    tree.add_as_on_host(&needs.interpreter)?;
    let config = Path::new(needs.loader.config_file());
    if config.is_file() {
        tree.add_as_on_host(config)?;
    }
    for lib in &needs.libraries {
        if lib.host == lib.guest {
            tree.add_as_on_host(&lib.host)?;
        } else {
            let data = fs::read(&lib.host).map_err(|e| format!("{}: {e}", lib.host.display()))?;
            let mode = fs::metadata(&lib.host)
                .map_err(|e| e.to_string())?
                .permissions()
                .mode();
            let guest = normalize(&lib.guest);
            tree.add(&guest.to_string_lossy(), Node::File(mode & 0o7777, data));
        }
    }
    Ok(())
}

/// For every dynamically linked program at `host` (a file, or a directory
/// searched recursively without following symlinks), which the guest has at
/// `guest`, adds its interpreter and libraries to `tree`, with a line saying so.
pub fn add_needs(tree: &mut Tree, host: &Path, guest: &str) -> Result<(), String> {
    let meta = fs::symlink_metadata(host).map_err(|e| format!("{}: {e}", host.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(host)
            .map_err(|e| format!("{}: {e}", host.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let guest = format!("{}/{name}", guest.trim_end_matches('/'));
            add_needs(tree, &e.path(), &guest)?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(());
    }
    let Some(needs) = needs(host, &Path::new("/").join(guest))? else {
        return Ok(());
    };
    install(tree, &needs)?;
    let n = needs.libraries.len();
    let names: Vec<&str> = needs.libraries.iter().map(|l| l.name.as_str()).collect();
    eprintln!(
        "xtask: {guest}: dynamically linked; added {} and {n} shared {}{}{}",
        needs.interpreter.display(),
        if n == 1 { "library" } else { "libraries" },
        if n == 0 { "" } else { ": " },
        names.join(", "),
    );
    if !needs.missing.is_empty() {
        eprintln!(
            "xtask: warning: {guest} needs {}, found nowhere on this host",
            needs.missing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_has(path: &str) -> bool {
        Path::new(path).exists()
    }

    #[test]
    fn seq_needs_glibc_interpreter_and_libc() {
        if !host_has("/usr/bin/seq") {
            return;
        }
        let n = needs(Path::new("/usr/bin/seq"), Path::new("/usr/bin/seq"))
            .unwrap()
            .expect("seq is dynamically linked");
        assert_eq!(n.loader, Loader::Glibc);
        assert!(n.interpreter.is_absolute());
        assert!(n.missing.is_empty(), "missing {:?}", n.missing);
        let libc = n.libraries.iter().find(|l| l.name == "libc.so.6").unwrap();
        assert_eq!(libc.host, libc.guest);
        assert!(file_is_x86_64_elf(&libc.host));
    }

    #[test]
    fn true_needs_libc_once_and_not_the_interpreter_again() {
        if !host_has("/bin/true") {
            return;
        }
        let n = needs(Path::new("/bin/true"), Path::new("/bin/true"))
            .unwrap()
            .unwrap();
        let names: Vec<&str> = n.libraries.iter().map(|l| l.name.as_str()).collect();
        // libc.so.6 needs ld-linux-x86-64.so.2, which is the interpreter
        // itself; libgcc_s.so.1 (dlopened by libc) comes along where it exists.
        let want: &[&str] = if names.contains(&"libgcc_s.so.1") {
            &["libc.so.6", "libgcc_s.so.1"]
        } else {
            &["libc.so.6"]
        };
        assert_eq!(names, want);
    }

    #[test]
    fn libraries_of_libraries_are_found() {
        // Debian's ls needs libselinux.so.1, which needs libpcre2-8.so.0.
        let ls = Path::new("/bin/ls");
        let Ok(d) = fs::read(ls).map(|b| Dynamic::parse(&b).unwrap()) else {
            return;
        };
        let n = needs(ls, ls).unwrap().unwrap();
        let mut direct: Vec<&str> = d.needed.iter().map(String::as_str).collect();
        direct.sort();
        let all: Vec<&str> = n.libraries.iter().map(|l| l.name.as_str()).collect();
        assert!(direct.iter().all(|name| all.contains(name)));
        if direct == ["libc.so.6", "libselinux.so.1"] {
            assert!(all.contains(&"libpcre2-8.so.0"), "{all:?}");
        }
    }

    #[test]
    fn static_programs_and_other_files_need_nothing() {
        for p in ["/bin/busybox", "/etc/passwd"] {
            if host_has(p) {
                assert!(needs(Path::new(p), Path::new(p)).unwrap().is_none(), "{p}");
            }
        }
    }

    #[test]
    fn parse_reads_interp_and_needed_of_a_glibc_program() {
        let Ok(b) = fs::read("/usr/bin/seq") else {
            return;
        };
        let d = Dynamic::parse(&b).unwrap();
        assert!(d.interp.unwrap().contains("ld-linux-x86-64.so.2"));
        assert!(d.needed.contains(&"libc.so.6".to_string()));
    }

    #[test]
    fn parse_rejects_truncated_and_foreign_files() {
        let b = fs::read("/usr/bin/seq").unwrap_or_default();
        if b.len() > 64 {
            assert!(Dynamic::parse(&b[..64]).is_err());
        }
        assert!(Dynamic::parse(b"#!/bin/sh\n").is_err());
        assert!(Dynamic::parse(&[]).is_err());
    }

    #[test]
    fn origin_entries_follow_the_guest_path() {
        let origin = (PathBuf::from("/home/me/app/bin"), PathBuf::from("/opt/bin"));
        let dirs = search_list("$ORIGIN/../lib:${ORIGIN}:/usr/local/lib:$LIB:rel:", &origin);
        assert_eq!(
            dirs,
            [
                ("/home/me/app/bin/../lib".into(), "/opt/bin/../lib".into()),
                ("/home/me/app/bin".into(), "/opt/bin".into()),
                ("/usr/local/lib".into(), "/usr/local/lib".into()),
            ]
        );
    }

    #[test]
    fn musl_provides_libc_and_its_split_out_parts_only() {
        assert!(Loader::Musl.provides("libc.so"));
        assert!(Loader::Musl.provides("libpthread.so.0"));
        assert!(Loader::Musl.provides("libm.so.6"));
        assert!(!Loader::Musl.provides("libcrypto.so.3"));
        assert!(!Loader::Musl.provides("libmagic.so.1"));
        assert!(!Loader::Glibc.provides("libc.so.6"));
    }

    #[test]
    fn musl_program_needs_only_its_loader() {
        // Built on the spot when musl-gcc (musl-tools, which xtask installs) is here.
        let dir = std::env::temp_dir().join(format!("xtask-dynlib-musl-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("hello.c");
        let exe = dir.join("hello");
        fs::write(
            &src,
            "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
        )
        .unwrap();
        let built = std::process::Command::new("musl-gcc")
            .arg("-O2")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .is_ok_and(|s| s.success());
        let result = built.then(|| needs(&exe, Path::new("/bin/hello")));
        fs::remove_dir_all(&dir).unwrap();
        let Some(result) = result else {
            return;
        };
        let n = result.unwrap().unwrap();
        assert_eq!(n.loader, Loader::Musl);
        assert!(n.libraries.is_empty(), "{:?}", n.libraries);
        assert!(n.missing.is_empty(), "{:?}", n.missing);
    }
}
