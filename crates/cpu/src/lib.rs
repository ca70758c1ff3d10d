//! Reference CPU interpreter.
