//! The check after a run: every peer's view against the stored logs — nothing lost,
//! duplicated or reordered, every acknowledged message stored at its acknowledged offset,
//! every view a prefix of its log.

use std::collections::{HashMap, HashSet};

use kefu::ids::{ConversationId, Offset};

use crate::session::Peer;

/// What the log holds for one conversation: (offset, cid) in offset order.
pub type Log = Vec<(Offset, String)>;

/// The outcome of [`verify`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Verdict {
    pub messages_made: u64,
    pub acknowledged: u64,
    /// Messages of the checked peers found in the logs.
    pub stored: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub acked_missing: u64,
    pub delivery_mismatch: u64,
    pub gaps_or_dups_seen: u64,
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.reordered == 0
            && self.acked_missing == 0
            && self.delivery_mismatch == 0
            && self.gaps_or_dups_seen == 0
    }
}

/// Check every peer against the stored logs (`logs[conv]`).
pub fn verify(peers: &[Peer], logs: &HashMap<ConversationId, Log>) -> Verdict {
    let mut v = Verdict::default();
    let note = |v: &mut Verdict, m: String| {
        if v.problems.len() < 20 {
            v.problems.push(m);
        }
    };
    let names: HashSet<&str> = peers.iter().map(|p| p.name.as_str()).collect();
    for log in logs.values() {
        // Messages of these peers; the server may add entries of its own (e.g. `join`).
        v.stored += log
            .iter()
            .filter(|(_, c)| {
                c.rsplit_once('-')
                    .is_some_and(|(who, _)| names.contains(who))
            })
            .count() as u64;
        let mut cids = HashSet::new();
        let mut last_seq: HashMap<&str, u64> = HashMap::new();
        for (i, (off, cid)) in log.iter().enumerate() {
            if off.0 != i as u64 + 1 {
                note(&mut v, format!("log offsets not contiguous at {}", off.0));
            }
            if !cids.insert(cid.as_str()) {
                v.duplicated += 1;
                note(&mut v, format!("{cid} stored twice"));
            }
            if let Some((who, n)) = cid.rsplit_once('-') {
                let n: u64 = n.parse().unwrap_or(0);
                let prev = last_seq.insert(who, n).unwrap_or(0);
                if n < prev {
                    v.reordered += 1;
                    note(&mut v, format!("{cid} stored after {who}-{prev}"));
                }
            }
        }
    }
    for p in peers {
        v.messages_made += p.made;
        v.acknowledged += p.acked.len() as u64;
        v.gaps_or_dups_seen += p.violations.len() as u64;
        for m in p.violations.iter().take(3) {
            note(&mut v, format!("{}: {m}", p.name));
        }
        for (cid, (conv, off)) in &p.acked {
            let ok = logs
                .get(conv)
                .and_then(|l| l.get((off.0 as usize).wrapping_sub(1)))
                .is_some_and(|(o, c)| o == off && c == cid);
            if !ok {
                v.acked_missing += 1;
                note(
                    &mut v,
                    format!("{cid} acked at {conv}/{}, not in the log there", off.0),
                );
            }
        }
        // Every message made must be in the log.
        let stored: HashSet<&str> = logs
            .values()
            .flat_map(|l| l.iter().map(|(_, c)| c.as_str()))
            .filter(|c| c.starts_with(&format!("{}-", p.name)))
            .collect();
        for n in 1..=p.made {
            if !stored.contains(format!("{}-{n}", p.name).as_str()) {
                v.lost += 1;
                note(&mut v, format!("{}-{n} is not in the log", p.name));
            }
        }
        // What each peer received is exactly a prefix of the log.
        for (conv, view) in &p.views {
            let log = logs.get(conv).map(Vec::as_slice).unwrap_or(&[]);
            if view.seen.len() > log.len() || view.seen[..] != log[..view.seen.len()] {
                v.delivery_mismatch += 1;
                note(
                    &mut v,
                    format!("{} saw conv {conv} differently from the log", p.name),
                );
            }
        }
    }
    v
}
