//! who-has: the live hold on a file, judged lazily by the reader.

use crate::host::Host;
use crate::host::read;
use crate::key::key_for_file;
use crate::model::{Claim, Entry, Error};
use crate::verdict;

/// The live claim on `file`; with `observed`, judged on that entry without a read.
pub async fn who_has<H: Host>(
    host: &mut H,
    file: &str,
    observed: Option<Entry>,
) -> Result<Option<Claim>, Error> {
    let key = key_for_file(file)?;
    let file = crate::path::clean_absolute(file)?;
    let entry = match observed {
        Some(entry) => entry,
        None => read(host, &key).await?,
    };
    let current = verdict::hold_of(&key, &file, &entry)?;
    if current.is_none() {
        return Ok(None);
    }
    let now = host.now();
    Ok(verdict::live(current, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn holder_until_expiry_then_none() {
        let mut host = MemoryHost::new(0);
        assert_eq!(block_on(who_has(&mut host, "/f", None)).unwrap(), None);
        let claim = block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        assert_eq!(
            block_on(who_has(&mut host, "/f", None)).unwrap(),
            Some(claim)
        );
        host.now = S as i64;
        assert!(
            block_on(who_has(&mut host, "/f", None)).unwrap().is_some(),
            "expiring exactly now is live"
        );
        host.now = S as i64 + 1;
        assert_eq!(block_on(who_has(&mut host, "/f", None)).unwrap(), None);
    }

    #[test]
    fn corrupt_value_is_a_corrupt_entry_error() {
        let mut host = MemoryHost::new(0);
        host.put_raw("=2Ff", b"{not json");
        assert!(matches!(
            block_on(who_has(&mut host, "/f", None)),
            Err(Error::CorruptEntry(c)) if c.key == "=2Ff" && c.revision == 1
        ));
    }
}
