//! Lexical path cleaning, as Go's `path.Clean`, for the absolute paths holds keys.

use crate::model::Error;

/// Check that `file` is a non-empty absolute path and return it cleaned:
/// repeated `/` collapsed, `.` elements removed, `..` elements resolved lexically
/// (never above `/`), no trailing `/` except for the root itself.
pub fn clean_absolute(file: &str) -> Result<String, Error> {
    if file.is_empty() {
        return Err(Error::invalid("file", "the path is empty"));
    }
    if !file.starts_with('/') {
        return Err(Error::invalid(
            "file",
            format!("the path {file:?} is not absolute"),
        ));
    }
    if file.contains('\0') {
        return Err(Error::invalid("file", "the path contains a NUL byte"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut cleaned = String::with_capacity(file.len());
    for part in &parts {
        cleaned.push('/');
        cleaned.push_str(part);
    }
    if cleaned.is_empty() {
        cleaned.push('/');
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go_path_clean() {
        for (input, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("/a/..b/c.", "/a/..b/c."),
        ] {
            assert_eq!(clean_absolute(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn empty_relative_and_nul_paths_are_invalid_input() {
        for input in ["", "a/b", "./a", "relative", "/a\0b"] {
            match clean_absolute(input) {
                Err(Error::InvalidInput(i)) => assert_eq!(i.field, "file"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }
}
