//! Conformance of `Log`: group commit, the dedupe rule, conversations opened in the
//! append's transaction, the rows that follow the log, reads, reopening.

use super::{first_message, msg, new, visitor, A, B};
use crate::ids::{AgentId, ConversationId, Offset, SiteId};
use crate::store::{now_ms, Appended, Author, Cid, Contact, ConvRef, NewEntry, Reopen, Store};
use crate::vocab::{EntryKind, Role, Sender};

/// A desk entry (`join`, `transfer`, `close`, `reopen`) of `agent` in `conv`.
fn desk(conv: ConversationId, kind: EntryKind, agent: i64) -> NewEntry {
    NewEntry::now(
        ConvRef::Id(conv),
        kind,
        Author::Agent(AgentId(agent)),
        Cid::Made(kind.as_str()),
        String::new(),
    )
}

pub(crate) fn a_visitors_first_message_opens_its_conversation_in_the_same_transaction(
    s: &dyn Store,
) {
    let site = s.add_site("t", &[]).unwrap();
    assert!(!s.visitor_exists(site.id, A).unwrap());
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
    assert_eq!(e.sender, Sender::Visitor(info.visitor));
    assert_eq!(e.sender.to_string(), format!("v{}", info.visitor));
    assert_eq!(e.role, Role::Visitor);
    assert_eq!(info.site, site.id);
    assert_ne!(info.epoch.0, 0, "a real epoch");
    assert!(s.visitor_exists(site.id, A).unwrap());
    // A later batch sees what is stored, and finds the open conversation.
    let again = s
        .append_batch(&[
            msg(visitor(site.id, A), Author::Visitor, "m2"),
            msg(visitor(site.id, A), Author::Visitor, "m3"),
        ])
        .unwrap();
    assert!(matches!(again[0], Appended::Dup { off: Offset(2), .. }));
    assert_eq!(new(&again[1]), (a, 3, "m3"));
    let conv = s.conversation(a).unwrap().unwrap();
    assert_eq!((conv.head, conv.epoch), (Offset(3), info.epoch));
    assert_eq!(s.open_conversation_of(site.id, A).unwrap().unwrap().id, a);
    assert!(s.append_batch(&[]).unwrap().is_empty());
}

pub(crate) fn a_resend_after_its_conversation_closed_opens_nothing(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let a = first_message(s, site.id, A, "m1");
    s.append_batch(&[desk(a, EntryKind::Close, 7)]).unwrap();
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
    // Closed and followed by a message in one batch: the message opens the next one.
    let got = s
        .append_batch(&[
            desk(b, EntryKind::Close, 7),
            msg(visitor(site.id, A), Author::Visitor, "m3"),
        ])
        .unwrap();
    let (c, off, _) = new(&got[1]);
    assert!(c != a && c != b && off == 1, "{got:?}");
    assert_eq!(s.open_conversation_of(site.id, A).unwrap().unwrap().id, c);
}

