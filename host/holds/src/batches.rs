//! Cutting a long list of paths into guest calls whose work stays far below a
//! call's fuel: a path's cost grows with its length (escaping, cleaning,
//! walking), so a batch is bounded by bytes as well as by count.

use std::ops::Range;

/// Paths per guest call, at most.
const BATCH_PATHS: usize = 256;
/// Bytes of paths per guest call, at most (a longer path goes alone).
const BATCH_BYTES: usize = 64 << 10;

/// Consecutive ranges of `paths`, each one guest call's worth.
pub(crate) fn batches(paths: &[impl AsRef<str>]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, path) in paths.iter().enumerate() {
        let len = path.as_ref().len();
        if i > start && (i - start == BATCH_PATHS || bytes + len > BATCH_BYTES) {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < paths.len() {
        ranges.push(start..paths.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes_and_cover_every_path_once() {
        assert!(batches(&[] as &[&str]).is_empty());
        let short = vec!["/a"; 600];
        assert_eq!(batches(&short), vec![0..256, 256..512, 512..600]);
        let long = vec!["x".repeat(3000); 100];
        let cut = batches(&long);
        assert_eq!(cut[0], 0..21, "21 x 3000 bytes fit in 64 KiB, 22 do not");
        assert_eq!(cut.last().unwrap().end, 100);
        assert!(cut.windows(2).all(|w| w[0].end == w[1].start));
        let huge = vec!["y".repeat(100_000), "/b".into(), "/c".into()];
        assert_eq!(batches(&huge), vec![0..1, 1..3], "a huge path goes alone");
    }
}
