//! SQLite errors as core errors: a full database or disk is
//! [`LedgerError::StorageFull`], anything else [`LedgerError::Storage`].

use std::cell::Cell;

use crate::ledger::LedgerError;

thread_local! {
    /// Set when this thread converted an SQLITE_FULL error: the writer reads it to tell
    /// a batch rolled back by a full disk from other aborts.
    static FULL_SEEN: Cell<bool> = const { Cell::new(false) };
}

/// Whether `e` is SQLITE_FULL (database or disk full, or `max_page_count` reached).
pub(crate) fn is_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Whether this thread met SQLITE_FULL since the last call; clears the flag.
pub(crate) fn take_full_seen() -> bool {
    FULL_SEEN.with(|f| f.replace(false))
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> LedgerError {
        if is_full(&e) {
            FULL_SEEN.with(|f| f.set(true));
            LedgerError::StorageFull(e.to_string())
        } else {
            LedgerError::Storage(Box::new(e))
        }
    }
}
