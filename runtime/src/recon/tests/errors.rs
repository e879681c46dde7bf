//! Parse errors: messages and positions.

use crate::recon::{parse, parse_with_max_depth, ParseError, DEFAULT_MAX_DEPTH};

fn err(input: &str) -> ParseError {
    match parse(input) {
        Ok(v) => panic!("{:?} parsed as {:?}", input, v),
        Err(e) => e,
    }
}

/// Asserts the error's line, column, and the start of its `expected` and `found`.
fn check(input: &str, line: usize, column: usize, expected: &str, found: &str) {
    let e = err(input);
    assert_eq!((e.line, e.column), (line, column), "{:?}: {}", input, e);
    assert!(e.expected.starts_with(expected), "{:?}: {}", input, e);
    assert_eq!(e.found, found, "{:?}: {}", input, e);
}

#[test]
fn display_format() {
    let e = err("{1 2}");
    assert_eq!(
        e.to_string(),
        "line 1, column 4: expected ',', ';', a newline or '}', found '2'"
    );
    assert_eq!(e.offset, 3);
    let e = err("{a: 1, )}");
    assert_eq!(
        e.to_string(),
        "line 1, column 8: expected a value or '}', found ')'"
    );
}

#[test]
fn structural_errors() {
    check("{a:1", 1, 5, "',', ';', a newline or '}'", "end of input");
    check("@a(1", 1, 5, "',', ';', a newline or ')'", "end of input");
    check("}", 1, 1, "a value or end of input", "'}'");
    check("1 2", 1, 3, "',', ';', a newline or end of input", "'2'");
    check("{a:1}}", 1, 6, "',', ';', a newline or end of input", "'}'");
    check("{a: )}", 1, 5, "a value, ',', ';', a newline or '}'", "')'");
    check("@", 1, 2, "an attribute name", "end of input");
    check("@1", 1, 2, "an attribute name", "'1'");
    check("{a::b}", 1, 4, "a value, ',', ';', a newline or '}'", "':'");
    check(
        "{\n  a: 1,\n  b: ?\n}",
        3,
        6,
        "a value, ',', ';', a newline or '}'",
        "'?'",
    );
    check("{\"éé\" ?}", 1, 7, "',', ';', a newline or '}'", "'?'");
    assert_eq!(err("{\"éé\" ?}").offset, 8);
}

#[test]
fn token_errors() {
    check("\"abc", 1, 5, "'\"' to close the text", "end of input");
    check("\"a\\qb\"", 1, 4, "an escape character", "'q'");
    check("\"\\u12G4\"", 1, 6, "a hex digit", "'G'");
    check("\"\\uD800\"", 1, 8, "'\\u' starting the low half", "'\"'");
    check("\"\\uD800\\u0041\"", 1, 10, "a low surrogate", "'0'");
    check("1.", 1, 3, "a digit after '.'", "end of input");
    check("{1.x}", 1, 4, "a digit after '.'", "'x'");
    check("0x", 1, 3, "a hex digit", "end of input");
    check("0b2", 1, 3, "a binary digit", "'2'");
    check("-", 1, 2, "a digit", "end of input");
    check("- 1", 1, 2, "a digit", "' '");
    check(
        "1e999",
        1,
        1,
        "a float within the range of f64",
        "\"1e999\"",
    );
    check("%A", 1, 1, "valid base64 data", "%A");
    check("{x: 1e}", 1, 6, "',', ';', a newline or '}'", "'e'");
}

#[test]
fn markup_is_rejected() {
    for (input, column) in [
        ("[1]", 1),
        ("{a: {b: {c: [1]}}}", 13),
        ("@a [x]", 4),
        ("{[x]}", 2),
        ("@a([x])", 4),
    ] {
        let e = err(input);
        assert!(e.expected.contains("markup"), "{:?}: {}", input, e);
        assert_eq!((e.line, e.column), (1, column), "{:?}: {}", input, e);
    }
}

#[test]
fn nesting_limit() {
    let ok = format!(
        "{}{}",
        "{".repeat(DEFAULT_MAX_DEPTH),
        "}".repeat(DEFAULT_MAX_DEPTH)
    );
    assert!(parse(&ok).is_ok());
    let deep = format!(
        "{}{}",
        "{".repeat(DEFAULT_MAX_DEPTH + 1),
        "}".repeat(DEFAULT_MAX_DEPTH + 1)
    );
    let e = err(&deep);
    assert!(e.expected.contains("512 levels"), "{}", e);
    assert_eq!(e.column, DEFAULT_MAX_DEPTH + 1);
    // Unclosed and mixed nesting far past the limit fail cleanly too.
    for unit in ["{", "@a(", "@a{", "{a:", "@a @b(", "{@x "] {
        let input = unit.repeat(100_000);
        assert!(parse(&input).is_err(), "{}", unit);
    }
    assert!(parse_with_max_depth("{{1}}", 1).is_err());
    assert!(parse_with_max_depth("{{1}}", 2).is_ok());
}

#[test]
fn size_limits() {
    let long = "7".repeat(5000);
    let e = err(&long);
    assert!(e.expected.contains("at most 2048 digits"), "{}", e);
    assert!(parse(&"9".repeat(2048)).is_ok());
    // Long runs of attributes, items and text are linear and fine.
    assert!(parse(&"@a".repeat(50_000)).is_ok());
    assert!(parse(&format!("{{{}}}", "1,".repeat(100_000))).is_ok());
    assert!(parse(&format!("\"{}\"", "\\n".repeat(100_000))).is_ok());
}

/// A document at the nesting limit goes through parsing, printing, comparison and
/// serde on a default-sized (2 MiB) test thread, in debug builds too.
#[test]
fn max_depth_document_full_pipeline() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Tree(Vec<Tree>);
    #[derive(serde::Serialize, serde::Deserialize)]
    enum Chain {
        End,
        Next(Box<Chain>),
    }
    let depth = DEFAULT_MAX_DEPTH;
    let braces = format!("{}{}", "{".repeat(depth), "}".repeat(depth));
    let attrs = format!("{}{}", "@a{".repeat(depth), "}".repeat(depth));
    // `@Next(` opens two levels: the attributed value and its argument.
    let chain = format!(
        "{}@End{}",
        "@Next(".repeat(depth / 2 - 1),
        ")".repeat(depth / 2 - 1)
    );
    for input in [&braces, &attrs, &chain] {
        let v = parse(input).unwrap_or_default();
        assert!(!v.is_absent());
        assert_eq!(parse(&v.to_string()).ok(), Some(v.clone()));
        assert_eq!(parse(&crate::recon::to_string_pretty(&v)).ok(), Some(v));
    }
    let tree: Tree = crate::recon::from_str(&braces).unwrap_or(Tree(vec![]));
    assert_eq!(crate::recon::to_string(&tree).ok().as_ref(), Some(&braces));
    let chain_value: Chain = crate::recon::from_str(&chain).unwrap_or(Chain::End);
    assert_eq!(
        crate::recon::to_string(&chain_value).ok().as_ref(),
        Some(&chain)
    );
    assert!(crate::recon::to_value(&chain_value).is_ok());
}
