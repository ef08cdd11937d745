//! The suite every backend must pass: the contract of the service traits, checked through
//! `dyn Store` alone.
//!
//! Owns: the cases (`log` for appends, reads and conversation rows; `directory` for
//! sites, agents, tokens, settings and search; `cluster` for nodes, leases and the
//! fence; `webhooks` for webhooks and the deliveries appends record), the helpers they
//! share, and `suite!`,
//! which a backend invokes with a function making a fresh, empty store to get one
//! `#[test]` per case. Knows nothing of any backend: what only one of them can show (a
//! file deleted under SQLite, its migrations) is tested by that backend.

mod cluster;
mod directory;
mod log;
mod webhooks;

pub(crate) use cluster::*;
pub(crate) use directory::*;
pub(crate) use log::*;
pub(crate) use webhooks::*;

use super::{Appended, Author, Cid, ConvRef, NewEntry, Store};
use crate::ids::{ConversationId, SiteId};
use crate::vocab::EntryKind;

/// A fresh, empty store, and whatever must live as long as it (a temporary directory, a
/// database on a server). The store is dropped first.
pub(crate) struct Fixture {
    pub(crate) store: Box<dyn Store>,
    _keep: Box<dyn std::any::Any>,
}

impl Fixture {
    pub(crate) fn new(store: Box<dyn Store>, keep: impl std::any::Any) -> Fixture {
        Fixture {
            store,
            _keep: Box::new(keep),
        }
    }
}

/// One `#[test]` per case, each on a store made by `$make: fn() -> Fixture`.
macro_rules! suite {
    ($make:path) => {
        $crate::store::conformance::suite!(@cases $make;
            a_visitors_first_message_opens_its_conversation_in_the_same_transaction,
            a_resend_after_its_conversation_closed_opens_nothing,
            server_made_entries_never_collide_across_conversations,
            a_cid_reused_in_another_conversation_is_refused_not_acked_elsewhere,
            desk_entries_keep_each_conversation_row_in_step,
            idle_conversations_are_the_open_ones_with_nothing_new,
            a_batch_naming_an_unknown_conversation_stores_nothing,
            a_visitor_of_no_site_fails_its_batch,
            large_batches_split_into_several_inserts,
            reads_page_through_the_log_with_every_field,
            reopening_answers_each_case,
            open_conversations_are_newest_first_and_per_site,
            conversations_are_listed_by_status_time_and_agent_and_paged,
            deleting_a_visitor_removes_its_conversations_and_entries_only,
            sites_are_added_found_and_updated,
            a_site_is_added_with_its_first_admin,
            an_account_administers_at_most_max_sites,
            agents_are_unique_per_site_and_found_by_email,
            agents_are_renamed_and_change_role_but_a_site_keeps_an_admin,
            a_removed_agent_stays_listed_but_can_do_nothing,
            a_site_keeps_an_admin_that_is_not_removed,
            tokens_expire_and_are_revoked,
            canned_responses_are_sorted_unique_and_bounded,
            rules_are_bounded_and_scoped_to_their_site,
            search_matches_literally_ignoring_ascii_case,
            node_ids_are_claimed_once_and_beaten_by_their_own_process,
            a_lease_has_one_holder_and_each_taker_a_new_epoch,
            appends_are_fenced_by_the_lease_in_their_own_transaction,
            webhooks_are_added_changed_deleted_and_scoped_to_their_site,
            a_site_has_at_most_max_webhooks,
            appends_record_one_delivery_per_event_for_each_webhook_taking_it,
            a_batch_without_events_or_webhooks_records_nothing,
            large_batches_record_every_delivery,
            due_deliveries_are_by_time_and_site_and_never_paused,
            attempts_are_recorded_on_pending_deliveries_only,
            failed_deliveries_are_sent_again_on_demand,
            old_deliveries_are_given_up_then_forgotten,
            deleting_a_webhook_or_a_visitor_deletes_their_deliveries,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $make();
                $crate::store::conformance::$case(&*fixture.store);
            }
        )*
    };
}
pub(crate) use suite;

pub(crate) const A: &str = "tokenAAAAAAAAAAAAAA";
const B: &str = "tokenBBBBBBBBBBBBBBB";

pub(crate) fn visitor(site: SiteId, token: &str) -> ConvRef {
    ConvRef::Visitor {
        site,
        token: token.into(),
        named: None,
    }
}

pub(crate) fn msg(conv: ConvRef, author: Author, cid: &str) -> NewEntry {
    NewEntry::now(
        conv,
        EntryKind::Msg,
        author,
        Cid::Keyed(cid.into()),
        format!("body of {cid}"),
    )
}

/// A new entry's conversation, offset and cid (and it agrees with its `ConvInfo`).
pub(crate) fn new(a: &Appended) -> (ConversationId, u64, &str) {
    match a {
        Appended::New(e, info) => {
            assert_eq!(e.conv, info.id);
            assert_eq!(e.off, info.head);
            (e.conv, e.off.0, e.cid.as_str())
        }
        other => panic!("expected a new entry, got {other:?}"),
    }
}

/// The conversation a visitor's first message `cid` opens.
pub(crate) fn first_message(s: &dyn Store, site: SiteId, token: &str, cid: &str) -> ConversationId {
    new(&s
        .append_batch(&[msg(visitor(site, token), Author::Visitor, cid)])
        .unwrap()[0])
    .0
}
