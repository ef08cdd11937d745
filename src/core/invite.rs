//! Invitations: an agent's `invite`, and the automatic ones a site's rules send.
//!
//! Owns: sending an invitation (one way for both kinds), what makes a rule match a
//! visitor (URL pattern, time on page, visits), and the frequency cap (`docs/protocol.md`
//! §7): each rule at most once per visitor session, at most one automatic invitation per
//! `auto_invite_interval_ms`, none while the page is hidden, the visitor has a conversation
//! or an unanswered invitation, or no agent could take one more chat. Rules are cached per site and
//! dropped from the cache when the API changes them. Time on the page and the interval
//! are measured on the runtime's clock (`tokio::time`), like every timer of the hub's
//! ticker that runs `auto_invite`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::hub::Hub;
use super::session::{Invite, VisitorInfo, VisitorSession};
use crate::ids::{AgentId, SiteId};
use crate::protocol::ServerFrame;
use crate::store::{now_ms, InviteRule, StoreResult};

/// A fresh invitation id: random (below 2⁵³, so JavaScript reads it exactly), never from a
/// counter — an id from before a restart must not match a new invitation.
fn invite_id() -> u64 {
    use rand::Rng;
    rand::thread_rng().gen_range(1..(1u64 << 53))
}

/// Does `text` match `pattern`, where `*` matches any run of characters (also none) and
/// everything else matches itself? The whole of `text` must match. Works on bytes, with no
/// allocation: a literal character's UTF-8 bytes can only match at a character boundary.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in `text` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Does `rule` match a visitor as it is at `now`?
pub(crate) fn rule_matches(rule: &InviteRule, v: &VisitorInfo, now: Instant) -> bool {
    let on_page = now.saturating_duration_since(v.page_at);
    (rule.url.is_empty() || glob_match(&rule.url, &v.url))
        && on_page >= Duration::from_secs(rule.min_seconds.into())
        && v.visits >= rule.min_visits
}

/// The rule to invite this visitor with now, if the frequency cap allows one.
fn due<'r>(
    rules: &'r [InviteRule],
    v: &VisitorInfo,
    now: Instant,
    interval: Duration,
) -> Option<&'r InviteRule> {
    if !v.visible || v.url.is_empty() {
        return None;
    }
    if v.auto_invited
        .is_some_and(|at| now.saturating_duration_since(at) < interval)
    {
        return None;
    }
    rules
        .iter()
        .find(|r| !v.rules_fired.contains(&r.id) && rule_matches(r, v, now))
}

impl Hub {
    /// Send invitation `text` to `session` in the name of agent `agent`.
    pub(crate) fn invite(
        &self,
        session: &Arc<VisitorSession>,
        (agent, name): (AgentId, &str),
        text: &str,
    ) {
        let id = invite_id();
        session.add_invite(
            Invite {
                id,
                agent,
                text: text.to_string(),
            },
            self.config().max_invites,
        );
        session.info().invited = Some(now_ms());
        session.push_volatile(&ServerFrame::Invite { id, name, text }.to_bytes());
        // Agents see that the visitor was invited.
        self.presence().visitor_changed(session);
    }

