//! An incremental Server-Sent Events decoder (the WHATWG event-stream
//! format): feed it bytes as they arrive, get whole events out.
//!
//! Handles events split anywhere across chunks (even inside a CRLF), CR,
//! LF and CRLF line ends, multi-line `data:`, comments and a leading BOM.
//! No I/O and no knowledge of any provider; "not enough bytes yet" simply
//! yields no event.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when the server sent none (OpenAI).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Longest line we buffer: a provider chunk is a few KB at most, so this
/// only trips on a server that is not speaking SSE at all.
const MAX_LINE: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting the next one belongs
    /// to the same line end.
    after_cr: bool,
    /// Nothing decoded yet: a UTF-8 BOM may still need stripping.
    at_start: bool,
    event: String,
    data: String,
    has_data: bool,
}

/// The stream is not SSE (a line past [`MAX_LINE`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("event-stream line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

impl SseDecoder {
    pub fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Decodes a chunk, appending completed events to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..pos]);
            let was_cr = chunk[pos] == b'\r';
            chunk = &chunk[pos + 1..];
            if was_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.line.extend_from_slice(chunk);
        if self.line.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        Ok(())
    }

    /// The body ended. Per the spec an unterminated event is dropped; we
    /// return whether anything was left over so callers can tell a clean
    /// end from a cut one.
    pub fn finish(&mut self) -> bool {
        let leftover = !self.line.is_empty() || self.has_data;
        self.line.clear();
        self.reset_event();
        leftover
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let mut line = String::from_utf8_lossy(line);
        if std::mem::take(&mut self.at_start)
            && let Some(rest) = line.strip_prefix('\u{feff}')
        {
            line = rest.to_owned().into();
        }
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.reset_event();
            return;
        }
        if line.starts_with(':') {
            return; // comment, used as keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry and unknown fields mean nothing to a provider stream
        }
    }

    fn reset_event(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            d.feed(&input[start..cut], &mut out).unwrap();
            start = cut;
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn decodes_line_ends_multiline_data_and_comments() {
        let cases: &[(&str, Vec<SseEvent>)] = &[
            ("event: a\ndata: 1\n\n", vec![ev("a", "1")]),
            ("event: a\r\ndata: 1\r\n\r\n", vec![ev("a", "1")]),
            ("event: a\rdata: 1\r\r", vec![ev("a", "1")]),
            ("data: x\ndata:  y\n\n", vec![ev("", "x\n y")]),
            (": ping\n\ndata: [DONE]\n\n", vec![ev("", "[DONE]")]),
            ("\u{feff}data:no-space\n\n", vec![ev("", "no-space")]),
            ("event: only\n\n", vec![]),
            ("data: unterminated\n", vec![]),
            ("data\n\n", vec![ev("", "")]),
            ("id: 7\nretry: 10\ndata: é\n\n", vec![ev("", "é")]),
        ];
        for (input, want) in cases {
            assert_eq!(&decode_in_pieces(input.as_bytes(), &[]), want, "{input:?}");
        }
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let input = "event: message_start\r\ndata: {\"a\":\"é€\"}\r\n\r\n: c\n\nevent: x\rdata: 1\rdata: 2\r\rdata: z\n\n";
        let whole = decode_in_pieces(input.as_bytes(), &[]);
        assert_eq!(whole.len(), 3);
        for i in 0..=input.len() {
            assert_eq!(
                decode_in_pieces(input.as_bytes(), &[i]),
                whole,
                "split at {i}"
            );
            for j in i..=input.len() {
                assert_eq!(
                    decode_in_pieces(input.as_bytes(), &[i, j]),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn finish_reports_an_unterminated_event() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: {\"partial\"", &mut out).unwrap();
        assert!(d.finish());
        d.feed(b"data: 1\n\n", &mut out).unwrap();
        assert!(!d.finish());
    }

    #[test]
    fn a_huge_line_is_refused() {
        let mut d = SseDecoder::new();
        let big = vec![b'a'; MAX_LINE + 1];
        assert_eq!(d.feed(&big, &mut Vec::new()), Err(LineTooLong));
    }
}