pub(crate) fn server_made_entries_never_collide_across_conversations(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    for i in 0..3 {
        let c = first_message(s, site.id, &format!("visitor{i}AAAAAAAAAAAA"), "hello");
        // A server-made entry of `kind`, its cid named after `prefix`.
        let made = |kind: EntryKind, prefix: &'static str| {
            NewEntry::now(
                ConvRef::Id(c),
                kind,
                Author::Agent(AgentId(1)),
                Cid::Made(prefix),
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
        let got = s
            .append_batch(&[
                made(EntryKind::Join, "join"),
                read(Author::Agent(AgentId(1))),
                read(Author::Visitor),
                made(EntryKind::Transfer, "transfer"),
                // An accepted invitation: a message with a server-made cid.
                made(EntryKind::Msg, "invite"),
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
        assert_eq!(new(&got[4]).2, format!("invite:{c}:6"));
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

pub(crate) fn a_cid_reused_in_another_conversation_is_refused_not_acked_elsewhere(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let a = first_message(s, site.id, A, "v1");
    let b = first_message(s, site.id, B, "v1");
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
            msg(named(b), Author::Visitor, "v1"),
        ])
        .unwrap();
    assert_eq!(got[0], Appended::NotOpen);
    assert_eq!(new(&got[1]).0, a);
    assert_eq!(got[2], Appended::CidTaken, "stored in a, resent naming b");
    // A visitor who never wrote, naming a conversation: not its open one either.
    let stranger = ConvRef::Visitor {
        site: site.id,
        token: "strangerCCCCCCCCCCCC".into(),
        named: Some(a),
    };
    let got = s
        .append_batch(&[msg(stranger, Author::Visitor, "s1")])
        .unwrap();
    assert_eq!(got[0], Appended::NotOpen);
    assert!(!s.visitor_exists(site.id, "strangerCCCCCCCCCCCC").unwrap());
}

pub(crate) fn desk_entries_keep_each_conversation_row_in_step(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let a = first_message(s, site.id, A, "m");
    let b = first_message(s, site.id, B, "m");
    let d = s.desk_conversations(None).unwrap();
    assert_eq!(
        d.iter().map(|c| (c.id, c.owner)).collect::<Vec<_>>(),
        vec![(a, None), (b, None)]
    );
    s.append_batch(&[
        desk(a, EntryKind::Join, 1),
        desk(b, EntryKind::Join, 1),
        desk(b, EntryKind::Transfer, 2),
    ])
    .unwrap();
    // The previous owner's message does not count as the new owner's answer.
    s.append_batch(&[msg(ConvRef::Id(a), Author::Agent(AgentId(2)), "other")])
        .unwrap();
    s.append_batch(&[msg(ConvRef::Id(b), Author::Agent(AgentId(2)), "hi")])
        .unwrap();
    let d = s.desk_conversations(None).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].id, d[0].owner, d[0].answered),
        (a, Some(AgentId(1)), false)
    );
    assert_eq!(
        (d[1].id, d[1].owner, d[1].answered),
        (b, Some(AgentId(2)), true)
    );
    assert_eq!((d[1].token.as_str(), d[1].site), (B, site.id));
    s.append_batch(&[desk(a, EntryKind::Close, 1)]).unwrap();
    let d = s.desk_conversations(None).unwrap();
    assert_eq!(d.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b]);
    // Reopened: open again, nobody's until the reopen entry names the owner.
    assert!(matches!(
        s.reopen_conversation(a).unwrap(),
        Reopen::Reopened { .. }
    ));
    let d = s.desk_conversations(None).unwrap();
    assert_eq!((d[0].id, d[0].owner), (a, None));
    s.append_batch(&[desk(a, EntryKind::Reopen, 2)]).unwrap();
    let d = s.desk_conversations(None).unwrap();
    assert_eq!((d[0].id, d[0].owner), (a, Some(AgentId(2))));
    assert!(
        !d[0].answered,
        "its old message came before it was given the conversation"
    );
}

pub(crate) fn idle_conversations_are_the_open_ones_with_nothing_new(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let mut old = msg(visitor(site.id, A), Author::Visitor, "m");
    old.ts = 1_000;
    let (a, _, _) = new(&s.append_batch(&[old]).unwrap()[0]);
    let b = first_message(s, site.id, B, "m");
    let idle = s
        .idle_conversations(now_ms() - 60_000, None, ConversationId(0), 10)
        .unwrap();
    assert_eq!(idle.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!((idle[0].token.as_str(), idle[0].answered), (A, false));
    let all = s
        .idle_conversations(now_ms() + 1, None, ConversationId(0), 10)
        .unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(
        s.idle_conversations(now_ms() + 1, None, ConversationId(0), 1)
            .unwrap()
            .len(),
        1
    );
    // Paged by id, and of the sites asked for only.
    let later = s.idle_conversations(now_ms() + 1, None, a, 10).unwrap();
    assert_eq!(later.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b]);
    let other = s.add_site("u", &[]).unwrap();
    let mine = s
        .idle_conversations(now_ms() + 1, Some(&[site.id]), ConversationId(0), 10)
        .unwrap();
    assert_eq!(mine.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a, b]);
    assert!(s
        .idle_conversations(now_ms() + 1, Some(&[other.id]), ConversationId(0), 10)
        .unwrap()
        .is_empty());
    s.append_batch(&[desk(a, EntryKind::Join, 4)]).unwrap();
    let all = s
        .idle_conversations(now_ms() + 1, None, ConversationId(0), 10)
        .unwrap();
    assert_eq!((all[0].id, all[0].owner), (a, Some(AgentId(4))));
    assert!(
        s.idle_conversations(now_ms() - 60_000, None, ConversationId(0), 10)
            .unwrap()
            .is_empty(),
        "the join is new"
    );
    s.append_batch(&[desk(b, EntryKind::Close, 4)]).unwrap();
    let all = s
        .idle_conversations(now_ms() + 1, None, ConversationId(0), 10)
        .unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a]);
}

