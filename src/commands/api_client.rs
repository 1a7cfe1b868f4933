//! The HTTP client the tool commands (demo, chaos, bench) call the gateway with.

/// A client builder that sends `api_key` as the bearer token of every request; callers add
/// their own pool and socket settings.
pub fn with_api_key(api_key: &str) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {api_key}").parse()?,
    );
    Ok(reqwest::Client::builder().default_headers(headers))
}
