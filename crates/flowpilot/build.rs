//! The demo knowledge base (`examples/flows`) is built into the binary:
//! rebuild when it changes.

fn main() {
    println!("cargo:rerun-if-changed=../../examples/flows");
}
