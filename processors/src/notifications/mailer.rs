//! Where confirmation emails go: an SMTP server, or, in development without one, `.eml` files
//! in a folder.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

/// Bound on one SMTP conversation.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none` (plain, for a local server), `starttls` or `tls`.
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (as Kubernetes mounts a Secret), instead of `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl SmtpSettings {
    /// The password from `password` or from the file `password_file` names.
    fn password(&self) -> Result<Option<String>, String> {
        match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                Err("set notifications.smtp.password or password_file, not both".into())
            }
            (Some(password), None) => Ok(Some(password.clone())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| {
                    format!(
                        "notifications.smtp.password_file: cannot read {}: {e}",
                        path.display()
                    )
                }),
            (None, None) => Ok(None),
        }
    }
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// Sender of confirmation emails.
    pub from: String,
    /// The SMTP server; without one, emails are written to `outbox_dir`.
    pub smtp: Option<SmtpSettings>,
    pub outbox_dir: PathBuf,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            from: "orderflow <orders@orderflow.invalid>".into(),
            smtp: None,
            outbox_dir: PathBuf::from(".orderflow/outbox"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP server {server} is not usable: {reason}")]
    Setup { server: String, reason: String },
    #[error("sending through {server} failed: {reason}")]
    Send { server: String, reason: String },
    /// The server refused this message for good (an SMTP 5xx reply), e.g. for its recipient.
    #[error("{server} refused the message: {reason}")]
    Refused { server: String, reason: String },
}

pub enum Mailer {
    Smtp {
        transport: SmtpTransport,
        server: String,
    },
    Outbox {
        transport: FileTransport,
        dir: PathBuf,
    },
}

impl Mailer {
    pub fn from_settings(settings: &NotificationSettings) -> Result<Self, MailError> {
        let Some(smtp) = &settings.smtp else {
            std::fs::create_dir_all(&settings.outbox_dir).map_err(|e| MailError::Setup {
                server: settings.outbox_dir.display().to_string(),
                reason: e.to_string(),
            })?;
            return Ok(Mailer::Outbox {
                transport: FileTransport::new(&settings.outbox_dir),
                dir: settings.outbox_dir.clone(),
            });
        };
        let server = format!("{}:{}", smtp.host, smtp.port);
        let setup = |e: lettre::transport::smtp::Error| MailError::Setup {
            server: server.clone(),
            reason: e.to_string(),
        };
        let mut builder = match smtp.tls {
            SmtpTls::None => SmtpTransport::builder_dangerous(&smtp.host),
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&smtp.host).map_err(setup)?,
            SmtpTls::Tls => SmtpTransport::relay(&smtp.host).map_err(setup)?,
        }
        .port(smtp.port)
        .timeout(Some(SMTP_TIMEOUT));
        let password = smtp.password().map_err(|reason| MailError::Setup {
            server: server.clone(),
            reason,
        })?;
        if let (Some(user), Some(password)) = (&smtp.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer::Smtp {
            transport: builder.build(),
            server,
        })
    }

    pub fn send(&self, message: &Message) -> Result<(), MailError> {
        match self {
            Mailer::Smtp { transport, server } => {
                transport
                    .send(message)
                    .map(|_| ())
                    .map_err(|e| MailError::Send {
                        server: server.clone(),
                        reason: e.to_string(),
                    })
            }
            Mailer::Outbox { transport, dir } => {
                transport
                    .send(message)
                    .map(|_| ())
                    .map_err(|e| MailError::Send {
                        server: dir.display().to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }
}
