//! The store contract: tests every backend runs, through the core's traits and the
//! modules' repository traits only. A backend's test module calls
//! [`contract_tests!`](crate::contract_tests) with a function that opens a fresh,
//! empty ledger of that backend.

pub mod core;
pub mod deliveries;
pub mod repos;
pub mod rrr;
pub mod time;

use crate::ledger::Ledger;

/// A fresh ledger and whatever keeps its storage alive (a temp dir, a database).
pub struct Fixture {
    /// The ledger under test.
    pub ledger: Ledger,
    /// Opens the same storage again (after `ledger.shutdown()`).
    pub reopen: Box<dyn Fn() -> Ledger>,
    /// Dropped last: the storage.
    pub _keep: Box<dyn std::any::Any>,
}

/// Declares one `#[test]` per contract test, each on a fixture from `$open`: every
/// backend runs the same list.
#[macro_export]
macro_rules! contract_tests {
    ($open:path) => {
        $crate::contract_tests!(@each $open;
            core::answered_events_are_below_the_durable_watermark,
            core::verify_reads_one_snapshot_while_writes_go_on,
            core::holds_move_between_buckets_and_belong_to_their_account,
            core::reads_in_a_snapshot_agree_while_a_unit_commits,
            time::lots_are_consumed_earliest_expiry_first,
            time::many_lots_chargebacks_and_expiring_reads,
            time::the_expiry_job_takes_back_what_is_left,
            time::a_reversal_restores_the_lots_a_debit_took,
            time::pending_credits_post_or_cancel_once,
            time::holds_release_themselves_when_they_expire,
            time::idempotency_replays_refuses_and_sweeps,
            time::the_scheduler_runs_every_job,
            time::a_failing_item_does_not_hold_back_the_others,
            repos::promo_codes_and_requests,
            repos::peer_directory,
            repos::payments,
            repos::tenants_keep_their_scale_mode_and_lots,
            repos::template_purchases,
            repos::campaigns_and_referrals,
            rrr::members_and_links_are_one_to_one,
            rrr::earns_are_recorded_once_per_source,
            rrr::quotes_are_committed_once,
            rrr::the_member_ledger_pages_and_the_aggregates_add_up,
            rrr::promotions_take_one_approval_per_actor,
            rrr::awards_count_against_the_models_daily_cap,
            deliveries::the_oldest_pending_event_of_an_account_holds_back_the_rest,
            deliveries::failures_follow_the_schedule_then_dead_letter_and_replay_restarts,
            deliveries::events_go_to_each_endpoint_that_wants_them,
            deliveries::a_leased_delivery_waits_for_its_lease,
        );
    };
    (@each $open:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::store::contract::$module::$name($open);
            }
        )*
    };
}
