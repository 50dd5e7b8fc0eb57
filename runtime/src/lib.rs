//! percore-runtime