    /// The rules of `site` (cached).
    pub(crate) async fn site_rules(&self, site: SiteId) -> StoreResult<Arc<Vec<InviteRule>>> {
        let cache = self.rule_cache();
        if let Some(r) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&site) {
            return Ok(r.clone());
        }
        let rules = Arc::new(self.blocking(move |s| s.rules(site)).await?);
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(site, rules.clone());
        Ok(rules)
    }

    /// The rules of `site` changed: read them again on next use.
    pub(crate) fn rules_changed(&self, site: SiteId) {
        self.rule_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&site);
    }

    /// Invite every visitor a rule of its site matches now (run every second).
    pub(crate) async fn auto_invite(&self) {
        let interval = Duration::from_millis(self.config().auto_invite_interval_ms);
        for site in self.presence().sites_with_visitors_and_agents() {
            let rules = match self.site_rules(site).await {
                Ok(r) if !r.is_empty() => r,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, site = %site, "invitation rules unavailable");
                    continue;
                }
            };
            // Nobody could take one more chat (all away or at capacity): invite nobody,
            // use up no rule.
            let Some((agent, name)) = self.inviter(site) else {
                continue;
            };
            let now = Instant::now();
            for s in self.presence().visitors(site) {
                if s.conv().is_some() || s.has_invites() {
                    continue;
                }
                let rule = {
                    let mut info = s.info();
                    let Some(rule) = due(&rules, &info, now, interval) else {
                        continue;
                    };
                    info.auto_invited = Some(now);
                    info.rules_fired.push(rule.id);
                    rule
                };
                self.invite(&s, (agent, &name), &rule.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_text_with_stars() {
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "https://x.test/anything"));
        assert!(glob_match("*/pricing", "https://x.test/pricing"));
        assert!(!glob_match("*/pricing", "https://x.test/pricing/team"));
        assert!(glob_match("*/pricing*", "https://x.test/pricing/team"));
        assert!(glob_match("https://*.test/*", "https://a.b.test/c"));
        assert!(!glob_match("https://*.test/*", "http://a.test/c"));
        assert!(glob_match("*a*b*c", "xxaxxbxxbxc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxxbx"));
        assert!(glob_match("a**b", "ab"));
        assert!(glob_match("价格*", "价格页"));
        // `?`, `[` and regex characters are literal.
        assert!(glob_match("*?q=1", "https://x.test/p?q=1"));
        assert!(!glob_match("a.c", "abc"));
    }

    fn rule(id: i64, url: &str, min_seconds: u32, min_visits: u32) -> InviteRule {
        InviteRule {
            id,
            site: SiteId(1),
            name: format!("r{id}"),
            url: url.into(),
            min_seconds,
            min_visits,
            text: format!("text {id}"),
        }
    }

    /// `ms` milliseconds after a fixed moment.
    fn at(ms: u64) -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    /// A visitor on `url` since `page_at`.
    fn visitor(url: &str, page_at: Instant, visits: u32) -> VisitorInfo {
        VisitorInfo {
            url: url.into(),
            visible: true,
            page_at,
            visits,
            ..VisitorInfo::default()
        }
    }

    #[test]
    fn a_rule_needs_its_page_its_time_and_its_visits() {
        let r = rule(1, "*/pricing", 30, 2);
        let now = at(100_000);
        assert!(rule_matches(
            &r,
            &visitor("https://x/pricing", at(70_000), 2),
            now
        ));
        assert!(!rule_matches(
            &r,
            &visitor("https://x/pricing", at(70_001), 2),
            now
        ));
        assert!(!rule_matches(
            &r,
            &visitor("https://x/pricing", at(0), 1),
            now
        ));
        assert!(!rule_matches(
            &r,
            &visitor("https://x/about", at(0), 9),
            now
        ));
        assert!(rule_matches(
            &rule(2, "", 0, 0),
            &visitor("https://x/", now, 0),
            now
        ));
    }

    #[test]
    fn the_cap_allows_each_rule_once_and_one_invitation_per_interval() {
        let rules = vec![rule(1, "*/a", 0, 0), rule(2, "*", 0, 0)];
        let interval = Duration::from_millis(60_000);
        let now = 1_000_000;
        let mut v = visitor("https://x/a", at(0), 1);
        assert_eq!(due(&rules, &v, at(now), interval).map(|r| r.id), Some(1));
        v.rules_fired.push(1);
        v.auto_invited = Some(at(now));
        // Within the interval: nothing, though rule 2 matches.
        assert!(due(&rules, &v, at(now + 59_999), interval).is_none());
        assert_eq!(
            due(&rules, &v, at(now + 60_000), interval).map(|r| r.id),
            Some(2)
        );
        v.rules_fired.push(2);
        assert!(due(&rules, &v, at(now + 10_000_000), interval).is_none());
        // A hidden page is never invited.
        let mut hidden = visitor("https://x/a", at(0), 1);
        hidden.visible = false;
        assert!(due(&rules, &hidden, at(now), interval).is_none());
        // Nor a visitor whose page is not known yet.
        assert!(due(&rules, &visitor("", at(0), 1), at(now), interval).is_none());
    }

    /// A rule's delay, under paused time: the hub's ticker invites once the visitor has
    /// been on the page for `min_seconds`, and not before.
    #[tokio::test(start_paused = true)]
    async fn the_ticker_invites_once_a_rule_s_time_on_page_has_passed() {
        use crate::core::testing::{settle, World};
        use crate::core::Shutdown;
        use serde_json::json;
        use tokio::time::advance;

        let config = crate::config::Config {
            heartbeat_ms: 3_600_000,
            ..crate::config::Config::default()
        };
        let w = World::new(config, |store, site| {
            let r = InviteRule {
                site: site.id,
                ..rule(0, "*/pricing", 30, 0)
            };
            store.add_rule(site.id, &r, 10).unwrap();
        });
        let (_trigger, shutdown) = Shutdown::new();
        let _agent = w.agent(&shutdown, &w.admin).await;
        let mut v = w.visitor(&shutdown, None).await;
        v.say(json!({"t":"page","url":"https://x.test/pricing"}));
        settle().await;
        v.written();
        advance(Duration::from_millis(29_000)).await;
        settle().await;
        assert!(
            !v.written_types().iter().any(|t| t == "invite"),
            "29 s on the page: too early"
        );
        advance(Duration::from_millis(1_500)).await;
        let inv = v.next_type("invite").await;
        assert_eq!(inv["text"], "text 0");
        // The rule is used up (and its invitation unanswered): no second one, however
        // long the visitor stays.
        advance(Duration::from_millis(600_000)).await;
        settle().await;
        assert!(!v.written_types().iter().any(|t| t == "invite"));
    }
}
