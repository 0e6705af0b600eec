//! `loadtest list`: the scenarios `loadtest run NAME` knows.

use crate::error::exit;

/// `loadtest list`.
pub fn list() -> u8 {
    for s in crate::scenario::list() {
        println!("{:<24} {:<40} {}", s.name, s.origin, s.description);
    }
    exit::OK
}
