//! The SecLang variables and collections this engine knows, as a `#[repr(u8)]` enum.
//!
//! Owns the name ↔ variant table (one static table, case-insensitive lookup) and whether a
//! variable is a keyed collection. Values are produced by `eval`, not here.

/// A SecLang variable or collection.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Var {
    Args,
    ArgsGet,
    ArgsPost,
    ArgsNames,
    ArgsGetNames,
    ArgsPostNames,
    ArgsCombinedSize,
    RequestHeaders,
    RequestHeadersNames,
    RequestCookies,
    RequestCookiesNames,
    RequestFilename,
    RequestBasename,
    RequestUri,
    RequestUriRaw,
    RequestLine,
    RequestMethod,
    RequestProtocol,
    QueryString,
    RequestBody,
    RequestBodyLength,
    ReqbodyProcessor,
    ReqbodyError,
    ReqbodyErrorMsg,
    ReqbodyProcessorError,
    Files,
    FilesNames,
    FilesSizes,
    FilesCombinedSize,
    FilesTmpNames,
    MultipartStrictError,
    MultipartUnmatchedBoundary,
    MultipartBoundaryQuoted,
    MultipartBoundaryWhitespace,
    MultipartDataBefore,
    MultipartDataAfter,
    MultipartHeaderFolding,
    MultipartLfLine,
    MultipartCrlfLfLines,
    MultipartMissingSemicolon,
    MultipartInvalidQuoting,
    MultipartInvalidPart,
    MultipartInvalidHeaderFolding,
    MultipartFileLimitExceeded,
    MultipartPartHeaders,
    MultipartFilename,
    MultipartName,
    Xml,
    Tx,
    Ip,
    Global,
    Session,
    User,
    Resource,
    Geo,
    Env,
    RemoteAddr,
    RemotePort,
    RemoteHost,
    RemoteUser,
    ServerAddr,
    ServerPort,
    ServerName,
    UniqueId,
    Duration,
    Time,
    TimeDay,
    TimeEpoch,
    TimeHour,
    TimeMin,
    TimeMon,
    TimeSec,
    TimeWday,
    TimeYear,
    ResponseStatus,
    ResponseHeaders,
    ResponseHeadersNames,
    ResponseBody,
    ResponseProtocol,
    ResponseContentType,
    ResponseContentLength,
    MatchedVar,
    MatchedVars,
    MatchedVarName,
    MatchedVarsNames,
    Rule,
    FullRequest,
    FullRequestLength,
    InboundDataError,
    OutboundDataError,
    UrlencodedError,
    HighestSeverity,
    StatusLine,
    AuthType,
    WebserverErrorLog,
}

use Var::*;