pub(crate) fn a_batch_naming_an_unknown_conversation_stores_nothing(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let a = first_message(s, site.id, A, "m0");
    let err = s.append_batch(&[
        msg(ConvRef::Id(a), Author::Visitor, "m1"),
        msg(visitor(site.id, B), Author::Visitor, "m1"),
        msg(ConvRef::Id(ConversationId(999)), Author::Visitor, "m2"),
    ]);
    assert!(err.is_err());
    assert_eq!(s.read_after(a, Offset(0), 10).unwrap().len(), 1);
    assert!(!s.visitor_exists(site.id, B).unwrap(), "nothing was opened");
    assert!(s.open_conversation_of(site.id, B).unwrap().is_none());
}

pub(crate) fn a_visitor_of_no_site_fails_its_batch(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let err = s.append_batch(&[
        msg(visitor(site.id, A), Author::Visitor, "m1"),
        msg(visitor(SiteId(site.id.0 + 100), B), Author::Visitor, "m1"),
    ]);
    assert!(err.is_err());
    assert!(!s.visitor_exists(site.id, A).unwrap(), "all or nothing");
    assert!(s.desk_conversations(None).unwrap().is_empty());
}

pub(crate) fn large_batches_split_into_several_inserts(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let batch: Vec<NewEntry> = (0..5000)
        .map(|i| msg(visitor(site.id, A), Author::Visitor, &format!("c{i}")))
        .collect();
    let got = s.append_batch(&batch).unwrap();
    assert_eq!(got.len(), 5000);
    let a = new(&got[0]).0;
    assert_eq!(new(&got[4999]), (a, 5000, "c4999"));
    assert_eq!(s.conversation(a).unwrap().unwrap().head, Offset(5000));
    assert_eq!(s.read_after(a, Offset(0), 10_000).unwrap().len(), 5000);
}

pub(crate) fn reads_page_through_the_log_with_every_field(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let contact = Contact {
        name: "Li".into(),
        email: "li@example.com".into(),
    };
    let offline = NewEntry {
        contact: Some(contact.clone()),
        ..msg(visitor(site.id, A), Author::Visitor, "m1")
    };
    let a = new(&s.append_batch(&[offline]).unwrap()[0]).0;
    let read = NewEntry {
        upto: Some(Offset(1)),
        ..NewEntry::now(
            ConvRef::Id(a),
            EntryKind::Read,
            Author::Agent(AgentId(5)),
            Cid::Keyed(format!("read:{a}:1")),
            String::new(),
        )
    };
    let bye = NewEntry::now(
        ConvRef::Id(a),
        EntryKind::Close,
        Author::System,
        Cid::Made("close"),
        "idle".into(),
    );
    let done = s.append_batch(&[read, bye]).unwrap();
    let all = s.read_after(a, Offset(0), 10).unwrap();
    assert_eq!(all.len(), 3);
    for (e, d) in all[1..].iter().zip(&done) {
        let Appended::New(made, _) = d else {
            panic!("{d:?}")
        };
        assert_eq!(e, &**made, "read back as appended");
    }
    let (m, r, c) = (&all[0], &all[1], &all[2]);
    assert_eq!(
        (m.off, m.kind, m.role),
        (Offset(1), EntryKind::Msg, Role::Visitor)
    );
    assert_eq!(
        (m.body.as_str(), m.contact.as_ref()),
        ("body of m1", Some(&contact))
    );
    assert_eq!(m.upto, None);
    assert_eq!(
        (r.role, r.sender, r.upto),
        (Role::Agent, Sender::Agent(AgentId(5)), Some(Offset(1)))
    );
    assert_eq!(r.contact, None);
    assert_eq!((c.role, c.sender), (Role::System, Sender::System));
    assert_eq!(c.cid, format!("close:{a}:3"));
    let offs = |after, limit| -> Vec<u64> {
        s.read_after(a, Offset(after), limit)
            .unwrap()
            .iter()
            .map(|e| e.off.0)
            .collect()
    };
    assert_eq!(offs(1, 10), vec![2, 3]);
    assert_eq!(offs(0, 2), vec![1, 2]);
    assert_eq!(offs(3, 10), Vec::<u64>::new());
    assert_eq!(offs(99, 10), Vec::<u64>::new());
    assert!(s
        .read_after(ConversationId(a.0 + 99), Offset(0), 10)
        .unwrap()
        .is_empty());
    assert!(s.conversation(ConversationId(a.0 + 99)).unwrap().is_none());
    let info = s.conversation(a).unwrap().unwrap();
    assert_eq!((info.head, info.site), (Offset(3), site.id));
}

