//! Storage engines behind the core's [`backend`](crate::ledger::backend) traits and
//! the modules' repository traits. Each engine lives in its own folder and is the
//! only code that names it: [`sqlite`] (embedded, the default).

pub mod sqlite;

#[cfg(test)]
pub mod contract;
