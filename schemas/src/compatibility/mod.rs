//! Schema compatibility: the level orderflow declares for the subjects it registers, and the
//! schema registry's verdict on a schema against the versions registered before it, asked
//! through the standard Confluent REST API (`/config`, `/compatibility`, `/subjects`).

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The level orderflow declares for every subject it registers. BACKWARD: a consumer built
/// from a new schema reads records written with the previous one, so consumers can be upgraded
/// before the producers, and an old record left in a topic still reads after an upgrade.
pub const DECLARED_COMPATIBILITY: Compatibility = Compatibility::Backward;

/// The media type of the Confluent REST API, for requests and answers.
const REGISTRY_JSON: &str = "application/vnd.schemaregistry.v1+json";
/// How much of a registry's answer an error message quotes, in characters: enough for its
/// reasons, not a whole page from a proxy in front of it.
const ANSWER_QUOTED_MAX_CHARS: usize = 2_000;
/// Confluent's error code for a subject that has no version registered.
const SUBJECT_NOT_FOUND: u32 = 40401;
/// Confluent's error code for a version a subject does not have.
const VERSION_NOT_FOUND: u32 = 40402;
/// Confluent's error code for a subject without a compatibility level of its own.
const SUBJECT_LEVEL_NOT_CONFIGURED: u32 = 40408;

/// A compatibility level, spelled as the registry spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        })
    }
}

/// Which registered version of a subject a schema is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Latest,
    Number(u32),
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Number(n) => n.fmt(f),
        }
    }
}

/// The registry's answer to "may this schema follow that version, at the subject's level?".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verdict {
    pub is_compatible: bool,
    /// The registry's reasons when it is not (asked for with `verbose=true`).
    #[serde(default)]
    pub messages: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompatibilityError {
    #[error("schema registry URL {url:?} cannot be the base of its REST API")]
    Url { url: String },
    #[error("cannot build an HTTP client for the schema registry: {0}")]
    Client(#[source] reqwest::Error),
    #[error("schema registry did not answer {call} for subject {subject}: {source}")]
    Unanswered {
        call: &'static str,
        subject: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("schema registry refused {call} for subject {subject}: HTTP {status}: {answer}")]
    Refused {
        call: &'static str,
        subject: String,
        status: StatusCode,
        answer: String,
    },
    #[error("schema registry answered {call} for subject {subject} with {answer:?}: {reason}")]
    Unreadable {
        call: &'static str,
        subject: String,
        answer: String,
        reason: String,
    },
    #[error(
        "the schema for subject {subject} is not {level} compatible with its {against} \
         registered version: {}",
        reasons(messages)
    )]
    Incompatible {
        subject: String,
        level: Compatibility,
        against: Version,
        messages: Vec<String>,
    },
}

/// The start of a registry's answer, for an error message.
fn quoted(answer: String) -> String {
    match answer.char_indices().nth(ANSWER_QUOTED_MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &answer[..cut]),
        None => answer,
    }
}

fn reasons(messages: &[String]) -> String {
    if messages.is_empty() {
        "the registry gave no reason".to_owned()
    } else {
        messages.join("; ")
    }
}

impl CompatibilityError {
    /// True when the registry could not be reached or failed on its side, so that asking again
    /// later may succeed; a refusal or an incompatible schema stays one.
    pub fn is_retriable(&self) -> bool {
        match self {
            CompatibilityError::Unanswered { .. } => true,
            CompatibilityError::Refused { status, .. } => status.is_server_error(),
            CompatibilityError::Url { .. }
            | CompatibilityError::Client(_)
            | CompatibilityError::Unreadable { .. }
            | CompatibilityError::Incompatible { .. } => false,
        }
    }
}

/// What the registry answered: its status and the body as text, kept for error messages.
struct Answer {
    status: StatusCode,
    body: String,
}

#[derive(Deserialize)]
struct RegistryError {
    error_code: u32,
}

#[derive(Deserialize)]
struct SubjectConfig {
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Compatibility,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// The compatibility and registration endpoints of a schema registry.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    base: Url,
    http: reqwest::Client,
}

impl SchemaRegistry {
    /// `timeout` bounds each call, from connecting to the last byte of the answer.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, CompatibilityError> {
        let refused = || CompatibilityError::Url {
            url: url.to_owned(),
        };
        let base = Url::parse(url).map_err(|_| refused())?;
        if base.cannot_be_a_base() {
            return Err(refused());
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(CompatibilityError::Client)?;
        Ok(Self { base, http })
    }

    /// Declares [`DECLARED_COMPATIBILITY`] for `subject`, then asks whether `schema` may follow
    /// its latest version. Called before registering, so that an incompatible schema stops
    /// start-up with the registry's reasons; the registry checks again when it is registered.
    /// orderflow owns the subjects of its topics, so a level set on one by hand is replaced.
    pub async fn admit(&self, subject: &str, schema: &str) -> Result<(), CompatibilityError> {
        self.declare(subject, DECLARED_COMPATIBILITY).await?;

        let verdict = self.check(subject, schema, Version::Latest).await?;
        if !verdict.is_compatible {
            return Err(CompatibilityError::Incompatible {
                subject: subject.to_owned(),
                level: DECLARED_COMPATIBILITY,
                against: Version::Latest,
                messages: verdict.messages,
            });
        }
        tracing::debug!(subject, level = %DECLARED_COMPATIBILITY, "schema admitted");
        Ok(())
    }