pub(crate) fn reopening_answers_each_case(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let a = first_message(s, site.id, A, "m1");
    assert_eq!(s.reopen_conversation(a).unwrap(), Reopen::AlreadyOpen);
    assert_eq!(
        s.reopen_conversation(ConversationId(a.0 + 99)).unwrap(),
        Reopen::NotFound
    );
    s.append_batch(&[desk(a, EntryKind::Close, 1)]).unwrap();
    let b = first_message(s, site.id, A, "m2");
    assert_eq!(
        s.reopen_conversation(a).unwrap(),
        Reopen::VisitorBusy,
        "its visitor has b open"
    );
    s.append_batch(&[desk(b, EntryKind::Close, 1)]).unwrap();
    let Reopen::Reopened { info, token } = s.reopen_conversation(a).unwrap() else {
        panic!("reopened")
    };
    assert_eq!((info.id, info.head, token.as_str()), (a, Offset(2), A));
    assert_eq!(s.open_conversation_of(site.id, A).unwrap().unwrap().id, a);
    // The visitor writes to it again.
    let got = s
        .append_batch(&[msg(visitor(site.id, A), Author::Visitor, "m3")])
        .unwrap();
    assert_eq!(new(&got[0]), (a, 3, "m3"));
}

pub(crate) fn conversations_are_listed_by_status_time_and_agent_and_paged(s: &dyn Store) {
    use crate::store::ConvFilter;
    let site = s.add_site("t", &[]).unwrap();
    let other = s.add_site("u", &[]).unwrap();
    let a = first_message(s, site.id, A, "m");
    let b = first_message(s, site.id, B, "m");
    let c = first_message(s, site.id, "tokenCCCCCCCCCCCCCC", "m");
    first_message(s, other.id, A, "m");
    s.append_batch(&[desk(b, EntryKind::Close, 1), desk(c, EntryKind::Join, 2)])
        .unwrap();
    let ids = |f: ConvFilter, limit| -> Vec<ConversationId> {
        s.list_conversations(site.id, &f, limit)
            .unwrap()
            .iter()
            .map(|c| c.info.id)
            .collect()
    };
    let all = ConvFilter::default();
    assert_eq!(
        ids(all.clone(), 10),
        vec![c, b, a],
        "newest first, this site's"
    );
    let closed = ConvFilter {
        open: Some(false),
        ..all.clone()
    };
    assert_eq!(ids(closed, 10), vec![b]);
    let open = ConvFilter {
        open: Some(true),
        ..all.clone()
    };
    assert_eq!(ids(open, 10), vec![c, a]);
    let by = |agent| ConvFilter {
        agent: Some(AgentId(agent)),
        ..all.clone()
    };
    assert_eq!(ids(by(1), 10), vec![b], "agent 1 closed b");
    assert_eq!(ids(by(2), 10), vec![c], "agent 2 joined c");
    assert!(ids(by(3), 10).is_empty());
    // Paging: a page of one, then the rest below its last id.
    assert_eq!(ids(all.clone(), 1), vec![c]);
    let after_c = ConvFilter {
        before: Some(c),
        ..all.clone()
    };
    assert_eq!(ids(after_c, 10), vec![b, a]);
    let listed = s.list_conversations(site.id, &all, 10).unwrap();
    let created = listed[0].created_at;
    assert!(created > 0 && listed.iter().all(|l| l.info.site == site.id));
    assert_eq!(
        listed
            .iter()
            .map(|l| (l.open, l.info.head))
            .collect::<Vec<_>>(),
        vec![(true, Offset(2)), (false, Offset(2)), (true, Offset(1))]
    );
    let window = |since, until| ConvFilter {
        since,
        until,
        ..all.clone()
    };
    assert!(ids(window(Some(created), None), 10).contains(&c));
    assert!(ids(window(Some(created + 86_400_000), None), 10).is_empty());
    assert!(ids(window(None, Some(0)), 10).is_empty());
    assert_eq!(
        ids(window(Some(0), Some(created + 86_400_000)), 10),
        vec![c, b, a]
    );
}

