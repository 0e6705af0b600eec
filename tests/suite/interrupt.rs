//! Interrupting a race: SIGINT mid-run stops the scratch server and removes its folder, and no
//! half report is written (the index bench's load is interrupted in `index_bench.rs`).

use crate::util::*;
use std::time::Duration;

#[test]
fn sigint_mid_run_stops_the_server_and_removes_the_folder() {
    // Past the migrations, into the load.
    interrupt(
        &["run", "token-race", "--ops", "100000000"],
        Duration::from_millis(1500),
    )
    .assert_clean();
}
