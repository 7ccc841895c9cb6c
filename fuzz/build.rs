//! Empty: present only so that `syn`, a build dependency, unifies its features with the
//! workspace's (see Cargo.toml).

fn main() {}
