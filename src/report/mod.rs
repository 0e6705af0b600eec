//! Reports: one model (`model`), rendered as JSON, Markdown (`markdown`, `bench_markdown`) and
//! HTML (`html`, `bench_html`, sharing `page` and `charts`); the `.hlog` interval logs; saved
//! reports compared (`compare`). Renderers never touch the database.

pub mod bench_model;
mod bench_view;
pub mod compare;
mod files;
pub mod hlog;
mod html;
mod markdown;
pub mod model;
pub mod trackers;

pub use files::{load, load_nightly, write};
pub use html::render as html;
pub use markdown::render as markdown;
pub use model::*;
pub use trackers::trackers;
