//! Check: does an agent hold every file live (at these fencing tokens)? For
//! commit gates.

use crate::covering;
use crate::extended;
use crate::host::Host;
use crate::host::store_error;
use crate::judge;
use crate::key::key_for_file;
use crate::model::{Error, FileCheck, FileState, Mode};
use crate::path::clean_absolute;
use crate::pattern::Coverage;
use crate::verdict;

/// Each file's state for `agent`; see the WIT `check`. One batch read.
pub async fn check<H: Host>(
    host: &mut H,
    files: &[String],
    agent: &str,
    tokens: &[u64],
) -> Result<Vec<FileCheck>, Error> {
    verdict::check_agent(agent)?;
    if files.is_empty() {
        return Err(Error::invalid("files", "there is no file to check"));
    }
    if !tokens.is_empty() && tokens.len() != files.len() {
        return Err(Error::invalid(
            "tokens",
            format!(
                "{} tokens for {} files: give one per file, or none",
                tokens.len(),
                files.len()
            ),
        ));
    }
    let mut keys = Vec::with_capacity(files.len());
    let mut cleaned = Vec::with_capacity(files.len());
    for file in files {
        keys.push(key_for_file(file)?);
        cleaned.push(clean_absolute(file)?);
    }
    let entries = host.get_many(&keys).await.map_err(store_error)?;
    let near: Vec<Coverage> = cleaned.iter().cloned().map(Coverage::File).collect();
    let patterns = judge::held_near(
        host.scan(extended::PREFIX, u64::MAX)
            .await
            .map_err(store_error)?,
        &near,
    );
    let now = host.now();
    let mut checks = Vec::with_capacity(files.len());
    for (i, entry) in entries.iter().enumerate() {
        let direct = verdict::live(verdict::hold_of(&keys[i], &cleaned[i], entry)?, now);
        let over = covering::over(&patterns, &Coverage::File(cleaned[i].clone()), now);
        let theirs = direct
            .iter()
            .chain(&over)
            .filter(|c| c.hold.agent_id != agent)
            .min_by_key(|c| c.revision);
        let exclusive = direct.clone().or_else(|| {
            over.iter()
                .find(|c| c.hold.agent_id == agent && c.hold.mode == Mode::Exclusive)
                .cloned()
        });
        let shared = over.iter().find(|c| c.hold.agent_id == agent).cloned();
        let state = match (theirs, exclusive, shared) {
            (Some(claim), _, _) => FileState::HeldByAnother(claim.clone()),
            (None, Some(claim), _) if tokens.get(i).is_some_and(|&t| t != claim.revision) => {
                FileState::TokenMoved(claim)
            }
            (None, Some(claim), _) => FileState::Held(claim),
            (None, None, Some(claim)) => FileState::Shared(claim),
            (None, None, None) => FileState::Vacant,
        };
        checks.push(FileCheck {
            file: cleaned[i].clone(),
            state,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    #[test]
    fn every_state_in_one_read() {
        let mut host = MemoryHost::new(0);
        let mine = block_on(announce(&mut host, &request("/a", "x", S), 60 * S, None)).unwrap();
        block_on(announce(&mut host, &request("/b", "y", S), 60 * S, None)).unwrap();
        host.calls.clear();
        let files = ["/a", "/b", "/c"].map(String::from);
        let checks = block_on(check(&mut host, &files, "x", &[])).unwrap();
        assert!(matches!(&checks[0].state, FileState::Held(c) if *c == mine));
        assert!(matches!(&checks[1].state, FileState::HeldByAnother(c) if c.hold.agent_id == "y"));
        assert_eq!(checks[2].state, FileState::Vacant);
        assert_eq!(host.gets(), 0, "no key read alone");
        let tokens = [mine.revision + 1, 0, 0];
        let checks = block_on(check(&mut host, &files, "x", &tokens)).unwrap();
        assert!(matches!(checks[0].state, FileState::TokenMoved(_)));
        host.now = 2 * S as i64;
        let checks = block_on(check(&mut host, &files, "x", &[])).unwrap();
        assert_eq!(checks[0].state, FileState::Vacant, "expired is nobody's");
    }

    #[test]
    fn bad_arguments_are_invalid() {
        let mut host = MemoryHost::new(0);
        let one = ["/a".to_string()];
        for (files, agent, tokens, field) in [
            (&[][..], "x", &[][..], "files"),
            (&one[..], "", &[][..], "agent-id"),
            (&one[..], "x", &[1, 2][..], "tokens"),
        ] {
            match block_on(check(&mut host, files, agent, tokens)) {
                Err(Error::InvalidInput(i)) => assert_eq!(i.field, field),
                other => panic!("{other:?}"),
            }
        }
        assert!(host.calls.is_empty());
    }
}
