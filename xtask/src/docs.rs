//! Checks that the documentation points only at what a clone of the repository
//! contains: every relative link in the Markdown files (README.md, docs/*.md and
//! the other READMEs), and every path written as code that climbs out of its
//! page's directory (`../...`), leads to a file or directory inside the
//! repository; and every `docs/...` path that a source comment names exists.
//!
//! Code a page quotes from the repository is checked too: a fenced block whose
//! info string names a file (```` ```rust file=drivers/virtio-rng/src/lib.rs ````)
//! must appear in that file as it is, line for line and contiguous (trailing
//! whitespace aside), so a guide that walks through a driver cannot drift from
//! the driver.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Directories that are not the repository's own text: build output, git's data.
const SKIP_DIRS: &[&str] = &["target", ".git"];

/// One broken reference: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub file: String,
    pub line: usize,
    pub target: String,
    pub why: &'static str,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.target, self.why
        )
    }
}

/// Every file below `root` (skipping [`SKIP_DIRS`] and hidden directories other
/// than .cargo and .ci), sorted, as paths relative to `root`.
fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(root.join(rel)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = rel.join(&name);
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                let hidden = name.starts_with('.') && name != ".cargo" && name != ".ci";
                if !hidden && !SKIP_DIRS.contains(&name.as_str()) {
                    walk(root, &rel, out);
                }
            } else if t.is_file() {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out.sort();
    out
}

/// `path` with `.` and `..` removed lexically; None if it climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => out = PathBuf::new(),
        }
    }
    Some(out)
}

/// Whether `target`, relative to the repository root, is the repository's own: it
/// exists, stays inside the root, and is not build output.
fn check_in_repo(root: &Path, target: &Path) -> Result<(), &'static str> {
    let Some(rel) = normalize(target) else {
        return Err("leads outside the repository");
    };
    if rel
        .components()
        .next()
        .is_some_and(|c| SKIP_DIRS.iter().any(|d| c.as_os_str() == *d))
    {
        return Err("is build output or git data, not in a clone");
    }
    if root.join(&rel).exists() {
        Ok(())
    } else {
        Err("does not exist")
    }
}

/// The link targets in one line of Markdown: `[text](target "title")`, `<target>`
/// forms, and reference definitions `[label]: target`. Links inside code spans
/// are examples, not links.
fn markdown_links(line: &str) -> Vec<String> {
    // Drop `code spans`: a link written inside one is an example, not a link.
    let mut text = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            text.push_str(part);
        }
    }
    let mut out = Vec::new();
    let trimmed = text.trim_start();
    if trimmed.starts_with('[')
        && let Some(end) = trimmed.find("]:")
        && !trimmed[..end].contains("](")
    {
        if let Some(t) = trimmed[end + 2..].split_whitespace().next() {
            out.push(t.trim_matches(['<', '>']).to_string());
        }
        return out;
    }
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let target: String = if let Some(angle) = after.strip_prefix('<') {
            angle.split('>').next().unwrap_or("").to_string()
        } else {
            // Up to the closing parenthesis, allowing balanced ones inside.
            let mut depth = 0;
            let end = after
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => return true,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .map_or(after.len(), |(i, _)| i);
            after[..end]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        };
        out.push(target);
        rest = after;
    }
    out
}

/// Paths written as code in one line of Markdown that climb out of the page's
/// directory (`` `../x/y.md` ``): a path to a file is a reference even when it is
/// not a link.
fn code_paths(line: &str) -> Vec<String> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("../") && !span.contains(char::is_whitespace))
        .map(str::to_string)
        .collect()
}

/// Whether a link target is relative (a path in the repository), not a URL, a
/// mail address or an anchor in the same page.
fn is_relative(target: &str) -> bool {
    !(target.is_empty()
        || target.starts_with('#')
        || target.contains("://")
        || target.starts_with("mailto:"))
}

