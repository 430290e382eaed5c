//! `holds list`

use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::{output, store};
use clap::Args;

#[derive(Args, Debug)]
pub struct Opts {}

pub async fn run(global: &Global, _: Opts) -> Outcome {
    let holds = store::open_to_read(global).await?;
    let claims = holds.list().await?;
    for claim in &claims {
        if global.json {
            output::print_json(&output::claim_json(claim));
        } else {
            output::print(output::describe_claim(claim));
        }
    }
    if claims.is_empty() && !global.json {
        output::print_err("no live holds");
    }
    Ok(exit::OK)
}
