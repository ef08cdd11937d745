//! Conformance of `Cluster`: node rows claimed once and beaten by their own process,
//! leases taken by one node at a time with a growing epoch, and appends fenced by the
//! lease in their own transaction.

use super::{first_message, msg, visitor, A};
use crate::ids::{AgentId, ConversationId, SiteId};
use crate::store::{Author, Cid, ConvRef, Fence, NewEntry, Node, Reopen, Store, StoreError};
use crate::vocab::EntryKind;

fn node(id: &str, incarnation: &str, beat_at: i64) -> Node {
    Node {
        id: id.into(),
        url: format!("http://{id}.example"),
        incarnation: incarnation.into(),
        started_at: beat_at,
        beat_at,
    }
}

pub(crate) fn node_ids_are_claimed_once_and_beaten_by_their_own_process(s: &dyn Store) {
    s.claim_node(&node("n1", "first", 100), None).unwrap();
    // A second insert of the same id is refused: the id is taken.
    assert!(matches!(
        s.claim_node(&node("n1", "second", 150), None),
        Err(StoreError::Conflict(_))
    ));
    assert!(s.beat("n1", "first", "http://n1.example", 200).unwrap());
    assert!(!s.beat("n1", "second", "http://n1.example", 200).unwrap());
    // Claiming from a beat that is no longer the row's fails; from the row's, succeeds.
    assert!(matches!(
        s.claim_node(&node("n1", "second", 300), Some(100)),
        Err(StoreError::Conflict(_))
    ));
    s.claim_node(&node("n1", "second", 300), Some(200)).unwrap();
    assert!(!s.beat("n1", "first", "http://n1.example", 400).unwrap());
    let n = s.node("n1").unwrap().unwrap();
    assert_eq!((n.incarnation.as_str(), n.beat_at), ("second", 300));
    s.claim_node(&node("n0", "x", 10), None).unwrap();
    let ids: Vec<String> = s.nodes().unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, ["n0", "n1"]);
    assert!(s.node("nobody").unwrap().is_none());
}

pub(crate) fn a_lease_has_one_holder_and_each_taker_a_new_epoch(s: &dyn Store) {
    let a = s.add_site("a", &[]).unwrap().id;
    let b = s.add_site("b", &[]).unwrap().id;
    let first = s.acquire(a, "n1", 1000, 2000).unwrap().unwrap();
    assert_eq!(
        (first.node.as_str(), first.epoch, first.expires_at),
        ("n1", 1, 2000)
    );
    assert_eq!(
        s.acquire(a, "n2", 1500, 2500).unwrap(),
        None,
        "held, not expired"
    );
    s.acquire(b, "n1", 1000, 2000).unwrap().unwrap();
    let renewed = s.renew("n1", 3000).unwrap();
    assert_eq!(renewed.len(), 2);
    assert!(renewed
        .iter()
        .all(|l| l.expires_at == 3000 && l.node == "n1"));
    assert_eq!(s.acquire(a, "n2", 2999, 4000).unwrap(), None);
    // Expired: taken over, one epoch further.
    let taken = s.acquire(a, "n2", 3001, 5000).unwrap().unwrap();
    assert_eq!((taken.node.as_str(), taken.epoch), ("n2", 2));
    assert!(!s.release(a, "n1", 1).unwrap(), "n1 no longer holds it");
    assert_eq!(s.renew("n1", 6000).unwrap().len(), 1, "n1 renews only b");
    assert!(s.release(a, "n2", 2).unwrap());
    // Released: free at once, whatever its expiry said.
    let back = s.acquire(a, "n1", 3002, 7000).unwrap().unwrap();
    assert_eq!((back.node.as_str(), back.epoch), ("n1", 3));
    // A clean stop releases every lease of the node and marks it dead.
    s.claim_node(&node("n1", "i", 3000), None).unwrap();
    s.leave("n1", "other").unwrap();
    assert_eq!(
        s.renew("n1", 8000).unwrap().len(),
        2,
        "another incarnation's leave is ignored"
    );
    s.leave("n1", "i").unwrap();
    assert!(s.renew("n1", 8000).unwrap().is_empty());
    assert_eq!(s.node("n1").unwrap().unwrap().beat_at, 0);
    let leases = s.leases().unwrap();
    assert_eq!(leases.len(), 2);
    assert!(leases.iter().all(|l| l.node.is_empty()));
    let c = s.add_site("c", &[]).unwrap().id;
    let again = s.acquire(c, "n2", 1, 2).unwrap().unwrap();
    assert_eq!(again.epoch, 1);
}

