//! What only MySQL can get wrong: its collations (keys compare case-sensitively, search
//! does not), and UPDATEs that change no value still counting the rows they matched.

use super::*;
use crate::ids::AgentId;
use crate::store::conformance::{msg, new, visitor};
use crate::store::testdb::TestDb;
use crate::store::{Author, Directory, Log, Search};
use crate::vocab::AgentRole;

fn store() -> (MysqlStore, TestDb) {
    let db = TestDb::new(TEST_SERVER);
    let options = Options {
        pool_size: 2,
        ..Options::default()
    };
    (MysqlStore::open(db.url(), &options).unwrap(), db)
}

#[test]
fn tokens_cids_and_emails_are_case_sensitive() {
    let (s, _db) = store();
    let site = s.add_site("t", &[]).unwrap();
    let (lower, upper) = ("tokenaaaaaaaaaaaaaa", "tokenAAAAAAAAAAAAAA");
    let a = new(&s
        .append_batch(&[msg(visitor(site.id, lower), Author::Visitor, "m1")])
        .unwrap()[0])
    .0;
    // Another token that differs only in case is another visitor, and its cid "M1" is
    // not the first visitor's "m1".
    let b = new(&s
        .append_batch(&[msg(visitor(site.id, upper), Author::Visitor, "m1")])
        .unwrap()[0])
    .0;
    assert_ne!(a, b);
    let again = s
        .append_batch(&[msg(visitor(site.id, lower), Author::Visitor, "M1")])
        .unwrap();
    assert_eq!(new(&again[0]).1, 2, "M1 is not m1");
    assert!(s.visitor_exists(site.id, lower).unwrap());
    assert!(!s.visitor_exists(site.id, "TOKENAAAAAAAAAAAAAA").unwrap());
    assert!(s.site_by_key(&site.key.to_uppercase()).unwrap().is_none());
    let hash = "argon2-hash";
    s.add_agent(site.id, "Ann@example.com", "Ann", AgentRole::Agent, hash)
        .unwrap();
    s.add_agent(site.id, "ann@example.com", "ann", AgentRole::Agent, hash)
        .unwrap();
    assert_eq!(s.agents_by_email("ann@example.com").unwrap().len(), 1);
    s.add_token(AgentId(1), "abcdef", i64::MAX).unwrap();
    assert!(s.agent_by_token("ABCDEF", 0).unwrap().is_none());
    assert!(s.agent_by_token("abcdef", 0).unwrap().is_some());
    // Search alone ignores case.
    let mut e = msg(visitor(site.id, lower), Author::Visitor, "m3");
    e.body = "Where is my ORDER?".into();
    s.append_batch(&[e]).unwrap();
    assert_eq!(s.search(site.id, "my order", 10).unwrap().len(), 1);
}

#[test]
fn an_update_that_changes_nothing_still_finds_its_row() {
    let (s, _db) = store();
    let site = s.add_site("t", &[]).unwrap();
    s.add_agent(site.id, "a@b", "A", AgentRole::Agent, "h1")
        .unwrap();
    assert!(s.set_password(site.id, "a@b", "h1").unwrap(), "same hash");
    assert!(!s.set_password(site.id, "x@b", "h1").unwrap());
}

#[test]
fn a_value_too_long_for_its_column_is_an_error_not_cut_short() {
    let (s, _db) = store();
    let site = s.add_site("t", &[]).unwrap();
    let long = "x".repeat(65);
    let err = s.append_batch(&[msg(visitor(site.id, &long), Author::Visitor, "m1")]);
    assert!(err.is_err(), "{err:?}");
    assert!(!s.visitor_exists(site.id, &long[..64]).unwrap());
}
