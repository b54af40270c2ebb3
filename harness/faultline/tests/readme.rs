//! The README's first example is the crate's first doctest, byte for byte, so it cannot rot.

fn first_rust_block_after(text: &str, heading: &str) -> String {
    let at = text.find(heading).unwrap_or_else(|| panic!("no '{heading}'"));
    let rest = &text[at..];
    let start = rest.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = rest[start..].find("\n```").expect("the block ends");
    rest[start..start + end].to_string()
}

#[test]
fn the_readmes_example_is_the_doctest_verbatim() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let lib = std::fs::read_to_string(format!("{root}src/lib.rs")).expect("lib.rs");
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let heading = "# Example: a save function missing its directory fsync";
    let at = doc.find(heading).expect("the doctest's heading");
    let start = doc[at..].find("```\n").expect("the doctest") + at + 4;
    let end = doc[start..].find("\n```").expect("the doctest ends") + start;
    let doctest = &doc[start..end];
    let readme = std::fs::read_to_string(format!("{root}../../README.md")).expect("README.md");
    assert_eq!(
        first_rust_block_after(&readme, "## Testing your own Rust code"),
        doctest
    );
    let crate_readme = std::fs::read_to_string(format!("{root}README.md")).expect("the crate's README");
    assert_eq!(first_rust_block_after(&crate_readme, "# faultline"), doctest);
}
