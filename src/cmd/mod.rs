//! One module per subcommand, plus the arguments they share.
pub mod bench;
pub mod chat;
pub mod convert;
pub mod devices;
pub mod dump;
pub mod eval;
pub mod generation;
pub mod run;
pub mod serve;
pub mod smoke;
pub mod tune;
pub mod verify;
