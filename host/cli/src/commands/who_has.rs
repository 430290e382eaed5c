//! `holds who-has FILE`

use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::files;
use crate::{output, store};
use clap::Args;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct Opts {
    /// The file to ask about (or a pattern: every hold that may overlap it).
    pub file: String,
}

#[derive(Serialize)]
struct Nobody {
    file: String,
    hold: Option<()>,
    holders: [(); 0],
}

/// The oldest hold's fields (as a single holder was always shown), and every
/// hold over the file.
#[derive(Serialize)]
struct Holders {
    #[serde(flatten)]
    first: output::ClaimJson,
    holders: Vec<output::ClaimJson>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let place = global.place()?;
    let holds = store::open_to_read(global).await?;
    let file = files::one(&holds, &o.file, &place).await?.file;
    // The file's own entry first: a value that is not a hold is an error here,
    // as ever, not a free file.
    holds.who_has(&file).await?;
    let claims = holds.holders(&file).await?;
    let Some(first) = claims.first() else {
        if global.json {
            output::print_json(&Nobody {
                file,
                hold: None,
                holders: [],
            });
        } else {
            output::print(format_args!("nobody holds {file}"));
        }
        return Ok(exit::NOBODY);
    };
    if global.json {
        output::print_json(&Holders {
            first: output::claim_json(first),
            holders: claims.iter().map(output::claim_json).collect(),
        });
    } else {
        for claim in &claims {
            output::print(output::describe_claim(claim));
        }
    }
    Ok(exit::OK)
}
