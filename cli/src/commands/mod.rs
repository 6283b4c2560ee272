//! One module per subcommand. Commands do not call each other: what several of them set
//! up the same way is in [`crate::setup`], the file watching in [`crate::watcher`], and all
//! output goes through [`crate::printer`].

pub mod check;
mod check_watch;
pub mod explain;
pub mod facts;
pub mod new;
pub mod rules;
pub mod serve;
pub mod test;
pub mod wasm;