pub(crate) fn deleting_a_visitor_removes_its_conversations_and_entries_only(s: &dyn Store) {
    use crate::store::ConvFilter;
    let site = s.add_site("t", &[]).unwrap();
    let other = s.add_site("u", &[]).unwrap();
    let a1 = first_message(s, site.id, A, "m1");
    s.append_batch(&[desk(a1, EntryKind::Close, 1)]).unwrap();
    let a2 = first_message(s, site.id, A, "m2");
    let b = first_message(s, site.id, B, "m1");
    let theirs = first_message(s, other.id, A, "m1");
    let visitor = s.conversation(a1).unwrap().unwrap().visitor;
    assert_eq!(s.conversation(a2).unwrap().unwrap().visitor, visitor);
    let mine = ConvFilter {
        visitor: Some(visitor),
        ..ConvFilter::default()
    };
    let listed: Vec<_> = s
        .list_conversations(site.id, &mine, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.info.id)
        .collect();
    assert_eq!(
        listed,
        vec![a2, a1],
        "the visitor's conversations, open or closed"
    );

    // Another site cannot delete this site's visitor.
    assert_eq!(s.delete_visitor(other.id, visitor).unwrap(), None);
    let gone = s.delete_visitor(site.id, visitor).unwrap().unwrap();
    assert_eq!(
        (gone.token.as_str(), &gone.conversations),
        (A, &vec![a1, a2])
    );
    for c in [a1, a2] {
        assert!(s.conversation(c).unwrap().is_none());
        assert!(s.read_after(c, Offset(0), 10).unwrap().is_empty());
    }
    assert!(!s.visitor_exists(site.id, A).unwrap());
    assert!(s.list_conversations(site.id, &mine, 10).unwrap().is_empty());
    assert_eq!(s.delete_visitor(site.id, visitor).unwrap(), None, "once");
    // The others keep everything.
    assert_eq!(s.read_after(b, Offset(0), 10).unwrap().len(), 1);
    assert_eq!(s.read_after(theirs, Offset(0), 10).unwrap().len(), 1);
    assert!(s.visitor_exists(other.id, A).unwrap());
    // The token may come back: it is a new visitor, with a new conversation; its old cid
    // is free again.
    let again = first_message(s, site.id, A, "m1");
    assert!(!gone.conversations.contains(&again));
    assert_ne!(s.conversation(again).unwrap().unwrap().visitor, visitor);
}

pub(crate) fn open_conversations_are_newest_first_and_per_site(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let other = s.add_site("u", &[]).unwrap();
    let a = first_message(s, site.id, A, "m");
    let b = first_message(s, site.id, B, "m");
    let c = first_message(s, site.id, "tokenCCCCCCCCCCCCCC", "m");
    let elsewhere = first_message(s, other.id, A, "m");
    assert_ne!(
        elsewhere, a,
        "the same token on another site is another visitor"
    );
    s.append_batch(&[desk(b, EntryKind::Close, 1)]).unwrap();
    let open = crate::store::ConvFilter {
        open: Some(true),
        ..Default::default()
    };
    let ids = |limit| -> Vec<ConversationId> {
        s.list_conversations(site.id, &open, limit)
            .unwrap()
            .iter()
            .map(|c| c.info.id)
            .collect()
    };
    assert_eq!(ids(10), vec![c, a]);
    assert_eq!(ids(1), vec![c]);
    let listed = s.list_conversations(site.id, &open, 10).unwrap();
    assert!(listed
        .iter()
        .all(|c| c.info.head == Offset(1) && c.info.site == site.id));
    assert_eq!(
        s.open_conversation_of(other.id, A).unwrap().unwrap().id,
        elsewhere
    );
    assert!(s.open_conversation_of(other.id, B).unwrap().is_none());
    assert!(s.visitor_exists(other.id, A).unwrap());
    assert!(!s.visitor_exists(other.id, B).unwrap());
}
