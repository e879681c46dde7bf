//! Map lane bodies: every operation reads back as itself; malformed bodies are refused.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::recon::{parse, Value};
use crate::warp::map_body::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

/// Encodes `message` and prints it.
fn text<K: Serialize, V: Serialize>(message: &MapMessage<K, V>) -> String {
    match map_message_to_value(message) {
        Ok(v) => v.to_string(),
        Err(e) => panic!("{:?} did not encode: {}", std::any::type_name::<K>(), e),
    }
}

/// Parses `input` as Recon and decodes it as a map operation.
fn read<K: DeserializeOwned, V: DeserializeOwned>(input: &str) -> Result<MapMessage<K, V>, String> {
    let value = parse(input).map_err(|e| format!("not Recon: {}", e))?;
    map_message_from_value(&value).map_err(|e| e.to_string())
}

fn update<K, V>(key: K, value: V) -> MapMessage<K, V> {
    MapMessage::Update { key, value }
}

#[test]
fn writes_each_form() {
    assert_eq!(text(&update("k5", 5)), "@update(key:k5) 5");
    let record: BTreeMap<&str, i32> = [("a", 1)].into();
    assert_eq!(text(&update("x y", record)), "@update(key:\"x y\"){a:1}");
    assert_eq!(text(&update(3, "x")), "@update(key:3) x");
    assert_eq!(text(&update((1, 2), 5)), "@update(key:{1,2}) 5");
    assert_eq!(
        text(&update(Point { x: 1, y: 2 }, true)),
        "@update(key:@Point{x:1,y:2}) true"
    );
    assert_eq!(
        text(&update("p", Point { x: 1, y: 2 })),
        "@update(key:p)@Point{x:1,y:2}"
    );
    assert_eq!(text(&update("k", vec![1, 2])), "@update(key:k){1,2}");
    assert_eq!(text(&update("k", vec![5])), "@update(key:k){{5}}");
    assert_eq!(text(&update("k", Vec::<i32>::new())), "@update(key:k){{}}");
    assert_eq!(text(&update("k", None::<i32>)), "@update(key:k)");
    assert_eq!(
        text(&update("k", "Link closed.")),
        "@update(key:k) \"Link closed.\""
    );
    assert_eq!(
        text(&MapMessage::<&str, i32>::Remove { key: "k" }),
        "@remove(key:k)"
    );
    assert_eq!(
        text(&MapMessage::<&str, i32>::Remove { key: "x y" }),
        "@remove(key:\"x y\")"
    );
    assert_eq!(text(&MapMessage::<i32, i32>::Clear), "@clear");
    assert_eq!(text(&MapMessage::<i32, i32>::Take(3)), "@take(3)");
    assert_eq!(text(&MapMessage::<i32, i32>::Drop(0)), "@drop(0)");
    assert_eq!(
        text(&MapMessage::<i32, i32>::Take(u64::MAX)),
        "@take(18446744073709551615)"
    );
}

#[test]
fn reads_each_form() {
    assert_eq!(
        read::<String, i32>("@update(key:k5) 5"),
        Ok(update("k5".into(), 5))
    );
    assert_eq!(
        read::<String, i32>("@update(key:\"x y\") 5"),
        Ok(update("x y".into(), 5))
    );
    assert_eq!(
        read::<i32, String>("@update(key:3) x"),
        Ok(update(3, "x".into()))
    );
    assert_eq!(
        read::<(i32, i32), i32>("@update(key:{1,2}) 5"),
        Ok(update((1, 2), 5))
    );
    assert_eq!(
        read::<String, BTreeMap<String, i32>>("@update(key: \"x y\") {a: 1}"),
        Ok(update("x y".into(), [("a".to_owned(), 1)].into()))
    );
    assert_eq!(
        read::<String, Point>("@update(key:p)@Point{x:1,y:2}"),
        Ok(update("p".into(), Point { x: 1, y: 2 }))
    );
    assert_eq!(
        read::<Point, bool>("@update(key:@Point{x:1,y:2}) true"),
        Ok(update(Point { x: 1, y: 2 }, true))
    );
    assert_eq!(
        read::<String, Vec<i32>>("@update(key:k){1,2}"),
        Ok(update("k".into(), vec![1, 2]))
    );
    assert_eq!(
        read::<String, Vec<i32>>("@update(key:k){{5}}"),
        Ok(update("k".into(), vec![5]))
    );
    assert_eq!(
        read::<String, Vec<i32>>("@update(key:k){{}}"),
        Ok(update("k".into(), vec![]))
    );
    assert_eq!(
        read::<String, i64>("@update(key:k)0x10"),
        Ok(update("k".into(), 16))
    );
    assert_eq!(
        read::<String, i32>("@remove(key:k)"),
        Ok(MapMessage::Remove { key: "k".into() })
    );
    assert_eq!(
        read::<i32, i32>("@remove(key: 7)"),
        Ok(MapMessage::Remove { key: 7 })
    );
    assert_eq!(read::<i32, i32>("@clear"), Ok(MapMessage::Clear));
    assert_eq!(read::<i32, i32>("@clear()"), Ok(MapMessage::Clear));
    assert_eq!(read::<i32, i32>("@take(3)"), Ok(MapMessage::Take(3)));
    assert_eq!(read::<i32, i32>("@drop(0x10)"), Ok(MapMessage::Drop(16)));
    assert_eq!(
        read::<i32, i32>("@take(18446744073709551615)"),
        Ok(MapMessage::Take(u64::MAX))
    );
}

