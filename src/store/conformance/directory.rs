//! Conformance of `Directory`, `Settings` and `Search`: sites, agents (removed ones
//! too), tokens, canned responses, invitation rules, and finding messages.

use super::{first_message, msg, visitor, A, B};
use crate::ids::{AgentId, Offset, SiteId};
use crate::store::{Agent, Author, ConvRef, InviteRule, Store, StoreError};
use crate::vocab::{AgentRole, EntryKind, TransportKind};

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(why)) => why,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub(crate) fn sites_are_added_found_and_updated(s: &dyn Store) {
    assert!(s.sites().unwrap().is_empty());
    let origins = vec![
        "https://a.example".to_string(),
        "http://b.example:8080".into(),
    ];
    let one = s.add_site("One", &origins).unwrap();
    let two = s.add_site("Two", &[]).unwrap();
    assert_ne!(one.id, two.id);
    assert!(
        one.key.starts_with("s_") && one.key.len() == 12,
        "{}",
        one.key
    );
    assert_eq!(one.key, one.key.to_lowercase());
    assert_ne!(one.key, two.key);
    assert_eq!(one.secret.len(), 32);
    assert_eq!((one.name.as_str(), &one.allowed_origins), ("One", &origins));
    assert_eq!(one.transports, TransportKind::ALL);
    assert!(!one.require_identity && two.allowed_origins.is_empty());
    assert_eq!(s.site(one.id).unwrap().as_ref(), Some(&one));
    assert_eq!(s.site_by_key(&two.key).unwrap().as_ref(), Some(&two));
    assert_eq!(s.sites().unwrap(), vec![one.clone(), two.clone()]);
    assert!(s.site(SiteId(two.id.0 + 1)).unwrap().is_none());
    assert!(s.site_by_key("s_nothing").unwrap().is_none());

    s.update_site(one.id, Some("Uno"), None).unwrap();
    let star = vec!["*".to_string()];
    s.update_site(two.id, None, Some(&star)).unwrap();
    s.set_transports(two.id, &[TransportKind::WebSocket, TransportKind::Jsonp])
        .unwrap();
    s.set_require_identity(two.id, true).unwrap();
    let (one, two) = (
        s.site(one.id).unwrap().unwrap(),
        s.site(two.id).unwrap().unwrap(),
    );
    assert_eq!((one.name.as_str(), &one.allowed_origins), ("Uno", &origins));
    assert_eq!((two.name.as_str(), &two.allowed_origins), ("Two", &star));
    assert_eq!(
        two.transports,
        [TransportKind::WebSocket, TransportKind::Jsonp]
    );
    assert!(two.require_identity && !one.require_identity);
    s.set_require_identity(two.id, false).unwrap();
    assert!(!s.site(two.id).unwrap().unwrap().require_identity);
    // Nothing to update is no error.
    s.update_site(SiteId(two.id.0 + 9), Some("x"), None)
        .unwrap();
}

