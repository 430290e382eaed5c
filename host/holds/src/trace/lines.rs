//! A trace read whole into one buffer and cut into lines, so that the replay's
//! parts (one per core) find, check and parse their own lines in parallel
//! instead of one thread allocating a `String` per line first.

use std::io::Read;
use std::ops::Range;

/// The lines of a trace, as spans of one buffer.
pub(crate) struct Lines {
    bytes: Vec<u8>,
    /// Each line's span, without its `\n` (or `\r\n`).
    spans: Vec<Range<usize>>,
}

impl Lines {
    /// Everything `reader` gives, and the read error that ended it early, if one
    /// did: the bytes read before it are kept up to the last whole line, as a
    /// line-by-line reader would have delivered them.
    pub fn read(mut reader: impl Read) -> (Lines, Option<std::io::Error>) {
        let mut bytes = Vec::new();
        let error = reader.read_to_end(&mut bytes).err();
        if error.is_some() {
            let whole = memchr::memrchr(b'\n', &bytes).map_or(0, |end| end + 1);
            bytes.truncate(whole);
        }
        // Each `\n` ends a line, and so does the end of the input after a last
        // one without it; a `\r` before the end is not part of the line.
        let ends = memchr::memchr_iter(b'\n', &bytes)
            .chain((bytes.last() != Some(&b'\n') && !bytes.is_empty()).then_some(bytes.len()));
        let mut start = 0;
        let spans = ends
            .map(|end| {
                let line = start..end - usize::from(end > start && bytes[end - 1] == b'\r');
                start = end + 1;
                line
            })
            .collect();
        (Lines { bytes, spans }, error)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Line `i` (0-based), as bytes.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.spans[i].clone()]
    }

    /// Line `i` as text; `None` when it is not UTF-8 (checked here, by each
    /// part for its own lines, not for the whole input up front).
    pub fn text(&self, i: usize) -> Option<&str> {
        std::str::from_utf8(self.get(i)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8]) -> Vec<Vec<u8>> {
        let (lines, error) = Lines::read(text);
        assert!(error.is_none());
        (0..lines.len()).map(|i| lines.get(i).to_vec()).collect()
    }

    #[test]
    fn lines_are_cut_as_bufread_lines_cuts_them() {
        for text in [
            &b""[..],
            b"a",
            b"a\n",
            b"a\r\nb",
            b"\n\nc\n",
            b"x\r\n\r\n",
            "\u{e9}t\u{e9}\n\u{1f600}".as_bytes(),
        ] {
            let expected: Vec<Vec<u8>> = std::io::BufRead::lines(text)
                .map(|l| l.unwrap().into_bytes())
                .collect();
            assert_eq!(lines(text), expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    /// Fails after `ok` bytes.
    struct Broken<'a> {
        ok: &'a [u8],
    }

    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.ok.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.ok.len().min(buf.len());
            buf[..n].copy_from_slice(&self.ok[..n]);
            self.ok = &self.ok[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_keeps_the_whole_lines_before_it() {
        let (lines, error) = Lines::read(Broken {
            ok: b"one\ntwo\nthr",
        });
        assert_eq!(error.unwrap().to_string(), "disk on fire");
        assert_eq!(lines.len(), 2);
        assert_eq!((lines.get(0), lines.get(1)), (&b"one"[..], &b"two"[..]));
    }
}
