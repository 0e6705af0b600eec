//! Reports: one model (`model`), rendered as JSON, Markdown (`markdown`, `bench_markdown`) and
//! HTML (`html`, `bench_html`, sharing `page` and `charts`); the `.hlog` interval logs; saved
//! reports compared (`compare`). Renderers never touch the database.

pub mod bench_model;
mod bench_view;
mod charts;
pub mod compare;
mod files;
pub mod hlog;
mod html;
pub mod isolation_model;
mod isolation_view;
mod markdown;
pub mod model;
mod page;
pub mod path_model;
mod render;
pub mod rollout_model;
mod rollout_view;
pub mod trackers;

pub use files::{load, load_nightly, write, write_whole};
pub use model::*;
pub use path_model::*;
pub use render::{html, markdown};
pub use trackers::trackers;
