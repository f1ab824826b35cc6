//! The crate against real executables on the build host (skipped where absent):
//! whatever Linux runs here must parse and lay out without error.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{ELF_ET_DYN_BASE, ElfImage, ElfType, Format, TASK_SIZE, parse_shebang, probe};

/// Parses `path` as a program, and its interpreter if it has one, and lays both out
/// the way Linux would place them. Returns the program image.
fn load(path: &Path) -> ElfImage {
    let file = std::fs::read(path).unwrap();
    let img = ElfImage::parse(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bias = match (img.elf_type, &img.interp) {
        (ElfType::Exec, _) => 0,
        (_, Some(_)) => img.pie_bias(ELF_ET_DYN_BASE),
        (_, None) => img.bias_at(0x7f00_0000_0000),
    };
    let layout = img
        .layout(bias)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    assert!(layout.entry > 0 && layout.entry < TASK_SIZE);
    // The entry point lies in an executable mapping.
    assert!(
        layout.mappings.iter().any(|m| m.start <= layout.entry
            && layout.entry < m.file_end
            && m.prot & kestrel_abi::mm::PROT_EXEC != 0),
        "{}: entry {:#x} not in an executable segment",
        path.display(),
        layout.entry
    );
    if let Some(interp) = &img.interp {
        let p = Path::new(std::str::from_utf8(interp).unwrap());
        let ld = ElfImage::parse_interpreter(&std::fs::read(p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        ld.layout(ld.bias_at(0x7f00_0000_0000))
            .unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
    }
    img
}

#[test]
fn parses_host_busybox() {
    let path = Path::new("/bin/busybox");
    if !path.exists() {
        eprintln!("skipped: no /bin/busybox");
        return;
    }
    let img = load(path);
    assert!(matches!(img.elf_type, ElfType::Exec | ElfType::Dyn));
    assert!(img.entry != 0);
    assert!(!img.segments.is_empty());
    assert!(!img.executable_stack());
}

/// Builds one small program as a musl static, a glibc static-pie and a musl dynamic
/// PIE (with whichever compilers exist) and checks what each looks like.
#[test]
fn parses_static_static_pie_and_dynamic_builds() {
    let dir = std::env::temp_dir().join(format!("kestrel-exec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("p.c");
    std::fs::write(&src, "int main(void) { return 3; }\n").unwrap();
    let build = |cc: &str, out: &str, flags: &[&str]| -> Option<PathBuf> {
        let out = dir.join(out);
        let ok = Command::new(cc)
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .ok()?
            .success();
        ok.then_some(out)
    };
    let mut built = 0;
    if let Some(stat) = build("musl-gcc", "static", &["-static", "-no-pie"]) {
        let img = load(&stat);
        assert_eq!(img.elf_type, ElfType::Exec);
        assert_eq!(img.interp, None);
        built += 1;
    }
    // musl-gcc's wrapper cannot link a working static-pie; glibc's gcc can.
    if let Some(pie) = build("gcc", "static-pie", &["-static-pie", "-fPIE"]) {
        let img = load(&pie);
        assert_eq!(img.elf_type, ElfType::Dyn);
        assert_eq!(img.interp, None);
        assert_eq!(img.span().start, 0);
        built += 1;
    }
    if let Some(dynamic) = build("musl-gcc", "dynamic", &["-fPIE", "-pie"]) {
        let img = load(&dynamic);
        assert_eq!(img.elf_type, ElfType::Dyn);
        assert!(img.interp.is_some());
        assert!(img.pt_phdr.is_some());
        assert_eq!(
            img.pt_phdr,
            Some(img.phdr_vaddr),
            "PT_PHDR agrees with Linux's rule"
        );
        built += 1;
    }
    eprintln!("checked {built} freshly built executables");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every ELF executable and script in the host's /bin (up to a few hundred) is
/// accepted.
#[test]
fn host_bin_directory_is_accepted() {
    let Ok(dir) = std::fs::read_dir("/bin") else {
        return;
    };
    let mut checked = 0;
    for entry in dir.flatten().take(400) {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        let Ok(file) = std::fs::read(&path) else {
            continue;
        };
        match probe(&file) {
            Ok(Format::Elf) => {
                load(&path);
                checked += 1;
            }
            Ok(Format::Script) => {
                parse_shebang(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
            Err(_) => {}
        }
    }
    eprintln!("checked {checked} host executables");
}
