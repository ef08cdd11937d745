//! The SQLite store on real files: group commit, the dedupe rule, conversations opened in
//! the append's transaction, the rows that follow the log, a lost file, the migration.

use super::*;
use crate::ids::{AgentId, ConversationId, Offset, SiteId};
use crate::store::{Appended, Author, Cid, ConvRef, Directory, Log, NewEntry, Reopen, Role};

/// The store on the file at `path`, with `readers` pooled readers.
fn open(path: &str, readers: u32) -> SqliteStore {
    let options = Options {
        pool_size: readers,
        synchronous_full: false,
    };
    SqliteStore::open(path, &options).unwrap()
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = open(path.to_str().unwrap(), 2);
    (dir, s)
}

fn visitor(site: SiteId, token: &str) -> ConvRef {
    ConvRef::Visitor {
        site,
        token: token.into(),
        named: None,
    }
}

fn msg(conv: ConvRef, author: Author, cid: &str) -> NewEntry {
    NewEntry::now(
        conv,
        "msg",
        author,
        Cid::Keyed(cid.into()),
        format!("body of {cid}"),
    )
}

fn new(a: &Appended) -> (ConversationId, u64, &str) {
    match a {
        Appended::New(e, info) => {
            assert_eq!(e.conv, info.id);
            assert_eq!(e.off, info.head);
            (e.conv, e.off.0, e.cid.as_str())
        }
        other => panic!("expected a new entry, got {other:?}"),
    }
}

const A: &str = "tokenAAAAAAAAAAAAAA";
const B: &str = "tokenBBBBBBBBBBBBBBB";

#[test]
fn a_visitors_first_message_opens_its_conversation_in_the_same_transaction() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let got = s
        .append_batch(&[
            msg(visitor(site.id, A), Author::Visitor, "m1"),
            msg(visitor(site.id, B), Author::Visitor, "m1"),
            msg(visitor(site.id, A), Author::Visitor, "m2"),
            msg(visitor(site.id, A), Author::Visitor, "m1"),
        ])
        .unwrap();
    let (a, off, _) = new(&got[0]);
    let (b, _, _) = new(&got[1]);
    assert_ne!(a, b, "one conversation per visitor");
    assert_eq!(off, 1);
    assert_eq!(new(&got[2]), (a, 2, "m2"));
    assert_eq!(
        got[3],
        Appended::Dup {
            conv: a,
            off: Offset(1),
            ts: match &got[0] {
                Appended::New(e, _) => e.ts,
                _ => unreachable!(),
            }
        }
    );
    let Appended::New(e, info) = &got[0] else {
        unreachable!()
    };
    assert_eq!(e.sender, format!("v{}", info.visitor));
    assert_eq!(e.role, Role::Visitor);
    // A later batch sees what is stored, and finds the open conversation.
    let again = s
        .append_batch(&[
            msg(visitor(site.id, A), Author::Visitor, "m2"),
            msg(visitor(site.id, A), Author::Visitor, "m3"),
        ])
        .unwrap();
    assert!(matches!(again[0], Appended::Dup { off: Offset(2), .. }));
    assert_eq!(new(&again[1]), (a, 3, "m3"));
    assert_eq!(s.conversation(a).unwrap().unwrap().head, Offset(3));
    assert_eq!(s.open_conversation_of(site.id, A).unwrap().unwrap().id, a);
}

#[test]
fn a_resend_after_its_conversation_closed_opens_nothing() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let (a, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m1")])
        .unwrap()[0]);
    let close = NewEntry::now(
        ConvRef::Id(a),
        "close",
        Author::Agent(AgentId(7)),
        Cid::Made("close"),
        String::new(),
    );
    s.append_batch(&[close]).unwrap();
    assert!(s.open_conversation_of(site.id, A).unwrap().is_none());
    // The resend is a duplicate of the message stored in the closed conversation.
    let got = s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m1")])
        .unwrap();
    assert!(matches!(got[0], Appended::Dup { conv, off: Offset(1), .. } if conv == a));
    assert!(
        s.open_conversation_of(site.id, A).unwrap().is_none(),
        "no empty conversation was opened"
    );
    // A new message opens a new conversation.
    let (b, off, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m2")])
        .unwrap()[0]);
    assert_ne!(a, b);
    assert_eq!(off, 1);
}

#[test]
fn server_made_entries_never_collide_across_conversations_or_runs() {
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
            let made = |kind: &'static str| {
                NewEntry::now(
                    ConvRef::Id(c),
                    kind,
                    Author::Agent(AgentId(1)),
                    Cid::Made(kind),
                    "Ann".into(),
                )
            };
            let read = |author| NewEntry {
                upto: Some(Offset(1)),
                ..NewEntry::now(
                    ConvRef::Id(c),
                    "read",
                    author,
                    Cid::Keyed(format!("read:{c}:1")),
                    String::new(),
                )
            };
            let invite = NewEntry::now(
                ConvRef::Id(c),
                "msg",
                Author::Agent(AgentId(1)),
                Cid::Made("invite"),
                "Can I help?".into(),
            );
            let got = s
                .append_batch(&[
                    made("join"),
                    read(Author::Agent(AgentId(1))),
                    read(Author::Visitor),
                    made("transfer"),
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
        let kinds: Vec<String> = s
            .read_after(c, Offset(0), 100)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["msg", "join", "read", "read", "transfer", "msg"]);
    }
}

