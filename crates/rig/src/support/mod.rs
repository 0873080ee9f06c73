//! The ground floor: small helpers every part of the gateway uses.

pub mod response;