#[test]
fn reads_client_spellings() {
    let direct = Ok(update("direct".to_owned(), 42));
    // Python glues the value, JS puts a space, spaces inside the header are fine.
    assert_eq!(read::<String, i32>("@update(key:direct)42"), direct);
    assert_eq!(read::<String, i32>("@update(key:direct) 42"), direct);
    assert_eq!(read::<String, i32>("@update(key: \"direct\") 42"), direct);
    assert_eq!(read::<String, i32>("@update(\"key\":direct)42"), direct);
}

#[test]
fn update_without_value_reads_extant() {
    assert_eq!(
        read::<String, Option<i32>>("@update(key:k)"),
        Ok(update("k".into(), None))
    );
    assert_eq!(
        read::<String, ()>("@update(key:k)"),
        Ok(update("k".into(), ()))
    );
    assert_eq!(
        read::<String, Vec<i32>>("@update(key:k)"),
        Ok(update("k".into(), vec![]))
    );
    let e = read::<String, i32>("@update(key:k)").unwrap_err();
    assert!(
        e.starts_with("the value of `@update` does not fit the lane's type"),
        "{}",
        e
    );
    // An extant key: `@update(key:)`.
    assert_eq!(
        read::<Option<i32>, i32>("@update(key:) 1"),
        Ok(update(None, 1))
    );
}

#[test]
fn refuses_anything_else() {
    let e = |input: &str| read::<String, i32>(input).unwrap_err();
    assert_eq!(
        e("@upsert(key:k) 1"),
        "unknown map operation `@upsert` (expected update, remove, clear, take or drop)"
    );
    assert_eq!(
        e("@update 5"),
        "`@update` has no `key:` slot (expected `@update(key:k)`)"
    );
    assert_eq!(
        e("@remove()"),
        "`@remove` has no `key:` slot (expected `@remove(key:k)`)"
    );
    assert_eq!(
        e("@update(k) 5"),
        "the key of `@update` must be the named slot `key:` (as in `@update(key:k)`), found `k`"
    );
    assert_eq!(
        e("@update(k, 5)"),
        "`@update` takes exactly one slot, `key:`, found `{k,5}`"
    );
    assert_eq!(
        e("@update(key:k,x:1) 5"),
        "`@update` takes exactly one slot, `key:`, found `{key:k,x:1}`"
    );
    assert_eq!(
        e("@update(id:k) 5"),
        "`@update` takes exactly one slot, `key:`, found `{id:k}`"
    );
    assert_eq!(
        e("@take(-1)"),
        "`@take` takes a non-negative integer count, found `-1`"
    );
    assert_eq!(
        e("@drop(1.5)"),
        "`@drop` takes a non-negative integer count, found `1.5`"
    );
    assert_eq!(
        e("@take"),
        "`@take` takes a non-negative integer count, found nothing"
    );
    assert_eq!(
        e("@take(n:1)"),
        "`@take` takes a non-negative integer count, found `{n:1}`"
    );
    assert_eq!(
        e("@remove(key:k) 5"),
        "`@remove` takes no value, found `5` after it"
    );
    assert_eq!(e("@clear 1"), "`@clear` takes no value, found `1` after it");
    assert_eq!(
        e("@take(1)@x"),
        "`@take` takes no value, found `@x` after it"
    );
    assert_eq!(e("@clear(1)"), "`@clear` takes no argument, found `1`");
    assert!(e("5").starts_with("expected a map operation"));
    assert!(e("{key:k,value:1}").starts_with("expected a map operation"));
    let key = read::<i32, i32>("@update(key:k) 1").unwrap_err();
    assert!(
        key.starts_with("the key of `@update` does not fit the lane's type"),
        "{}",
        key
    );
    assert!(key.ends_with("(found `k`)"), "{}", key);
    let value = e("@update(key:k) \"str\"");
    assert!(
        value.starts_with("the value of `@update` does not fit"),
        "{}",
        value
    );
}

