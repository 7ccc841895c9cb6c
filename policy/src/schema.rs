//! The policy document's JSON Schema (draft-07), generated from the registered actions' typed
//! configs. Actions are told apart with `if`/`then` on `type` (not `oneOf`), so editors report
//! the precise field at fault.

use serde_json::{Map, Value, json};

use crate::phase::Phase;
use crate::registry::Registry;

/// Builds the schema for policies using `registry`'s actions.
pub fn policy_schema(registry: &Registry) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut config_refs: Vec<(&'static str, Value, bool)> = Vec::new();
    for factory in registry.factories() {
        let schema = factory.config_schema(&mut generator);
        config_refs.push((
            factory.type_name(),
            schema.to_value(),
            factory.config_optional(),
        ));
    }
    let mut definitions: Map<String, Value> =
        generator.take_definitions(true).into_iter().collect();

    for phase in Phase::ALL {
        let mut types = Vec::new();
        let mut all_of = Vec::new();
        for factory in registry.factories() {
            if !factory.phases().contains(&phase) {
                continue;
            }
            let mut names = vec![factory.type_name()];
            names.extend(factory.aliases());
            names.extend(factory.deprecated_aliases());
            for name in &names {
                types.push(json!(name));
            }
            let Some((_, config, optional)) = config_refs
                .iter()
                .find(|(t, _, _)| *t == factory.type_name())
            else {
                continue;
            };
            let mut then = json!({ "properties": { "config": config } });
            if !optional {
                then["required"] = json!(["config"]);
            }
            all_of.push(json!({
                "if": { "properties": { "type": { "enum": names } }, "required": ["type"] },
                "then": then,
            }));
        }
        definitions.insert(
            format!("action_{}", phase.key()),
            json!({
                "type": "object",
                "description": format!("An action in {}: its `type` and its `config`.", phase.key()),
                "additionalProperties": false,
                "required": ["type"],
                "properties": {
                    "type": { "type": "string", "enum": types, "description": "The action type." },
                    "config": { "description": "The action's settings; their shape depends on `type`." }
                },
                "allOf": all_of,
            }),
        );
        definitions.insert(
            format!("rule_{}", phase.key()),
            json!({
                "type": "object",
                "description": "A rule: when all its expressions hold, its actions run in order.",
                "additionalProperties": false,
                "required": ["actions"],
                "properties": {
                    "name": { "description": "A label for the rule (any scalar).", "type": ["string", "number", "boolean"] },
                    "expressions": {
                        "description": "CEL expressions that must all be true; absent or empty matches everything.",
                        "type": "array",
                        "items": { "type": "string" }
                    },
                    "actions": {
                        "description": "Actions to run, in order.",
                        "type": "array",
                        "minItems": 1,
                        "items": { "$ref": format!("#/definitions/action_{}", phase.key()) }
                    }
                }
            }),
        );
    }

    let rules = |phase: Phase| {
        json!({
            "type": "array",
            "description": format!("Rules of the {} phase, in order.", phase.key()),
            "items": { "$ref": format!("#/definitions/rule_{}", phase.key()) }
        })
    };
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://sluice.dev/schemas/policy.schema.json",
        "title": "sluice Traffic Policy",
        "description": "A Traffic Policy: rules per phase, each with CEL expressions and actions. Compatible with ngrok's format.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "on_tcp_connect": rules(Phase::TcpConnect),
            "on_http_request": rules(Phase::HttpRequest),
            "on_http_response": rules(Phase::HttpResponse),
            "inbound": rules(Phase::HttpRequest),
            "outbound": rules(Phase::HttpResponse),
        },
        "definitions": Value::Object(definitions),
    })
}
