//! The MCP server: identity, capabilities, and the handler wiring (tools in
//! tools.rs, the resource in resource.rs).
#![allow(deprecated)] // resources/subscribe is the pre-2026 ("legacy") era's, which clients still use.

use super::resource;
use super::session::Session;
use holds::{Manager, Place};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, InitializeRequestParams, InitializeResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use std::time::Duration;

#[derive(Clone)]
pub struct HoldsServer {
    pub(super) tool_router: ToolRouter<Self>,
    pub(super) manager: Manager,
    /// Who takes this session's holds (see `HoldsServer::new`).
    pub(super) agent: String,
    pub(super) ttl: Duration,
    pub(super) session: Session,
    pub(super) updates: resource::Updates,
    /// Where the server stands: relative files start at its working directory.
    pub(super) place: Place,
}

impl HoldsServer {
    /// `agent`: HOLDS_AGENT (or --agent); without it, the agent tool that
    /// started this server (its process, as the edit hook finds it), else a name
    /// of this server's own: never one another session could share.
    pub fn new(manager: Manager, agent: Option<String>, ttl: Duration, place: Place) -> Self {
        let agent = agent
            .or_else(crate::agent::from_process_tree)
            .unwrap_or_else(|| format!("holds-mcp-{}", std::process::id()));
        HoldsServer {
            tool_router: Self::tool_router(),
            updates: resource::Updates::new(manager.clone()),
            manager,
            agent,
            ttl,
            session: Session::default(),
            place,
        }
    }

    pub fn session(&self) -> Session {
        self.session.clone()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for HoldsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("holds", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "File-level holds (leases) between coding agents. Announce the files you are about to \
             edit (several at once: all or nothing); a refusal names the holder and when its hold \
             expires. Holds you take are renewed while this session lives and released when it \
             ends. Pass each claim's fencing token to check before committing.",
        )
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            resource::describe(),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resource::read(&self.manager, &request.uri).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resource::known(&request.uri)?;
        self.updates.start(context.peer.clone()).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resource::known(&request.uri)?;
        self.updates.stop().await;
        Ok(())
    }
}