pub(crate) fn a_site_is_added_with_its_first_admin(s: &dyn Store) {
    let one = s.add_site("One", &[]).unwrap();
    let ann = s
        .add_agent(one.id, "ann@x", "Ann", AgentRole::Admin, "hash-ann")
        .unwrap();
    let origins = vec!["https://b.example".to_string(), "*".into()];
    let (two, admin) = s
        .add_site_with_admin("Two", &origins, "ann@x", "Ann B.", "hash-ann", 5)
        .unwrap();
    // The site, as `add_site` makes one.
    assert_ne!(two.id, one.id);
    assert!(
        two.key.starts_with("s_") && two.key.len() == 12,
        "{}",
        two.key
    );
    assert_eq!(two.key, two.key.to_lowercase());
    assert_eq!(two.secret.len(), 32);
    assert!(two.key != one.key && two.secret != one.secret);
    assert_eq!((two.name.as_str(), &two.allowed_origins), ("Two", &origins));
    assert_eq!(two.transports, TransportKind::ALL);
    assert!(!two.require_identity);
    assert_eq!(s.site(two.id).unwrap().as_ref(), Some(&two));
    assert_eq!(s.site_by_key(&two.key).unwrap().as_ref(), Some(&two));
    assert_eq!(s.sites().unwrap(), vec![one.clone(), two.clone()]);
    // Its first agent: an admin with that email, name and hash.
    assert_ne!(admin.id, ann.id);
    assert_eq!(
        admin,
        Agent {
            id: admin.id,
            site: two.id,
            email: "ann@x".into(),
            name: "Ann B.".into(),
            role: AgentRole::Admin,
            removed_at: None,
        }
    );
    assert_eq!(s.agents(two.id).unwrap(), vec![admin.clone()]);
    assert_eq!(s.agents(one.id).unwrap(), vec![ann.clone()], "unchanged");
    // The same person signs in on either site: both accounts, with the one hash.
    assert_eq!(
        s.agents_by_email("ann@x").unwrap(),
        vec![
            (ann.clone(), "hash-ann".into()),
            (admin.clone(), "hash-ann".into())
        ]
    );
    s.add_token(admin.id, "hash-t2", i64::MAX).unwrap();
    s.add_token(ann.id, "hash-t1", i64::MAX).unwrap();
    assert_eq!(
        s.agent_by_token("hash-t2", 10).unwrap(),
        Some(admin.clone())
    );
    assert_eq!(s.agent_by_token("hash-t1", 10).unwrap(), Some(ann.clone()));
    // It is the site's admin like any other: the last one stays.
    assert_eq!(
        conflict(s.remove_agent(two.id, admin.id, 1_000)),
        "the site's last admin cannot be removed"
    );
    // Every site added so has a key and a secret of its own.
    let (three, _) = s
        .add_site_with_admin("Three", &[], "ann@x", "Ann", "hash-ann", 5)
        .unwrap();
    assert!(three.allowed_origins.is_empty());
    let sites = s.sites().unwrap();
    for (i, a) in sites.iter().enumerate() {
        for b in &sites[i + 1..] {
            assert!(a.key != b.key && a.secret != b.secret, "{a:?} {b:?}");
        }
    }
}

