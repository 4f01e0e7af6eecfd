//! Scopes: RFC 6749 §3.3 space-delimited sets of scope tokens.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The scope that opens the admin API; granted only to client-credentials tokens.
pub const ADMIN_SCOPE: &str = "admin";

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope is longer than {} bytes", Scope::MAX_LEN)]
    TooLong,
    #[error("scope has more than {} entries", Scope::MAX_ENTRIES)]
    TooMany,
    #[error("scope tokens may contain only printable ASCII other than '\"' and '\\\\'")]
    BadCharacter,
}

/// A set of scope tokens, kept sorted so that equal sets print equally.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    pub const MAX_LEN: usize = 1024;
    pub const MAX_ENTRIES: usize = 64;

    pub fn empty() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset(&self, of: &Scope) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// This set without `token`.
    pub fn without(&self, token: &str) -> Self {
        Self(self.0.iter().filter(|t| *t != token).cloned().collect())
    }

    /// Tokens of `self` that are not in `of`.
    pub fn difference<'a>(&'a self, of: &'a Scope) -> impl Iterator<Item = &'a str> {
        self.0.difference(&of.0).map(String::as_str)
    }
}

fn is_nqchar(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > Self::MAX_LEN {
            return Err(ScopeError::TooLong);
        }
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token.chars().all(is_nqchar) {
                return Err(ScopeError::BadCharacter);
            }
            set.insert(token.to_owned());
            if set.len() > Self::MAX_ENTRIES {
                return Err(ScopeError::TooMany);
            }
        }
        Ok(Self(set))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_normalises() {
        let s: Scope = "b a  b".parse().unwrap();
        assert_eq!(s.to_string(), "a b");
        assert!("".parse::<Scope>().unwrap().is_empty());
        assert_eq!("a\"b".parse::<Scope>(), Err(ScopeError::BadCharacter));
        assert_eq!("a\tb".parse::<Scope>(), Err(ScopeError::BadCharacter));
        assert_eq!("x".repeat(1025).parse::<Scope>(), Err(ScopeError::TooLong));
    }

    #[test]
    fn subset_and_without() {
        let all: Scope = "read write admin".parse().unwrap();
        let r: Scope = "read".parse().unwrap();
        assert!(r.is_subset(&all));
        assert!(!all.is_subset(&r));
        assert_eq!(all.without(ADMIN_SCOPE).to_string(), "read write");
    }

    proptest! {
        #[test]
        fn display_round_trips(s in "[a-z:]{1,6}( [a-z:]{1,6}){0,5}") {
            let parsed: Scope = s.parse().unwrap();
            let again: Scope = parsed.to_string().parse().unwrap();
            prop_assert_eq!(parsed, again);
        }
    }
}
