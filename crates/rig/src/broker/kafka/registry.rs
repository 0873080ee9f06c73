//! A client for a Confluent-compatible schema registry. Consumers fetch
//! schemas by id (`GET /schemas/ids/{id}`) the first time a message needs
//! them; producers look up the latest schema of a subject
//! (`GET /subjects/{subject}/versions/latest`). Both are kept for the life of
//! the process (ids are immutable in a registry; RIG cached subjects the same way).

use std::collections::HashMap;
use std::sync::Mutex;

use rig_core::binding::avro::{AvroError, AvroSchema};

use crate::support::sync::lock;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0} is needed but KAFKA_SCHEMA_REGISTRY_HOST is not set")]
    NotConfigured(String),
    #[error("schema registry request for {what} failed: {source}")]
    Http { what: String, source: reqwest::Error },
    #[error("schema registry answered {status} for {what}")]
    Status { what: String, status: u16 },
    #[error("schema registry answer for {0} has no \"schema\" string or \"id\"")]
    Body(String),
    #[error(transparent)]
    Schema(#[from] AvroError),
}

pub struct SchemaRegistry {
    base: Option<String>,
    http: reqwest::Client,
    cache: Mutex<HashMap<u32, AvroSchema>>,
    subjects: Mutex<HashMap<String, (u32, AvroSchema)>>,
}

impl SchemaRegistry {
    /// `base` is the registry's URL (`http://host:port`), `None` if unset.
    /// `trust`: `RIG_EXTRA_CA_CERTS`.
    pub fn new(base: Option<String>, trust: &crate::tls::Trust) -> Self {
        let http = trust
            .reqwest(reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        SchemaRegistry { base, http, cache: Mutex::new(HashMap::new()), subjects: Mutex::new(HashMap::new()) }
    }

    /// A schema fetched before, if any.
    pub fn cached(&self, id: u32) -> Option<AvroSchema> {
        lock(&self.cache).get(&id).cloned()
    }

    /// Fetches schema `id` from the registry and caches it.
    pub async fn fetch(&self, id: u32) -> Result<AvroSchema, RegistryError> {
        let what = format!("schema {id}");
        let body = self.get(&format!("schemas/ids/{id}"), &what).await?;
        let text = body.get("schema").and_then(|s| s.as_str()).ok_or(RegistryError::Body(what))?;
        let schema = AvroSchema::parse(text)?;
        lock(&self.cache).insert(id, schema.clone());
        tracing::debug!(id, "Avro schema fetched from the registry.");
        Ok(schema)
    }

    /// The latest schema of `subject` and its id (cached after the first lookup).
    pub async fn latest(&self, subject: &str) -> Result<(u32, AvroSchema), RegistryError> {
        if let Some(found) = lock(&self.subjects).get(subject).cloned() {
            return Ok(found);
        }
        let what = format!("subject {subject:?}");
        let path: String = form_urlencoded::byte_serialize(subject.as_bytes()).collect();
        let body = self.get(&format!("subjects/{path}/versions/latest"), &what).await?;
        let id = body.get("id").and_then(|i| i.as_u64()).and_then(|i| u32::try_from(i).ok());
        let (Some(id), Some(text)) = (id, body.get("schema").and_then(|s| s.as_str())) else {
            return Err(RegistryError::Body(what));
        };
        let schema = AvroSchema::parse(text)?;
        lock(&self.subjects).insert(subject.to_string(), (id, schema.clone()));
        lock(&self.cache).insert(id, schema.clone());
        tracing::debug!(subject, id, "Latest Avro schema of a subject fetched from the registry.");
        Ok((id, schema))
    }

    async fn get(&self, path: &str, what: &str) -> Result<serde_json::Value, RegistryError> {
        let base = self.base.as_deref().ok_or_else(|| RegistryError::NotConfigured(what.to_string()))?;
        let http = |source| RegistryError::Http { what: what.to_string(), source };
        let response = self
            .http
            .get(format!("{base}/{path}"))
            .header("accept", "application/vnd.schemaregistry.v1+json, application/json")
            .send()
            .await
            .map_err(http)?;
        if !response.status().is_success() {
            return Err(RegistryError::Status { what: what.to_string(), status: response.status().as_u16() });
        }
        response.json().await.map_err(http)
    }
}
