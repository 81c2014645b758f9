//! Script templates through the HTTP API, on both backends.
