//! Units of work, type-erased so that any backend's writer can run them.
//!
//! A unit is a closure over [`LedgerTx`]. [`erase`] boxes it with the channel its
//! caller waits on; the writer calls [`Work::run`] inside the unit's savepoint and,
//! once the batch's fate is known, the returned [`Reply`] with `None` (committed and
//! durable) or the error that undid it.

use tokio::sync::oneshot;

use super::{LedgerError, LedgerTx};

/// Answers the caller once the batch's fate is known: `None` = committed.
pub type Reply = Box<dyn FnOnce(Option<LedgerError>) + Send>;

/// A type-erased unit of work.
pub trait Work: Send {
    /// Runs the unit; says whether to keep its savepoint and hands back the reply to
    /// send once the batch is committed (or not).
    fn run(self: Box<Self>, tx: &mut LedgerTx<'_>) -> (bool, Reply);
    /// Answers the caller without running the unit.
    fn abort(self: Box<Self>, error: LedgerError);
}

/// A boxed unit of work.
pub type Unit = Box<dyn Work>;

struct Job<F, T, E> {
    unit: F,
    answer: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Work for Job<F, T, E>
where
    F: FnOnce(&mut LedgerTx<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<LedgerError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut LedgerTx<'_>) -> (bool, Reply) {
        let Job { unit, answer } = *self;
        let result = unit(tx);
        let keep = result.is_ok();
        let reply: Reply = Box::new(move |commit_error| {
            let outcome = match (result, commit_error) {
                (Err(e), _) => Err(e),
                (Ok(v), None) => Ok(v),
                (Ok(_), Some(e)) => Err(E::from(e)),
            };
            let _ = answer.send(outcome);
        });
        (keep, reply)
    }

    fn abort(self: Box<Self>, error: LedgerError) {
        let _ = self.answer.send(Err(E::from(error)));
    }
}

/// Boxes `unit` with the channel its result comes back on.
pub(crate) fn erase<T, E, F>(unit: F) -> (Unit, oneshot::Receiver<Result<T, E>>)
where
    F: FnOnce(&mut LedgerTx<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<LedgerError> + Send + 'static,
{
    let (answer, receiver) = oneshot::channel();
    (Box::new(Job { unit, answer }), receiver)
}

/// The error of a unit whose answer never came: it panicked and was rolled back.
pub(crate) fn lost_answer() -> LedgerError {
    LedgerError::Panicked("the unit of work panicked; its changes were rolled back".into())
}
