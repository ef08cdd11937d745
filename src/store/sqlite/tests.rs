//! What only SQLite can show: entries that stay unique across runs on one file, readers
//! that see each commit at once (WAL), a file deleted under the store, the migration from
//! an older schema, the words as its columns spell them (and a row spelling one
//! otherwise, an entry's or a webhook's), the times a removal stamps on the rows.
//! Everything else is the conformance suite, run here on a real file.

use super::*;
use crate::ids::{AgentId, ConversationId, Offset};
use crate::store::conformance::{msg, new, visitor, A};
use crate::store::{Appended, Author, Cid, ConvRef, Directory, Log, NewEntry};
use crate::vocab::EntryKind;

mod conformance {
    use crate::store::conformance::{suite, Fixture};

    fn make() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = super::open(path.to_str().unwrap(), 2);
        Fixture::new(Box::new(s), dir)
    }

    suite!(make);
}

/// The store on the file at `path`, with `readers` pooled readers.
fn open(path: &str, readers: u32) -> SqliteStore {
    let options = Options {
        pool_size: readers,
        synchronous: crate::config::Synchronous::Normal,
        ..Default::default()
    };
    SqliteStore::open(path, &options).unwrap()
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = open(path.to_str().unwrap(), 2);
    (dir, s)
}

#[test]
fn server_made_entries_never_collide_across_runs_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let path = path.to_str().unwrap();
    let mut convs = Vec::new();
    // Three runs of the process on one file, two conversations each, the same kinds of
    // server-made entries in each: every one is stored.
    for run in 0..3 {
        let s = open(path, 1);
        let site = match s.sites().unwrap().first() {
            Some(site) => site.clone(),
            None => s.add_site("t", &[]).unwrap(),
        };
        for i in 0..2 {
            let token = format!("visitor{run}x{i}AAAAAAAAAA");
            let (c, _, _) = new(&s
                .append_batch(&[msg(visitor(site.id, &token), Author::Visitor, "hello")])
                .unwrap()[0]);
            let made = |kind: EntryKind| {
                NewEntry::now(
                    ConvRef::Id(c),
                    kind,
                    Author::Agent(AgentId(1)),
                    Cid::Made(kind.as_str()),
                    "Ann".into(),
                )
            };
            let read = |author| NewEntry {
                upto: Some(Offset(1)),
                ..NewEntry::now(
                    ConvRef::Id(c),
                    EntryKind::Read,
                    author,
                    Cid::Keyed(format!("read:{c}:1")),
                    String::new(),
                )
            };
            let invite = NewEntry::now(
                ConvRef::Id(c),
                EntryKind::Msg,
                Author::Agent(AgentId(1)),
                Cid::Made("invite"),
                "Can I help?".into(),
            );
            let got = s
                .append_batch(&[
                    made(EntryKind::Join),
                    read(Author::Agent(AgentId(1))),
                    read(Author::Visitor),
                    made(EntryKind::Transfer),
                    invite,
                    read(Author::Agent(AgentId(1))),
                ])
                .unwrap();
            let offs: Vec<u64> = got[..5].iter().map(|a| new(a).1).collect();
            assert_eq!(offs, vec![2, 3, 4, 5, 6]);
            assert!(
                matches!(got[5], Appended::Dup { off: Offset(3), .. }),
                "the same read twice is one entry"
            );
            assert_eq!(new(&got[0]).2, format!("join:{c}:2"));
            convs.push(c);
        }
    }
    let s = open(path, 1);
    for c in convs {
        let kinds: Vec<EntryKind> = s
            .read_after(c, Offset(0), 100)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        use EntryKind::{Join, Msg, Read, Transfer};
        assert_eq!(kinds, [Msg, Join, Read, Read, Transfer, Msg]);
    }
}

#[test]
fn readers_see_every_commit_at_once() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    for i in 1..=50u64 {
        let got = s
            .append_batch(&[msg(visitor(site.id, A), Author::Visitor, &format!("c{i}"))])
            .unwrap();
        let a = new(&got[0]).0;
        assert_eq!(s.conversation(a).unwrap().unwrap().head, Offset(i));
        assert_eq!(
            s.open_conversation_of(site.id, A).unwrap().unwrap().head,
            Offset(i)
        );
    }
}

