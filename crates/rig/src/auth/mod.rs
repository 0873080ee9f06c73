//! Authentication and authorization: JWT verification and the subscription /
//! submission checks.

pub mod check;
pub mod jwt;
