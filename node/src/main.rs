//! The `node` binary (filled by the node server issue).

fn main() {
    eprintln!("node: not built yet");
    std::process::exit(1);
}