#[test]
fn a_file_deleted_under_the_store_stops_every_write_and_keeps_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost.db");
    let s = open(path.to_str().unwrap(), 1);
    let site = s.add_site("t", &[]).unwrap();
    let (a, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "kept")])
        .unwrap()[0]);
    s.ping().unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = s.ping().unwrap_err();
    assert!(matches!(err, StoreError::Lost(_)), "{err}");
    assert!(err.to_string().contains("was deleted"), "{err}");
    assert!(matches!(
        s.append_batch(&[msg(visitor(site.id, A), Author::Visitor, "refused")]),
        Err(StoreError::Lost(_))
    ));
    assert!(s.add_site("u", &[]).is_err());
    // The copy holds everything committed, and opens as a database of its own.
    let copy = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".recovered-"))
        .expect("a recovered copy");
    let r = open(copy.to_str().unwrap(), 1);
    let kept = r.read_after(a, Offset(0), 10).unwrap();
    assert_eq!(
        kept.iter().map(|e| e.cid.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
}

#[test]
fn the_migration_scopes_old_server_made_cids_and_restores_owners() {
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the previous release left it: four migrations, old cids.
        let mut c = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        for _ in 0..4 {
            c.run_next_migration(MIGRATIONS).unwrap();
        }
        c.batch_execute(
            "INSERT INTO sites (id, key, name, secret, allowed_origins, transports, created_at) \
               VALUES (1, 's_k', 'S', 'x', '*', 'ws', 0);
             INSERT INTO visitors (id, site_id, token, created_at) VALUES (5, 1, 'tok', 0), (6, 1, 'tok2', 0);
             INSERT INTO conversations (id, site_id, visitor_id, epoch, status, created_at)
               VALUES (10, 1, 5, 9, 'open', 0), (11, 1, 6, 9, 'open', 0);
             INSERT INTO entries (conversation_id, off, kind, role, sender, cid, body, ts, meta) VALUES
               (10, 1, 'msg', 'visitor', 'v5', 'c1', 'hi', 1, NULL),
               (10, 2, 'join', 'agent', 'a3', 'join:1', 'Ann', 2, NULL),
               (10, 3, 'read', 'agent', 'a3', 'read:1', '', 3, '{\"upto\":1}'),
               (11, 1, 'msg', 'visitor', 'v6', 'c1', 'hi', 1, NULL),
               (11, 2, 'join', 'agent', 'a3', 'join:2', 'Ann', 2, NULL),
               (11, 3, 'close', 'agent', 'a3', 'close:3', 'Ann', 3, NULL);",
        )
        .unwrap();
    }
    let s = open(path.to_str().unwrap(), 1);
    let cids: Vec<String> = s
        .read_after(ConversationId(10), Offset(0), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.cid)
        .collect();
    assert_eq!(cids, ["c1", "join:10:2", "read:10:1"]);
    assert_eq!(
        s.read_after(ConversationId(11), Offset(0), 10)
            .unwrap()
            .len(),
        3
    );
    let d = s.desk_conversations(None).unwrap();
    // Conversation 11's row said open though its close was logged: it is closed now.
    let owners: Vec<_> = d.iter().map(|c| (c.id.0, c.owner)).collect();
    assert_eq!(owners, vec![(10, Some(AgentId(3)))]);
}

