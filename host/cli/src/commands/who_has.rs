//! `holds who-has FILE`

use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::files;
use crate::{output, store};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct Opts {
    /// The file to ask about.
    pub file: String,
}

#[derive(Serialize)]
struct Nobody {
    file: String,
    hold: Option<()>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let place = global.place()?;
    let holds = store::open_to_read(global).await?;
    let file = files::one(&holds, &o.file, &place).await?.file;
    match holds.who_has(&file).await? {
        Some(claim) => {
            if global.json {
                output::print_json(&output::claim_json(&claim));
            } else {
                output::print(output::describe_claim(&claim));
            }
            Ok(exit::OK)
        }
        None => {
            if global.json {
                output::print_json(&Nobody { file, hold: None });
            } else {
                output::print(format_args!("nobody holds {file}"));
            }
            Ok(exit::NOBODY)
        }
    }
}
