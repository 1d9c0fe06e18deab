//! One round of discovery: every source's latest answer, merged. The loop that asks the
//! sources is [`crate::discovery`]'s.

use std::collections::BTreeSet;

/// The latest answer of each discovery source, in the order of the sources.
#[derive(Debug)]
pub(crate) struct Answers {
    last: Vec<Vec<String>>,
}

/// What one round of discovery found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Round {
    /// The union of every source's latest answer.
    pub(crate) addrs: BTreeSet<String>,
    /// Sources that failed this round (their previous answer stands).
    pub(crate) errors: u64,
}

impl Answers {
    /// No answer yet from any of `sources` sources.
    pub(crate) fn new(sources: usize) -> Self {
        Self {
            last: vec![Vec::new(); sources],
        }
    }

    /// The round in which each source answered (`Some`) or failed (`None`), in order: a
    /// source that failed keeps its previous answer, and is counted.
    pub(crate) fn round(
        &mut self,
        answers: impl IntoIterator<Item = Option<Vec<String>>>,
    ) -> Round {
        let mut round = Round::default();
        for (last, answer) in self.last.iter_mut().zip(answers) {
            match answer {
                Some(addrs) => *last = addrs,
                None => round.errors += 1,
            }
        }
        round.addrs = self.last.iter().flatten().cloned().collect();
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_source_keeps_its_last_answer_and_is_counted() {
        let some = |a: &[&str]| Some(a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut answers = Answers::new(2);
        for (round, addrs, errors) in [
            (vec![some(&["a:1"]), None], vec!["a:1"], 1),
            (
                vec![some(&["a:1", "b:1"]), some(&["b:1", "c:1"])],
                vec!["a:1", "b:1", "c:1"],
                0,
            ),
            (vec![None, None], vec!["a:1", "b:1", "c:1"], 2),
            (vec![some(&[]), None], vec!["b:1", "c:1"], 1),
            (vec![some(&[]), some(&[])], vec![], 0),
        ] {
            let got = answers.round(round);
            assert_eq!(got.addrs, addrs.into_iter().map(String::from).collect());
            assert_eq!(got.errors, errors);
        }
    }
}
