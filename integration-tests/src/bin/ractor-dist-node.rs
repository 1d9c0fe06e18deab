//! The console node of `ractor_dist_testkit`, built with this package so that its tests
//! find it next to them (see `integration_tests::node_binary`). Same as `examples/node.rs`.

fn main() {
    ractor_dist_testkit::console_main(std::env::args().skip(1))
}
