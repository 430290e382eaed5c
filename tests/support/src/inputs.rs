//! Bad inputs shared by the library's and the CLI's bad-input tests: bucket names JetStream refuses, paths
//! with every special character (and Go's `path.Clean` as their oracle), values another client writes raw
//! into a bucket that are not holds.

/// Every printable ASCII punctuation mark.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Bucket names JetStream (and so holds) refuses, with what each one tries.
pub const BAD_BUCKETS: &[(&str, &str)] = &[
    ("", "empty"),
    ("a.b", "a dot (a subject token separator)"),
    ("a b", "a space"),
    ("*", "a subject wildcard"),
    (">", "the full wildcard"),
    ("holds-é", "non-ASCII"),
    ("a/b", "a slash"),
];

/// Go's `path.Clean` of an absolute path, the oracle for the paths holds keys.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    parts.iter().map(|p| format!("/{p}")).collect()
}

/// Absolute spellings of files with special characters (all of which must work), under `root`.
pub fn special_paths(root: &str) -> Vec<String> {
    let mut paths: Vec<String> = PUNCTUATION
        .chars()
        .flat_map(|c| [format!("{root}/a{c}b"), format!("{root}/single/{c}")])
        .collect();
    let no_slash: String = PUNCTUATION.chars().filter(|&c| c != '/').collect();
    paths.extend([
        // every punctuation mark at once
        format!("{root}/{no_slash}"),
        // whitespace and control characters
        format!("{root}/with space/ two  spaces /x"),
        format!("{root}/tab\there"),
        format!("{root}/new\nline\n"),
        format!("{root}/cr\rlf\r\n"),
        format!("{root}/ctl\u{1}\u{1b}[31m\u{7f}"),
        // Unicode: accents, CJK, emoji, combining marks, NBSP, BOM, U+2028, right-to-left override
        format!("{root}/ünï/漢字/😀.rs"),
        format!("{root}/e\u{301}\u{a0}\u{feff}\u{2028}\u{2029}\u{202e}txt"),
        // dots: `..` and `.` segments, names made of or ending in dots
        format!("{root}/a/../b/./c"),
        format!("{root}/..."),
        format!("{root}/.hidden"),
        format!("{root}/a..b/c."),
        format!("{root}/..a/.b."),
        format!("{root}/deep/../../{}/up", root.trim_start_matches('/')),
        // trailing and repeated slashes
        format!("{root}/dir/"),
        format!("/{root}//double///slash//"),
        format!("{root}/x/./"),
    ]);
    paths
}

/// How a caller names `path` as one file: holds reads a trailing `/` as a
/// directory and `*`, `?` and `[` as a glob's wildcards, so a trailing `/` (or
/// `/.`) is dropped and the wildcards are escaped (`\*`).
pub fn as_file(path: &str) -> String {
    let mut file = path.to_string();
    while file.ends_with('/') || file.ends_with("/.") {
        file.truncate(file.len() - if file.ends_with('/') { 1 } else { 2 });
    }
    if file.is_empty() {
        // The root as a file: `/..` cleans to `/` and does not end in `/`.
        file = "/..".to_string();
    }
    file.replace('*', "\\*")
        .replace('?', "\\?")
        .replace('[', "\\[")
}

/// The names of the server's streams (JetStream), to show a refused config created no bucket.
pub async fn stream_names(url: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut names: Vec<String> = js.stream_names().try_collect().await.unwrap();
    names.sort();
    names
}

/// Values another client writes raw into the bucket that are not holds, with a word of each reason.
pub fn corrupt_values() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut huge = br#"{"agent_id":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 900 * 1024));
    vec![
        ("unterminated", br#"{"agent_id":"a1""#.to_vec(), "EOF"),
        ("empty", Vec::new(), "EOF"),
        ("whitespace", b"  \n".to_vec(), "EOF"),
        ("huge-900kb", huge, "EOF"),
        (
            "agent-id-number",
            br#"{"agent_id":7}"#.to_vec(),
            "invalid type",
        ),
        ("array", b"[]".to_vec(), "array"),
        ("array-of-hold", br#"[{"agent_id":"a1"}]"#.to_vec(), "array"),
        ("string", br#""str""#.to_vec(), "invalid type"),
        ("number", b"42".to_vec(), "invalid type"),
        ("bool", b"true".to_vec(), "invalid type"),
        ("ttl-string", br#"{"ttl":"30s"}"#.to_vec(), "invalid type"),
        ("ttl-float", br#"{"ttl":1.5}"#.to_vec(), "invalid type"),
        (
            "ttl-over-i64",
            br#"{"ttl":18446744073709551616}"#.to_vec(),
            "invalid type",
        ),
        (
            "expires-tomorrow",
            br#"{"expires_at":"tomorrow"}"#.to_vec(),
            "expires_at",
        ),
        (
            "claimed-number",
            br#"{"claimed_at":1700000000}"#.to_vec(),
            "invalid type",
        ),
        (
            "checkout-object",
            br#"{"checkout_path":{}}"#.to_vec(),
            "invalid type",
        ),
        (
            "trailing-garbage",
            br#"{"agent_id":"a1"} x"#.to_vec(),
            "trailing",
        ),
        ("not-utf8", b"\xff\xfe{".to_vec(), "not a hold"),
        ("utf8-bom", b"\xef\xbb\xbf{}".to_vec(), "not a hold"),
    ]
}
