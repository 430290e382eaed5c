//! One module per subcommand: its options (`Opts`) and `run`.

pub mod announce;
pub mod bench;
pub mod check;
pub mod component;
pub mod guard;
pub mod hook;
pub mod list;
pub mod log;
pub mod mcp;
pub mod probe;
pub mod release;
pub mod replay;
pub mod run;
pub mod watch;
pub mod who_has;