#[test]
fn a_cid_reused_in_another_conversation_is_refused_not_acked_elsewhere() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let (a, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "v1")])
        .unwrap()[0]);
    let (b, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, B), Author::Visitor, "v1")])
        .unwrap()[0]);
    let agent = Author::Agent(AgentId(3));
    let got = s
        .append_batch(&[
            msg(ConvRef::Id(a), agent, "x1"),
            msg(ConvRef::Id(b), agent, "x1"),
            msg(ConvRef::Id(a), agent, "x1"),
        ])
        .unwrap();
    assert_eq!(new(&got[0]).0, a);
    assert_eq!(got[1], Appended::CidTaken);
    assert!(matches!(got[2], Appended::Dup { conv, .. } if conv == a));
    assert_eq!(s.read_after(b, Offset(0), 10).unwrap().len(), 1);
    // A visitor naming a conversation that is not its open one.
    let named = |n| ConvRef::Visitor {
        site: site.id,
        token: A.into(),
        named: Some(n),
    };
    let got = s
        .append_batch(&[
            msg(named(b), Author::Visitor, "v2"),
            msg(named(a), Author::Visitor, "v3"),
        ])
        .unwrap();
    assert_eq!(got[0], Appended::NotOpen);
    assert_eq!(new(&got[1]).0, a);
}

#[test]
fn desk_entries_keep_each_conversation_row_in_step() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let (a, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m")])
        .unwrap()[0]);
    let (b, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, B), Author::Visitor, "m")])
        .unwrap()[0]);
    let desk = |c, kind: &'static str, agent: i64| {
        NewEntry::now(
            ConvRef::Id(c),
            kind,
            Author::Agent(AgentId(agent)),
            Cid::Made(kind),
            String::new(),
        )
    };
    s.append_batch(&[
        desk(a, "join", 1),
        desk(b, "join", 1),
        desk(b, "transfer", 2),
    ])
    .unwrap();
    s.append_batch(&[msg(ConvRef::Id(b), Author::Agent(AgentId(2)), "hi")])
        .unwrap();
    let d = s.desk_conversations().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].id, d[0].owner, d[0].answered),
        (a, Some(AgentId(1)), false)
    );
    assert_eq!(
        (d[1].id, d[1].owner, d[1].answered),
        (b, Some(AgentId(2)), true)
    );
    assert_eq!(d[1].token, B);
    s.append_batch(&[desk(a, "close", 1)]).unwrap();
    let d = s.desk_conversations().unwrap();
    assert_eq!(d.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b]);
    // Reopened: open again, and the reopen entry names the owner.
    assert!(matches!(
        s.reopen_conversation(a).unwrap(),
        Reopen::Reopened { .. }
    ));
    s.append_batch(&[desk(a, "reopen", 2)]).unwrap();
    let d = s.desk_conversations().unwrap();
    assert_eq!(d[0].owner, Some(AgentId(2)));
}

#[test]
fn idle_conversations_are_the_open_ones_with_nothing_new() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let mut old = msg(visitor(site.id, A), Author::Visitor, "m");
    old.ts = 1_000;
    let (a, _, _) = new(&s.append_batch(&[old]).unwrap()[0]);
    let (b, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, B), Author::Visitor, "m")])
        .unwrap()[0]);
    let idle = s.idle_conversations(now_ms() - 60_000, 10).unwrap();
    assert_eq!(idle.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(idle[0].token, A);
    let all = s.idle_conversations(now_ms() + 1, 10).unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a, b]);
}

#[test]
fn a_batch_naming_an_unknown_conversation_stores_nothing() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let (a, _, _) = new(&s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m0")])
        .unwrap()[0]);
    let err = s.append_batch(&[
        msg(ConvRef::Id(a), Author::Visitor, "m1"),
        msg(ConvRef::Id(ConversationId(999)), Author::Visitor, "m2"),
    ]);
    assert!(err.is_err());
    assert_eq!(s.read_after(a, Offset(0), 10).unwrap().len(), 1);
}

#[test]
fn large_batches_split_into_several_inserts() {
    let (_d, s) = store();
    let site = s.add_site("t", &[]).unwrap();
    let batch: Vec<NewEntry> = (0..5000)
        .map(|i| msg(visitor(site.id, A), Author::Visitor, &format!("c{i}")))
        .collect();
    let got = s.append_batch(&batch).unwrap();
    assert_eq!(got.len(), 5000);
    let a = new(&got[0]).0;
    assert_eq!(s.conversation(a).unwrap().unwrap().head, Offset(5000));
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
    let d = s.desk_conversations().unwrap();
    // Conversation 11's row said open though its close was logged: it is closed now.
    let owners: Vec<_> = d.iter().map(|c| (c.id.0, c.owner)).collect();
    assert_eq!(owners, vec![(10, Some(AgentId(3)))]);
}