const TABLE: &[(&str, Var)] = &[
    ("ARGS", Args),
    ("ARGS_GET", ArgsGet),
    ("ARGS_POST", ArgsPost),
    ("ARGS_NAMES", ArgsNames),
    ("ARGS_GET_NAMES", ArgsGetNames),
    ("ARGS_POST_NAMES", ArgsPostNames),
    ("ARGS_COMBINED_SIZE", ArgsCombinedSize),
    ("REQUEST_HEADERS", RequestHeaders),
    ("REQUEST_HEADERS_NAMES", RequestHeadersNames),
    ("REQUEST_COOKIES", RequestCookies),
    ("REQUEST_COOKIES_NAMES", RequestCookiesNames),
    ("REQUEST_FILENAME", RequestFilename),
    ("REQUEST_BASENAME", RequestBasename),
    ("REQUEST_URI", RequestUri),
    ("REQUEST_URI_RAW", RequestUriRaw),
    ("REQUEST_LINE", RequestLine),
    ("REQUEST_METHOD", RequestMethod),
    ("REQUEST_PROTOCOL", RequestProtocol),
    ("QUERY_STRING", QueryString),
    ("REQUEST_BODY", RequestBody),
    ("REQUEST_BODY_LENGTH", RequestBodyLength),
    ("REQBODY_PROCESSOR", ReqbodyProcessor),
    ("REQBODY_ERROR", ReqbodyError),
    ("REQBODY_ERROR_MSG", ReqbodyErrorMsg),
    ("REQBODY_PROCESSOR_ERROR", ReqbodyProcessorError),
    ("FILES", Files),
    ("FILES_NAMES", FilesNames),
    ("FILES_SIZES", FilesSizes),
    ("FILES_COMBINED_SIZE", FilesCombinedSize),
    ("FILES_TMPNAMES", FilesTmpNames),
    ("MULTIPART_STRICT_ERROR", MultipartStrictError),
    ("MULTIPART_UNMATCHED_BOUNDARY", MultipartUnmatchedBoundary),
    ("MULTIPART_BOUNDARY_QUOTED", MultipartBoundaryQuoted),
    ("MULTIPART_BOUNDARY_WHITESPACE", MultipartBoundaryWhitespace),
    ("MULTIPART_DATA_BEFORE", MultipartDataBefore),
    ("MULTIPART_DATA_AFTER", MultipartDataAfter),
    ("MULTIPART_HEADER_FOLDING", MultipartHeaderFolding),
    ("MULTIPART_LF_LINE", MultipartLfLine),
    ("MULTIPART_CRLF_LF_LINES", MultipartCrlfLfLines),
    ("MULTIPART_MISSING_SEMICOLON", MultipartMissingSemicolon),
    ("MULTIPART_INVALID_QUOTING", MultipartInvalidQuoting),
    ("MULTIPART_INVALID_PART", MultipartInvalidPart),
    (
        "MULTIPART_INVALID_HEADER_FOLDING",
        MultipartInvalidHeaderFolding,
    ),
    ("MULTIPART_FILE_LIMIT_EXCEEDED", MultipartFileLimitExceeded),
    ("MULTIPART_PART_HEADERS", MultipartPartHeaders),
    ("MULTIPART_FILENAME", MultipartFilename),
    ("MULTIPART_NAME", MultipartName),
    ("XML", Xml),
    ("TX", Tx),
    ("IP", Ip),
    ("GLOBAL", Global),
    ("SESSION", Session),
    ("USER", User),
    ("RESOURCE", Resource),
    ("GEO", Geo),
    ("ENV", Env),
    ("REMOTE_ADDR", RemoteAddr),
    ("REMOTE_PORT", RemotePort),
    ("REMOTE_HOST", RemoteHost),
    ("REMOTE_USER", RemoteUser),
    ("SERVER_ADDR", ServerAddr),
    ("SERVER_PORT", ServerPort),
    ("SERVER_NAME", ServerName),
    ("UNIQUE_ID", UniqueId),
    ("DURATION", Duration),
    ("TIME", Time),
    ("TIME_DAY", TimeDay),
    ("TIME_EPOCH", TimeEpoch),
    ("TIME_HOUR", TimeHour),
    ("TIME_MIN", TimeMin),
    ("TIME_MON", TimeMon),
    ("TIME_SEC", TimeSec),
    ("TIME_WDAY", TimeWday),
    ("TIME_YEAR", TimeYear),
    ("RESPONSE_STATUS", ResponseStatus),
    ("RESPONSE_HEADERS", ResponseHeaders),
    ("RESPONSE_HEADERS_NAMES", ResponseHeadersNames),
    ("RESPONSE_BODY", ResponseBody),
    ("RESPONSE_PROTOCOL", ResponseProtocol),
    ("RESPONSE_CONTENT_TYPE", ResponseContentType),
    ("RESPONSE_CONTENT_LENGTH", ResponseContentLength),
    ("MATCHED_VAR", MatchedVar),
    ("MATCHED_VARS", MatchedVars),
    ("MATCHED_VAR_NAME", MatchedVarName),
    ("MATCHED_VARS_NAMES", MatchedVarsNames),
    ("RULE", Rule),
    ("FULL_REQUEST", FullRequest),
    ("FULL_REQUEST_LENGTH", FullRequestLength),
    ("INBOUND_DATA_ERROR", InboundDataError),
    ("OUTBOUND_DATA_ERROR", OutboundDataError),
    ("URLENCODED_ERROR", UrlencodedError),
    ("HIGHEST_SEVERITY", HighestSeverity),
    ("STATUS_LINE", StatusLine),
    ("AUTH_TYPE", AuthType),
    ("WEBSERVER_ERROR_LOG", WebserverErrorLog),
];

impl Var {
    /// Case-insensitive lookup of a SecLang variable name.
    pub fn from_name(name: &str) -> Option<Var> {
        TABLE
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The canonical (upper-case) name.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether values of this variable are named `VAR:key` (keyed collections).
    pub fn is_collection(self) -> bool {
        matches!(
            self,
            Args | ArgsGet
                | ArgsPost
                | ArgsNames
                | ArgsGetNames
                | ArgsPostNames
                | RequestHeaders
                | RequestHeadersNames
                | RequestCookies
                | RequestCookiesNames
                | Files
                | FilesNames
                | FilesSizes
                | FilesTmpNames
                | MultipartPartHeaders
                | Xml
                | Tx
                | Ip
                | Global
                | Session
                | User
                | Resource
                | Geo
                | Env
                | ResponseHeaders
                | ResponseHeadersNames
                | MatchedVars
                | MatchedVarsNames
                | Rule
        )
    }

    /// Persistent-style collections that `setvar` writes (`tx.x=1`, `ip.x=1`).
    pub fn is_writable(self) -> bool {
        matches!(self, Tx | Ip | Global | Session | User | Resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (n, v) in TABLE {
            assert_eq!(Var::from_name(n), Some(*v));
            assert_eq!(v.name(), *n);
        }
        assert_eq!(Var::from_name("request_headers"), Some(RequestHeaders));
        assert_eq!(Var::from_name("NOPE"), None);
    }
}
