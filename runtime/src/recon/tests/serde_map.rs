//! The serde mapping, row by row.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::strategies::{Inner, Marker, Meters, Shape, Triple};
use crate::recon::{
    from_str, from_value_ref, parse, to_string, to_value, write_to, Deserializer, Value,
};

fn ser<T: Serialize + ?Sized>(x: &T) -> String {
    match to_string(x) {
        Ok(s) => s,
        Err(e) => panic!("serialisation failed: {}", e),
    }
}

fn de<T: serde::de::DeserializeOwned>(s: &str) -> T {
    match from_str(s) {
        Ok(v) => v,
        Err(e) => panic!("{:?} did not deserialise: {}", s, e),
    }
}

fn de_err<T: serde::de::DeserializeOwned + std::fmt::Debug>(s: &str) -> String {
    match from_str::<T>(s) {
        Ok(v) => panic!("{:?} deserialised as {:?}", s, v),
        Err(e) => e.to_string(),
    }
}

#[test]
fn primitives() {
    assert_eq!(ser(&true), "true");
    assert_eq!(ser(&-7i8), "-7");
    assert_eq!(ser(&u64::MAX), "18446744073709551615");
    assert_eq!(ser(&i128::MIN), "-170141183460469231731687303715884105728");
    assert_eq!(ser(&1000.0f64), "1000.0");
    assert_eq!(ser(&1.1f32), "1.1");
    assert_eq!(ser(&'x'), "x");
    assert_eq!(ser(&'"'), "\"\\\"\"");
    assert_eq!(ser("hello"), "hello");
    assert_eq!(ser("hello world"), "\"hello world\"");
    assert_eq!(ser("true"), "\"true\"");
    assert_eq!(ser(&f64::INFINITY), "inf");
    assert!(de::<bool>("true"));
    assert_eq!(de::<u64>("18446744073709551615"), u64::MAX);
    assert_eq!(
        de::<i128>("-170141183460469231731687303715884105728"),
        i128::MIN
    );
    assert_eq!(
        de::<u128>("340282366920938463463374607431768211455"),
        u128::MAX
    );
    assert_eq!(de::<f32>("1.1"), 1.1f32);
    assert_eq!(de::<f64>("3"), 3.0);
    assert_eq!(de::<f64>("inf"), f64::INFINITY);
    assert_eq!(de::<f64>("\"-inf\""), f64::NEG_INFINITY);
    assert!(de::<f64>("nan").is_nan());
    assert_eq!(de::<char>("\"é\""), 'é');
    assert_eq!(de::<String>("ident"), "ident");
    assert_eq!(de::<String>("\"quoted \\\" text\""), "quoted \" text");
}

#[test]
fn integers_accept_any_recon_int_that_fits() {
    assert_eq!(de::<i32>("0x10"), 16);
    assert_eq!(de::<u8>("0b11111111"), 255);
    assert_eq!(de::<i64>("-0x8000000000000000"), i64::MIN);
    assert_eq!(de::<u16>("42"), 42);
    assert_eq!(
        de_err::<u8>("256"),
        "invalid value: integer `256`, expected u8"
    );
    assert_eq!(
        de_err::<u32>("-1"),
        "invalid value: integer `-1`, expected u32"
    );
    assert_eq!(
        de_err::<i64>("18446744073709551615"),
        "invalid value: integer `18446744073709551615`, expected i64"
    );
    assert!(de_err::<u64>("18446744073709551616").contains("expected u64"));
}

/// The payloads that swim-rust drops for an `i32` lane must fail here too.
#[test]
fn i32_rejects_what_swim_rust_drops() {
    assert_eq!(
        de_err::<i32>("2.0"),
        "invalid type: floating point `2.0`, expected i32"
    );
    assert_eq!(
        de_err::<i32>("\"str\""),
        "invalid type: string \"str\", expected i32"
    );
    assert_eq!(de_err::<i32>("{5}"), "invalid type: sequence, expected i32");
    assert!(de_err::<i32>("@five").contains("expected i32"));
    assert!(de_err::<i32>("").contains("expected i32"));
    assert!(de_err::<String>("5").contains("expected a string"));
    assert!(de_err::<char>("ab").contains("expected a character"));
    assert!(de_err::<bool>("1").contains("expected a boolean"));
}