#[test]
fn event_body_helpers() {
    let key = Value::text("x y");
    let value = Value::of_slots([("a", 1)]);
    assert_eq!(
        map_event_body(&key, Some(&value)).to_string(),
        "@update(key:\"x y\"){a:1}"
    );
    assert_eq!(
        map_event_body(&key, None).to_string(),
        "@remove(key:\"x y\")"
    );
    assert_eq!(
        map_update_value(Value::text("k5"), Value::Int(5)).to_string(),
        "@update(key:k5) 5"
    );
    assert_eq!(
        map_update_value(Value::Int(1), Value::Absent).to_string(),
        "@update(key:1)"
    );
    assert_eq!(
        map_remove_value(Value::of_items([1, 2])).to_string(),
        "@remove(key:{1,2})"
    );
}

/// Encodes, prints, parses and decodes `message`.
fn round_trip<K, V>(message: &MapMessage<K, V>) -> Result<MapMessage<K, V>, String>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    let printed = map_message_to_value(message)
        .map_err(|e| e.to_string())?
        .to_string();
    let back = parse(&printed).map_err(|e| format!("{:?} does not parse: {}", printed, e))?;
    map_message_from_value(&back).map_err(|e| e.to_string())
}

fn message<K: std::fmt::Debug + Clone, V: std::fmt::Debug + Clone>(
    key: impl Strategy<Value = K> + Clone,
    value: impl Strategy<Value = V>,
) -> impl Strategy<Value = MapMessage<K, V>> {
    prop_oneof![
        (key.clone(), value).prop_map(|(key, value)| MapMessage::Update { key, value }),
        key.prop_map(|key| MapMessage::Remove { key }),
        Just(MapMessage::Clear),
        any::<u64>().prop_map(MapMessage::Take),
        any::<u64>().prop_map(MapMessage::Drop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn text_keys_and_int_values(m in message(any::<String>(), any::<i32>())) {
        prop_assert_eq!(round_trip(&m), Ok(m));
    }

    #[test]
    fn int_keys_and_vec_values(
        m in message(any::<i64>(), proptest::collection::vec(any::<i32>(), 0..3)),
    ) {
        prop_assert_eq!(round_trip(&m), Ok(m));
    }

    #[test]
    fn record_keys_and_nested_values(
        m in message(
            (any::<i32>(), "[a-z ]{0,4}"),
            // Not `Option`s inside sequences: `vec![None]` cannot round-trip in
            // Recon (a known limit of the serde mapping, not of map operations).
            proptest::option::of(proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..2),
                0..3,
            )),
        ),
    ) {
        prop_assert_eq!(round_trip(&m), Ok(m));
    }

    #[test]
    fn struct_values(m in message("[a-z]{1,4}", (any::<i32>(), any::<i32>())
        .prop_map(|(x, y)| Point { x, y })))
    {
        prop_assert_eq!(round_trip(&m), Ok(m));
    }

    #[test]
    fn never_panics_on_values(input in "[@a-z(){}:,0-9 \"-]{0,24}") {
        if let Ok(v) = parse(&input) {
            let _ = map_message_from_value::<String, i32>(&v);
            let _ = map_message_from_value::<Vec<i32>, Option<Point>>(&v);
        }
    }
}
