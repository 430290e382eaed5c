//! FILE arguments as holds names them: one file is one hold whether it is named in
//! the main worktree, a linked one, through a symlink or in a declared checkout
//! (the guest's `identify`, see `holds::Manager::identify`).

use crate::failure::Failure;
use holds::{Identity, Manager, Place};

/// The files `paths` name, seen from `place`.
pub struct Named {
    pub ids: Vec<Identity>,
}

impl Named {
    pub async fn new(holds: &Manager, paths: &[String], place: &Place) -> Result<Self, Failure> {
        Ok(Named {
            ids: holds.identify(paths, place).await?,
        })
    }

    /// The workspace paths, in the order given.
    pub fn files(&self) -> Vec<String> {
        self.ids.iter().map(|i| i.file.clone()).collect()
    }

    /// The checkout stored with holds on these files: where the first was seen.
    pub fn checkout(&self) -> String {
        self.ids
            .first()
            .map(|i| i.checkout.clone())
            .unwrap_or_default()
    }
}

/// The one file `path` names, seen from `place`.
pub async fn one(holds: &Manager, path: &str, place: &Place) -> Result<Identity, Failure> {
    let mut ids = holds.identify(&[path], place).await?;
    Ok(ids.remove(0))
}
