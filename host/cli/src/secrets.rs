//! Keeping secrets out of what holds prints, logs and hands to children.

/// `url` (one NATS URL or a comma-separated list) with every `user:password@`
/// or `token@` part replaced by `***@`.
pub fn redact_url(url: &str) -> String {
    url.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
    match userinfo(url) {
        Some((before, _, after)) => format!("{before}***{after}"),
        None => url.to_string(),
    }
}

/// `url` cut around the `user:password@` (or `token@`) of its authority: what
/// comes before it, the part itself without `@`, and what follows from `@` on.
fn userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some((&url[..start], &rest[..at], &rest[at..]))
}

/// The secrets this process was given: passwords, tokens, and the user parts
/// of NATS URLs; each is scrubbed from log lines.
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn of(auth: &crate::args::NatsAuth, url: Option<&str>) -> Self {
        let mut secrets: Vec<String> = [&auth.password, &auth.token]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        for one in url.into_iter().flat_map(|u| u.split(',')) {
            if let Some((_, user, _)) = userinfo(one) {
                secrets.extend(
                    user.split(':')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
        }
        // Longest first, so a secret containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(secrets)
    }

    pub fn scrub(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_string(), |text, secret| text.replace(secret, "***"))
    }
}

/// Log lines to stderr with every secret replaced by `***`.
pub struct ScrubbedStderr(pub std::sync::Arc<Secrets>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine {
            secrets: self.0.clone(),
            line: Vec::new(),
        }
    }
}

/// One log event, written to stderr scrubbed when it is complete.
pub struct ScrubbedLine {
    secrets: std::sync::Arc<Secrets>,
    line: Vec<u8>,
}

impl std::io::Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let text = self.secrets.scrub(&String::from_utf8_lossy(&self.line));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_in_every_url_of_a_list() {
        for (given, shown) in [
            (
                "nats://alice:S3cretPW@127.0.0.1:4222",
                "nats://***@127.0.0.1:4222",
            ),
            ("tls://tok3n@h:4443/x", "tls://***@h:4443/x"),
            ("user:pw@host:4222", "***@host:4222"),
            (
                "nats://a:b@h1:1, nats://h2:2",
                "nats://***@h1:1, nats://h2:2",
            ),
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("nats://h/p@th", "nats://h/p@th"),
        ] {
            assert_eq!(redact_url(given), shown, "{given}");
        }
    }
}
