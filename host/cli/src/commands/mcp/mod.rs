//! `holds mcp`: an MCP server over stdio (the official Rust SDK, rmcp). Tools
//! announce, release, who_has, list, check and renew; the resource holds://list
//! with update notifications. Holds it takes are kept (renewed) while the session
//! lives and released when stdin closes.

mod resource;
mod server;
mod session;
mod tools;

use crate::args::{Global, duration};
use crate::failure::{Failure, Outcome, exit};
use crate::{output, store};
use clap::Args;
use rmcp::ServiceExt;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(after_help = "\
Speaks MCP on stdin/stdout. The agent is HOLDS_AGENT, else the agent tool that
started the server (e.g. claude-48213-k3x9a: its process name, pid and start
time, which Claude Code's edit hook finds too), so two sessions never share an
identity by accident. Holds announced through it are renewed at a third of their TTL
while the session lives, and released when it ends (stdin closes), unless released
before. The store options are the other commands' (embedded SQLite by default,
--nats, auth).

Client configuration (e.g. .mcp.json):
  {\"mcpServers\": {\"holds\": {\"command\": \"holds\", \"args\": [\"mcp\"],
                               \"env\": {\"HOLDS_AGENT\": \"agent-1\"}}}}")]
pub struct Opts {
    /// The agent taking holds [default: the agent tool's process].
    #[arg(long, env = "HOLDS_AGENT", value_name = "ID")]
    pub agent: Option<String>,
    /// The TTL of an announce that gives none (at most --ttl-max).
    #[arg(long, env = "HOLDS_TTL", default_value = "30s", value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Duration,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    // A replica: waits and kept holds need the watch's events.
    let place = global.place()?;
    let holds = store::open_with_replica(global, true).await?;
    let server = server::HoldsServer::new(
        holds.clone(),
        o.agent.filter(|a| !a.is_empty()),
        o.ttl,
        place,
    );
    let session = server.session();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Failure::store(anyhow::anyhow!("the MCP session did not start: {e}")))?;
    let ended = running.waiting().await;
    // stdin closed (or the session failed): give back what this session holds.
    session.release_all().await;
    holds.close().await;
    match ended {
        Ok(_) => Ok(exit::OK),
        Err(e) => {
            output::print_err(format_args!("holds mcp: the session ended abnormally: {e}"));
            Ok(exit::STORE)
        }
    }
}
