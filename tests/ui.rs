//! Compile-fail tests: each mistake in using the macros gives one clear error at the user's tokens.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*/*.rs");
}
