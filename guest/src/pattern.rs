//! What a hold covers: one file, a directory (every path beneath it) or a glob
//! (git's wildmatch with `/` special), and whether two of them could both cover
//! some path.
//!
//! Overlap is exact wherever a file is involved (the file is matched). For two
//! patterns it is conservative: every path a pattern covers starts with its
//! literal prefix (the text before its first wildcard) and, for a glob that
//! ends in literal text, ends with that suffix; two patterns whose prefixes
//! diverge, or whose suffixes diverge, cover no path in common. Any other pair
//! is taken to overlap, so a pair that truly overlaps is never missed.

use crate::model::{Error, Scope};
use crate::path::clean_absolute;

/// What a hold covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// One file: a cleaned absolute path.
    File(String),
    /// Every path beneath a directory: cleaned, ending in `/`.
    Dir(String),
    /// Every path a glob matches: cleaned, absolute.
    Glob(String),
}

fn has_wildcard_char(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether `text` has an unescaped glob wildcard (`*`, `?` or `[`).
fn has_wildcard(text: &str) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

impl Coverage {
    /// Read what a caller asked to hold: a path ending in `/` is a directory, one
    /// with a wildcard a glob, anything else a file. Cleaned as files are.
    pub fn parse(text: &str) -> Result<Coverage, Error> {
        let cleaned = clean_absolute(text)?;
        if has_wildcard(&cleaned) {
            // A glob naming directories holds everything beneath them.
            if text.ends_with('/') && cleaned != "/" {
                return Ok(Coverage::Glob(cleaned + "/**"));
            }
            return Ok(Coverage::Glob(cleaned));
        }
        // No wildcard: an escaped one (`\*`, `\?`, `\[`) is the character itself.
        let literal = cleaned
            .replace("\\*", "*")
            .replace("\\?", "?")
            .replace("\\[", "[");
        if text.ends_with('/') || text.ends_with("/.") {
            let mut dir = literal;
            if !dir.ends_with('/') {
                dir.push('/');
            }
            return Ok(Coverage::Dir(dir));
        }
        Ok(Coverage::File(literal))
    }

    /// Which kind of coverage it is.
    pub fn scope(&self) -> Scope {
        match self {
            Coverage::File(_) => Scope::File,
            Coverage::Dir(_) => Scope::Directory,
            Coverage::Glob(_) => Scope::Glob,
        }
    }

    /// The text it is held and shown by, which reads back as itself: a file's
    /// or directory's wildcard characters escaped.
    pub fn text(&self) -> String {
        match self {
            Coverage::File(t) | Coverage::Dir(t) if has_wildcard_char(t) => t
                .replace('*', "\\*")
                .replace('?', "\\?")
                .replace('[', "\\["),
            Coverage::File(t) | Coverage::Dir(t) | Coverage::Glob(t) => t.clone(),
        }
    }

    /// The path of a file hold.
    pub fn file(&self) -> Option<&str> {
        match self {
            Coverage::File(f) => Some(f),
            _ => None,
        }
    }

    pub fn is_file(&self) -> bool {
        matches!(self, Coverage::File(_))
    }

    /// Whether it covers the file `file` (a cleaned absolute path).
    pub fn covers(&self, file: &str) -> bool {
        match self {
            Coverage::File(f) => f == file,
            Coverage::Dir(d) => file.len() > d.len() && file.starts_with(d.as_str()),
            Coverage::Glob(g) => wildmatch(g.as_bytes(), file.as_bytes()),
        }
    }

    /// Whether some path could be covered by both (conservative for two
    /// patterns; see the module docs).
    pub fn overlaps(&self, other: &Coverage) -> bool {
        match (self, other) {
            (Coverage::File(f), x) | (x, Coverage::File(f)) => x.covers(f),
            (a, b) => {
                let (pa, pb) = (a.literal_prefix(), b.literal_prefix());
                if !(pa.starts_with(&pb) || pb.starts_with(&pa)) {
                    return false;
                }
                match (a.literal_suffix(), b.literal_suffix()) {
                    (Some(sa), Some(sb)) => sa.ends_with(&sb) || sb.ends_with(&sa),
                    _ => true,
                }
            }
        }
    }

    /// The text every covered path starts with.
    pub fn literal_prefix(&self) -> String {
        match self {
            Coverage::File(t) | Coverage::Dir(t) => t.clone(),
            Coverage::Glob(g) => literal_run(g.as_bytes()),
        }
    }

    /// The text every covered path ends with, when the pattern ends in literal
    /// text (a glob only: a directory's paths end anyhow).
    fn literal_suffix(&self) -> Option<String> {
        match self {
            Coverage::Glob(g) => {
                let tail = literal_tail(g.as_bytes());
                (!tail.is_empty()).then_some(tail)
            }
            _ => None,
        }
    }
}

/// The unescaped literal text of `glob` before its first wildcard.
fn literal_run(glob: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < glob.len() {
        match glob[i] {
            b'\\' if i + 1 < glob.len() => {
                out.push(glob[i + 1]);
                i += 2;
            }
            b'*' | b'?' | b'[' => break,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The unescaped literal text of `glob` after its last wildcard (empty when it
/// ends in one).
fn literal_tail(glob: &[u8]) -> String {
    // Walk forward so escapes are read correctly; restart the tail at each
    // wildcard (a class runs to its closing bracket).
    let mut tail = Vec::new();
    let mut i = 0;
    while i < glob.len() {
        match glob[i] {
            b'\\' if i + 1 < glob.len() => {
                tail.push(glob[i + 1]);
                i += 2;
            }
            b'*' | b'?' => {
                tail.clear();
                i += 1;
            }
            b'[' => {
                tail.clear();
                i = class_end(glob, i).unwrap_or(glob.len());
            }
            b => {
                tail.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// The index just past the class that opens at `open` (`glob[open] == b'['`),
/// or `None` when it never closes (then `[` is a literal, as git reads it).
fn class_end(glob: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(glob.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    // A `]` first in the class is a member.
    if glob.get(i) == Some(&b']') {
        i += 1;
    }
    while i < glob.len() {
        match glob[i] {
            b'\\' => i += 2,
            b']' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Whether the class `glob[open..end]` matches byte `c`.
fn class_matches(glob: &[u8], open: usize, end: usize, c: u8) -> bool {
    let mut i = open + 1;
    let negated = matches!(glob.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let last = end - 1;
    let mut matched = false;
    let mut first = true;
    while i < last {
        let mut lo = glob[i];
        if lo == b'\\' && i + 1 < last {
            i += 1;
            lo = glob[i];
        } else if lo == b']' && !first {
            break;
        }
        first = false;
        if i + 2 < last && glob[i + 1] == b'-' {
            let mut hi = glob[i + 2];
            let mut step = 3;
            if hi == b'\\' && i + 3 < last {
                hi = glob[i + 3];
                step = 4;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
            i += step;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    matched != negated
}

/// git's wildmatch with `WM_PATHNAME`: `*`, `?` and classes never match `/`;
/// `**` between slashes (or at either end) matches any number of whole
/// directories, elsewhere it is `*`; `\` escapes the next character.
pub fn wildmatch(glob: &[u8], text: &[u8]) -> bool {
    matches_from(glob, 0, text, 0)
}

fn matches_from(glob: &[u8], mut p: usize, text: &[u8], mut t: usize) -> bool {
    while p < glob.len() {
        match glob[p] {
            b'*' => {
                let double = glob.get(p + 1) == Some(&b'*');
                if double {
                    let starts_segment = p == 0 || glob[p - 1] == b'/';
                    let mut q = p + 2;
                    while glob.get(q) == Some(&b'*') {
                        q += 1;
                    }
                    let ends_segment = q == glob.len() || glob[q] == b'/';
                    if starts_segment && ends_segment {
                        if q == glob.len() {
                            return true;
                        }
                        // `**/`: zero or more directories, each ending in `/`.
                        let rest = q + 1;
                        let mut at = t;
                        loop {
                            if matches_from(glob, rest, text, at) {
                                return true;
                            }
                            match text[at..].iter().position(|&b| b == b'/') {
                                Some(slash) => at += slash + 1,
                                None => return false,
                            }
                        }
                    }
                    p = q;
                } else {
                    p += 1;
                }
                // `*`: any run without `/`.
                let mut at = t;
                loop {
                    if matches_from(glob, p, text, at) {
                        return true;
                    }
                    if at >= text.len() || text[at] == b'/' {
                        return false;
                    }
                    at += 1;
                }
            }
            b'?' => {
                if t >= text.len() || text[t] == b'/' {
                    return false;
                }
                p += 1;
                t += 1;
            }
            b'[' => match class_end(glob, p) {
                Some(end) => {
                    if t >= text.len() || text[t] == b'/' || !class_matches(glob, p, end, text[t]) {
                        return false;
                    }
                    p = end;
                    t += 1;
                }
                None => {
                    if text.get(t) != Some(&b'[') {
                        return false;
                    }
                    p += 1;
                    t += 1;
                }
            },
            b'\\' if p + 1 < glob.len() => {
                if text.get(t) != Some(&glob[p + 1]) {
                    return false;
                }
                p += 2;
                t += 1;
            }
            b => {
                if text.get(t) != Some(&b) {
                    return false;
                }
                p += 1;
                t += 1;
            }
        }
    }
    t == text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Coverage {
        Coverage::parse(text).unwrap()
    }

    #[test]
    fn a_trailing_slash_is_a_directory_and_a_wildcard_a_glob() {
        assert_eq!(c("/r/src/auth/"), Coverage::Dir("/r/src/auth/".into()));
        assert_eq!(c("/r/src//auth/./"), Coverage::Dir("/r/src/auth/".into()));
        assert_eq!(c("/r/src/auth"), Coverage::File("/r/src/auth".into()));
        assert_eq!(
            c("/r/docs/**/*.md"),
            Coverage::Glob("/r/docs/**/*.md".into())
        );
        assert_eq!(c("/r/a?.rs"), Coverage::Glob("/r/a?.rs".into()));
        assert_eq!(c("/r/[ab].rs"), Coverage::Glob("/r/[ab].rs".into()));
        assert_eq!(
            c("/r/x\\*.rs"),
            Coverage::File("/r/x*.rs".into()),
            "an escaped wildcard is literal"
        );
        assert_eq!(
            c("/r/x\\*.rs").text(),
            "/r/x\\*.rs",
            "and reads back as itself"
        );
        assert_eq!(c(&c("/r/x\\*.rs").text()), c("/r/x\\*.rs"));
        assert_eq!(c("/"), Coverage::Dir("/".into()));
        assert_eq!(c("/r/a*/"), Coverage::Glob("/r/a*/**".into()));
        assert!(Coverage::parse("r/").is_err());
    }

    #[test]
    fn a_directory_covers_what_is_beneath_it_and_not_a_sibling_sharing_its_prefix() {
        let d = c("/r/src/auth/");
        assert!(d.covers("/r/src/auth/login.rs"));
        assert!(d.covers("/r/src/auth/deep/er/x.rs"));
        assert!(!d.covers("/r/src/authz.rs"));
        assert!(!d.covers("/r/src/auth"));
        assert!(c("/").covers("/anything"));
    }

    #[test]
    fn globs_follow_git_wildmatch() {
        let m = |g: &str, t: &str| wildmatch(g.as_bytes(), t.as_bytes());
        assert!(m("/r/docs/**/*.md", "/r/docs/a.md"));
        assert!(m("/r/docs/**/*.md", "/r/docs/guide/intro.md"));
        assert!(m("/r/docs/**/*.md", "/r/docs/a/b/c.md"));
        assert!(!m("/r/docs/**/*.md", "/r/docs/a.rs"));
        assert!(!m("/r/docs/**/*.md", "/r/other/a.md"));
        assert!(m("/r/*.rs", "/r/lib.rs"));
        assert!(!m("/r/*.rs", "/r/src/lib.rs"), "* stays in a segment");
        assert!(m("/r/**", "/r/a/b/c"));
        assert!(m("/r/a**b", "/r/axxb"), "** inside a segment is *");
        assert!(!m("/r/a**b", "/r/ax/xb"));
        assert!(m("/r/?.rs", "/r/a.rs"));
        assert!(!m("/r/?.rs", "/r/ab.rs"));
        assert!(m("/r/[a-c].rs", "/r/b.rs"));
        assert!(!m("/r/[!a-c].rs", "/r/b.rs"));
        assert!(m("/r/[!a-c].rs", "/r/d.rs"));
        assert!(m("/r/[]x].rs", "/r/].rs"));
        assert!(m("/r/\\*.rs", "/r/*.rs"));
        assert!(!m("/r/\\*.rs", "/r/a.rs"));
        assert!(m("/r/é*", "/r/été"));
        assert!(m("/r/[ab", "/r/[ab"), "an unclosed class is literal");
    }

    #[test]
    fn overlap_is_exact_with_a_file_and_never_missed_between_patterns() {
        let o = |a: &str, b: &str| {
            let (a, b) = (c(a), c(b));
            assert_eq!(a.overlaps(&b), b.overlaps(&a), "symmetric");
            a.overlaps(&b)
        };
        assert!(o("/r/src/auth/", "/r/src/auth/login.rs"));
        assert!(!o("/r/src/auth/", "/r/src/authz.rs"));
        assert!(o("/r/src/", "/r/src/auth/"));
        assert!(!o("/r/src/auth/", "/r/src/authz/"));
        assert!(o("/r/docs/**/*.md", "/r/docs/guide/intro.md"));
        assert!(!o("/r/docs/**/*.md", "/r/docs/guide/intro.rs"));
        assert!(o("/r/docs/**/*.md", "/r/docs/guide/"));
        assert!(!o("/r/docs/**/*.md", "/r/src/"));
        assert!(!o("/r/**/*.md", "/r/**/*.rs"), "suffixes diverge");
        assert!(o("/r/**/*.md", "/r/a/*"), "no suffix on one side");
        assert!(o("/r/src/*.rs", "/r/src/**"));
        assert!(!o("/r/a/*", "/r/b/*"));
        assert!(o("/r/a", "/r/a"));
        assert!(!o("/r/a", "/r/b"));
    }

    /// Every pair of patterns that covers a common path of a small universe is
    /// reported as overlapping.
    #[test]
    fn no_overlap_is_missed_over_a_universe_of_paths() {
        let patterns = [
            "/r/",
            "/r/a/",
            "/r/a/b/",
            "/r/ab/",
            "/r/*",
            "/r/*.md",
            "/r/**/*.md",
            "/r/a/*.rs",
            "/r/a/**",
            "/r/?b/",
            "/r/[ab]/x.md",
            "/r/**/x*",
            "/r/a*/",
            "/r/*/b/*",
            "/r/a/b.md",
            "/r/b/x.md",
        ];
        let universe = [
            "/r/a",
            "/r/a.md",
            "/r/a/b.md",
            "/r/a/b/c.rs",
            "/r/ab/x.md",
            "/r/b/x.md",
            "/r/a/x.rs",
            "/r/x.md",
            "/r/a/b/x",
            "/r/bb/y",
            "/r/c/b/d",
            "/r/ax/q",
        ];
        for a in patterns {
            for b in patterns {
                let (ca, cb) = (c(a), c(b));
                let common = universe.iter().any(|f| ca.covers(f) && cb.covers(f));
                if common {
                    assert!(ca.overlaps(&cb), "{a} and {b} share a path");
                }
            }
        }
    }
}
