//! [`Redirects`]: following the redirects a request (spawn, lookup, stop) gets, bounded by
//! [`MAX_REDIRECTS`]. The node layer sends each request and hands the redirect in; this
//! decides whom to ask next and when to give up.

use super::MAX_REDIRECTS;
use crate::core::NodeName;

/// What to do when the node just asked redirects to itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLoop {
    /// Ask it again: it may settle meanwhile (a spawn, a stop).
    AskAgain,
    /// Give up at once: the node that should know disagrees with itself (a lookup).
    GiveUp,
}

/// The redirects one request followed so far.
#[derive(Clone, Debug)]
pub struct Redirects {
    target: NodeName,
    asked: usize,
    on_loop: OnLoop,
}

impl Redirects {
    /// A request first asked of `first`.
    pub fn new(first: NodeName, on_loop: OnLoop) -> Self {
        Self {
            target: first,
            asked: 1,
            on_loop,
        }
    }

    /// The node to ask now.
    pub fn target(&self) -> &NodeName {
        &self.target
    }

    /// How many redirects were followed (a spawn request carries it as its hop count).
    pub fn hops(&self) -> u8 {
        u8::try_from(self.asked - 1).unwrap_or(u8::MAX)
    }

    /// The node asked now answered with a redirect to `host`. True: ask `host` next (it is
    /// [`Self::target`] now). False: give up, after [`MAX_REDIRECTS`] nodes were asked, or
    /// on a redirect to the node itself under [`OnLoop::GiveUp`].
    pub fn redirected(&mut self, host: NodeName) -> bool {
        if self.on_loop == OnLoop::GiveUp && host == self.target {
            return false;
        }
        if self.asked >= MAX_REDIRECTS {
            return false;
        }
        self.asked += 1;
        self.target = host;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nodes asked, in order, when every node asked redirects as `redirects` says.
    fn asked(on_loop: OnLoop, redirects: &[&str]) -> (Vec<String>, Vec<u8>) {
        let mut follow = Redirects::new(NodeName::new("a"), on_loop);
        let mut asked = vec![follow.target().to_string()];
        let mut hops = vec![follow.hops()];
        for to in redirects {
            if !follow.redirected(NodeName::new(*to)) {
                break;
            }
            asked.push(follow.target().to_string());
            hops.push(follow.hops());
        }
        (asked, hops)
    }

    #[test]
    fn redirects_are_followed_up_to_the_limit_and_a_loop_as_each_caller_wants() {
        use OnLoop::*;
        for (on_loop, redirects, expected, hops) in [
            (AskAgain, vec!["b"], vec!["a", "b"], vec![0, 1]),
            (
                AskAgain,
                vec!["b", "c", "d", "e", "f"],
                vec!["a", "b", "c", "d"],
                vec![0, 1, 2, 3],
            ),
            (AskAgain, vec!["a", "a"], vec!["a", "a", "a"], vec![0, 1, 2]),
            (GiveUp, vec!["a"], vec!["a"], vec![0]),
            (GiveUp, vec!["b", "b"], vec!["a", "b"], vec![0, 1]),
            (
                GiveUp,
                vec!["b", "a", "c", "d"],
                vec!["a", "b", "a", "c"],
                vec![0, 1, 2, 3],
            ),
        ] {
            let got = asked(on_loop, &redirects);
            assert_eq!(got.0, expected, "{on_loop:?} {redirects:?}");
            assert_eq!(got.1, hops, "{on_loop:?} {redirects:?}");
            assert!(got.0.len() <= MAX_REDIRECTS);
        }
    }
}