/// Broken relative links in the Markdown text `text` of the file `file` (relative
/// to `root`).
fn check_markdown(root: &Path, file: &Path, text: &str) -> (usize, Vec<Broken>) {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut count = 0;
    let mut broken = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for target in markdown_links(line).into_iter().chain(code_paths(line)) {
            if !is_relative(&target) {
                continue;
            }
            count += 1;
            let path = target.split('#').next().unwrap_or("");
            // A leading '/' is the repository root, as on a forge.
            let full = match path.strip_prefix('/') {
                Some(from_root) => PathBuf::from(from_root),
                None => dir.join(path),
            };
            if let Err(why) = check_in_repo(root, &full) {
                broken.push(Broken {
                    file: file.display().to_string(),
                    line: n + 1,
                    target,
                    why,
                });
            }
        }
    }
    (count, broken)
}

/// The comment text of a source file, line by line (the code on each line
/// blanked), by the comment syntax its name implies; None for files that are
/// not source code.
fn comments(file: &Path, text: &str) -> Option<Vec<String>> {
    let name = file.file_name()?.to_string_lossy();
    let ext = file.extension().map(|e| e.to_string_lossy().into_owned());
    let c_like = matches!(
        ext.as_deref(),
        Some("rs" | "c" | "h" | "s" | "S" | "ld" | "lds" | "ver")
    );
    let hash = matches!(ext.as_deref(), Some("toml" | "sh" | "py" | "yml" | "yaml"))
        || name == "run"
        || name == ".gitignore";
    if !c_like && !hash {
        return None;
    }
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if hash {
            out.push(line.split_once('#').map_or("", |(_, c)| c).to_string());
            continue;
        }
        let mut comment = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        comment.push_str(&rest[..end]);
                        comment.push(' ');
                        rest = &rest[end + 2..];
                        in_block = false;
                    }
                    None => {
                        comment.push_str(rest);
                        break;
                    }
                }
            } else {
                let line_at = rest.find("//");
                let block_at = rest.find("/*");
                match (line_at, block_at) {
                    (Some(l), b) if b.is_none_or(|b| l < b) => {
                        comment.push_str(&rest[l + 2..]);
                        break;
                    }
                    (_, Some(b)) => {
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    _ => break,
                }
            }
        }
        out.push(comment);
    }
    Some(out)
}

/// The `docs/...` paths named in `text`: "docs/" at the start of a word (not
/// inside another path or a URL), up to the first character that cannot be in a
/// path, less a sentence's closing full stop.
fn docs_paths(text: &str) -> Vec<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let mut out = Vec::new();
    for (at, _) in text.match_indices("docs/") {
        if text[..at].chars().next_back().is_some_and(path_char) {
            continue;
        }
        let len = text[at..]
            .find(|c: char| !path_char(c))
            .unwrap_or(text.len() - at);
        out.push(text[at..at + len].trim_end_matches('.').to_string());
    }
    out
}

/// Broken `docs/...` paths in the comments of the source file `file`.
fn check_source(root: &Path, file: &Path, text: &str) -> (usize, Vec<Broken>) {
    let Some(lines) = comments(file, text) else {
        return (0, Vec::new());
    };
    let mut count = 0;
    let mut broken = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        for path in docs_paths(line) {
            count += 1;
            if let Err(why) = check_in_repo(root, Path::new(&path)) {
                broken.push(Broken {
                    file: file.display().to_string(),
                    line: n + 1,
                    target: path,
                    why,
                });
            }
        }
    }
    (count, broken)
}

/// A fenced block of Markdown that says which file it quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Quote {
    /// The line of the opening fence (1-based).
    line: usize,
    /// The `file=` of the info string, relative to the repository root.
    file: String,
    /// The block's lines, less the fence's own indentation.
    lines: Vec<String>,
    /// Whether a closing fence was found.
    closed: bool,
}

