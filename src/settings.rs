//! orderflow's configuration: one typed section per component, read from a TOML file and from
//! `ORDERFLOW_*` environment variables (`__` separates sections, e.g.
//! `ORDERFLOW_KAFKA__BOOTSTRAP_SERVERS`), checked at start-up.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use orderflow_ingest::GatewaySettings;
use orderflow_kafka::KafkaSettings;
use orderflow_processors::notifications::NotificationSettings;
use orderflow_processors::ProcessorSettings;
use orderflow_schemas::Topics;
use orderflow_telemetry::OpsSettings;
use orderflow_webhooks::WebhookSettings;
use serde::{Deserialize, Serialize};

/// Shortest produce timeout the gateway accepts, in ms.
const MIN_PRODUCE_TIMEOUT_MS: u64 = 100;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Prefix of every topic and consumer group, so that several pipelines share a cluster.
    pub namespace: String,
    pub kafka: KafkaSettings,
    pub registry: RegistrySettings,
    pub topics: TopicSettings,
    pub gateway: GatewaySettings,
    pub processors: ProcessorSettings,
    pub notifications: NotificationSettings,
    pub webhooks: WebhookSettings,
    pub log: LogSettings,
    pub ops: OpsSettings,
    pub shutdown: ShutdownSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: "orderflow".into(),
            kafka: KafkaSettings::default(),
            registry: RegistrySettings::default(),
            topics: TopicSettings::default(),
            gateway: GatewaySettings::default(),
            processors: ProcessorSettings::default(),
            notifications: NotificationSettings::default(),
            webhooks: WebhookSettings::default(),
            log: LogSettings::default(),
            ops: OpsSettings::default(),
            shutdown: ShutdownSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySettings {
    /// Base URL of a schema registry that speaks the Confluent REST API.
    pub url: String,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicSettings {
    /// Partitions of every topic keyed by order id; bounds the instances of a processor.
    pub order_partitions: i32,
    /// Partitions of every topic keyed by SKU.
    pub sku_partitions: i32,
}

impl Default for TopicSettings {
    fn default() -> Self {
        Self {
            order_partitions: 6,
            sku_partitions: 6,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,orderflow_processors=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownSettings {
    /// How long a component may take to stop after SIGTERM or SIGINT, in ms: the gateway
    /// drains requests in flight, processors end their transaction and leave their group, the
    /// webhook sink lets attempts in flight finish.
    pub grace_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { grace_ms: 20_000 }
    }
}

impl ShutdownSettings {
    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.grace_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: setting {setting} {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

impl Settings {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(SettingsError::Invalid {
                    setting: "--config",
                    problem: format!("names {} which does not exist", file.display()),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        let settings: Settings = figment
            .merge(
                Env::prefixed("ORDERFLOW_")
                    .split("__")
                    .filter(|key| key.as_str() != "config"),
            )
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |setting, problem: &str| {
            Err(SettingsError::Invalid {
                setting,
                problem: problem.to_owned(),
            })
        };
        let token = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !token(&self.namespace) {
            return invalid("namespace", "must be letters, digits, '.', '_' or '-'");
        }
        if !token(&self.processors.instance_id) {
            return invalid(
                "processors.instance_id",
                "must be letters, digits, '.', '_' or '-'",
            );
        }
        if self.topics.order_partitions < 1 {
            return invalid("topics.order_partitions", "must be at least 1");
        }
        if self.topics.sku_partitions < 1 {
            return invalid("topics.sku_partitions", "must be at least 1");
        }
        if self.kafka.replication_factor < 1 {
            return invalid("kafka.replication_factor", "must be at least 1");
        }
        if self.processors.commit_interval_ms == 0 {
            return invalid("processors.commit_interval_ms", "must be above 0");
        }
        if self.processors.transaction_timeout_ms <= self.processors.commit_interval_ms {
            return invalid(
                "processors.transaction_timeout_ms",
                "must exceed processors.commit_interval_ms",
            );
        }
        if self.gateway.max_body_bytes == 0 {
            return invalid("gateway.max_body_bytes", "must be above 0");
        }
        // librdkafka needs its message timeout above the producer's linger time.
        if self.gateway.produce_timeout_ms < MIN_PRODUCE_TIMEOUT_MS {
            return invalid("gateway.produce_timeout_ms", "must be at least 100 (ms)");
        }
        if let Some((setting, problem)) = self.webhooks.problem() {
            return invalid(setting, problem);
        }
        if url::Url::parse(&self.registry.url).is_err() {
            return invalid("registry.url", "must be an absolute URL");
        }
        Ok(())
    }

    pub fn topics(&self) -> Topics {
        Topics::new(
            &self.namespace,
            self.topics.order_partitions,
            self.topics.sku_partitions,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<Settings, SettingsError> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Every key of `value`, as `section.key` paths.
    fn keys(prefix: &str, value: &toml::Value, into: &mut Vec<String>) {
        match value {
            toml::Value::Table(table) => {
                for (name, inner) in table {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    match inner {
                        toml::Value::Table(_) => keys(&path, inner, into),
                        _ => into.push(path),
                    }
                }
            }
            _ => into.push(prefix.to_owned()),
        }
    }

    #[test]
    fn every_setting_is_in_the_reference_page() {
        let mut settings = Settings::default();
        // Optional parts appear only when set.
        settings.notifications.smtp = Some(
            toml::from_str(
                "host = \"mail\"\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/f\"",
            )
            .unwrap(),
        );
        let mut found = Vec::new();
        keys("", &toml::Value::try_from(&settings).unwrap(), &mut found);
        found.push("kafka.client_properties".into());
        found.push("gateway.api_keys.name".into());
        found.push("gateway.api_keys.key".into());
        found.push("gateway.api_keys.key_file".into());
        found.push("gateway.api_keys.scopes".into());
        let page = include_str!("../docs/configuration.md");
        let missing: Vec<&String> = found
            .iter()
            .filter(|k| !page.contains(&format!("`{k}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn the_shipped_kubernetes_configuration_is_valid() {
        let settings = from_toml(include_str!("../k8s/base/app/orderflow.toml")).unwrap();
        assert_eq!(settings.kafka.replication_factor, 3);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn a_numeric_instance_id_is_taken_as_its_name() {
        let settings = from_toml("[processors]\ninstance_id = 2\n").unwrap();
        assert_eq!(settings.processors.instance_id, "2");
    }

    #[test]
    fn an_unknown_setting_is_named_in_the_error() {
        let error = from_toml("[gateway]\nlisten_port = 80\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("listen_port"), "{error}");
    }

    #[test]
    fn a_produce_timeout_librdkafka_would_refuse_is_named() {
        let error = from_toml("[gateway]\nproduce_timeout_ms = 10\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("gateway.produce_timeout_ms"), "{error}");
        assert!(from_toml("[gateway]\nproduce_timeout_ms = 100\n").is_ok());
    }

    #[test]
    fn a_bad_value_is_named_in_the_error() {
        let error = from_toml("[topics]\norder_partitions = 0\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("topics.order_partitions"), "{error}");
        let error = from_toml("[gateway]\nmax_body_bytes = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_body_bytes"), "{error}");
    }
}