pub(crate) fn an_account_administers_at_most_max_sites(s: &dyn Store) {
    let one = s.add_site("One", &[]).unwrap();
    let ann = s
        .add_agent(one.id, "ann@x", "Ann", AgentRole::Admin, "h")
        .unwrap();
    // An account that is a plain agent, and an admin account removed: neither counts.
    let two = s.add_site("Two", &[]).unwrap();
    s.add_agent(two.id, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    s.add_agent(two.id, "ann@x", "Ann", AgentRole::Agent, "h")
        .unwrap();
    let three = s.add_site("Three", &[]).unwrap();
    s.add_agent(three.id, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    let gone = s
        .add_agent(three.id, "ann@x", "Ann", AgentRole::Admin, "h")
        .unwrap();
    s.remove_agent(three.id, gone.id, 1_000).unwrap().unwrap();
    // Nor does another email's, nor one differing in case.
    s.add_agent(two.id, "ANN@x", "Ann", AgentRole::Admin, "h")
        .unwrap();

    // Ann administers one site: one more is the most 2 lets it.
    let (four, _) = s
        .add_site_with_admin("Four", &[], "ann@x", "Ann", "h", 2)
        .unwrap();
    let sites = s.sites().unwrap();
    let accounts = s.agents_by_email("ann@x").unwrap();
    assert_eq!(
        conflict(s.add_site_with_admin("Five", &[], "ann@x", "Ann", "h", 2)),
        "this account already administers 2 sites, the most it may"
    );
    assert_eq!(
        conflict(s.add_site_with_admin("Five", &[], "ann@x", "Ann", "h", 1)),
        "this account already administers 2 sites, more than the 1 it may"
    );
    // Nothing of a refused call is kept: no site, no account.
    assert_eq!(s.sites().unwrap(), sites, "no site added");
    assert_eq!(s.agents_by_email("ann@x").unwrap(), accounts);
    // A higher limit lets it; so does one account fewer.
    s.add_site_with_admin("Five", &[], "ann@x", "Ann", "h", 3)
        .unwrap();
    assert_eq!(
        conflict(s.add_site_with_admin("Six", &[], "ann@x", "Ann", "h", 3)),
        "this account already administers 3 sites, the most it may"
    );
    s.add_agent(four.id, "cleo@x", "Cleo", AgentRole::Admin, "h")
        .unwrap();
    let admin_of_four = s.agents(four.id).unwrap()[0].clone();
    assert_eq!(admin_of_four.email, "ann@x");
    s.update_agent(four.id, admin_of_four.id, None, Some(AgentRole::Agent))
        .unwrap()
        .unwrap();
    let (six, _) = s
        .add_site_with_admin("Six", &[], "ann@x", "Ann", "h", 3)
        .unwrap();
    s.add_agent(one.id, "dan@x", "Dan", AgentRole::Admin, "h")
        .unwrap();
    s.remove_agent(one.id, ann.id, 2_000).unwrap().unwrap();
    s.add_site_with_admin("Seven", &[], "ann@x", "Ann", "h", 3)
        .unwrap();
    assert_eq!(
        conflict(s.add_site_with_admin("Eight", &[], "ann@x", "Ann", "h", 3)),
        "this account already administers 3 sites, the most it may"
    );
    // A new email administers nothing yet; none may add a site at a limit of 0.
    let (_, new) = s
        .add_site_with_admin("Bob's", &[], "bob@x", "Bob", "h", 1)
        .unwrap();
    assert_eq!(new.role, AgentRole::Admin);
    assert_eq!(
        conflict(s.add_site_with_admin("Nine", &[], "eve@x", "Eve", "h", 0)),
        "this account already administers 0 sites, the most it may"
    );
    assert_eq!(s.sites().unwrap().len(), 8);
    assert!(s.sites().unwrap().iter().any(|x| x.id == six.id));
}

pub(crate) fn agents_are_renamed_and_change_role_but_a_site_keeps_an_admin(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let other = s.add_site("u", &[]).unwrap();
    let boss = s
        .add_agent(site.id, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    let ann = s
        .add_agent(site.id, "ann@x", "Ann", AgentRole::Agent, "h")
        .unwrap();
    let renamed = s
        .update_agent(site.id, ann.id, Some("Ann B."), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.role),
        ("Ann B.", AgentRole::Agent)
    );
    assert_eq!(
        s.update_agent(other.id, ann.id, Some("X"), None).unwrap(),
        None,
        "another site's agent is none of this site's"
    );
    assert_eq!(
        s.update_agent(site.id, AgentId(999_999), None, None)
            .unwrap(),
        None
    );
    // The last admin stays one; with a second admin, the first may step down.
    assert!(matches!(
        s.update_agent(site.id, boss.id, None, Some(AgentRole::Agent)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.agents(site.id).unwrap()[0].role,
        AgentRole::Admin,
        "unchanged"
    );
    s.update_agent(site.id, ann.id, None, Some(AgentRole::Admin))
        .unwrap()
        .unwrap();
    let down = s
        .update_agent(
            site.id,
            boss.id,
            Some("Former boss"),
            Some(AgentRole::Agent),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (down.name.as_str(), down.role),
        ("Former boss", AgentRole::Agent)
    );
    let roles: Vec<AgentRole> = s.agents(site.id).unwrap().iter().map(|a| a.role).collect();
    assert_eq!(roles, [AgentRole::Agent, AgentRole::Admin]);
}

pub(crate) fn a_removed_agent_stays_listed_but_can_do_nothing(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let other = s.add_site("u", &[]).unwrap();
    let boss = s
        .add_agent(site.id, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    let ann = s
        .add_agent(site.id, "ann@x", "Ann", AgentRole::Agent, "hash-ann")
        .unwrap();
    let bob = s
        .add_agent(site.id, "bob@x", "Bob", AgentRole::Agent, "h")
        .unwrap();
    let ann2 = s
        .add_agent(other.id, "ann@x", "Ann", AgentRole::Agent, "hash-ann2")
        .unwrap();
    assert_eq!(ann.removed_at, None);
    s.add_token(ann.id, "hash-a", i64::MAX).unwrap();
    s.add_token(bob.id, "hash-b", i64::MAX).unwrap();
    assert_eq!(s.agent_by_token("hash-a", 10).unwrap(), Some(ann.clone()));

    assert_eq!(
        s.remove_agent(other.id, ann.id, 500).unwrap(),
        None,
        "another site's agent is none of this site's"
    );
    assert_eq!(
        s.remove_agent(site.id, AgentId(999_999), 500).unwrap(),
        None
    );
    assert_eq!(
        s.agent_by_token("hash-a", 10).unwrap(),
        Some(ann.clone()),
        "not removed by another site"
    );

    let removed = s.remove_agent(site.id, ann.id, 1_000).unwrap().unwrap();
    assert_eq!(
        removed,
        Agent {
            removed_at: Some(1_000),
            ..ann.clone()
        }
    );
    // Its row stays, with its name; the others are as they were.
    assert_eq!(
        s.agents(site.id).unwrap(),
        vec![boss.clone(), removed.clone(), bob.clone()]
    );
    // It can no longer sign in, nor use a token: one it held, or one made after.
    assert_eq!(s.agent_by_token("hash-a", 10).unwrap(), None, "revoked");
    s.add_token(ann.id, "hash-a2", i64::MAX).unwrap();
    assert_eq!(s.agent_by_token("hash-a2", 10).unwrap(), None, "removed");
    assert_eq!(
        s.agent_by_token("hash-b", 10).unwrap(),
        Some(bob.clone()),
        "another agent's token still works"
    );
    assert_eq!(
        s.agents_by_email("ann@x").unwrap(),
        vec![(ann2.clone(), "hash-ann2".into())],
        "the account of the same email on another site still signs in"
    );
    // Nothing else changes it.
    assert_eq!(
        s.update_agent(site.id, ann.id, Some("X"), None).unwrap(),
        None
    );
    assert_eq!(
        s.update_agent(site.id, ann.id, None, Some(AgentRole::Admin))
            .unwrap(),
        None
    );
    assert!(!s.set_password(site.id, "ann@x", "hash-new").unwrap());
    assert_eq!(s.remove_agent(site.id, ann.id, 2_000).unwrap(), None);
    assert_eq!(
        s.agents(site.id).unwrap()[1],
        removed,
        "unchanged by any of them"
    );
    // Its email stays taken, and the reason says by what.
    assert_eq!(
        conflict(s.add_agent(site.id, "ann@x", "Ann", AgentRole::Agent, "h")),
        "that email belongs to a removed account of the site"
    );
    assert_eq!(
        conflict(s.add_agent(site.id, "bob@x", "Bob", AgentRole::Agent, "h")),
        "that email already has an account on the site"
    );
}

pub(crate) fn a_site_keeps_an_admin_that_is_not_removed(s: &dyn Store) {
    let site = s.add_site("t", &[]).unwrap();
    let boss = s
        .add_agent(site.id, "boss@x", "Boss", AgentRole::Admin, "h")
        .unwrap();
    let ann = s
        .add_agent(site.id, "ann@x", "Ann", AgentRole::Agent, "h")
        .unwrap();
    s.add_token(boss.id, "hash-boss", i64::MAX).unwrap();
    // The last admin stays, and so do its tokens: nothing of the removal is kept.
    assert_eq!(
        conflict(s.remove_agent(site.id, boss.id, 1_000)),
        "the site's last admin cannot be removed"
    );
    assert_eq!(s.agents(site.id).unwrap()[0], boss, "unchanged");
    assert_eq!(
        s.agent_by_token("hash-boss", 10).unwrap(),
        Some(boss.clone()),
        "its tokens are not revoked"
    );
    // An agent who is no admin may go.
    assert!(s.remove_agent(site.id, ann.id, 1_000).unwrap().is_some());
    // With a second admin, the first may go; then the second is the last one.
    let cleo = s
        .add_agent(site.id, "cleo@x", "Cleo", AgentRole::Admin, "h")
        .unwrap();
    let gone = s.remove_agent(site.id, boss.id, 2_000).unwrap().unwrap();
    assert_eq!(
        (gone.role, gone.removed_at),
        (AgentRole::Admin, Some(2_000))
    );
    assert_eq!(
        conflict(s.update_agent(site.id, cleo.id, None, Some(AgentRole::Agent))),
        "the site's last admin cannot become an agent",
        "a removed admin does not count"
    );
    assert_eq!(
        conflict(s.remove_agent(site.id, cleo.id, 3_000)),
        "the site's last admin cannot be removed"
    );
    assert_eq!(s.agents(site.id).unwrap()[2], cleo, "unchanged");
    // A new admin lets the last one step down.
    s.add_agent(site.id, "dan@x", "Dan", AgentRole::Admin, "h")
        .unwrap();
    let down = s
        .update_agent(site.id, cleo.id, None, Some(AgentRole::Agent))
        .unwrap()
        .unwrap();
    assert_eq!((down.role, down.removed_at), (AgentRole::Agent, None));
}

pub(crate) fn agents_are_unique_per_site_and_found_by_email(s: &dyn Store) {
    let one = s.add_site("One", &[]).unwrap();
    let two = s.add_site("Two", &[]).unwrap();
    let ann = s
        .add_agent(one.id, "ann@x", "Ann", AgentRole::Admin, "hash-1")
        .unwrap();
    assert_eq!(
        (
            ann.site,
            ann.email.as_str(),
            ann.name.as_str(),
            ann.role.as_str()
        ),
        (one.id, "ann@x", "Ann", "admin")
    );
    let why = conflict(s.add_agent(one.id, "ann@x", "Other", AgentRole::Agent, "h"));
    assert_eq!(why, "that email already has an account on the site");
    let ann2 = s
        .add_agent(two.id, "ann@x", "Ann", AgentRole::Agent, "hash-2")
        .unwrap();
    let bob = s
        .add_agent(one.id, "bob@x", "Bob", AgentRole::Agent, "hash-3")
        .unwrap();
    assert_eq!(s.agents(one.id).unwrap(), vec![ann.clone(), bob.clone()]);
    assert_eq!(s.agents(two.id).unwrap(), vec![ann2.clone()]);
    assert_eq!(
        s.agents_by_email("ann@x").unwrap(),
        vec![
            (ann.clone(), "hash-1".into()),
            (ann2.clone(), "hash-2".into())
        ]
    );
    assert!(
        s.agents_by_email("ANN@x").unwrap().is_empty(),
        "exact match"
    );
    assert!(s.set_password(one.id, "ann@x", "hash-4").unwrap());
    assert!(!s.set_password(two.id, "bob@x", "hash-5").unwrap());
    assert_eq!(s.agents_by_email("ann@x").unwrap()[0].1, "hash-4");
    assert_eq!(s.agents_by_email("bob@x").unwrap()[0].1, "hash-3");
    assert!(matches!(
        s.add_agent(SiteId(two.id.0 + 9), "c@x", "C", AgentRole::Agent, "h"),
        Err(StoreError::Invalid(_))
    ));
}

pub(crate) fn tokens_expire_and_are_revoked(s: &dyn Store) {
    let site = s.add_site("One", &[]).unwrap();
    let ann = s
        .add_agent(site.id, "ann@x", "Ann", AgentRole::Admin, "h")
        .unwrap();
    s.add_token(ann.id, "hash-a", 1_000).unwrap();
    s.add_token(ann.id, "hash-b", 2_000).unwrap();
    conflict(s.add_token(ann.id, "hash-a", 5_000));
    assert_eq!(s.agent_by_token("hash-a", 999).unwrap(), Some(ann.clone()));
    assert_eq!(s.agent_by_token("hash-a", 1_000).unwrap(), None, "expired");
    assert_eq!(s.agent_by_token("hash-x", 0).unwrap(), None);
    assert!(s.revoke_token("hash-b", 10).unwrap());
    assert_eq!(s.agent_by_token("hash-b", 11).unwrap(), None, "revoked");
    assert!(!s.revoke_token("hash-x", 10).unwrap());
    // A new password ends every session of the old one, of that agent only.
    let bob = s
        .add_agent(site.id, "bob@x", "Bob", AgentRole::Agent, "h")
        .unwrap();
    s.add_token(ann.id, "hash-e", i64::MAX).unwrap();
    s.add_token(bob.id, "hash-d", i64::MAX).unwrap();
    assert!(s.set_password(site.id, "ann@x", "h2").unwrap());
    assert_eq!(s.agent_by_token("hash-e", 11).unwrap(), None);
    assert_eq!(s.agent_by_token("hash-d", 11).unwrap(), Some(bob));
    s.add_token(ann.id, "hash-f", i64::MAX).unwrap();
    assert_eq!(
        s.agent_by_token("hash-f", 11).unwrap(),
        Some(ann.clone()),
        "signing in again works"
    );
    assert!(matches!(
        s.add_token(AgentId(ann.id.0 + 9), "hash-c", 5_000),
        Err(StoreError::Invalid(_))
    ));
}

pub(crate) fn canned_responses_are_sorted_unique_and_bounded(s: &dyn Store) {
    let one = s.add_site("One", &[]).unwrap();
    let two = s.add_site("Two", &[]).unwrap();
    let hi = s.add_canned(one.id, "hi", "Hello!", 3).unwrap();
    let bye = s.add_canned(one.id, "bye", "Goodbye.", 3).unwrap();
    assert_ne!(hi.id, bye.id);
    assert_eq!((hi.shortcut.as_str(), hi.text.as_str()), ("hi", "Hello!"));
    assert_eq!(
        conflict(s.add_canned(one.id, "hi", "Hey", 3)),
        "that shortcut is taken"
    );
    let other = s.add_canned(two.id, "hi", "Salut", 3).unwrap();
    assert_eq!(s.canned(one.id).unwrap(), vec![bye.clone(), hi.clone()]);
    assert_eq!(s.canned(two.id).unwrap(), vec![other.clone()]);
    s.add_canned(one.id, "x", "X", 3).unwrap();
    assert_eq!(
        conflict(s.add_canned(one.id, "y", "Y", 3)),
        "the site has 3 canned responses already"
    );
    assert!(!s.delete_canned(two.id, hi.id).unwrap(), "not its site's");
    assert!(s.delete_canned(one.id, hi.id).unwrap());
    assert!(!s.delete_canned(one.id, hi.id).unwrap());
    let again = s.add_canned(one.id, "hi", "Hello again", 3).unwrap();
    assert!(again.id > other.id, "ids are not reused");
    assert_eq!(s.canned(one.id).unwrap().len(), 3);
}

pub(crate) fn rules_are_bounded_and_scoped_to_their_site(s: &dyn Store) {
    let one = s.add_site("One", &[]).unwrap();
    let two = s.add_site("Two", &[]).unwrap();
    let rule = InviteRule {
        id: 0,
        site: SiteId(0),
        name: "Pricing".into(),
        url: "*/pricing*".into(),
        min_seconds: 30,
        min_visits: u32::MAX,
        text: "Questions about plans?".into(),
    };
    let first = s.add_rule(one.id, &rule, 2).unwrap();
    assert_eq!(
        first,
        InviteRule {
            id: first.id,
            site: one.id,
            ..rule.clone()
        }
    );
    let second = s
        .add_rule(
            one.id,
            &InviteRule {
                name: "Any".into(),
                url: String::new(),
                ..rule.clone()
            },
            2,
        )
        .unwrap();
    assert_eq!(
        conflict(s.add_rule(one.id, &rule, 2)),
        "the site has 2 invitation rules already"
    );
    let theirs = s.add_rule(two.id, &rule, 2).unwrap();
    assert_eq!(
        s.rules(one.id).unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(s.rules(two.id).unwrap(), vec![theirs.clone()]);
    assert!(!s.delete_rule(two.id, first.id).unwrap());
    assert!(s.delete_rule(one.id, first.id).unwrap());
    assert!(!s.delete_rule(one.id, first.id).unwrap());
    assert_eq!(s.rules(one.id).unwrap(), vec![second]);
}

pub(crate) fn search_matches_literally_ignoring_ascii_case(s: &dyn Store) {
    let site = s.add_site("One", &[]).unwrap();
    let other = s.add_site("Two", &[]).unwrap();
    let say = |site: SiteId, token: &str, cid: &str, body: &str, ts: i64| {
        let mut e = msg(visitor(site, token), Author::Visitor, cid);
        e.body = body.into();
        e.ts = ts;
        s.append_batch(&[e]).unwrap();
    };
    say(site.id, A, "m1", "Where is my ORDER?", 10);
    say(site.id, B, "m2", "order 100% shipped_now", 30);
    say(site.id, A, "m3", "nothing here", 20);
    say(other.id, A, "m4", "another order", 40);
    let a = first_message(s, site.id, "tokenCCCCCCCCCCCCCC", "m5");
    // An entry of another kind whose body has the word: not a message.
    let mut note = msg(ConvRef::Id(a), Author::Agent(AgentId(1)), "n1");
    note.kind = EntryKind::Join;
    note.body = "order in a note".into();
    s.append_batch(&[note]).unwrap();
    let found = |needle: &str, limit| -> Vec<String> {
        s.search(site.id, needle, limit)
            .unwrap()
            .into_iter()
            .map(|e| e.cid)
            .collect()
    };
    assert_eq!(found("order", 10), ["m2", "m1"], "newest first, msg only");
    assert_eq!(found("oRdEr", 1), ["m2"]);
    assert_eq!(found("100%", 10), ["m2"]);
    assert_eq!(found("0%", 10), ["m2"]);
    assert!(found("1%0", 10).is_empty(), "% is no wildcard");
    assert!(found("r_1", 10).is_empty(), "_ is no wildcard");
    assert_eq!(found("ed_now", 10), ["m2"]);
    assert!(found("is my order?x", 10).is_empty());
    let hit = &s.search(site.id, "where", 10).unwrap()[0];
    assert_eq!(
        (hit.off, hit.body.as_str()),
        (Offset(1), "Where is my ORDER?")
    );
    assert_eq!(s.search(other.id, "ORDER", 10).unwrap().len(), 1);
}