/// The fenced blocks of `text` whose info string has a `file=PATH` word
/// (```` ```rust file=src/lib.rs ````). Fences are backtick fences, as in the
/// rest of the documentation; a closing fence is a line of at least as many
/// backticks and nothing else.
fn quotes(text: &str) -> Vec<Quote> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let ticks = body.len() - body.trim_start_matches('`').len();
        if ticks < 3 {
            continue;
        }
        let file = body[ticks..]
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
            .map(str::to_string);
        let mut quote = Quote {
            line: n + 1,
            file: file.unwrap_or_default(),
            lines: Vec::new(),
            closed: false,
        };
        for (_, l) in lines.by_ref() {
            let t = l.trim();
            if t.len() >= ticks && t.bytes().all(|b| b == b'`') {
                quote.closed = true;
                break;
            }
            // Up to the fence's indentation is the list item's, not the code's.
            let strip = l.len() - l.trim_start_matches(' ').len();
            quote.lines.push(l[strip.min(indent)..].to_string());
        }
        if !quote.file.is_empty() {
            out.push(quote);
        }
    }
    out
}

/// How many lines of `block` match `source` from line `at` on (trailing
/// whitespace aside).
fn matching_from(source: &[&str], at: usize, block: &[String]) -> usize {
    block
        .iter()
        .zip(&source[at..])
        .take_while(|(b, s)| b.trim_end() == s.trim_end())
        .count()
}

/// Quoted blocks in the Markdown `text` of `file` that are not, line for line,
/// in the file they name. A mismatch names the first line of the block that
/// differs from the file where most of the block matched.
fn check_quotes(root: &Path, file: &Path, text: &str) -> (usize, Vec<Broken>) {
    let mut count = 0;
    let mut broken = Vec::new();
    for q in quotes(text) {
        count += 1;
        let mut fail = |target: String, why| {
            broken.push(Broken {
                file: file.display().to_string(),
                line: q.line,
                target,
                why,
            })
        };
        if !q.closed {
            fail(q.file.clone(), "the quoted block is not closed");
            continue;
        }
        if q.lines.iter().all(|l| l.trim().is_empty()) {
            fail(q.file.clone(), "the quoted block is empty");
            continue;
        }
        if check_in_repo(root, Path::new(&q.file)).is_err() {
            fail(q.file.clone(), "the quoted file is not in the repository");
            continue;
        }
        let Ok(source) = fs::read_to_string(root.join(&q.file)) else {
            fail(q.file.clone(), "the quoted file cannot be read");
            continue;
        };
        let source: Vec<&str> = source.lines().collect();
        let best = (0..source.len())
            .map(|at| matching_from(&source, at, &q.lines))
            .max()
            .unwrap_or(0);
        if best == q.lines.len() {
            continue;
        }
        let line = &q.lines[best];
        fail(
            format!(
                "{} (line {} of the block: `{}`)",
                q.file,
                best + 1,
                line.trim()
            ),
            if best == 0 {
                "the block's first line is not in the file"
            } else {
                "the block differs from the file here"
            },
        );
    }
    (count, broken)
}

/// Checks that every quoted block in the repository's Markdown is in its file.
pub fn quotes_report(root: &Path) -> Report {
    let mut r = Report {
        files: 0,
        references: 0,
        broken: Vec::new(),
    };
    for file in files(root)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let Ok(text) = fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let (n, broken) = check_quotes(root, &file, &text);
        if n > 0 {
            r.files += 1;
        }
        r.references += n;
        r.broken.extend(broken);
    }
    r
}

/// What one check found: how many references it looked at, and the broken ones.
pub struct Report {
    pub files: usize,
    pub references: usize,
    pub broken: Vec<Broken>,
}

/// Checks the relative links of every Markdown file in the repository at `root`.
pub fn markdown_report(root: &Path) -> Report {
    let mut r = Report {
        files: 0,
        references: 0,
        broken: Vec::new(),
    };
    for file in files(root)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let Ok(text) = fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let (n, broken) = check_markdown(root, &file, &text);
        r.files += 1;
        r.references += n;
        r.broken.extend(broken);
    }
    r
}

/// Checks the `docs/...` paths named in every source comment in the repository.
pub fn comments_report(root: &Path) -> Report {
    let mut r = Report {
        files: 0,
        references: 0,
        broken: Vec::new(),
    };
    for file in files(root) {
        let Ok(text) = fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let (n, broken) = check_source(root, &file, &text);
        if comments(&file, &text).is_some() {
            r.files += 1;
        }
        r.references += n;
        r.broken.extend(broken);
    }
    r
}

