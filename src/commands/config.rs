//! `orderflow config check <file>`: reads a configuration as a component would at start-up
//! and says whether it would start.

use std::path::Path;
use std::process::ExitCode;

use orderflow_ingest::ApiKeySetting;

use crate::settings::Settings;

/// Checks the file and the environment on top of it, and the API key files it names.
pub fn check(file: &Path) -> ExitCode {
    let settings = match Settings::load(Some(file)) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("orderflow: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = key_files_readable(&settings.gateway.api_keys) {
        eprintln!("orderflow: {}: {e}", file.display());
        return ExitCode::from(2);
    }
    println!("{}: valid", file.display());
    ExitCode::SUCCESS
}

fn key_files_readable(keys: &[ApiKeySetting]) -> Result<(), String> {
    orderflow_ingest::check_api_keys(keys).map_err(|e| e.to_string())
}