#[test]
fn the_words_are_stored_as_the_schema_spells_them() {
    use crate::store::sql::schema::{agents, conversations, entries, sites};
    use crate::store::Settings;
    use crate::vocab::{AgentRole, TransportKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.db");
    let path = path.to_str().unwrap();
    let s = open(path, 1);
    let one = s.add_site("one", &[]).unwrap();
    let two = s.add_site("two", &[]).unwrap();
    s.set_transports(two.id, &[TransportKind::LongPoll, TransportKind::Jsonp])
        .unwrap();
    let ann = s
        .add_agent(one.id, "ann@x", "Ann", AgentRole::Admin, "h")
        .unwrap();
    s.add_agent(one.id, "bob@x", "Bob", AgentRole::Agent, "h")
        .unwrap();
    let (c, _, _) = new(&s
        .append_batch(&[msg(visitor(one.id, A), Author::Visitor, "m1")])
        .unwrap()[0]);
    let desk = |kind: EntryKind, author| {
        NewEntry::now(
            ConvRef::Id(c),
            kind,
            author,
            Cid::Made(kind.as_str()),
            "".into(),
        )
    };
    let read = NewEntry {
        upto: Some(Offset(1)),
        ..NewEntry::now(
            ConvRef::Id(c),
            EntryKind::Read,
            Author::Agent(ann.id),
            Cid::Keyed(format!("read:{c}:1")),
            String::new(),
        )
    };
    s.append_batch(&[
        desk(EntryKind::Join, Author::Agent(ann.id)),
        read,
        desk(EntryKind::Transfer, Author::Agent(ann.id)),
        desk(EntryKind::Close, Author::System),
    ])
    .unwrap();
    let mut db = SqliteConnection::establish(path).unwrap();
    let transports: Vec<String> = sites::table
        .order(sites::id)
        .select(sites::transports)
        .load(&mut db)
        .unwrap();
    assert_eq!(transports, ["ws lp xdr jsonp", "lp jsonp"]);
    let roles: Vec<String> = agents::table
        .order(agents::id)
        .select(agents::role)
        .load(&mut db)
        .unwrap();
    assert_eq!(roles, ["admin", "agent"]);
    let status: String = conversations::table
        .find(c.0)
        .select(conversations::status)
        .first(&mut db)
        .unwrap();
    assert_eq!(status, "closed");
    let rows: Vec<(String, String, String)> = entries::table
        .filter(entries::conversation_id.eq(c.0))
        .order(entries::off)
        .select((entries::kind, entries::role, entries::sender))
        .load(&mut db)
        .unwrap();
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(k, r, s)| (k.as_str(), r.as_str(), s.as_str()))
        .collect();
    let a = format!("a{}", ann.id);
    assert_eq!(
        rows,
        [
            ("msg", "visitor", "v1"),
            ("join", "agent", a.as_str()),
            ("read", "agent", a.as_str()),
            ("transfer", "agent", a.as_str()),
            ("close", "system", "kefu"),
        ]
    );
    // Reopened: the row says open again.
    s.reopen_conversation(c).unwrap();
    let status: String = conversations::table
        .find(c.0)
        .select(conversations::status)
        .first(&mut db)
        .unwrap();
    assert_eq!(status, "open");
}

