//! `holds component --out FILE`

use crate::failure::{Failure, Outcome, exit};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct Opts {
    /// Where to write the component (.wasm).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(o: Opts) -> Outcome {
    std::fs::write(&o.out, holds::component::COMPONENT)
        .map_err(|e| Failure::store(anyhow::anyhow!("writing {}: {e}", o.out.display())))?;
    Ok(exit::OK)
}
