//! Event packages: what a notifier serves for one `Event` value. A package
//! names its event, the body type of its NOTIFYs, and the state of a
//! resource nobody has set yet. `presence` (RFC 3856, PIDF per RFC 3863) and
//! `message-summary` (RFC 3842) come with the crate; others (dialog,
//! RFC 4235, ...) implement [`Package`].

/// One event package.
pub trait Package: Send {
    /// The event package name as in `Event:` (`presence`).
    fn event(&self) -> &str;
    /// The Content-Type of NOTIFY bodies.
    fn content_type(&self) -> &str;
    /// The body for a resource whose state has not been set.
    fn initial_body(&self, resource: &str) -> String;
}

/// Escapes text for XML character data and attribute values (`&`, `<`,
/// `>`, `"`, `'`), as FreeSWITCH's `switch_amp_encode`.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The `presence` package: `application/pidf+xml` documents (RFC 3863) with
/// a basic status and an optional note. Unset resources are `closed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presence;

impl Presence {
    /// A PIDF document for `entity` (a URI such as `sip:alice@example.com`):
    /// `<basic>open</basic>` or `closed`, and a `<note>` when given.
    pub fn pidf(entity: &str, open: bool, note: Option<&str>) -> String {
        let mut doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
             <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{}\">\r\n\
             <tuple id=\"t1\"><status><basic>{}</basic></status>",
            xml_escape(entity),
            if open { "open" } else { "closed" }
        );
        if let Some(n) = note {
            doc.push_str("<note>");
            doc.push_str(&xml_escape(n));
            doc.push_str("</note>");
        }
        doc.push_str("</tuple>\r\n</presence>\r\n");
        doc
    }
}

impl Package for Presence {
    fn event(&self) -> &str {
        "presence"
    }
    fn content_type(&self) -> &str {
        "application/pidf+xml"
    }
    fn initial_body(&self, resource: &str) -> String {
        Presence::pidf(resource, false, None)
    }
}

/// The `message-summary` package (RFC 3842): message waiting indication.
/// Unset resources have no messages waiting.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageSummary;

impl MessageSummary {
    /// A summary: `Messages-Waiting`, the account, and the voice-message
    /// counts `new/old`.
    pub fn body(account: &str, new: u32, old: u32) -> String {
        format!(
            "Messages-Waiting: {}\r\nMessage-Account: {}\r\nVoice-Message: {}/{}\r\n",
            if new > 0 { "yes" } else { "no" },
            account,
            new,
            old
        )
    }
}

impl Package for MessageSummary {
    fn event(&self) -> &str {
        "message-summary"
    }
    fn content_type(&self) -> &str {
        "application/simple-message-summary"
    }
    fn initial_body(&self, resource: &str) -> String {
        MessageSummary::body(resource, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidf_escapes_and_carries_the_note() {
        let d = Presence::pidf("sip:a@b", true, Some("at <lunch> & back"));
        assert!(d.contains("<basic>open</basic>"));
        assert!(d.contains("<note>at &lt;lunch&gt; &amp; back</note>"));
        assert!(
            Presence
                .initial_body("sip:x@y")
                .contains("<basic>closed</basic>")
        );
    }

    #[test]
    fn message_summary_counts() {
        assert_eq!(
            MessageSummary::body("sip:1000@h", 2, 1),
            "Messages-Waiting: yes\r\nMessage-Account: sip:1000@h\r\nVoice-Message: 2/1\r\n"
        );
        assert!(
            MessageSummary
                .initial_body("a")
                .starts_with("Messages-Waiting: no")
        );
    }
}
