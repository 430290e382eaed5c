//! Every live hold over a file (or a pattern): its exclusive hold, shared
//! holds, and the directory and glob holds that cover it.

use crate::extended;
use crate::host::{Host, read, store_error};
use crate::judge::{self, Held};
use crate::key::key_for_file;
use crate::model::{Claim, Error};
use crate::path::clean_absolute;
use crate::pattern::Coverage;
use crate::verdict;

/// Every live hold covering `file` (overlapping it, for a pattern), oldest
/// revision first; see the WIT `covering`.
pub async fn covering<H: Host>(host: &mut H, file: &str) -> Result<Vec<Claim>, Error> {
    let coverage = Coverage::parse(file)?;
    let mut found = Vec::new();
    // A file's own hold; for a glob, also the hold of a file named like it
    // (a path may contain `*`, `?` or `[`).
    let path = match &coverage {
        Coverage::File(path) => Some(path.clone()),
        Coverage::Glob(_) => Some(clean_absolute(file)?),
        Coverage::Dir(_) => None,
    };
    if let Some(path) = path {
        let key = key_for_file(&path)?;
        let entry = read(host, &key).await?;
        // A corrupt value holds nothing, as for who-has.
        if let Some(mut held) = judge::held_at(&key, &entry) {
            held.coverage = Coverage::File(path);
            found.push(held);
        }
    }
    // Read as who-has reads: the store's current state.
    let scanned = host
        .scan(extended::PREFIX, u64::MAX)
        .await
        .map_err(store_error)?;
    found.extend(judge::held_near(scanned, std::slice::from_ref(&coverage)));
    let now = host.now();
    Ok(over(&found, &coverage, now))
}

/// The live holds among `held` over `coverage`, oldest first.
pub(crate) fn over(held: &[Held], coverage: &Coverage, now: crate::model::Timestamp) -> Vec<Claim> {
    let mut claims: Vec<Claim> = held
        .iter()
        .filter(|h| h.coverage.overlaps(coverage) && !verdict::is_expired(&h.claim.hold, now))
        .map(|h| h.claim.clone())
        .collect();
    claims.sort_by_key(|c| c.revision);
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::model::{Mode, Scope};
    use crate::testing::{MemoryHost, request, shared};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_file_is_covered_by_its_hold_its_shared_holds_and_the_patterns_over_it() {
        let mut host = MemoryHost::new(0);
        block_on(announce(
            &mut host,
            &shared("/r/src/", "d", 30 * S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(
            &mut host,
            &shared("/r/src/a.rs", "s", 30 * S),
            60 * S,
            None,
        ))
        .unwrap();
        block_on(announce(
            &mut host,
            &request("/r/src/**/*.md", "g", 30 * S),
            60 * S,
            None,
        ))
        .unwrap_err();
        block_on(announce(
            &mut host,
            &request("/r/doc/**/*.md", "g", 30 * S),
            60 * S,
            None,
        ))
        .unwrap();
        let over = block_on(covering(&mut host, "/r/src/a.rs")).unwrap();
        let who: Vec<(&str, Scope, &str, Mode)> = over
            .iter()
            .map(|c| {
                let (file, agent) = (c.file.as_str(), c.hold.agent_id.as_str());
                (file, c.scope, agent, c.hold.mode)
            })
            .collect();
        assert_eq!(
            who,
            [
                ("/r/src/", Scope::Directory, "d", Mode::Shared),
                ("/r/src/a.rs", Scope::File, "s", Mode::Shared)
            ]
        );
        assert!(
            block_on(covering(&mut host, "/r/srcx/a.rs"))
                .unwrap()
                .is_empty()
        );
        let glob = block_on(covering(&mut host, "/r/doc/x/y.md")).unwrap();
        assert_eq!(glob.len(), 1);
        assert_eq!(glob[0].scope, Scope::Glob);
        host.now = 31 * S as i64;
        assert!(
            block_on(covering(&mut host, "/r/src/a.rs"))
                .unwrap()
                .is_empty(),
            "expired"
        );
    }
}
