//! The integration test binary (`cargo test --test cli`): every test runs the real `loadtest`
//! binary, or its library, against real PostgreSQL. One scratch server serves the whole binary
//! and a test that needs a database gets one named after it (`util`). This file is only the
//! module list; the tests live in `suite/`, one file per subject.

mod util;

mod suite {
    mod advisors;
    mod catalogue;
    mod compat;
    mod external;
    mod faults;
    mod hlog;
    mod html_chromium;
    mod index_bench;
    mod interrupt;
    mod isolation;
    mod lifecycle;
    mod lint;
    mod migrations;
    mod oracle_verdicts;
    mod pooler;
    mod provenance;
    mod race_engine;
    mod reports;
    mod roles;
    mod rollout;
    mod safety;
    mod schema;
    mod shards;
    mod socket;
    mod tls;
    mod token_race;
    mod usage;
}
