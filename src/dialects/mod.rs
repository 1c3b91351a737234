//! Wire dialects: each translates its spec's requests into units of work on the
//! ledger core and renders the outcome in its own format. One folder per dialect.

pub mod goop2;
pub mod roochip;
