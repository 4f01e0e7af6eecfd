//! What a failure keeps for the log: its cause and the cause's sources.
//!
//! An internal failure is answered with a generic 500; its [`Cause`] travels with it to the edge
//! (the HTTP layer), which logs the whole chain once. Nothing in a cause is shown to a client.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A boxed error, as storage backends produce them.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why the server failed. Cheap to clone; compares equal to every other cause, since the cause
/// is for the log and not part of what the client is told.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync + 'static>);

impl Cause {
    /// A cause from an error, keeping its sources.
    pub fn new(e: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(e))
    }

    /// A cause that is a broken invariant with no error behind it.
    pub fn msg(what: impl Into<String>) -> Self {
        Self(Arc::from(BoxError::from(what.into())))
    }

    /// A cause from an error, with what was being done.
    pub fn context(what: &'static str, e: impl Error + Send + Sync + 'static) -> Self {
        Self::new(Context { what, source: Box::new(e) })
    }

    /// The error and its sources, for a log line.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self.0.as_ref())
    }
}

impl PartialEq for Cause {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Cause {}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cause({})", self.chain())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chain().fmt(f)
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for Cause {
    fn from(e: E) -> Self {
        Self::new(e)
    }
}

/// `what: source`.
#[derive(Debug)]
struct Context {
    what: &'static str,
    source: BoxError,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// An error and its sources joined by `: `, as a log line shows them.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_shows_every_source() {
        let io = std::io::Error::other("disk on fire");
        assert_eq!(Cause::new(Outer(io)).to_string(), "outer: disk on fire");
        let io = std::io::Error::other("refused");
        assert_eq!(Cause::context("connecting", Outer(io)).to_string(), "connecting: outer: refused");
        assert_eq!(Cause::msg("no token was issued").to_string(), "no token was issued");
    }

    #[test]
    fn causes_do_not_change_what_an_error_equals() {
        assert_eq!(Cause::msg("a"), Cause::msg("b"));
    }
}
