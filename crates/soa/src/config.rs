//! Limits and negotiation policy.

/// Whose codec order an answer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodecPreference {
    /// The answer lists the common codecs in the order of the offer
    /// (sofia-sip's default).
    #[default]
    Offerer,
    /// The answer lists the common codecs in the order of the local
    /// capabilities.
    Local,
}

/// How many of the common codecs an answer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodecSelection {
    /// Every common codec (RFC 3264 §6.1 allows switching among them).
    #[default]
    All,
    /// The first common codec in preference order, plus telephone-event and
    /// comfort noise when they are common (sofia-sip's
    /// `SOATAG_RTP_SELECT(1)`).
    First,
}

/// Limits on received descriptions and the negotiation policy.
///
/// The defaults bound the memory one description can take while accepting
/// anything a real user agent sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest description accepted, in bytes. Default 65 536.
    pub max_size: usize,
    /// Most m-lines in one description. Default 32.
    pub max_media: usize,
    /// Most formats on one m-line. Default 64.
    pub max_formats: usize,
    /// Most attribute lines (and of each other repeatable line: `b=`, `e=`,
    /// `p=`, `t=`, `r=`, media `c=`) in the session part or in one media
    /// description. Default 128.
    pub max_attributes: usize,
    /// Whose codec order an answer follows. Default [`CodecPreference::Offerer`].
    pub codec_preference: CodecPreference,
    /// How many common codecs an answer keeps. Default [`CodecSelection::All`].
    pub codec_selection: CodecSelection,
}

impl Config {
    /// The default configuration as a constant.
    pub const DEFAULT: Config = Config {
        max_size: 65_536,
        max_media: 32,
        max_formats: 64,
        max_attributes: 128,
        codec_preference: CodecPreference::Offerer,
        codec_selection: CodecSelection::All,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
