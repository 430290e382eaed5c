//! The conformance suite: every case runs against every backend, each on a fresh
//! bucket (JetStream: a real nats-server 2.15 spawned on a free 127.0.0.1 port).

mod batch;
mod cases;
mod check;
mod claim;
mod force_release;
mod lease;
mod staged;
mod wait;
mod workflow_common;

use holds_test_support::harness::{Harness, Kind};

// Each case once per backend; a case missing here is a compile error in `cases`
// (unused function), so none is silently skipped.
holds_test_support::matrix! {
    async fn cases::{
        announce_who_has_release_happy_path,
        same_agent_reannounce_renews_and_moves_claimed_at,
        another_agents_live_hold_is_refused_with_the_holder,
        release_by_the_wrong_agent_changes_nothing,
        release_of_a_missing_file_is_a_no_op,
        who_has_an_unclaimed_file_is_none,
        probe_is_healthy_and_fails_after_close,
        path_with_spaces_round_trips_through_the_key,
        preconditions_are_invalid_input_and_write_nothing,
        every_call_after_close_is_closed_and_close_is_idempotent,
        cas_retry_when_a_raw_write_races_a_renewal,
        cas_attempts_are_exhausted_after_eight_lost_races,
        sixteen_agents_race_for_one_file_and_exactly_one_wins,
        eight_concurrent_renewals_by_one_agent_all_succeed,
        subscribe_sees_announce_and_release,
        subscription_ends_on_drop_and_on_close,
        two_subscribers_both_see_an_event,
        snapshot_has_live_holds_only,
        slow_subscriber_lags_without_stalling_others,
        short_hold_is_vacant_after_it_expires,
        another_agent_takes_over_an_expired_hold,
        hold_expiring_exactly_now_is_still_live,
        revision_gated_release_survives_a_racing_take_over,
        fencing_token_grows_with_every_announce,
        awkward_paths_get_valid_keys_and_round_trip,
        go_wire_vectors_and_a_raw_go_value_read_back,
        corrupt_value_is_a_corrupt_entry_error,
        list_returns_every_live_hold,
        warm_replica_makes_each_decision_one_round_trip,
        cold_announce_is_one_read_and_one_write,
        one_second_hold_produces_an_expired_event,
        renewing_before_expiry_prevents_the_expired_event,
        new_holds_over_expired_and_released_keys_keep_their_ttl,
        take_over_after_an_expired_event_works,
        a_manager_allowing_holds_longer_than_the_bucket_keeps_them_is_refused,
        a_hold_whose_ttl_is_the_buckets_max_age_expires_with_one_event,
        the_replica_keeps_holds_for_the_buckets_max_age_not_this_managers,
        a_key_holds_would_not_write_is_never_read_as_another_files_hold,
        dropped_subscriptions_leave_the_manager_at_once,
        a_thousand_concurrent_calls_on_eight_managers_all_succeed,
        a_stalled_sweep_never_holds_up_events,
        a_stale_replica_hint_is_a_re_read_not_a_cas_retry,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        /// The real guest built for wasm32-wasip2 with std: it imports WASI and
        /// runs in the capability-less sandbox.
        foreign_guest: Harness::with_component(Kind::Memory, holds_test_programs::FOREIGN).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
