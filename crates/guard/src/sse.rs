//! A small server-sent-events parser (the WHATWG `text/event-stream` rules), fed chunk by chunk,
//! with bounded lines and events so a misbehaving server cannot make it buffer without end.

use std::time::Duration;

/// Longest line kept; a longer line is dropped and so is the event it belongs to.
pub const MAX_LINE_BYTES: usize = 32 * 1024;
/// Largest `data` of one event; a larger event is dropped whole.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// What a stream tells its follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A `retry:` field: how long to wait before reconnecting.
    Retry(Duration),
    /// An event dropped because a line or its data was over the bounds.
    Oversized,
}

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` given in this event, if any (the last-event-id buffer is the follower's).
    pub id: Option<String>,
    /// The `event:` field; `message` when absent.
    pub event: String,
    pub data: String,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The current line grew past [`MAX_LINE_BYTES`]: skip to its end.
    skipping_line: bool,
    /// Saw a CR as the last byte: a following LF belongs to the same line end.
    after_cr: bool,
    started: bool,
    id: Option<String>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Something in the current event was over the bounds: drop it at dispatch.
    oversized: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `chunk`, appending what it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.extend_line(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    self.end_line(out);
                }
                None => {
                    self.extend_line(rest);
                    rest = &[];
                }
            }
        }
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        if self.skipping_line {
            return;
        }
        if self.line.len() + bytes.len() > MAX_LINE_BYTES {
            self.skipping_line = true;
            self.oversized = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let mut line = std::mem::take(&mut self.line);
        if self.skipping_line {
            self.skipping_line = false;
        } else {
            if !self.started {
                self.started = true;
                if line.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    line.drain(..3);
                }
            }
            self.process_line(&line, out);
        }
        line.clear();
        self.line = line;
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment: keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    self.oversized = true;
                    self.data.clear();
                } else if !self.oversized {
                    self.data.push_str(&value);
                    self.data.push('\n');
                }
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(SseItem::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let id = self.id.take();
        let event = self.event.take();
        let mut data = std::mem::take(&mut self.data);
        let has_data = std::mem::replace(&mut self.has_data, false);
        if std::mem::replace(&mut self.oversized, false) {
            out.push(SseItem::Oversized);
            return;
        }
        if !has_data {
            // No data: nothing is dispatched, but an id still moves the last-event-id.
            if id.is_some() {
                out.push(SseItem::Event(SseEvent { id, event: String::new(), data: String::new() }));
            }
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(SseItem::Event(SseEvent { id, event: event.unwrap_or_else(|| "message".into()), data }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseItem> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in input.chunks(piece) {
            p.push(c, &mut out);
        }
        out
    }

    fn ev(id: Option<&str>, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent { id: id.map(Into::into), event: event.into(), data: data.into() })
    }

    const STREAM: &[u8] = b"\xEF\xBB\xBFretry: 1000\n\nid: 42\nevent: session-revoked\ndata: {\"id\":42}\n\n: keep-alive\n\nevent: caught-up\ndata: {\"last_id\":42}\n\ndata: a\ndata:b\n\n";

    #[test]
    fn parses_the_feed_in_any_chunking() {
        let expected = vec![
            SseItem::Retry(Duration::from_millis(1000)),
            ev(Some("42"), "session-revoked", r#"{"id":42}"#),
            ev(None, "caught-up", r#"{"last_id":42}"#),
            ev(None, "message", "a\nb"),
        ];
        for piece in [1, 2, 3, 7, STREAM.len()] {
            assert_eq!(parse_in_pieces(STREAM, piece), expected, "chunks of {piece}");
        }
    }

    #[test]
    fn every_line_ending_works() {
        for (nl, name) in [("\r\n", "CRLF"), ("\r", "CR"), ("\n", "LF")] {
            let s = format!("id: 1{nl}event: e{nl}data: x{nl}{nl}data: y{nl}{nl}");
            for piece in [1, 2, s.len()] {
                let got = parse_in_pieces(s.as_bytes(), piece);
                // A lone CR at the very end of input is only known as a line end once more arrives;
                // the CR case here ends with CR CR, so the last blank line is complete.
                assert_eq!(got, vec![ev(Some("1"), "e", "x"), ev(None, "message", "y")], "{name} in {piece}");
            }
        }
    }

    #[test]
    fn an_event_without_data_only_moves_the_id() {
        assert_eq!(parse_in_pieces(b"id: 7\n\n\n\n", 3), vec![ev(Some("7"), "", "")]);
        assert_eq!(parse_in_pieces(b"event: x\n\n", 3), vec![]);
    }

    #[test]
    fn oversized_lines_and_events_are_dropped_and_parsing_goes_on() {
        let mut long = b"data: ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        long.extend_from_slice(b"\nid: 9\n\ndata: ok\n\n");
        assert_eq!(parse_in_pieces(&long, 4096), vec![SseItem::Oversized, ev(None, "message", "ok")]);

        let mut many = Vec::new();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT_BYTES / 1000 + 2) {
            many.extend_from_slice(line.as_bytes());
        }
        many.extend_from_slice(b"\ndata: next\n\n");
        assert_eq!(parse_in_pieces(&many, 999), vec![SseItem::Oversized, ev(None, "message", "next")]);
    }

    #[test]
    fn fields_without_colon_or_space_and_bad_retry() {
        let got = parse_in_pieces(b"data\nretry: 10x\nretry:5\nunknown: z\n\n", 2);
        assert_eq!(got, vec![SseItem::Retry(Duration::from_millis(5)), ev(None, "message", "")]);
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    fn parse(input: &[u8], cuts: &[usize]) -> Vec<SseItem> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts {
            let c = c.min(input.len()).max(at);
            p.push(&input[at..c], &mut out);
            at = c;
        }
        p.push(&input[at..], &mut out);
        out
    }

    /// Streams made of feed-like lines, with every line ending.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let line =
            prop_oneof!["(id|event|data|retry|: keep-alive)(: ?[ -~]{0,12})?", Just(String::new()), "[ -~]{0,20}",];
        let nl = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        prop::collection::vec((line, nl), 0..40)
            .prop_map(|lines| lines.into_iter().flat_map(|(l, nl)| format!("{l}{nl}").into_bytes()).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// However the network cuts the stream, the events are the same.
        #[test]
        fn any_chunking_gives_the_same_events(input in stream(), mut cuts in prop::collection::vec(0usize..600, 0..12)) {
            cuts.sort_unstable();
            // A trailing lone CR is only known as a line end when more arrives: end with LF.
            let mut input = input;
            input.extend_from_slice(b"\n\n");
            prop_assert_eq!(parse(&input, &cuts), parse(&input, &[]));
        }

        /// Any bytes at all: no panic, and every event within the bounds.
        #[test]
        fn any_bytes_stay_bounded(input in prop::collection::vec(any::<u8>(), 0..4096), piece in 1usize..64) {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            for c in input.chunks(piece) {
                p.push(c, &mut out);
            }
            for item in out {
                if let SseItem::Event(e) = item {
                    prop_assert!(e.data.len() <= MAX_EVENT_BYTES);
                }
            }
        }
    }
}
