//! Request body and request-line processors: URLENCODED, MULTIPART, JSON, XML, cookies.
//! Pure functions from bytes to collections. (Being written: issue #3.)
