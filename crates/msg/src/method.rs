//! Request methods. Method names are case-sensitive (RFC 3261 §7.1).

/// A request method. Unknown methods are [`Method::Other`]; their text stays
/// in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// INVITE (RFC 3261)
    Invite,
    /// ACK (RFC 3261)
    Ack,
    /// BYE (RFC 3261)
    Bye,
    /// CANCEL (RFC 3261)
    Cancel,
    /// OPTIONS (RFC 3261)
    Options,
    /// REGISTER (RFC 3261)
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// PUBLISH (RFC 3903)
    Publish,
    /// INFO (RFC 6086)
    Info,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// UPDATE (RFC 3311)
    Update,
    /// Any other method.
    Other,
}

impl Method {
    /// Every known method.
    pub const KNOWN: [Method; 14] = [
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Options,
        Method::Register,
        Method::Prack,
        Method::Subscribe,
        Method::Notify,
        Method::Publish,
        Method::Info,
        Method::Refer,
        Method::Message,
        Method::Update,
    ];

    /// Looks a method name up (case-sensitive). Names of up to eight bytes
    /// are compared as one zero-padded word (a jump on constants instead of a
    /// chain of slice compares: this runs twice per parsed request).
    pub fn from_bytes(name: &[u8]) -> Method {
        const INVITE: u64 = 0x0000455449564e49;
        const ACK: u64 = 0x00000000004b4341;
        const BYE: u64 = 0x0000000000455942;
        const CANCEL: u64 = 0x00004c45434e4143;
        const OPTIONS: u64 = 0x00534e4f4954504f;
        const REGISTER: u64 = 0x5245545349474552;
        const PRACK: u64 = 0x0000004b43415250;
        const NOTIFY: u64 = 0x0000594649544f4e;
        const PUBLISH: u64 = 0x004853494c425550;
        const INFO: u64 = 0x000000004f464e49;
        const REFER: u64 = 0x0000005245464552;
        const MESSAGE: u64 = 0x004547415353454d;
        const UPDATE: u64 = 0x0000455441445055;
        if name.len() > 8 {
            return if name == b"SUBSCRIBE" {
                Method::Subscribe
            } else {
                Method::Other
            };
        }
        let mut bytes = [0u8; 8];
        bytes[..name.len()].copy_from_slice(name);
        // The length is part of the key: the padding is indistinguishable
        // from trailing NUL bytes.
        match (name.len(), u64::from_le_bytes(bytes)) {
            (6, INVITE) => Method::Invite,
            (3, ACK) => Method::Ack,
            (3, BYE) => Method::Bye,
            (6, CANCEL) => Method::Cancel,
            (7, OPTIONS) => Method::Options,
            (8, REGISTER) => Method::Register,
            (5, PRACK) => Method::Prack,
            (6, NOTIFY) => Method::Notify,
            (7, PUBLISH) => Method::Publish,
            (4, INFO) => Method::Info,
            (5, REFER) => Method::Refer,
            (7, MESSAGE) => Method::Message,
            (6, UPDATE) => Method::Update,
            _ => Method::Other,
        }
    }

    /// The method's name; empty for [`Method::Other`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other => "",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_case() {
        for m in Method::KNOWN {
            assert_eq!(Method::from_bytes(m.as_str().as_bytes()), m);
        }
        assert_eq!(Method::from_bytes(b"invite"), Method::Other);
        assert_eq!(Method::from_bytes(b"NEWMETHOD"), Method::Other);
        assert_eq!(Method::from_bytes(b""), Method::Other);
        assert_eq!(Method::from_bytes(b"INVITE\0"), Method::Other);
        assert_eq!(Method::from_bytes(b"SUBSCRIBED"), Method::Other);
    }
}
