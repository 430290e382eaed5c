//! `holds probe`

use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::{output, store};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct Opts {}

#[derive(Serialize)]
struct ProbeJson {
    ok: bool,
    store: String,
}

pub async fn run(global: &Global, _: Opts) -> Outcome {
    let holds = store::open_to_read(global).await?;
    holds.probe().await?;
    let store = holds.describe_store();
    if global.json {
        output::print_json(&ProbeJson { ok: true, store });
    } else {
        output::print(format_args!("ok: {store} is reachable"));
    }
    Ok(exit::OK)
}
