//! h2 codec tests.
