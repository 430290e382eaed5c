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

/// How long to wait before subscribing again when the store refused.
const RESUBSCRIBE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// A subscription whose snapshot is consumed: the current holds are what a read
/// returns; only changes notify.
async fn subscribe(manager: &Manager) -> Result<holds::Subscription, holds::Error> {
    let mut events = manager.subscribe().await?;
    events.take_snapshot();
    Ok(events)
}

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

    /// Subscribe (idempotent while it runs): from now on every change notifies
    /// `peer`. A subscription that lagged or failed is made again (with one
    /// notification for what it missed); a subscribe after the peer went away
    /// starts afresh.
    pub async fn start(&self, peer: Peer<RoleServer>) -> Result<(), ErrorData> {
        let mut task = self.task.lock().await;
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let manager = self.manager.clone();
        let mut events = subscribe(&manager).await.map_err(|e| {
            ErrorData::internal_error(format!("subscribing to the holds: {e}"), None)
        })?;
        *task = Some(tokio::spawn(async move {
            loop {
                let missed = match events.next().await {
                    Some(Ok(_)) => false,
                    // Lagged, or the store's watch failed: watch again.
                    Some(Err(e)) => {
                        crate::output::print_err(format_args!(
                            "holds mcp: holds://list: the subscription ended ({e}); subscribing again"
                        ));
                        true
                    }
                    // The manager closed: the session is ending.
                    None => return,
                };
                let sent = peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(LIST_URI))
                    .await;
                if sent.is_err() {
                    return;
                }
                if missed {
                    events = loop {
                        match subscribe(&manager).await {
                            Ok(events) => break events,
                            Err(holds::Error::Closed) => return,
                            Err(_) => tokio::time::sleep(RESUBSCRIBE_PAUSE).await,
                        }
                    };
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
