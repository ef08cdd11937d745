//! A conversation as plain text, for `GET /v1/conversations/{id}/transcript?format=text`.
//!
//! Owns: the layout of a transcript (one line per entry: UTC time, who, what) and writing
//! times as UTC without a calendar library. Read receipts are left out: they say nothing
//! to a reader of the conversation.

use std::fmt::Write;

use crate::store::{ConvInfo, Entry};
use crate::vocab::{EntryKind, Sender};

/// The transcript of `info` with `entries`; `agent_name` names an agent's sender.
pub(crate) fn text(
    info: &ConvInfo,
    entries: &[Entry],
    agent_name: impl Fn(Sender) -> Option<String>,
) -> String {
    let mut out = format!(
        "Conversation {} with visitor {}\n",
        info.id.0,
        Sender::Visitor(info.visitor)
    );
    for e in entries {
        let who = match e.sender {
            Sender::Visitor(_) => "Visitor".to_string(),
            Sender::Agent(_) => agent_name(e.sender).unwrap_or_else(|| e.sender.to_string()),
            Sender::System => "kefu".to_string(),
        };
        let what = match e.kind {
            EntryKind::Read => continue,
            EntryKind::Msg => match &e.contact {
                Some(c) => format!(
                    ": {} (offline message; answer {} <{}>)",
                    e.body, c.name, c.email
                ),
                None => format!(": {}", e.body),
            },
            EntryKind::Join => " took the conversation".to_string(),
            EntryKind::Transfer => format!(" transferred the conversation {}", e.body)
                .trim_end()
                .to_string(),
            EntryKind::Close => " closed the conversation".to_string(),
            EntryKind::Reopen => " reopened the conversation".to_string(),
        };
        let _ = writeln!(out, "{}  {who}{what}", utc(e.ts));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` of `ms` since the Unix epoch (the proleptic Gregorian
/// calendar, from the days since 1970-01-01).
pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_297_024_422), "2026-12-03 11:23:44 UTC");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }
}
