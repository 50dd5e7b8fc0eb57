pub mod rt { pub use percore_runtime::*; }
