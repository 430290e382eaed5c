//! The resource holds://list (every live hold, JSON) and its resources/updated
//! notifications, driven by the store's subscription.

use super::tools::ClaimOut;
use holds::Manager;
use rmcp::model::{
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents,
    ResourceUpdatedNotificationParam,
};
use rmcp::{ErrorData, Peer, RoleServer};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub const LIST_URI: &str = "holds://list";

pub fn describe() -> Resource {
    Resource::new(LIST_URI, "holds")
        .with_description(
            "Every live hold: file, agent, expiry and fencing token. Subscribe for changes.",
        )
        .with_mime_type("application/json")
}

pub fn known(uri: &str) -> Result<(), ErrorData> {
    if uri == LIST_URI {
        Ok(())
    } else {
        Err(ErrorData::resource_not_found(
            format!("no resource {uri:?}: holds offers {LIST_URI}"),
            None,
        ))
    }
}

pub async fn read(manager: &Manager, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    known(uri)?;
    let claims = manager
        .list()
        .await
        .map_err(|e| ErrorData::internal_error(format!("listing the holds: {e}"), None))?;
    let claims: Vec<ClaimOut> = claims.iter().map(ClaimOut::from).collect();
    let text = serde_json::to_string(&serde_json::json!({ "claims": claims }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ])
    .into())
}

/// The task forwarding the store's changes as resources/updated, while subscribed.
#[derive(Clone)]
pub struct Updates {
    manager: Manager,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Updates {
    pub fn new(manager: Manager) -> Self {
        Updates {
            manager,
            task: Default::default(),
        }
    }

    /// Subscribe (idempotent): from now on every change notifies `peer`.
    pub async fn start(&self, peer: Peer<RoleServer>) -> Result<(), ErrorData> {
        let mut task = self.task.lock().await;
        if task.is_some() {
            return Ok(());
        }
        let mut events = self.manager.subscribe().await.map_err(|e| {
            ErrorData::internal_error(format!("subscribing to the holds: {e}"), None)
        })?;
        // The current holds are what a read returns; only changes notify.
        events.take_snapshot();
        *task = Some(tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if event.is_err() {
                    break;
                }
                let sent = peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(LIST_URI))
                    .await;
                if sent.is_err() {
                    break;
                }
            }
        }));
        Ok(())
    }

    pub async fn stop(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
        }
    }
}