pub(crate) fn appends_are_fenced_by_the_lease_in_their_own_transaction(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap().id;
    let other = s.add_site("u", &[]).unwrap().id;
    let conv = first_message(s, site, A, "m0");
    let l1 = s.acquire(site, "n1", 1000, 2000).unwrap().unwrap();
    let epoch_of = move |x: SiteId| (x == site).then_some(l1.epoch);
    let n1 = Fence {
        node: "n1",
        epoch_of: &epoch_of,
    };
    let by_id = |cid: &str| msg(ConvRef::Id(conv), Author::Visitor, cid);
    assert_eq!(s.append_fenced(&[by_id("m1")], Some(&n1)).unwrap().len(), 1);
    // A site the fence does not name is not this node's to write.
    let r = s.append_fenced(
        &[by_id("m2"), msg(visitor(other, A), Author::Visitor, "m3")],
        Some(&n1),
    );
    assert!(
        matches!(r, Err(StoreError::Fenced(ref v)) if v == &vec![other]),
        "{r:?}"
    );
    // Taken over by n2 after expiry: n1's fence, still at epoch 1, writes nothing.
    s.acquire(site, "n2", 2001, 4000).unwrap().unwrap();
    let r = s.append_fenced(
        &[
            by_id("m4"),
            msg(visitor(site, "tokenZZZZZZZZZZZZZZZ"), Author::Visitor, "m5"),
        ],
        Some(&n1),
    );
    assert!(
        matches!(r, Err(StoreError::Fenced(ref v)) if v == &vec![site]),
        "{r:?}"
    );
    let stored: Vec<String> = s
        .read_after(conv, crate::ids::Offset::ZERO, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.cid.as_str().to_string())
        .collect();
    assert_eq!(stored, ["m0", "m1"], "nothing of a fenced batch is written");
    assert!(!s.visitor_exists(site, "tokenZZZZZZZZZZZZZZZ").unwrap());
    // n2 writes at its epoch.
    let epoch2 = |x: SiteId| (x == site).then_some(2);
    let n2 = Fence {
        node: "n2",
        epoch_of: &epoch2,
    };
    assert_eq!(s.append_fenced(&[by_id("m4")], Some(&n2)).unwrap().len(), 1);
    // Unfenced appends (a node running alone) are not checked.
    assert_eq!(s.append_batch(&[by_id("m6")]).unwrap().len(), 1);
    // Reopening a conversation is fenced the same way.
    let close = NewEntry::now(
        ConvRef::Id(conv),
        EntryKind::Close,
        Author::Agent(AgentId(1)),
        Cid::Made("close"),
        String::new(),
    );
    s.append_fenced(&[close], Some(&n2)).unwrap();
    let r = s.reopen_fenced(conv, Some(&n1));
    assert!(
        matches!(r, Err(StoreError::Fenced(ref v)) if v == &vec![site]),
        "{r:?}"
    );
    assert!(
        s.open_conversation_of(site, A).unwrap().is_none(),
        "a fenced reopen changes nothing"
    );
    let r = s.reopen_fenced(conv, Some(&n2)).unwrap();
    assert!(matches!(r, Reopen::Reopened { .. }), "{r:?}");
    let _: ConversationId = conv;
}
