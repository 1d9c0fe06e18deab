#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]
//! ractor-dist (work in progress)
pub mod core;
