//! What every database server backend must show beyond the conformance suite: the suite
//! itself on a fresh database per test, migrations that several nodes starting at once on
//! one empty database run exactly once, and writers that hold row locks while others wait
//! (leases, admins changing role or removed, sites added for one account, webhooks).
//!
//! Compiled inside each server backend's module (`#[path]`), against its `Db` and its
//! `TEST_SERVER`. These tests need the server: they fail when it cannot be reached.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{migrate, Db, TEST_SERVER};
use crate::store::testdb::TestDb;
use crate::store::{Directory, Options};

fn options() -> Options {
    Options {
        pool_size: 2,
        ..Options::default()
    }
}

mod conformance {
    use crate::store::conformance::{suite, Fixture};
    use crate::store::testdb::TestDb;

    fn make() -> Fixture {
        let db = TestDb::new(super::TEST_SERVER);
        let store = super::Db::open(db.url(), &super::options()).unwrap();
        Fixture::new(Box::new(store), db)
    }

    suite!(make);
}

#[test]
fn nodes_starting_at_once_on_an_empty_database_migrate_it_once() {
    let db = TestDb::new(TEST_SERVER);
    let nodes = 6;
    let start = Arc::new(Barrier::new(nodes));
    let threads: Vec<_> = (0..nodes)
        .map(|_| {
            let (url, start) = (db.url().to_string(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let applied = migrate(&url).unwrap();
                let store = Db::open(&url, &options()).unwrap();
                (applied, store)
            })
        })
        .collect();
    let done: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let migrating: Vec<&Vec<String>> = done
        .iter()
        .map(|(a, _)| a)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(migrating.len(), 1, "one node applied the migrations");
    assert!(!migrating[0].is_empty());
    // Every node works on the one schema, and the lock is free again.
    let site = done[0].1.add_site("t", &[]).unwrap();
    for (_, store) in &done {
        assert_eq!(store.sites().unwrap(), std::slice::from_ref(&site));
    }
    assert!(
        migrate(db.url()).unwrap().is_empty(),
        "nothing left to apply"
    );
    let mut c = Db::connect(db.url()).unwrap();
    c.batch_execute("INSERT INTO kefu_migration_lock (id, holder, taken_at) VALUES (1, 'x', 0)")
        .expect("the lock row was deleted when the migrations were done");
}

#[test]
fn a_node_waits_while_another_holds_the_migration_lock() {
    let db = TestDb::new(TEST_SERVER);
    // Another node holds the lock (and keeps it fresh, as it would while migrating).
    assert!(!migrate(db.url()).unwrap().is_empty());
    let mut c = Db::connect(db.url()).unwrap();
    c.batch_execute(
        "INSERT INTO kefu_migration_lock (id, holder, taken_at) VALUES (1, 'other', 1)",
    )
    .unwrap();
    let url = db.url().to_string();
    let waiting = std::thread::spawn(move || migrate(&url));
    std::thread::sleep(Duration::from_millis(700));
    assert!(!waiting.is_finished(), "it waits for the lock");
    c.batch_execute("UPDATE kefu_migration_lock SET taken_at = 2")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiting.is_finished(),
        "a lock kept fresh is not taken over"
    );
    c.batch_execute("DELETE FROM kefu_migration_lock").unwrap();
    assert_eq!(waiting.join().unwrap().unwrap(), Vec::<String>::new());
}

/// A node frozen (SIGSTOP, a VM paused) inside its group commit keeps the row locks of
/// its sites' leases while it says nothing. The other nodes must go on renewing their
/// own leases meanwhile, a takeover must not wait for it without bound, and the database
/// must end the frozen transaction soon enough for its sites to move.
#[test]
fn a_writer_frozen_inside_its_transaction_holds_no_other_node_back() {
    use super::Dialect;
    use crate::store::{Cluster, StoreError};
    let hold = Options::default().hold;
    let db = TestDb::new(TEST_SERVER);
    let frozen = Arc::new(Db::open(db.url(), &options()).unwrap());
    let other = Db::open(db.url(), &options()).unwrap();
    let s1 = other.add_site("one", &[]).unwrap().id;
    let s2 = other.add_site("two", &[]).unwrap().id;
    assert!(other.acquire(s1, "n1", 1000, 2000).unwrap().is_some());
    assert!(other.acquire(s2, "n2", 1000, 2000).unwrap().is_some());

    let (locked, wait) = std::sync::mpsc::channel();
    let (go_silent, silent) = std::sync::mpsc::channel::<()>();
    let holder = {
        let frozen = frozen.clone();
        std::thread::spawn(move || {
            frozen.write(|c| {
                Db::lock_leases(c, &[s1.0])?;
                locked.send(()).unwrap();
                // Busy (a statement now and then) until told, then frozen: no statement
                // for longer than the database lets a silent transaction keep its locks.
                while silent.try_recv().is_err() {
                    c.batch_execute("SELECT 1")?;
                    std::thread::sleep(hold / 4);
                }
                std::thread::sleep(hold * 4);
                Ok(())
            })
        })
    };
    wait.recv().unwrap();

    let renewed = other
        .renew("n2", 3000)
        .expect("n2's renewal waits for no lock of n1's");
    assert_eq!(renewed.iter().map(|l| l.site).collect::<Vec<_>>(), [s2]);

    // n1's lease has expired; n2 tries to take it while n1 still holds the row locked:
    // it waits at most `hold`, then is told the site is not free now.
    let started = std::time::Instant::now();
    let refused = other.acquire(s1, "n2", 2001, 5000);
    assert!(
        matches!(refused, Ok(None) | Err(StoreError::Unavailable(_))),
        "a takeover while the row is locked: {refused:?}"
    );
    assert!(
        started.elapsed() < hold * 3,
        "a takeover waited {:?} for the lock's holder",
        started.elapsed()
    );

    go_silent.send(()).unwrap();
    let held = holder.join().unwrap();
    assert!(
        held.is_err(),
        "the database ended the frozen transaction: its commit fails"
    );
    let taken = other.acquire(s1, "n2", 2002, 5000).unwrap();
    assert_eq!(
        taken.map(|l| (l.node, l.epoch)),
        Some(("n2".to_string(), 2))
    );
}

