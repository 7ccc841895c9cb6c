//! The crate's promise: every value, and every error about a value, knows where it was written.

use serde::Deserialize;
use sluice_source::{Loc, Node, NodeDeserializer, NodeKind, PathSeg, parse};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    #[serde(default)]
    weight: Option<u32>,
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Action {
    #[serde(rename = "type")]
    kind: String,
}

const POLICY: &str = "\
rules:
  - name: first
    actions:
      - type: deny
  - name: second
    weight: heavy
    actions: []
";

#[test]
fn every_value_keeps_its_line_and_column() {
    let doc = parse(POLICY).unwrap();
    let path = [
        PathSeg::Key("rules".into()),
        PathSeg::Index(0),
        PathSeg::Key("actions".into()),
        PathSeg::Index(0),
        PathSeg::Key("type".into()),
    ];
    let node = doc.at(&path).unwrap();
    assert_eq!(node.as_str(), Some("deny"));
    assert_eq!(node.loc, Loc { line: 4, col: 15 });
    assert_eq!(PathSeg::render(&path), "rules[0].actions[0].type");
}

#[test]
fn a_typed_error_names_the_path_and_place_of_the_bad_value() {
    let doc = parse(POLICY).unwrap();
    let second = doc
        .at(&[PathSeg::Key("rules".into()), PathSeg::Index(1)])
        .unwrap();
    let err = NodeDeserializer::deserialize::<Rule>(second).unwrap_err();
    assert_eq!(PathSeg::render(&err.path), "weight");
    assert_eq!(err.loc, Some(Loc { line: 6, col: 13 }));
    assert!(err.message.contains("heavy"), "{}", err.message);
}

#[test]
fn an_unknown_key_is_refused_where_it_was_written() {
    let doc = parse("name: a\nactions: []\nwieght: 3\n").unwrap();
    let err = NodeDeserializer::deserialize::<Rule>(&doc).unwrap_err();
    assert!(err.message.contains("wieght"), "{}", err.message);
    assert_eq!(err.loc.map(|l| l.line), Some(3));
}

#[test]
fn a_good_document_deserializes() {
    let doc = parse(POLICY).unwrap();
    let first = doc
        .at(&[PathSeg::Key("rules".into()), PathSeg::Index(0)])
        .unwrap();
    let rule: Rule = NodeDeserializer::deserialize(first).unwrap();
    assert_eq!(
        rule,
        Rule {
            name: "first".into(),
            weight: None,
            actions: vec![Action {
                kind: "deny".into()
            }],
        }
    );
}

#[test]
fn json_is_read_too_with_locations() {
    let doc = parse("{\"a\": [1, {\"b\": true}]}").unwrap();
    let b = doc
        .at(&[
            PathSeg::Key("a".into()),
            PathSeg::Index(1),
            PathSeg::Key("b".into()),
        ])
        .unwrap();
    assert_eq!(b.kind, NodeKind::Bool(true));
    assert_eq!(b.loc.line, 1);
    assert!(b.loc.col > 1);
    assert_eq!(doc.to_json(), serde_json::json!({"a": [1, {"b": true}]}));
}

#[test]
fn a_syntax_error_carries_its_place_and_a_one_line_message() {
    let (loc, message) = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(loc.line >= 1, "{loc}");
    assert!(!message.contains('\n'), "{message}");
    assert!(!message.starts_with("error: line"), "{message}");
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    // `on`/`yes` are booleans in YAML 1.1 only; a header named `on` must stay text.
    let doc = parse("a: yes\nb: on\nc: true\n").unwrap();
    assert_eq!(doc.get("a").unwrap().as_str(), Some("yes"));
    assert_eq!(doc.get("b").unwrap().as_str(), Some("on"));
    assert_eq!(doc.get("c").unwrap().kind, NodeKind::Bool(true));
}

#[test]
fn an_empty_document_is_an_empty_map() {
    let doc = parse("  \n").unwrap();
    assert_eq!(doc.as_map().map(<[(Node, Node)]>::len), Some(0));
}

#[test]
fn scalars_render_as_text() {
    let doc = parse("n: 1\nf: 1.5\nb: false\nz: ~\nl: [1]\n").unwrap();
    let text = |k: &str| doc.get(k).unwrap().scalar_text();
    assert_eq!(text("n").as_deref(), Some("1"));
    assert_eq!(text("f").as_deref(), Some("1.5"));
    assert_eq!(text("b").as_deref(), Some("false"));
    assert_eq!(text("z").as_deref(), Some(""));
    assert_eq!(text("l"), None);
}