#[test]
fn bytes_as_data() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Blob<'a>(#[serde(with = "serde_bytes_like")] Vec<u8>, &'a str);
    let v = to_value(&Blob(vec![0, 1, 2], "x")).unwrap_or_default();
    assert_eq!(v.to_string(), "@Blob{%AAEC,x}");
    let back: Blob<'_> = match from_value_ref(&v) {
        Ok(b) => b,
        Err(e) => panic!("{}", e),
    };
    assert_eq!(back, Blob(vec![0, 1, 2], "x"));
}

/// `serialize_bytes` / `deserialize_byte_buf` without the serde_bytes crate.
mod serde_bytes_like {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[test]
fn options_and_units() {
    assert_eq!(ser(&None::<i32>), "");
    assert_eq!(ser(&Some(5)), "5");
    assert_eq!(ser(&()), "");
    assert_eq!(ser(&vec![Some(1), None, Some(3)]), "{1,,3}");
    assert_eq!(ser(&vec![Some(1), None]), "{1,}");
    assert_eq!(de::<Option<i32>>(""), None);
    assert_eq!(
        de::<Vec<Option<i32>>>("{1,,3}"),
        vec![Some(1), None, Some(3)]
    );
    assert_eq!(de::<Vec<Option<i32>>>("{1,}"), vec![Some(1), None]);
    // Known limit (as in swim-rust): a lone empty element reads back as no element.
    assert_eq!(ser(&vec![None::<i32>]), "{}");
    assert_eq!(de::<Vec<Option<i32>>>("{}"), Vec::<Option<i32>>::new());
    de::<()>("");
    de::<()>("{}");
    let absent = Value::Absent;
    assert_eq!(
        Option::<u8>::deserialize(Deserializer::new(&absent)).ok(),
        Some(None)
    );
}

#[test]
fn structs() {
    assert_eq!(ser(&Marker), "@Marker");
    assert_eq!(ser(&Meters(5)), "5");
    assert_eq!(
        ser(&Triple(1, "a b".into(), true)),
        "@Triple{1,\"a b\",true}"
    );
    let inner = Inner {
        name: "n".into(),
        score: 1.5,
        tags: vec!["x".into()],
        flag: None,
    };
    assert_eq!(ser(&inner), "@Inner{name:n,score:1.5,tags:{x},flag:}");
    assert_eq!(de::<Marker>("@Marker"), Marker);
    assert_eq!(de::<Marker>(""), Marker);
    assert_eq!(de::<Meters>("0x10"), Meters(16));
    assert_eq!(
        de::<Triple>("{1,\"a b\",true}"),
        Triple(1, "a b".into(), true)
    );
    // Without the attribute, in any order, unknown slots ignored, missing Option = None.
    assert_eq!(
        de::<Inner>("{tags:{x},extra:{1,2},score:1.5,name:n}"),
        inner
    );
    assert_eq!(
        de::<Inner>("@Other{name:n,score:1.5,tags:{x},flag:}"),
        inner
    );
    assert!(from_str::<Inner>("{name:n}").is_err());
}

#[test]
fn sequences_and_maps() {
    assert_eq!(ser(&vec![1, 2, 3]), "{1,2,3}");
    assert_eq!(ser(&Vec::<i32>::new()), "{}");
    assert_eq!(ser(&(1, "x", 2.5)), "{1,x,2.5}");
    assert_eq!(ser(&vec![vec![1], vec![]]), "{{1},{}}");
    let m: BTreeMap<&str, i32> = [("a", 1), ("b c", 2)].into_iter().collect();
    assert_eq!(ser(&m), "{a:1,\"b c\":2}");
    let k: BTreeMap<(i32, i32), bool> = [((1, 2), true)].into_iter().collect();
    assert_eq!(ser(&k), "{{1,2}:true}");
    assert_eq!(de::<BTreeMap<(i32, i32), bool>>("{{1,2}:true}"), k);
    assert_eq!(
        de::<HashMap<i64, String>>("{1:one, 0x2: \"two\"}")
            .get(&2)
            .map(String::as_str),
        Some("two")
    );
    assert_eq!(de::<Vec<i32>>("@tagged{1,2}"), vec![1, 2]);
    assert_eq!(de::<Vec<i32>>(""), Vec::<i32>::new());
    assert!(de_err::<Vec<i32>>("{a:1}").contains("found the slot `a:`"));
    assert!(de_err::<BTreeMap<String, i32>>("{1}").contains("expected a slot"));
}

#[test]
fn enums() {
    let cases: Vec<(Shape, &str)> = vec![
        (Shape::Empty, "@Empty"),
        (Shape::NoFields(), "@NoFields"),
        (Shape::Circle(2.5), "@Circle(2.5)"),
        (Shape::Rect { w: 1, h: 2 }, "@Rect{w:1,h:2}"),
        (Shape::Pair(1, "x".into()), "@Pair{1,x}"),
        (Shape::List(vec![]), "@List({})"),
        (Shape::List(vec![7]), "@List({7})"),
        (Shape::List(vec![7, 8]), "@List(7,8)"),
        (Shape::Maybe(None), "@Maybe"),
        (Shape::Maybe(Some(3)), "@Maybe(3)"),
        (
            Shape::Nested(Box::new(Shape::Circle(1.0))),
            "@Nested(@Circle(1.0))",
        ),
        (
            Shape::Nested(Box::new(Shape::Nested(Box::new(Shape::List(vec![1]))))),
            "@Nested(@Nested(@List({1})))",
        ),
    ];
    for (shape, text) in cases {
        assert_eq!(ser(&shape), text);
        assert_eq!(
            to_value(&shape).map(|v| v.to_string()).ok().as_deref(),
            Some(text)
        );
        assert_eq!(de::<Shape>(text), shape);
    }
    // Alternative spellings accepted when reading.
    assert_eq!(de::<Shape>("Empty"), Shape::Empty);
    assert_eq!(de::<Shape>("@Circle 2.5"), Shape::Circle(2.5));
    assert_eq!(de::<Shape>("@Rect(h:2,w:1)"), Shape::Rect { w: 1, h: 2 });
    assert_eq!(de::<Shape>("@Pair(1,x)"), Shape::Pair(1, "x".into()));
    assert!(de_err::<Shape>("@Empty(1)").contains("takes no argument"));
    assert!(de_err::<Shape>("@Hexagon").contains("unknown variant `Hexagon`"));
    assert!(from_str::<Shape>("{1}").is_err());
    assert!(from_str::<Shape>("5").is_err());
}

#[test]
fn untagged_and_flatten_use_deserialize_any() {
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Loose {
        Num(i64),
        Text(String),
        List(Vec<i64>),
        Point { x: i64, y: i64 },
    }
    assert_eq!(de::<Loose>("5"), Loose::Num(5));
    assert_eq!(de::<Loose>("hi"), Loose::Text("hi".into()));
    assert_eq!(de::<Loose>("{1,2}"), Loose::List(vec![1, 2]));
    assert_eq!(de::<Loose>("@P{x:1,y:2}"), Loose::Point { x: 1, y: 2 });

    #[derive(Deserialize, Debug, PartialEq)]
    struct Flat {
        a: i32,
        #[serde(flatten)]
        rest: BTreeMap<String, i32>,
    }
    let f: Flat = de("{a:1,b:2,c:3}");
    assert_eq!((f.a, f.rest.len()), (1, 2));

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(tag = "type")]
    enum Tagged {
        Move { x: i32 },
    }
    let text = ser(&Tagged::Move { x: 3 });
    assert_eq!(text, "@Tagged{type:Move,x:3}");
    assert_eq!(de::<Tagged>(&text), Tagged::Move { x: 3 });
}

#[test]
fn borrowing_and_writing() {
    let v = match parse("{name: \"borrowed text\", raw: %AAEC}") {
        Ok(v) => v,
        Err(e) => panic!("{}", e),
    };
    #[derive(Deserialize)]
    struct View<'a> {
        name: &'a str,
    }
    let view: View<'_> = match from_value_ref(&v) {
        Ok(view) => view,
        Err(e) => panic!("{}", e),
    };
    assert_eq!(view.name, "borrowed text");
    let mut out = String::from("@event(node:\"/a\",lane:v) ");
    assert!(write_to(&mut out, &Shape::Circle(1.0)).is_ok());
    assert_eq!(out, "@event(node:\"/a\",lane:v) @Circle(1.0)");
}

#[test]
fn failed_write_leaves_buffer_untouched() {
    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeSeq};
            let mut seq = s.serialize_seq(None)?;
            seq.serialize_element(&1)?;
            Err(S::Error::custom("boom"))
        }
    }
    let mut out = String::from("keep");
    let err = write_to(&mut out, &Fails);
    assert_eq!(err.map_err(|e| e.to_string()), Err("boom".to_owned()));
    assert_eq!(out, "keep");
}
