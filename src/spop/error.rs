//! Decode errors and the SPOP DISCONNECT status codes (SPOE.txt §3.2.8; contract §4.9).
//!
//! Owns the small `Copy` error the codec returns and the mapping from an error to the status code
//! an AGENT-DISCONNECT carries. Refuses to allocate: messages are `&'static str`, formatting
//! happens only when a caller logs.

use std::fmt;

/// Why bytes could not be decoded. "Need more bytes" is not an error: decoders return
/// `Ok(None)` for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The announced frame length exceeds the negotiated (or our) max-frame-size.
    FrameTooBig {
        /// Announced length.
        len: u32,
        /// Limit in force.
        max: u32,
    },
    /// A frame too short to hold type, flags and both ids.
    FrameTooShort,
    /// A varint (id, length or integer) is malformed or runs past the end of the frame.
    BadVarint,
    /// A length-prefixed string or binary runs past the end of the frame.
    Truncated,
    /// A typed-data byte with a reserved type (10–15).
    UnknownDataType(u8),
    /// An action type other than SET-VAR (1) and UNSET-VAR (2).
    UnknownAction(u8),
    /// An action with the wrong number of arguments, or a variable scope above 4.
    BadAction,
}

impl DecodeError {
    /// The DISCONNECT status an agent sends when a peer's frame fails to decode.
    pub fn status(self) -> DisconnectStatus {
        match self {
            DecodeError::FrameTooBig { .. } => DisconnectStatus::TooBig,
            _ => DisconnectStatus::Invalid,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::FrameTooBig { len, max } => {
                write!(f, "frame of {len} bytes exceeds max-frame-size {max}")
            }
            DecodeError::FrameTooShort => f.write_str("frame shorter than its header"),
            DecodeError::BadVarint => f.write_str("malformed or truncated varint"),
            DecodeError::Truncated => f.write_str("string or binary runs past the frame"),
            DecodeError::UnknownDataType(t) => write!(f, "reserved typed-data type {t}"),
            DecodeError::UnknownAction(t) => write!(f, "unknown action type {t}"),
            DecodeError::BadAction => f.write_str("malformed action arguments"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// SPOP DISCONNECT status codes (`status-code` of both DISCONNECT frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DisconnectStatus {
    /// 0: normal.
    Normal = 0,
    /// 1: I/O error.
    Io = 1,
    /// 2: a timeout occurred.
    Timeout = 2,
    /// 3: frame is too big.
    TooBig = 3,
    /// 4: invalid frame received.
    Invalid = 4,
    /// 5: version value not found.
    NoVersion = 5,
    /// 6: max-frame-size value not found.
    NoFrameSize = 6,
    /// 7: capabilities value not found.
    NoCapabilities = 7,
    /// 8: unsupported version.
    BadVersion = 8,
    /// 9: max-frame-size too big or too small.
    BadFrameSize = 9,
    /// 10: payload fragmentation is not supported.
    FragmentationNotSupported = 10,
    /// 11: invalid interlaced frames.
    InterlacedFrames = 11,
    /// 12: frame-id not found.
    FrameIdNotFound = 12,
    /// 13: resource allocation error.
    Resource = 13,
    /// 99: an unknown error occurred.
    Unknown = 99,
}

impl DisconnectStatus {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Maps a wire code back; codes we do not know become [`DisconnectStatus::Unknown`].
    pub fn from_code(code: u64) -> Self {
        use DisconnectStatus::*;
        match code {
            0 => Normal,
            1 => Io,
            2 => Timeout,
            3 => TooBig,
            4 => Invalid,
            5 => NoVersion,
            6 => NoFrameSize,
            7 => NoCapabilities,
            8 => BadVersion,
            9 => BadFrameSize,
            10 => FragmentationNotSupported,
            11 => InterlacedFrames,
            12 => FrameIdNotFound,
            13 => Resource,
            _ => Unknown,
        }
    }

    /// The reason text HAProxy uses for this code; sent as the `message` KV.
    pub fn message(self) -> &'static str {
        use DisconnectStatus::*;
        match self {
            Normal => "normal",
            Io => "I/O error",
            Timeout => "a timeout occurred",
            TooBig => "frame is too big",
            Invalid => "invalid frame received",
            NoVersion => "version value not found",
            NoFrameSize => "max-frame-size value not found",
            NoCapabilities => "capabilities value not found",
            BadVersion => "unsupported version",
            BadFrameSize => "max-frame-size too big or too small",
            FragmentationNotSupported => "fragmentation not supported",
            InterlacedFrames => "invalid interlaced frames",
            FrameIdNotFound => "frame-id not found",
            Resource => "resource allocation error",
            Unknown => "an unknown error occurred",
        }
    }
}

impl fmt::Display for DisconnectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.message())
    }
}
