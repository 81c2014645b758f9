//! How turns fail: provider errors, broken streams, database errors, conflicts.