    /// Sets the compatibility level of `subject` (`PUT /config/{subject}`).
    pub async fn declare(
        &self,
        subject: &str,
        level: Compatibility,
    ) -> Result<(), CompatibilityError> {
        let call = "PUT /config/{subject}";
        let url = self.endpoint(&["config", subject]);
        let body = json!({ "compatibility": level });
        let answer = self
            .send(call, subject, Method::PUT, url, Some(body))
            .await?;
        Self::expect_success(call, subject, answer).map(drop)
    }

    /// The level set on `subject` itself, or `None` when it follows the registry's global one
    /// (`GET /config/{subject}`).
    pub async fn declared(
        &self,
        subject: &str,
    ) -> Result<Option<Compatibility>, CompatibilityError> {
        let call = "GET /config/{subject}";
        let url = self.endpoint(&["config", subject]);
        let answer = self.send(call, subject, Method::GET, url, None).await?;
        if Self::error_code(&answer)
            .is_some_and(|code| code == SUBJECT_LEVEL_NOT_CONFIGURED || code == SUBJECT_NOT_FOUND)
        {
            return Ok(None);
        }
        let config: SubjectConfig = Self::expect_json(call, subject, answer)?;
        Ok(Some(config.compatibility_level))
    }

    /// Asks whether `schema` may follow version `against` of `subject` at the subject's level
    /// (`POST /compatibility/subjects/{subject}/versions/{version}?verbose=true`). A subject
    /// with nothing registered accepts any schema as its latest: Confluent answers that either
    /// as compatible or as "subject not found", depending on its release.
    pub async fn check(
        &self,
        subject: &str,
        schema: &str,
        against: Version,
    ) -> Result<Verdict, CompatibilityError> {
        let call = "POST /compatibility/subjects/{subject}/versions/{version}";
        let version = against.to_string();
        let mut url = self.endpoint(&["compatibility", "subjects", subject, "versions", &version]);
        url.query_pairs_mut().append_pair("verbose", "true");
        let body = json!({ "schema": schema });
        let answer = self
            .send(call, subject, Method::POST, url, Some(body))
            .await?;
        let nothing_registered = Self::error_code(&answer)
            .is_some_and(|code| code == SUBJECT_NOT_FOUND || code == VERSION_NOT_FOUND);
        if against == Version::Latest && nothing_registered {
            return Ok(Verdict {
                is_compatible: true,
                messages: Vec::new(),
            });
        }
        Self::expect_json(call, subject, answer)
    }

    /// Registers `schema` as the next version of `subject` and returns its schema id
    /// (`POST /subjects/{subject}/versions`); the registry refuses a schema that breaks the
    /// subject's level, and returns the existing id for a schema it already holds.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, CompatibilityError> {
        let call = "POST /subjects/{subject}/versions";
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let body = json!({ "schema": schema });
        let answer = self
            .send(call, subject, Method::POST, url, Some(body))
            .await?;
        let registered: Registered = Self::expect_json(call, subject, answer)?;
        Ok(registered.id)
    }

    /// The version numbers registered under `subject`, oldest first
    /// (`GET /subjects/{subject}/versions`).
    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>, CompatibilityError> {
        let call = "GET /subjects/{subject}/versions";
        let url = self.endpoint(&["subjects", subject, "versions"]);
        let answer = self.send(call, subject, Method::GET, url, None).await?;
        Self::expect_json(call, subject, answer)
    }

    /// The URL of a REST resource below the base URL, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // The base was checked in `new` to be one that takes path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(
        &self,
        call: &'static str,
        subject: &str,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, CompatibilityError> {
        let unanswered = |source| CompatibilityError::Unanswered {
            call,
            subject: subject.to_owned(),
            source,
        };
        let mut request = self.http.request(method, url).header(ACCEPT, REGISTRY_JSON);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, REGISTRY_JSON)
                .body(body.to_string());
        }
        let response = request.send().await.map_err(unanswered)?;
        let status = response.status();
        let body = response.text().await.map_err(unanswered)?;
        Ok(Answer { status, body })
    }

    /// The registry's own error code, when it answered with an error.
    fn error_code(answer: &Answer) -> Option<u32> {
        if answer.status.is_success() {
            return None;
        }
        serde_json::from_str::<RegistryError>(&answer.body)
            .ok()
            .map(|e| e.error_code)
    }

    fn expect_success(
        call: &'static str,
        subject: &str,
        answer: Answer,
    ) -> Result<Answer, CompatibilityError> {
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(CompatibilityError::Refused {
            call,
            subject: subject.to_owned(),
            status: answer.status,
            answer: quoted(answer.body),
        })
    }

    fn expect_json<T: DeserializeOwned>(
        call: &'static str,
        subject: &str,
        answer: Answer,
    ) -> Result<T, CompatibilityError> {
        let answer = Self::expect_success(call, subject, answer)?;
        serde_json::from_str(&answer.body).map_err(|e| CompatibilityError::Unreadable {
            call,
            subject: subject.to_owned(),
            reason: e.to_string(),
            answer: quoted(answer.body),
        })
    }
}

#[cfg(test)]
mod tests;
