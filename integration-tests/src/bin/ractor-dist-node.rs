//! The console node of `ractor_dist::testing`, built with this package so that its tests
//! find it next to them (see `integration_tests::node_binary`). Same as `examples/node.rs`.

fn main() {
    ractor_dist::testing::console_main(std::env::args().skip(1))
}
