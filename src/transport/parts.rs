//! Reassembly of one multi-part JSONP message, with no clock, lock or registry.
//!
//! Owns: the parts received so far of one message, how many there are, how many bytes
//! they hold, and the rules of adding one: every part names the same total, an index is
//! below it, the first copy of a part wins, and the parts may not grow past the frame
//! limit. `channel` keeps one of these per incomplete message, with its age and the
//! bounds on how many may be pending.

/// Why a part was refused (`channel` turns it into its own error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartError {
    /// The part's index is not below the total.
    PartOutOfRange(usize, usize),
    /// The part names another total than the parts before it.
    InconsistentParts,
    /// The parts would grow past the frame limit.
    TooBig,
}

/// The parts received so far of one message of `n` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts {
    parts: Vec<Option<String>>,
    have: usize,
    bytes: usize,
}

impl Parts {
    /// A message of `n` parts, none received yet.
    pub(crate) fn new(n: usize) -> Parts {
        Parts {
            parts: vec![None; n],
            have: 0,
            bytes: 0,
        }
    }

    /// How many parts the message has.
    pub(crate) fn n(&self) -> usize {
        self.parts.len()
    }

    /// How many distinct parts are held.
    pub(crate) fn have(&self) -> usize {
        self.have
    }

    /// The bytes held, over all parts.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Is every part held?
    pub(crate) fn is_complete(&self) -> bool {
        self.have == self.parts.len()
    }

    /// Add part `i` of `n`, at most `max_bytes` held in all; returns how many parts are
    /// held now. A repeated part changes nothing (the first copy wins). An error means the
    /// message is broken and must be dropped: a total other than the first part's
    /// (`InconsistentParts`), an index not below it (`PartOutOfRange`), or more than
    /// `max_bytes` held (`TooBig`).
    pub(crate) fn add(
        &mut self,
        i: usize,
        n: usize,
        data: String,
        max_bytes: usize,
    ) -> Result<usize, PartError> {
        if n != self.n() {
            return Err(PartError::InconsistentParts);
        }
        if i >= n {
            return Err(PartError::PartOutOfRange(i, n));
        }
        if self.parts[i].is_none() {
            self.bytes += data.len();
            self.parts[i] = Some(data);
            self.have += 1;
        }
        if self.bytes > max_bytes {
            return Err(PartError::TooBig);
        }
        Ok(self.have)
    }

    /// The parts in order, joined (a part not received counts as empty).
    pub(crate) fn join(self) -> String {
        self.parts
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_join_in_order_once_all_are_in() {
        let mut p = Parts::new(3);
        assert_eq!(p.add(2, 3, "c".into(), 10), Ok(1));
        assert_eq!(p.add(0, 3, "a".into(), 10), Ok(2));
        assert!(!p.is_complete());
        assert_eq!(p.add(0, 3, "zzzz".into(), 10), Ok(2), "the first copy wins");
        assert_eq!(p.bytes(), 2);
        assert_eq!(p.add(1, 3, "b".into(), 10), Ok(3));
        assert!(p.is_complete());
        assert_eq!(p.join(), "abc");
    }

    #[test]
    fn broken_messages_are_refused() {
        let mut p = Parts::new(2);
        assert_eq!(
            p.add(0, 3, "a".into(), 10),
            Err(PartError::InconsistentParts)
        );
        assert_eq!(
            p.add(2, 2, "a".into(), 10),
            Err(PartError::PartOutOfRange(2, 2))
        );
        assert_eq!(p.add(0, 2, "12345".into(), 8), Ok(1));
        assert_eq!(
            p.add(1, 2, "6789".into(), 8),
            Err(PartError::TooBig),
            "9 bytes held"
        );
    }
}
