//! A client for a Confluent-compatible schema registry: schemas are fetched by
//! id (`GET /schemas/ids/{id}`) the first time a message needs them and kept
//! for the life of the process (ids are immutable in a registry).

use std::collections::HashMap;
use std::sync::Mutex;

use rig_core::binding::avro::{AvroError, AvroSchema};

use crate::hub::lock;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("an Avro message needs schema {0} but KAFKA_SCHEMA_REGISTRY_HOST is not set")]
    NotConfigured(u32),
    #[error("schema registry request for schema {id} failed: {source}")]
    Http { id: u32, source: reqwest::Error },
    #[error("schema registry answered {status} for schema {id}")]
    Status { id: u32, status: u16 },
    #[error("schema registry answer for schema {0} has no \"schema\" string")]
    Body(u32),
    #[error(transparent)]
    Schema(#[from] AvroError),
}

pub struct SchemaRegistry {
    base: Option<String>,
    http: reqwest::Client,
    cache: Mutex<HashMap<u32, AvroSchema>>,
}

impl SchemaRegistry {
    /// `base` is the registry's URL (`http://host:port`), `None` if unset.
    pub fn new(base: Option<String>) -> Self {
        let http =
            reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_else(|_| reqwest::Client::new());
        SchemaRegistry { base, http, cache: Mutex::new(HashMap::new()) }
    }

    /// A schema fetched before, if any.
    pub fn cached(&self, id: u32) -> Option<AvroSchema> {
        lock(&self.cache).get(&id).cloned()
    }

    /// Fetches schema `id` from the registry and caches it.
    pub async fn fetch(&self, id: u32) -> Result<AvroSchema, RegistryError> {
        let base = self.base.as_deref().ok_or(RegistryError::NotConfigured(id))?;
        let response = self
            .http
            .get(format!("{base}/schemas/ids/{id}"))
            .header("accept", "application/vnd.schemaregistry.v1+json, application/json")
            .send()
            .await
            .map_err(|source| RegistryError::Http { id, source })?;
        if !response.status().is_success() {
            return Err(RegistryError::Status { id, status: response.status().as_u16() });
        }
        let body: serde_json::Value = response.json().await.map_err(|source| RegistryError::Http { id, source })?;
        let text = body.get("schema").and_then(|s| s.as_str()).ok_or(RegistryError::Body(id))?;
        let schema = AvroSchema::parse(text)?;
        lock(&self.cache).insert(id, schema.clone());
        tracing::debug!(id, "Avro schema fetched from the registry.");
        Ok(schema)
    }
}
