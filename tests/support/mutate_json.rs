//! JSON mutations for the fuzz tests (`*/tests/fuzz.rs`) of files and members that hold JSON:
//! a seed document with some of its values swapped for ones that break the fields readers rely
//! on, then (sometimes) a few byte edits of the text ([`mutate`](super::mutate)). Include it,
//! after `mutate.rs`, with `#[path = "…/tests/support/mutate_json.rs"] mod mutate_json;`.
//!
//! ```text
//!  seed JSON ─► parse ─► 1–5 edits (a value at a node swapped for an odd one, a node dropped)
//!            ─► text ─► 0–2 byte edits (mutate.rs) ─► bytes for the reader
//! ```
//! Nodes are numbered depth first, so an edit lands anywhere in the document: on a field of a
//! nested array element as often as on a top-level one.
#![allow(dead_code)] // shared by several test binaries; each uses part of it

use proptest::prelude::*;
use serde_json::Value;

use super::mutate;

/// Values a JSON field may be swapped for: bounds of the integer types, beyond them, other
/// types, odd strings (paths, dates, numbers as text).
pub fn odd_values() -> Vec<Value> {
    serde_json::from_str(
        r#"[null, 0, -1, 1, 3, 4, 255, 256, -129, 2147483647, 4294967295, 4294967296,
            9223372036854775807, -9223372036854775808, 18446744073709551615, 1e308, -1e308, 0.5,
            "", " ", "x", "-2", "4", "5", "1e400", "NaN", "18446744073709551616", "../../x", "/etc/passwd",
            "C:\\x", "a/b", "2013-13-45", "2013-05-24", "0000-00-00", "٢٠١٣-٠٥-٢٤", "\u0000", true, false,
            [], [1], {}, {"a": 1}]"#,
    )
    .expect("the odd values are JSON")
}

/// One edit of a JSON document.
#[derive(Debug, Clone)]
pub enum JsonEdit {
    /// The node with this depth-first index (modulo the node count) set to `odd_values()[v]`.
    Set(usize, usize),
    /// The node removed from its object or array.
    Remove(usize),
}

/// Any one [`JsonEdit`].
pub fn json_edit() -> impl Strategy<Value = JsonEdit> {
    let count = odd_values().len();
    prop_oneof![
        5 => (any::<usize>(), 0..count).prop_map(|(node, v)| JsonEdit::Set(node, v)),
        1 => any::<usize>().prop_map(JsonEdit::Remove),
    ]
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(fields) => fields.values().map(node_count).sum(),
        _ => 0,
    }
}

/// Applies `edit` to the node `*index` counts down to; true once it was applied.
fn edit_at(value: &mut Value, index: &mut usize, edit: &JsonEdit, odd: &[Value]) -> bool {
    let children = match value {
        Value::Array(items) => items.len(),
        Value::Object(fields) => fields.len(),
        _ => 0,
    };
    for position in 0..children {
        *index -= 1;
        let hit = *index == 0;
        match (&mut *value, hit) {
            (Value::Array(items), true) => match edit {
                JsonEdit::Set(_, v) => items[position] = odd[*v].clone(),
                JsonEdit::Remove(_) => {
                    items.remove(position);
                }
            },
            (Value::Object(fields), true) => {
                let key = fields.keys().nth(position).cloned().expect("the child has a key");
                match edit {
                    JsonEdit::Set(_, v) => fields[&key] = odd[*v].clone(),
                    JsonEdit::Remove(_) => {
                        fields.remove(&key);
                    }
                }
            }
            (Value::Array(items), false) => {
                if edit_at(&mut items[position], index, edit, odd) {
                    return true;
                }
                continue;
            }
            (Value::Object(fields), false) => {
                if edit_at(fields.values_mut().nth(position).expect("a child"), index, edit, odd) {
                    return true;
                }
                continue;
            }
            _ => unreachable!("only containers have children"),
        }
        return true;
    }
    false
}

/// `seed` with `edits` applied in order (the root itself is never replaced).
pub fn apply(seed: &Value, edits: &[JsonEdit]) -> Value {
    let odd = odd_values();
    let mut value = seed.clone();
    for edit in edits {
        let nodes = node_count(&value);
        if nodes < 2 {
            break;
        }
        let (JsonEdit::Set(node, _) | JsonEdit::Remove(node)) = edit;
        let mut index = 1 + node % (nodes - 1);
        edit_at(&mut value, &mut index, edit, &odd);
    }
    value
}

/// A seed of `seeds` with 1–5 [`JsonEdit`]s and 0–2 byte [`mutate::Mutation`]s of its text.
pub fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty(), "no seeds to mutate");
    let count = seeds.len();
    (0..count, proptest::collection::vec(json_edit(), 1..6), proptest::collection::vec(mutate::mutation(), 0..3))
        .prop_map(move |(seed, edits, bytes)| {
            let text = serde_json::to_vec(&apply(&seeds[seed], &edits)).expect("values serialise");
            mutate::apply(&text, &bytes)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_reach_every_node_and_keep_the_root() {
        let seed: Value = serde_json::from_str(r#"{"a": [1, {"b": 2}], "c": 3}"#).unwrap();
        let nodes = node_count(&seed);
        assert_eq!(nodes, 6);
        for node in 0..2 * nodes {
            assert!(apply(&seed, &[JsonEdit::Set(node, 0)]).is_object());
            assert!(apply(&seed, &[JsonEdit::Remove(node)]).is_object());
        }
        // Depth first: 1 is `a`, 2 its `1`, 3 its object, 4 `b`, 5 `c`.
        let set = apply(&seed, &[JsonEdit::Set(2, 0)]);
        assert_eq!(set, serde_json::json!({"a": [1, null], "c": 3}));
    }
}
