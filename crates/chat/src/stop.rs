//! When generation ends: stop tokens, stop strings (matched on the decoded text, even when split
//! across tokens, and cut from the output) and a token budget.

use crate::tokenizer::Tokenizer;

/// The stop rules of one generation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopConditions {
    /// Sampled ids that end generation (not part of the text).
    pub stop_tokens: Vec<u32>,
    /// Strings that end generation when they appear in the output text; the text is cut at the
    /// start of the match. Empty strings are ignored.
    pub stop_strings: Vec<String>,
    /// Most tokens to generate (the stop token included); `None` = until the context is full.
    pub max_tokens: Option<usize>,
}

impl StopConditions {
    /// End-of-turn ids of the tokenizer (`<|im_end|>` and `<eos>`, looked up by content).
    pub fn for_tokenizer(tokenizer: &Tokenizer) -> Self {
        Self {
            stop_tokens: tokenizer.default_stop_tokens(),
            ..Self::default()
        }
    }

    pub fn with_stop_token(mut self, id: u32) -> Self {
        if !self.stop_tokens.contains(&id) {
            self.stop_tokens.push(id);
        }
        self
    }

    pub fn with_stop_string(mut self, stop: impl Into<String>) -> Self {
        self.stop_strings.push(stop.into());
        self
    }

    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    pub fn is_stop_token(&self, id: u32) -> bool {
        self.stop_tokens.contains(&id)
    }
}

/// Incremental stop-string search over a growing text.
///
/// Text that could still be the beginning of a stop string is held back, so a caller that
/// streams only [`StopStringMatcher::releasable`] text never shows part of a stop string.
#[derive(Debug, Clone, Default)]
pub struct StopStringMatcher {
    stops: Vec<String>,
    longest: usize,
    text: String,
    released: usize,
    /// The stop string that matched, once one has.
    matched: Option<String>,
}

impl StopStringMatcher {
    pub fn new(stops: &[String]) -> Self {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        let longest = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            stops,
            longest,
            ..Self::default()
        }
    }

    /// Appends decoded text. Returns true when a stop string now matches; the text is then cut
    /// at the start of the earliest match and further pushes are ignored.
    pub fn push(&mut self, piece: &str) -> bool {
        if self.matched.is_some() {
            return true;
        }
        let old_len = self.text.len();
        self.text.push_str(piece);
        if self.stops.is_empty() {
            return false;
        }
        // A new match must end inside the new piece, so it starts at most longest-1 bytes
        // before it.
        let mut from = old_len.saturating_sub(self.longest.saturating_sub(1));
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let window = &self.text[from..];
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| window.find(s.as_str()).map(|at| (at, s)))
            .min_by_key(|(at, s)| (*at, std::cmp::Reverse(s.len())));
        if let Some((at, stop)) = earliest {
            let stop = stop.clone();
            self.text.truncate(from + at);
            self.released = self.released.min(self.text.len());
            self.matched = Some(stop);
            return true;
        }
        false
    }

    /// Text that can be shown now: everything not yet released except a tail that is a proper
    /// prefix of some stop string. Marks it released.
    pub fn releasable(&mut self) -> &str {
        let start = self.released;
        let end = if self.matched.is_some() {
            self.text.len()
        } else {
            self.text.len() - self.held_tail_len()
        };
        self.released = end.max(start);
        &self.text[start..self.released]
    }

    /// Releases everything (end of generation).
    pub fn release_all(&mut self) -> &str {
        let start = self.released;
        self.released = self.text.len();
        &self.text[start..]
    }

    /// Length of the longest suffix of the unreleased text that could start a stop string.
    fn held_tail_len(&self) -> usize {
        let pending = &self.text[self.released..];
        let mut best = 0;
        for stop in &self.stops {
            let max = (stop.len() - 1).min(pending.len());
            for len in (best + 1..=max).rev() {
                let start = pending.len() - len;
                if pending.is_char_boundary(start) && stop.starts_with(&pending[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }

    /// The whole text so far (cut at a matched stop string).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn matched(&self) -> Option<&str> {
        self.matched.as_deref()
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_string_split_across_pieces_is_cut_and_never_shown() {
        let mut m = StopStringMatcher::new(&["END".to_string(), "".to_string()]);
        let mut shown = String::new();
        for piece in ["Hello E", "N", "o! E", "ND tail"] {
            let stopped = m.push(piece);
            shown.push_str(m.releasable());
            if stopped {
                break;
            }
        }
        assert_eq!(m.matched(), Some("END"));
        assert_eq!(m.text(), "Hello ENo! ");
        assert_eq!(shown, "Hello ENo! ");
    }

    #[test]
    fn earliest_match_wins_and_multibyte_text_is_safe() {
        let mut m = StopStringMatcher::new(&["é!".to_string(), "b".to_string()]);
        assert!(!m.push("aé"));
        // "é" could start "é!": held back.
        assert_eq!(m.releasable(), "a");
        assert!(m.push("!b"));
        assert_eq!(m.text(), "a");
        assert_eq!(m.matched(), Some("é!"));
    }

    #[test]
    fn no_stops_releases_everything() {
        let mut m = StopStringMatcher::new(&[]);
        assert!(!m.push("abc"));
        assert_eq!(m.releasable(), "abc");
        assert_eq!(m.release_all(), "");
    }
}
