//! Commands that are tools around the pipeline rather than components of it.

pub mod chaos;
pub mod config;
pub mod demo;
pub mod listen;
pub mod tail;
