//! Kinesis consumer settings from RIG's variables (rig-spec 8.7).
//!
//! RIG ran Amazon's Java KCL; this gateway reads the stream natively, so the
//! Java-only variables (`KINESIS_CLIENT_JAR`, `KINESIS_OTP_JAR`,
//! `KINESIS_LOG_LEVEL`) are accepted and ignored, and there is no DynamoDB
//! lease table: every node reads every shard from the latest record on.

use std::time::Duration;

use crate::support::env::{boolean, Reader, Strings};

#[derive(Debug, Clone)]
pub struct KinesisConfig {
    pub stream: String,
    /// Kept for logs: the KCL application name RIG used for its lease table.
    pub app_name: String,
    pub region: String,
    /// Custom endpoint URL (e.g. a local Kinesis), or the AWS default.
    pub endpoint: Option<String>,
    /// Pause between `GetRecords` calls per shard (AWS allows 5 per second).
    pub poll_interval: Duration,
    /// Longest wait between reconnection attempts (`RIG_SOURCE_BACKOFF_MAX_MS`).
    pub backoff_max: Duration,
}

/// `None` unless `KINESIS_ENABLED` is true.
pub(crate) fn parse<S: Strings>(r: &mut Reader<'_, S>, backoff_max: Duration) -> Option<KinesisConfig> {
    let enabled = r.parse("KINESIS_ENABLED", boolean);
    let poll_interval = Duration::from_millis(r.num("RIG_KINESIS_POLL_INTERVAL_MS"));
    if !enabled {
        return None;
    }
    Some(KinesisConfig {
        stream: r.raw("KINESIS_STREAM"),
        app_name: r.raw("KINESIS_APP_NAME"),
        region: r.raw("KINESIS_AWS_REGION"),
        endpoint: Some(r.raw("KINESIS_ENDPOINT")).filter(|e| !e.trim().is_empty()),
        poll_interval,
        backoff_max,
    })
}