/// `cargo xtask test`'s documentation checks, as PASS/FAIL lines; returns
/// (passed, failed).
pub fn check() -> (u32, u32) {
    let root = crate::build::root();
    let mut tally = (0, 0);
    for (name, report, what) in [
        (
            "docs.relative_links_lead_into_the_repository",
            markdown_report(&root),
            "relative links in",
        ),
        (
            "docs.docs_paths_named_in_source_comments_exist",
            comments_report(&root),
            "docs/ paths in the comments of",
        ),
        (
            "docs.quoted_code_is_in_the_file_it_names",
            quotes_report(&root),
            "quoted code blocks, all found, in",
        ),
    ] {
        if report.broken.is_empty() {
            println!(
                "PASS {name}: {} {what} {} files",
                report.references, report.files
            );
            tally.0 += 1;
        } else {
            let list: Vec<String> = report.broken.iter().map(|b| b.to_string()).collect();
            println!("FAIL {name}: {}", list.join("; "));
            tally.1 += 1;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "docs/" spelt so that this file's own comments and strings do not name a
    /// missing page to the check that reads them.
    const D: &str = "docs";

    struct Repo(PathBuf);

    impl Repo {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-docs-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join(D)).unwrap();
            fs::write(dir.join(format!("{D}/a.md")), "# A\n").unwrap();
            fs::create_dir_all(dir.join("target")).unwrap();
            fs::write(dir.join("target/out.md"), "").unwrap();
            Self(dir)
        }
    }

    impl Drop for Repo {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn markdown_links_are_found_but_not_in_code() {
        assert_eq!(
            markdown_links("see [a](x.md) and [b](<y z.md>) or [c](f(1).md \"t\")"),
            ["x.md", "y z.md", "f(1).md"]
        );
        assert!(markdown_links("`[not](a link)` text").is_empty());
        assert_eq!(markdown_links("[ref]: ../r.md \"title\""), ["../r.md"]);
        assert!(!is_relative("https://example.org/x"));
        assert!(!is_relative("#section"));
        assert!(!is_relative("mailto:a@b"));
        assert!(is_relative("x.md#section"));
    }

    #[test]
    fn broken_and_escaping_links_are_reported_with_their_line() {
        let repo = Repo::new("md");
        let root = &repo.0;
        let text = format!(
            "[ok](a.md)\n[ok](a.md#top)\n[root](/{D}/a.md)\n[gone](b.md)\n\
             [out](../../shared/X.md)\n[built](../target/out.md)\n```\n[code](c.md)\n```\n\
             [web](https://example.org)\nThe brief: `../../brief/X.md`; see `../{D}/a.md`, `a b`.\n"
        );
        let (n, broken) = check_markdown(root, Path::new(&format!("{D}/page.md")), &text);
        assert_eq!(n, 8);
        let got: Vec<(usize, &str, &str)> = broken
            .iter()
            .map(|b| (b.line, b.target.as_str(), b.why))
            .collect();
        assert_eq!(
            got,
            [
                (4, "b.md", "does not exist"),
                (5, "../../shared/X.md", "leads outside the repository"),
                (
                    6,
                    "../target/out.md",
                    "is build output or git data, not in a clone"
                ),
                (11, "../../brief/X.md", "leads outside the repository"),
            ]
        );
    }

    #[test]
    fn comments_are_read_by_language() {
        let rs = "let s = \"x\"; // one\n/* two\n three */ code /* four */\n";
        assert_eq!(
            comments(Path::new("a.rs"), rs).unwrap(),
            [" one", " two", " three   four  "]
        );
        assert_eq!(
            comments(Path::new("Cargo.toml"), "a = 1 # five\n").unwrap(),
            [" five"]
        );
        assert!(comments(Path::new("README.md"), "").is_none());
    }

    #[test]
    fn quoted_blocks_are_found_with_their_file_and_indentation() {
        let text = "text\n```rust file=src/a.rs\nfn a() {}\n```\n\
                    ```rust\nnot quoted\n```\n\
                    1. a step\n\n   ```rust ignore file=src/b.rs\n   fn b() {\n       x\n   }\n   ```\n\
                    ````markdown\n```rust file=src/c.rs\n```\n````\n\
                    ```toml file=Cargo.toml\n[package]\n";
        let q = quotes(text);
        assert_eq!(q.len(), 3, "{q:?}");
        assert_eq!((q[0].line, q[0].file.as_str()), (2, "src/a.rs"));
        assert_eq!(q[0].lines, ["fn a() {}"]);
        assert!(q[0].closed);
        assert_eq!(q[1].file, "src/b.rs");
        assert_eq!(q[1].lines, ["fn b() {", "    x", "}"]);
        assert_eq!((q[2].file.as_str(), q[2].closed), ("Cargo.toml", false));
    }

    #[test]
    fn quoted_code_must_be_in_its_file_line_for_line() {
        let repo = Repo::new("quotes");
        let root = &repo.0;
        fs::create_dir_all(root.join("src")).unwrap();
        fs::write(
            root.join("src/lib.rs"),
            "fn one() {\n    let a = 1;   \n\n    let b = 2;\n}\nfn two() {}\n",
        )
        .unwrap();
        let block = |body: &str| format!("```rust file=src/lib.rs\n{body}```\n");
        let text = [
            // Whole, with trailing whitespace that differs: found.
            block("fn one() {\n    let a = 1;\n\n    let b = 2;  \n}\n"),
            // A run in the middle: found.
            block("}\nfn two() {}\n"),
            // One line changed.
            block("fn one() {\n    let a = 2;\n"),
            // Every line is in the file, but not one after the other.
            block("    let a = 1;\n    let b = 2;\n"),
            // Indentation is part of the code.
            block("let b = 2;\n"),
            // A file that is not there, or not the repository's.
            "```rust file=src/gone.rs\nfn x() {}\n```\n".to_string(),
            "```rust file=../outside.rs\nfn x() {}\n```\n".to_string(),
            block(""),
            "```rust file=src/lib.rs\nfn two() {}\n".to_string(),
        ]
        .concat();
        let (n, broken) = check_quotes(root, Path::new("guide.md"), &text);
        assert_eq!(n, 9);
        let got: Vec<(usize, &str, &str)> = broken
            .iter()
            .map(|b| (b.line, b.target.as_str(), b.why))
            .collect();
        assert_eq!(
            got,
            [
                (
                    12,
                    "src/lib.rs (line 2 of the block: `let a = 2;`)",
                    "the block differs from the file here"
                ),
                (
                    16,
                    "src/lib.rs (line 2 of the block: `let b = 2;`)",
                    "the block differs from the file here"
                ),
                (
                    20,
                    "src/lib.rs (line 1 of the block: `let b = 2;`)",
                    "the block's first line is not in the file"
                ),
                (
                    23,
                    "src/gone.rs",
                    "the quoted file is not in the repository"
                ),
                (
                    26,
                    "../outside.rs",
                    "the quoted file is not in the repository"
                ),
                (29, "src/lib.rs", "the quoted block is empty"),
                (31, "src/lib.rs", "the quoted block is not closed"),
            ]
        );
    }

    #[test]
    fn docs_paths_in_comments_must_exist() {
        let repo = Repo::new("src");
        let root = &repo.0;
        let text = format!(
            "//! Boot order ({D}/a.md): here.\n// see {D}/missing.md.\n\
             let url = \"https://x.org/{D}/web.md\"; // mydocs/no.md, {D}/\n\
             const S: &str = \"{D}/in-a-string.md\";\n"
        );
        let (n, broken) = check_source(root, Path::new("src/main.rs"), &text);
        assert_eq!(n, 3, "{broken:?}");
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].line, 2);
        assert_eq!(broken[0].target, format!("{D}/missing.md"));
    }
}