#[test]
fn a_row_spelling_a_word_kefu_does_not_know() {
    use crate::store::sql::schema::{agents, entries};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.db");
    let path = path.to_str().unwrap();
    let s = open(path, 1);
    let site = s.add_site("t", &[]).unwrap();
    s.add_agent(site.id, "ann@x", "Ann", crate::vocab::AgentRole::Admin, "h")
        .unwrap();
    let (c, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m1")])
        .unwrap()[0]);
    let mut db = SqliteConnection::establish(path).unwrap();
    diesel::update(agents::table)
        .set(agents::role.eq("owner"))
        .execute(&mut db)
        .unwrap();
    // No more than an agent's rights.
    let ann = s.agents(site.id).unwrap().remove(0);
    assert_eq!(ann.role, crate::vocab::AgentRole::Agent);
    // An entry is refused by name, not passed on with a kind nobody expects.
    diesel::update(entries::table)
        .set(entries::kind.eq("file"))
        .execute(&mut db)
        .unwrap();
    match s.read_after(c, Offset(0), 10) {
        Err(StoreError::Invalid(why)) => {
            assert!(
                why.contains(&format!("entry 1 of conversation {c}")),
                "{why}"
            );
            assert!(why.contains("unknown entry kind \"file\""), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn webhook_words_are_stored_as_the_schema_spells_them_and_an_unknown_one_is_refused() {
    use crate::store::sql::schema::{webhook_deliveries, webhooks};
    use crate::store::{WebhookChange, Webhooks};
    use crate::vocab::WebhookEvent::{Closed, Message, Opened};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.db");
    let path = path.to_str().unwrap();
    let s = open(path, 1);
    let site = s.add_site("t", &[]).unwrap().id;
    let change = WebhookChange {
        url: Some("https://a.example".into()),
        events: Some(vec![Message, Closed, Opened, Message]),
        paused: None,
    };
    let w = s.add_webhook(site, &change, "k", 5).unwrap().id;
    let mut first = msg(visitor(site, A), Author::Visitor, "m1");
    first.ts = 1_000;
    let (c, _, _) = new(&s.append_batch(&[first]).unwrap()[0]);
    let mut db = SqliteConnection::establish(path).unwrap();
    let events: String = webhooks::table
        .find(w)
        .select(webhooks::events)
        .first(&mut db)
        .unwrap();
    assert_eq!(
        events,
        "conversation.opened conversation.closed message.created"
    );
    type Row = (i64, i64, String, String, i64, Option<i64>);
    let rows: Vec<Row> = webhook_deliveries::table
        .order(webhook_deliveries::id)
        .select((
            webhook_deliveries::conversation_id,
            webhook_deliveries::off,
            webhook_deliveries::event,
            webhook_deliveries::state,
            webhook_deliveries::attempts,
            webhook_deliveries::next_at,
        ))
        .load(&mut db)
        .unwrap();
    let at = |event: &str| {
        (
            c.0,
            1,
            event.to_string(),
            "pending".to_string(),
            0,
            Some(1_000),
        )
    };
    assert_eq!(rows, [at("conversation.opened"), at("message.created")]);

    // An event kefu does not spell: the webhook is refused by name, and appends go on,
    // making only the events it knows.
    diesel::update(webhooks::table)
        .set(webhooks::events.eq("message.created file.uploaded"))
        .execute(&mut db)
        .unwrap();
    match s.webhooks(site) {
        Err(StoreError::Invalid(why)) => {
            assert!(why.contains(&format!("webhook {w}")), "{why}");
            assert!(
                why.contains("unknown webhook event \"file.uploaded\""),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    s.append_batch(&[msg(visitor(site, A), Author::Visitor, "m2")])
        .unwrap();
    let made: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::off.eq(2))
        .filter(webhook_deliveries::event.eq("message.created"))
        .count()
        .get_result(&mut db)
        .unwrap();
    assert_eq!(made, 1);
    // A delivery's state kefu does not spell: refused by name.
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::off.eq(2)))
        .set(webhook_deliveries::state.eq("lost"))
        .execute(&mut db)
        .unwrap();
    match s.deliveries(site, w, None, None, 10) {
        Err(StoreError::Invalid(why)) => {
            assert!(why.contains("webhook delivery"), "{why}");
            assert!(why.contains("unknown delivery state \"lost\""), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_removal_stamps_its_time_on_the_agent_and_on_its_tokens_not_yet_revoked() {
    use crate::store::sql::schema::{agent_tokens, agents};
    use crate::vocab::AgentRole;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("removed.db");
    let path = path.to_str().unwrap();
    let s = open(path, 1);
    let site = s.add_site("t", &[]).unwrap().id;
    s.add_agent(site, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    let ann = s
        .add_agent(site, "ann@x", "Ann", AgentRole::Agent, "h")
        .unwrap();
    s.add_token(ann.id, "old", i64::MAX).unwrap();
    s.add_token(ann.id, "live", i64::MAX).unwrap();
    assert!(s.revoke_token("old", 5).unwrap());
    s.remove_agent(site, ann.id, 1_000).unwrap().unwrap();
    let mut db = SqliteConnection::establish(path).unwrap();
    let removed: Vec<Option<i64>> = agents::table
        .order(agents::id)
        .select(agents::removed_at)
        .load(&mut db)
        .unwrap();
    assert_eq!(removed, [None, Some(1_000)]);
    let revoked: Vec<(String, Option<i64>)> = agent_tokens::table
        .order(agent_tokens::token_hash)
        .select((agent_tokens::token_hash, agent_tokens::revoked_at))
        .load(&mut db)
        .unwrap();
    assert_eq!(
        revoked,
        [("live".to_string(), Some(1_000)), ("old".into(), Some(5))]
    );
}
