//! Commands that are tools around the pipeline rather than components of it.

pub mod api_client;
pub mod bench;
pub mod chaos;
pub mod config;
pub mod demo;
pub mod fleet;
pub mod listen;
pub mod tail;
pub mod waiting;
