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
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct HoldsServer {
    pub(super) tool_router: ToolRouter<Self>,
    pub(super) manager: Manager,
    /// HOLDS_AGENT (or --agent), over the client's name.
    pub(super) agent: Option<String>,
    /// The client's name from initialize.
    pub(super) client_name: Arc<Mutex<Option<String>>>,
    pub(super) ttl: Duration,
    pub(super) session: Session,
    pub(super) updates: resource::Updates,
    /// Where the server stands: relative files start at its working directory.
    pub(super) place: Place,
}

impl HoldsServer {
    pub fn new(manager: Manager, agent: Option<String>, ttl: Duration, place: Place) -> Self {
        HoldsServer {
            tool_router: Self::tool_router(),
            updates: resource::Updates::new(manager.clone()),
            manager,
            agent,
            client_name: Default::default(),
            ttl,
            session: Session::default(),
            place,
        }
    }

    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// The agent acting: HOLDS_AGENT, else the client's name (per request, as the
    /// 2026 protocol sends it, else from initialize).
    pub(super) fn agent(&self, ctx: &RequestContext<RoleServer>) -> Result<String, String> {
        if let Some(agent) = &self.agent {
            return Ok(agent.clone());
        }
        ctx.client_info()
            .map(|i| i.name)
            .filter(|n| !n.is_empty())
            .or_else(|| self.client_name.lock().unwrap().clone())
            .ok_or_else(|| {
                "no agent: set HOLDS_AGENT for holds mcp, or give the MCP client a name".to_string()
            })
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
        *self.client_name.lock().unwrap() = Some(request.client_info.name.clone());
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