/// Two admins stepping down at once: the second waits for the first, sees it gone, and
/// is refused — a site never ends without an admin.
#[test]
fn two_role_changes_at_once_never_leave_a_site_without_an_admin() {
    use super::Dialect;
    use crate::store::StoreError;
    use crate::vocab::AgentRole;
    let db = TestDb::new(TEST_SERVER);
    let first = Arc::new(Db::open(db.url(), &options()).unwrap());
    let second = Db::open(db.url(), &options()).unwrap();
    let site = second.add_site("t", &[]).unwrap().id;
    let a = second
        .add_agent(site, "a@x", "A", AgentRole::Admin, "h")
        .unwrap();
    let b = second
        .add_agent(site, "b@x", "B", AgentRole::Admin, "h")
        .unwrap();
    let (locked, wait) = std::sync::mpsc::channel();
    let stepping_down = {
        let first = first.clone();
        std::thread::spawn(move || {
            first.write(|c| {
                // A steps down: changed, not committed yet.
                c.batch_execute(&format!(
                    "UPDATE agents SET role = 'agent' WHERE id = {}",
                    a.id.0
                ))?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
        })
    };
    wait.recv().unwrap();
    let r = second.update_agent(site, b.id, None, Some(AgentRole::Agent));
    stepping_down.join().unwrap().unwrap();
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "B may not step down once A did: {r:?}"
    );
    let admins: Vec<_> = second
        .agents(site)
        .unwrap()
        .into_iter()
        .filter(|x| x.role == AgentRole::Admin)
        .map(|x| x.id)
        .collect();
    assert_eq!(admins, [b.id]);
}

/// Two admins removed at once: the second removal waits for the first, no longer counts
/// the admin it removed, and is refused — a site never ends without an admin.
#[test]
fn two_removals_at_once_never_leave_a_site_without_an_admin() {
    use super::Dialect;
    use crate::store::StoreError;
    use crate::vocab::AgentRole;
    let db = TestDb::new(TEST_SERVER);
    let first = Arc::new(Db::open(db.url(), &options()).unwrap());
    let second = Db::open(db.url(), &options()).unwrap();
    let site = second.add_site("t", &[]).unwrap().id;
    let a = second
        .add_agent(site, "a@x", "A", AgentRole::Admin, "h")
        .unwrap();
    let b = second
        .add_agent(site, "b@x", "B", AgentRole::Admin, "h")
        .unwrap();
    let (locked, wait) = std::sync::mpsc::channel();
    let removing = {
        let first = first.clone();
        std::thread::spawn(move || {
            first.write(|c| {
                // A is removed: changed, not committed yet.
                let mut admins = Db::lock_admins(c, site.0)?;
                admins.sort();
                assert_eq!(admins, [a.id.0, b.id.0]);
                c.batch_execute(&format!(
                    "UPDATE agents SET removed_at = 1 WHERE id = {}",
                    a.id.0
                ))?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
        })
    };
    wait.recv().unwrap();
    let r = second.remove_agent(site, b.id, 2);
    removing.join().unwrap().unwrap();
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "B may not be removed once A was: {r:?}"
    );
    let active: Vec<_> = second
        .agents(site)
        .unwrap()
        .into_iter()
        .filter(|x| x.removed_at.is_none())
        .map(|x| x.id)
        .collect();
    assert_eq!(active, [b.id]);
    second
        .write(|c| {
            assert_eq!(Db::lock_admins(c, site.0)?, [b.id.0], "active admins only");
            Ok(())
        })
        .unwrap();
}

/// An admin deleting a webhook while a group commit records deliveries for it, either
/// one first: the later waits for the earlier's commit (`Dialect::lock_hooks`,
/// `Dialect::lock_webhook`), and neither fails — no delivery is left without its
/// webhook, and none refers to one deleted before it was recorded.
#[test]
fn a_webhook_deleted_while_an_append_records_its_deliveries_fails_neither() {
    use super::Dialect;
    use crate::store::conformance::{first_message, msg, visitor, A};
    use crate::store::{Author, Log, WebhookChange, Webhooks};
    use crate::vocab::WebhookEvent;
    let db = TestDb::new(TEST_SERVER);
    let appender = Arc::new(Db::open(db.url(), &options()).unwrap());
    let admin = Arc::new(Db::open(db.url(), &options()).unwrap());
    let site = admin.add_site("t", &[]).unwrap().id;
    let change = WebhookChange {
        url: Some("https://a.example".into()),
        events: Some(WebhookEvent::ALL.to_vec()),
        paused: None,
    };
    let w = admin.add_webhook(site, &change, "k", 5).unwrap().id;
    first_message(&*admin, site, A, "m0");

    // The append first: it holds the webhook's row until it commits.
    let (locked, wait) = std::sync::mpsc::channel();
    let appending = {
        let appender = appender.clone();
        std::thread::spawn(move || {
            appender.write(|c| {
                let batch = [msg(visitor(site, A), Author::Visitor, "m1")];
                let done = super::append::append_in_tx(c, &batch, None)?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(done)
            })
        })
    };
    wait.recv().unwrap();
    assert!(
        admin.delete_webhook(site, w).unwrap(),
        "deleted once the append committed"
    );
    assert_eq!(appending.join().unwrap().unwrap().len(), 1);
    assert_eq!(admin.deliveries(site, w, None, None, 10).unwrap(), None);
    assert!(admin
        .due_deliveries(i64::MAX, None, &[], 10)
        .unwrap()
        .is_empty());

    // The deletion first: the append waits for it, then records nothing for it.
    let w = admin.add_webhook(site, &change, "k", 5).unwrap().id;
    let (locked, wait) = std::sync::mpsc::channel();
    let deleting = {
        let admin = admin.clone();
        std::thread::spawn(move || {
            admin.write(|c| {
                assert_eq!(Db::lock_webhook(c, w)?, Some(site.0));
                c.batch_execute(&format!(
                    "DELETE FROM webhook_deliveries WHERE webhook_id = {w}; \
                     DELETE FROM webhooks WHERE id = {w}"
                ))?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
        })
    };
    wait.recv().unwrap();
    let done = appender
        .append_batch(&[msg(visitor(site, A), Author::Visitor, "m2")])
        .expect("the append waited for the deletion, and found no webhook");
    assert_eq!(done.len(), 1);
    deleting.join().unwrap().unwrap();
    assert!(admin.webhooks(site).unwrap().is_empty());
    assert!(admin
        .due_deliveries(i64::MAX, None, &[], 10)
        .unwrap()
        .is_empty());
}

/// Two admins of one account each adding a site at once, at the account's limit: the
/// second waits for the first (`Dialect::lock_accounts`), counts the site it added, and
/// is refused — exactly one passes.
#[test]
fn two_sites_added_at_once_at_the_limit_pass_once() {
    use super::Dialect;
    use crate::store::StoreError;
    use crate::vocab::AgentRole;
    let db = TestDb::new(TEST_SERVER);
    let first = Arc::new(Db::open(db.url(), &options()).unwrap());
    let second = Arc::new(Db::open(db.url(), &options()).unwrap());
    let site = second.add_site("t", &[]).unwrap().id;
    second
        .add_agent(site, "ann@x", "Ann", AgentRole::Admin, "h")
        .unwrap();
    let (locked, wait) = std::sync::mpsc::channel();
    let adding = {
        let first = first.clone();
        std::thread::spawn(move || {
            first.write(|c| {
                // Added, not committed yet.
                let done =
                    super::queries::site_with_admin_in_tx(c, "a", &[], "ann@x", "Ann", "h", 2)?;
                locked.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                Ok(done)
            })
        })
    };
    wait.recv().unwrap();
    let r = second.add_site_with_admin("b", &[], "ann@x", "Ann", "h", 2);
    let (added, _) = adding.join().unwrap().unwrap();
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "the second may not pass once the first did: {r:?}"
    );
    let names: Vec<String> = second
        .sites()
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["t", "a"]);
    assert_eq!(second.agents(added.id).unwrap().len(), 1);

    // Several at once, with no order forced: one of them passes, whichever it is.
    let callers = 4;
    let start = Arc::new(Barrier::new(callers));
    let threads: Vec<_> = (0..callers)
        .map(|i| {
            let (store, start) = (
                if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                },
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                store.add_site_with_admin(&format!("c{i}"), &[], "ann@x", "Ann", "h", 3)
            })
        })
        .collect();
    let done: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let passed = done.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 1, "{done:?}");
    assert!(done
        .iter()
        .all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict(_)))));
    assert_eq!(second.sites().unwrap().len(), 3);
    assert_eq!(second.agents_by_email("ann@x").unwrap().len(), 3);
}
