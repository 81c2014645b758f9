//! Sessions and turns through the HTTP API against the fake provider, on both backends.
