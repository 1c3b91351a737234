//! Storage engines behind the core's [`backend`](crate::ledger::backend) traits and
//! the modules' repository traits. Each engine lives in its own folder and is the
//! only code that names it: [`sqlite`] (embedded, the default) and [`postgres`]
//! (several nodes on one database; in progress: the core's backend and Goop2's
//! repositories so far).

pub mod postgres;
pub mod sqlite;

/// The migrations of a schema file, in order, as (version, SQL): each starts at a line
/// `-- version N` and runs to the next one. Both engines keep their schema this way.
pub(crate) fn versions(schema: &'static str) -> Vec<(i64, &'static str)> {
    // (version, where its marker line starts, where its SQL starts)
    let mut marks: Vec<(i64, usize, usize)> = Vec::new();
    let mut offset = 0;
    for line in schema.split_inclusive('\n') {
        if let Some(n) = line.trim().strip_prefix("-- version ") {
            if let Ok(n) = n.trim().parse() {
                marks.push((n, offset, offset + line.len()));
            }
        }
        offset += line.len();
    }
    let ends = marks
        .iter()
        .skip(1)
        .map(|(_, marker, _)| *marker)
        .chain(std::iter::once(schema.len()));
    marks
        .iter()
        .zip(ends)
        .map(|((n, _, start), end)| (*n, &schema[*start..end]))
        .collect()
}

#[cfg(test)]
pub mod contract;
