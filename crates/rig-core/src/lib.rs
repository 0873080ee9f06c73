//! Sans-IO core of the gateway: no sockets, no runtime.
//!
//! - [`pointer`]: RFC 6901 JSON Pointers over objects (RIG never walks into arrays).
//! - [`event`]: CloudEvents 0.1 / 0.2 / 0.3 / 1.0, parsed and validated once.
//! - [`subscription`]: subscriptions as clients send them, and their parser.
//! - [`extractor`]: the `EXTRACTORS` config and JWT-inferred subscriptions.
//! - [`index`]: the matching index keyed by event type and (field, value).
//! - [`scalar`]: the comparable scalar used as an index key.
//! - [`binding`]: CloudEvents carried by broker messages (Kafka, Avro wire format).

pub mod binding;
pub mod event;
pub mod extractor;
pub mod index;
pub mod pointer;
pub mod scalar;
pub mod subscription;

pub use event::{CloudEvent, EventError, SpecVersion};
pub use extractor::{ExtractorConfig, ExtractorError};
pub use index::SubscriptionIndex;
pub use subscription::{Limits, Subscription, SubscriptionError};
