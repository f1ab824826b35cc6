//! The userland tests: static C programs built with musl-gcc, run in the guest by
//! the runner (and on the host with `cargo xtask test --host`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::{out_dir, root};
use crate::initramfs::{Node, Tree};

fn newer(src: &Path, out: &Path, header: &Path) -> bool {
    let m = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (m(src), m(out)) {
        (Some(s), Some(o)) => s > o || m(header).is_some_and(|h| h > o),
        _ => true,
    }
}

fn compile(src: &Path, out: &Path) -> Result<(), String> {
    // Rebuilt when it or any header the tests share (kt.h, inet.h) changed.
    let headers: Vec<PathBuf> = fs::read_dir(root().join("userland-tests/src"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    if !headers.iter().any(|h| newer(src, out, h)) {
        return Ok(());
    }
    let status = Command::new("musl-gcc")
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root().join("userland-tests/src"))
        .arg("-o")
        .arg(out)
        .arg(src)
        .status()
        .map_err(|e| format!("cannot run musl-gcc: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("musl-gcc failed on {}", src.display()))
    }
}

/// Builds the runner and every test; returns (runner, [(name, path)]).
pub fn build() -> Result<(PathBuf, Vec<(String, PathBuf)>), String> {
    let dir = out_dir().join("userland");
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let runner = dir.join("runner");
    compile(&root().join("userland-tests/runner/runner.c"), &runner)?;
    let mut tests = Vec::new();
    let mut srcs: Vec<_> = fs::read_dir(root().join("userland-tests/src"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    srcs.sort();
    for src in srcs {
        let name = src
            .file_stem()
            .expect("a .c file has a stem")
            .to_string_lossy()
            .into_owned();
        let out = bin.join(&name);
        compile(&src, &out)?;
        tests.push((name, out));
    }
    Ok((runner, tests))
}

/// Builds the helper program `userland-tests/tools/NAME.c` (not a test: checks
/// that look at the kernel's side, like syscall counts, run it).
pub fn build_tool(name: &str) -> Result<PathBuf, String> {
    let dir = out_dir().join("userland/tools");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join(name);
    compile(&root().join(format!("userland-tests/tools/{name}.c")), &out)?;
    Ok(out)
}

/// Builds `userland-tests/tools/NAME.c` as a dynamically linked program with
/// `compiler` (`musl-gcc`, or `gcc` for glibc), named `out_name`.
pub fn build_dynamic_tool(name: &str, compiler: &str, out_name: &str) -> Result<PathBuf, String> {
    let dir = out_dir().join("userland/tools");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let src = root().join(format!("userland-tests/tools/{name}.c"));
    let out = dir.join(out_name);
    if !newer(&src, &out, &src) {
        return Ok(out);
    }
    let status = Command::new(compiler)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .map_err(|e| format!("cannot run {compiler}: {e}"))?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{compiler} failed on {}", src.display()))
    }
}

/// A tree of symlinks around a dynamically linked program, as distributions
/// lay programs out, for checking `--with` (`cargo xtask test` and xtask's unit
/// tests):
///
/// ```text
/// DIR/real/lib/libkt-with.so.1.0        the library (with-lib.c)
/// DIR/real/lib/libkt-with.so.1 -> libkt-with.so.1.0
/// DIR/real/bin/kt-with                  the program (with-prog.c), RUNPATH $ORIGIN/../lib
/// DIR/real/bin/kt-with-link -> kt-with  a symlinked program
/// DIR/link -> real                      a symlinked directory
/// ```
pub fn build_with_fixture(dir: &Path, compiler: &str) -> Result<(), String> {
    let _ = fs::remove_dir_all(dir);
    let (lib, bin) = (dir.join("real/lib"), dir.join("real/bin"));
    for d in [&lib, &bin] {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let tools = root().join("userland-tests/tools");
    let gcc = |args: &mut Command| -> Result<(), String> {
        let status = args
            .status()
            .map_err(|e| format!("cannot run {compiler}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{compiler} failed building the --with fixture"))
        }
    };
    let warnings = ["-O2", "-Wall", "-Wextra", "-Werror"];
    gcc(Command::new(compiler)
        .args(warnings)
        .args(["-shared", "-fPIC", "-Wl,-soname,libkt-with.so.1", "-o"])
        .arg(lib.join("libkt-with.so.1.0"))
        .arg(tools.join("with-lib.c")))?;
    let symlink = |target: &str, at: PathBuf| {
        std::os::unix::fs::symlink(target, &at).map_err(|e| format!("{}: {e}", at.display()))
    };
    symlink("libkt-with.so.1.0", lib.join("libkt-with.so.1"))?;
    gcc(Command::new(compiler)
        .args(warnings)
        .arg("-o")
        .arg(bin.join("kt-with"))
        .arg(tools.join("with-prog.c"))
        .arg(lib.join("libkt-with.so.1"))
        .args(["-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"]))?;
    symlink("kt-with", bin.join("kt-with-link"))?;
    symlink("real", dir.join("link"))?;
    Ok(())
}

/// Adds the runner and tests under /tests.
pub fn add_to(t: &mut Tree, runner: &Path, tests: &[(String, PathBuf)]) -> Result<(), String> {
    let read = |p: &Path| fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    t.add("tests/runner", Node::File(0o755, read(runner)?));
    for (name, path) in tests {
        t.add(&format!("tests/bin/{name}"), Node::File(0o755, read(path)?));
    }
    Ok(())
}

/// Runs the suite on this machine's Linux.
pub fn run_host() -> Result<u8, String> {
    let (runner, _) = build()?;
    println!(
        "xtask: userland tests on the host ({})",
        String::from_utf8_lossy(
            &Command::new("uname")
                .arg("-sr")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim()
    );
    let status = Command::new(&runner)
        .arg(out_dir().join("userland/bin"))
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run the runner: {e}"))?;
    Ok(if status.success() { 0 } else { 1 })
}
