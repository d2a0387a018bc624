//! `spider validate`: every mistake with its path, or the pipeline graph.

use std::path::Path;
use std::process::ExitCode;

use spider_collector::Factories;

use super::load;

pub(super) fn validate(path: &Path, factories: &Factories) -> ExitCode {
    match load(path, factories) {
        Ok(config) => {
            println!("{}: valid", path.display());
            print!("{config}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
