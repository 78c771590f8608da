//! Value parsers with FreeSWITCH's spellings, and the lists of FreeSWITCH
//! parameters that are accepted but not acted on.

/// `switch_true`/`switch_false`: yes/no, on/off, true/false, t/f,
/// enabled/disabled, enable/disable, active/inactive, allow/deny, or an
/// integer (non-zero is true). Anything else is `None`.
pub(crate) fn boolean(v: &str) -> Option<bool> {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "yes" | "on" | "true" | "t" | "enabled" | "enable" | "active" | "allow" => Some(true),
        "no" | "off" | "false" | "f" | "disabled" | "disable" | "inactive" | "deny" => Some(false),
        _ => v.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Profile `<settings>` parameters FreeSWITCH knows that sofia-rs accepts,
/// shows, and does not act on (media, dialplan, presence, NAT and database
/// settings, FreeSWITCH work-arounds). Compared case-insensitively.
pub const NOT_ACTED_PROFILE_PARAMS: &[&str] = &[
    "3pcc-reinvite-bridged-on-ack",
    "accept-blind-auth",
    "aggressive-nat-detection",
    "alias",
    "all-reg-options-ping",
    "allow-update",
    "apply-candidate-acl",
    "apply-inbound-acl-x-token",
    "apply-nat-acl",
    "apply-proxy-acl",
    "apply-proxy-acl-x-token",
    "auth-all-packets",
    "auth-calls-acl-only",
    "auth-messages",
    "auth-require-user",
    "auth-subscriptions",
    "auto-invite-100",
    "auto-jitterbuffer-msec",
    "auto-restart",
    "auto-rtp-bugs",
    "bind-attempt-interval",
    "bind-attempts",
    "bind-params",
    "bitpacking",
    "blind-auth-reply-403",
    "caller-id-type",
    "challenge-opaque",
    "channel-xml-fetch-on-nightmare-transfer",
    "cid-in-1xx",
    "cng-pt",
    "codec-prefs",
    "confirm-blind-transfer",
    "contact-user",
    "context",
    "db-inner-post-trans-execute",
    "db-inner-pre-trans-execute",
    "db-post-trans-execute",
    "db-pre-trans-execute",
    "db-spin-up-wait-ms",
    "dbname",
    "debug",
    "delete-subs-on-register",
    "dialplan",
    "disable-hold",
    "disable-naptr",
    "disable-rtp-auto-adjust",
    "disable-srv",
    "disable-srv503",
    "disable-transcoding",
    "disable-transfer",
    "dtmf-duration",
    "dtmf-type",
    "enable-100rel",
    "enable-3pcc",
    "enable-chat",
    "enable-compact-headers",
    "enable-rfc-5626",
    "enable-soa",
    "enable-timer",
    "enforce-blind-auth-result",
    "ext-rtp-ip",
    "extended-info-parsing",
    "fire-bye-response-events",
    "fire-message-events",
    "fire-transfer-events",
    "force-publish-expires",
    "force-subscription-domain",
    "force-subscription-expires",
    "forward-unsolicited-mwi-notify",
    "full-id-in-dialplan",
    "hold-music",
    "ignore-183nosdp",
    "ignore-reason-hdr-in-bye",
    "in-dialog-chat",
    "inbound-bypass-media",
    "inbound-codec-negotiation",
    "inbound-codec-prefs",
    "inbound-late-negotiation",
    "inbound-no-media",
    "inbound-proxy-media",
    "inbound-reg-in-new-thread",
    "inbound-use-callid-as-uuid",
    "inbound-zrtp-passthru",
    "keepalive-method",
    "liberal-dtmf",
    "local-network-acl",
    "make-every-transfer-a-nightmare",
    "manage-presence",
    "manage-shared-appearance",
    "manual-redirect",
    "manual-rtp-bugs",
    "manual-video-rtp-bugs",
    "max-auth-validity",
    "max-calls",
    "max-proceeding",
    "max-recv-requests-per-second",
    "media-option",
    "minimum-session-expires",
    "mwi-use-reg-callid",
    "nat-options-ping",
    "ndlb-allow-bad-iananame",
    "ndlb-allow-crypto-in-avp",
    "ndlb-allow-nondup-sdp",
    "ndlb-broken-auth-hash",
    "ndlb-expires-in-register-response",
    "ndlb-force-rport",
    "ndlb-proxy-never-patch-reinvites",
    "ndlb-received-in-nat-reg-contact",
    "ndlb-sendrecv-in-session",
    "ndlb-support-asterisk-missing-srtp-auth",
    "odbc-dsn",
    "outbound-codec-prefs",
    "outbound-proxy",
    "outbound-use-uuid-as-callid",
    "p-asserted-id-parse",
    "parse-all-invite-headers",
    "parse-invite-tel-params",
    "pass-callee-id",
    "pass-rfc2833",
    "ping-mean-interval",
    "ping-thread-frequency",
    "pnp-provision-url",
    "presence-disable-early",
    "presence-hold-state",
    "presence-hosts",
    "presence-privacy",
    "presence-probe-on-register",
    "presence-proto-lookup",
    "profile-standby",
    "proxy-hold",
    "proxy-info",
    "proxy-info-content-types",
    "proxy-message",
    "proxy-notify-events",
    "proxy-refer",
    "proxy-refer-replaces",
    "record-path",
    "record-template",
    "registration-thread-frequency",
    "renegotiate-codec-on-hold",
    "require-secure-rtp",
    "reuse-connections",
    "rfc-7989",
    "rfc-7989-filter",
    "rfc-7989-force-old",
    "rfc2833-pt",
    "rtcp-audio-interval-msec",
    "rtcp-video-interval-msec",
    "rtp-autofix-timing",
    "rtp-autoflush",
    "rtp-autoflush-during-bridge",
    "rtp-digit-delay",
    "rtp-hold-timeout-sec",
    "rtp-ip",
    "rtp-notimer-during-bridge",
    "rtp-rewrite-timestamps",
    "rtp-timeout-sec",
    "rtp-timer-name",
    "sdp-reject-ipv6",
    "send-display-update",
    "send-message-query-on-register",
    "send-presence-on-register",
    "session-timeout",
    "shutdown-on-fail",
    "sip-capture",
    "sip-domain",
    "sip-messages-respond-200-ok",
    "sip-options-respond-503-on-busy",
    "sip-subscribe-respond-200-ok",
    "sip-subscription-max-deviation",
    "sip-user-ping-max",
    "sip-user-ping-min",
    "socket-tcp-keepalive",
    "suppress-cng",
    "supress-cng",
    "t38-passthru",
    "tcp-always-nat",
    "tcp-keepalive",
    "tcp-ping2pong",
    "tcp-pingpong",
    "tcp-unreg-on-socket-close",
    "timer-t1",
    "timer-t1x64",
    "timer-t2",
    "timer-t4",
    "tls-always-nat",
    "tls-bind-params",
    "tls-ciphers",
    "tls-enable-dh",
    "tls-orq-connect-timeout",
    "tls-passphrase",
    "tls-timeout",
    "tls-verify-date",
    "tls-verify-depth",
    "tls-verify-in-subjects",
    "tls-verify-policy",
    "tls-version",
    "track-calls",
    "unregister-on-options-fail",
    "update-refresher",
    "use-port-for-acl-check",
    "user-agent-filter",
    "username",
    "vad",
    "ws-binding",
    "wss-binding",
];

/// `<global_settings>` parameters FreeSWITCH knows that sofia-rs accepts
/// and does not act on.
pub const NOT_ACTED_GLOBAL_PARAMS: &[&str] = &[
    "abort-on-empty-external-ip",
    "auto-restart",
    "capture-server",
    "debug-presence",
    "debug-sla",
    "log-auth-failures",
    "max-reg-threads",
    "reg-deny-binding-fetch-and-no-lookup",
    "rewrite-multicasted-fs-path",
    "tracelevel",
];

/// Gateway parameters FreeSWITCH knows that sofia-rs accepts and does not
/// act on.
pub const NOT_ACTED_GATEWAY_PARAMS: &[&str] = &["reg-id", "rfc-5626"];

pub(crate) fn known(list: &[&str], name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    list.binary_search(&n.as_str()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_lowercase() {
        for list in [
            NOT_ACTED_PROFILE_PARAMS,
            NOT_ACTED_GLOBAL_PARAMS,
            NOT_ACTED_GATEWAY_PARAMS,
        ] {
            for w in list.windows(2) {
                assert!(w[0] < w[1], "{} >= {}", w[0], w[1]);
            }
            for n in list {
                assert_eq!(*n, n.to_ascii_lowercase());
            }
        }
        assert!(known(NOT_ACTED_PROFILE_PARAMS, "NDLB-force-rport"));
        assert!(!known(NOT_ACTED_PROFILE_PARAMS, "sip-port"));
    }

    #[test]
    fn booleans() {
        for t in ["yes", "TRUE", "on", "1", "enabled", "t", "-3"] {
            assert_eq!(boolean(t), Some(true), "{t}");
        }
        for f in ["no", "False", "off", "0", "disabled", "f"] {
            assert_eq!(boolean(f), Some(false), "{f}");
        }
        for x in ["", "maybe", "yes please"] {
            assert_eq!(boolean(x), None, "{x}");
        }
    }
}
