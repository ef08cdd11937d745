//! Unit tests of [`Peer`]: the frames it sends are what the server parses, and what it
//! makes of the frames it reads.

use kefu::protocol::parse_client_frame;

use super::*;

fn text(f: &ClientFrame) -> String {
    crate::net::Encoded::new(f).text().to_string()
}

/// What the server makes of a frame this client sends: the same frame.
fn parsed(f: &ClientFrame) -> ClientFrame {
    parse_client_frame(&text(f), 4000).expect("the server takes it")
}

#[test]
fn sends_frames_the_server_parses_without_absent_fields() {
    let mut v = Peer::visitor("v1", "s_1");
    let hello = v.hello();
    assert_eq!(
        text(&hello),
        r#"{"t":"hello","v":1,"site":"s_1","role":"visitor"}"#
    );
    assert_eq!(parsed(&hello), hello);
    assert_eq!(v.make(), None, "not welcomed yet: kept for later");
    let welcome = Frame::Welcome {
        visitor: Some("vvvvvvvvvvvvvvvv".into()),
        conv: Some(ConversationId(7)),
        epoch: Some(Epoch(9)),
    };
    let resent = v.on_frame(&welcome, Instant::now());
    assert_eq!(resent.len(), 1);
    let msg = &resent[0];
    assert!(
        text(msg).starts_with(r#"{"t":"msg","cid":"v1-1","body":"1 "#),
        "{}",
        text(msg)
    );
    assert!(text(msg).ends_with(r#","conv":7}"#), "{}", text(msg));
    assert_eq!(&parsed(msg), msg);
    let again = v.hello();
    assert_eq!(
        text(&again),
        r#"{"t":"hello","v":1,"site":"s_1","role":"visitor","visitor":"vvvvvvvvvvvvvvvv","resume":{"conv":7,"epoch":9,"after":0}}"#
    );
    assert_eq!(parsed(&again), again);

    let mut a = Peer::agent("a0", "s_1", "tok");
    let hello = a.hello();
    assert_eq!(
        text(&hello),
        r#"{"t":"hello","v":1,"site":"s_1","role":"agent","token":"tok"}"#
    );
    assert_eq!(parsed(&hello), hello);
    assert_eq!(a.watch(ConversationId(7)), None, "followed once welcomed");
    let agent_welcome = Frame::Welcome {
        visitor: None,
        conv: None,
        epoch: None,
    };
    let follows = a.on_frame(&agent_welcome, Instant::now());
    assert_eq!(
        follows.iter().map(text).collect::<Vec<_>>(),
        [r#"{"t":"follow","conv":7,"after":0}"#]
    );
    assert_eq!(parsed(&follows[0]), follows[0]);
    assert_eq!(text(&ClientFrame::Pong), r#"{"t":"pong"}"#);
}

fn entry(off: u64, cid: &str) -> Frame {
    Frame::Entry(Entry {
        conv: ConversationId(7),
        off: Offset(off),
        kind: "msg".into(),
        cid: cid.into(),
        body: "1 0".into(),
    })
}

#[test]
fn holds_entries_in_order_and_reports_gaps_duplicates_and_strange_frames() {
    let mut p = Peer::agent("a0", "s_1", "tok");
    let now = Instant::now();
    p.on_frame(
        &Frame::Following {
            conv: ConversationId(7),
            epoch: Epoch(9),
        },
        now,
    );
    assert!(p.on_frame(&entry(1, "v1-1"), now).is_empty());
    assert!(p.violations.is_empty(), "{:?}", p.violations);
    p.on_frame(&entry(1, "v1-1"), now);
    assert!(
        p.violations[0].contains("duplicate entry 1"),
        "{:?}",
        p.violations
    );
    let refollow = p.on_frame(&entry(3, "v1-3"), now);
    assert!(
        p.violations[1].contains("gap: got 3 after 1"),
        "{:?}",
        p.violations
    );
    assert_eq!(
        refollow,
        [ClientFrame::Follow {
            conv: ConversationId(7),
            epoch: Some(Epoch(9)),
            after: Offset(1)
        }]
    );
    p.on_frame(&Frame::Unreadable("{\"t\":\"e\"}".into()), now);
    assert!(
        p.violations[2].starts_with("unreadable frame"),
        "{:?}",
        p.violations
    );
    assert_eq!(
        p.views[&ConversationId(7)].seen,
        [(Offset(1), "v1-1".to_string())]
    );
    assert_eq!(p.on_frame(&Frame::Ping, now), [ClientFrame::Pong]);
}

#[test]
fn acks_each_message_once_and_resends_what_was_refused() {
    let mut v = Peer::visitor("v1", "s_1");
    let now = Instant::now();
    let welcome = Frame::Welcome {
        visitor: None,
        conv: Some(ConversationId(7)),
        epoch: Some(Epoch(9)),
    };
    v.on_frame(&welcome, now);
    assert!(v.make().is_some());
    assert!(v.make().is_some());
    let refused = Frame::Err {
        code: ErrorCode::Overloaded,
        cid: Some("v1-2".into()),
    };
    v.on_frame(&refused, now);
    assert_eq!(v.stats.failures["refused"], 1);
    let resent = v.resend();
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].cid(), Some("v1-2"));
    let ack = |cid: &str, off: u64| Frame::Ack {
        cid: cid.into(),
        conv: ConversationId(7),
        off: Offset(off),
    };
    v.on_frame(&ack("v1-1", 1), now);
    v.on_frame(&ack("v1-1", 1), now);
    assert_eq!((v.stats.acks, v.stats.dup_acks), (1, 1));
    v.on_frame(&ack("v1-1", 2), now);
    assert!(
        v.violations[0].contains("acked at 7/1 and again at 7/2"),
        "{:?}",
        v.violations
    );
    v.on_frame(&ack("v1-2", 2), now);
    assert_eq!(v.acked["v1-2"], (ConversationId(7), Offset(2)));
    v.on_frame(
        &Frame::Err {
            code: ErrorCode::BadFrame,
            cid: None,
        },
        now,
    );
    assert!(
        v.violations[1].starts_with("unexpected error frame"),
        "{:?}",
        v.violations
    );
}
