//! Every load-time validation error: its code, its path, and its line:column.

use sluice_policy::{LoadOptions, PolicyError, Protocol, load_policy};

fn load(yaml: &str) -> Result<sluice_policy::Policy, PolicyError> {
    load_policy(
        "p.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions::default(),
    )
}

fn err(yaml: &str) -> String {
    load(yaml).expect_err("policy must not load").to_string()
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = err("on_http_request:\n  - actions: [\n");
    assert!(e.starts_with("p.yml:"), "{e}");
    assert!(e.contains("ERR_SLUICE_2236"), "{e}");
}

#[test]
fn map_where_a_list_belongs_is_explained() {
    let e = err("on_http_request:\n  actions:\n    - type: deny\n");
    assert!(
        e.contains("p.yml:2:3: on_http_request: expected a list of rules, found a map"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_9026"), "{e}");
}

#[test]
fn unknown_phase_and_unknown_rule_field() {
    let e = err(
        "on_request:\n  - actions: [{type: deny}]\non_http_request:\n  - action: [{type: deny}]\n",
    );
    assert!(
        e.contains("p.yml:1:1: on_request: unknown phase `on_request`"),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[0].action: unknown field `action`"),
        "{e}"
    );
}

#[test]
fn unknown_action_type() {
    let e = err("on_http_request:\n  - actions:\n      - type: teleport\n");
    assert!(
        e.contains(
            "p.yml:3:15: on_http_request[0].actions[0].type: unknown action type `teleport`"
        ),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2201"), "{e}");
}

#[test]
fn action_not_allowed_in_phase() {
    let e = err("on_http_response:\n  - actions:\n      - type: deny\n");
    assert!(e.contains("`deny` cannot run in on_http_response"), "{e}");
    assert!(e.contains("ERR_SLUICE_2202"), "{e}");
}

#[test]
fn phase_not_allowed_for_protocol() {
    let yaml = "on_http_request:\n  - actions: [{type: deny}]\n";
    let e = load_policy(
        "p.yml",
        yaml,
        &sluice_modules::builtin_registry(),
        LoadOptions {
            protocol: Some(Protocol::Tcp),
            ..LoadOptions::default()
        },
    )
    .expect_err("tcp endpoints only run on_tcp_connect")
    .to_string();
    assert!(e.contains("tcp endpoints only run on_tcp_connect"), "{e}");
    assert!(e.contains("ERR_SLUICE_2230"), "{e}");
}

#[test]
fn config_unknown_field_type_error_and_range() {
    let e = err(
        "on_http_request:\n  - actions:\n      - type: custom-response\n        config:\n          status: 200\n      \n  - actions:\n      - type: deny\n        config: {status_code: 99}\n  - actions:\n      - type: custom-response\n        config: {status_code: abc}\n",
    );
    assert!(
        e.contains(
            "p.yml:5:11: on_http_request[0].actions[0].config.status: unknown field `status`"
        ),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[1].actions[0].config.status_code: must be an HTTP status"),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[2].actions[0].config.status_code: expected u16"),
        "{e}"
    );
    // All errors of the file at once.
    assert_eq!(e.lines().count(), 3, "{e}");
}

#[test]
fn unreachable_action_after_terminating_one_loads_with_a_warning() {
    // As ngrok does (its maintenance-page example puts an action after `custom-response`):
    // the policy loads, the unreachable action is named in a warning and never runs.
    let policy = load(
        "on_http_request:\n  - actions:\n      - type: custom-response\n      - type: log\n        config: {metadata: {a: b}}\n",
    )
    .expect("loads with a warning");
    let warnings: Vec<String> = policy.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.contains("p.yml:4:9: warning: on_http_request[0].actions[1]: `log` is unreachable"),
        "{w}"
    );
    assert!(w.contains("`custom-response`"), "{w}");
    assert!(w.contains("ERR_SLUICE_2207"), "{w}");
    assert_eq!(
        policy.rules(sluice_policy::Phase::HttpRequest)[0]
            .actions
            .len(),
        1
    );
}

#[test]
fn unreachable_action_is_still_validated() {
    let e = err(
        "on_http_request:\n  - actions:\n      - type: custom-response\n      - type: log\n        config: {metadta: {a: b}}\n",
    );
    assert!(e.contains("unknown field `metadta`"), "{e}");
}

#[test]
fn rule_without_actions() {
    let e = err("on_http_request:\n  - name: nothing\n  - actions: []\n");
    assert!(
        e.contains("on_http_request[0]: a rule must have `actions`"),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[1].actions: a rule must have at least one action"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2206"), "{e}");
}

#[test]
fn cel_syntax_unknown_variable_unknown_function() {
    let e = err(
        "on_http_request:\n  - expressions: ['req.method ==']\n    actions: [{type: deny}]\n  - expressions: ['request.method == \"GET\"']\n    actions: [{type: deny}]\n  - expressions: ['frobnicate(req.method)']\n    actions: [{type: deny}]\n",
    );
    assert!(
        e.contains("on_http_request[0].expressions[0]: invalid expression"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2200"), "{e}");
    assert!(
        e.contains("on_http_request[1].expressions[0]: unknown variable `request`"),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[2].expressions[0]: unknown function `frobnicate`"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2232"), "{e}");
}

#[test]
fn bad_template_in_config() {
    let e = err(
        "on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers: {x-a: \"${nope.x}\", x-b: \"${req.method\"}\n",
    );
    assert!(
        e.contains("config.headers.x-a: in `${nope.x}`: unknown variable `nope`"),
        "{e}"
    );
    assert!(e.contains("config.headers.x-b: unterminated `${`"), "{e}");
}

#[test]
fn invalid_static_regex_in_matches() {
    let e = err(
        "on_http_request:\n  - expressions: [\"req.url.path.matches('(')\"]\n    actions: [{type: deny}]\n",
    );
    assert!(e.contains("on_http_request[0].expressions[0]"), "{e}");
}

#[test]
fn legacy_phase_names_load_with_a_warning() {
    let p = load("inbound:\n  - actions: [{type: deny}]\noutbound:\n  - actions: [{type: add-headers, config: {headers: {a: b}}}]\n")
        .expect("legacy names load");
    assert_eq!(p.warnings().len(), 2);
    assert!(
        p.warnings()[0]
            .to_string()
            .contains("write `on_http_request` instead")
    );
}

#[test]
fn json_policies_load_with_line_numbers() {
    let ok = load(
        r#"{"on_http_request":[{"expressions":["req.url.contains('/api')"],"actions":[{"type":"deny"}]}]}"#,
    );
    assert!(ok.is_ok());
    let e = err("{\n  \"on_http_request\": [\n    {\"actions\": [{\"type\": \"nope\"}]}\n  ]\n}\n");
    assert!(
        e.contains("p.yml:3:27: on_http_request[0].actions[0].type: unknown action type `nope`"),
        "{e}"
    );
}

#[test]
fn rule_names_may_be_any_scalar() {
    let p = load("on_http_request:\n  - name: 404\n    actions: [{type: deny}]\n").expect("loads");
    assert_eq!(
        p.rules(sluice_policy::Phase::HttpRequest)[0]
            .name
            .as_deref(),
        Some("404")
    );
}

#[test]
fn empty_and_oversized_header_lists_have_their_own_codes() {
    let e = err("on_http_request:\n  - actions: [{type: remove-headers, config: {headers: []}}]\n");
    assert!(
        e.contains("config.headers: give 1 to 10 headers, found 0 [ERR_SLUICE_2204]"),
        "{e}"
    );
    let many: Vec<String> = (0..11).map(|i| format!("h{i}")).collect();
    let e = err(&format!(
        "on_http_request:\n  - actions: [{{type: remove-headers, config: {{headers: [{}]}}}}]\n",
        many.join(", ")
    ));
    assert!(e.contains("found 11 [ERR_SLUICE_2218]"), "{e}");
}

#[test]
fn unknown_request_field_is_a_load_error_with_a_hint() {
    let e = err(
        "on_http_request:\n  - expressions: [\"req.path == '/x'\"]\n    actions: [{type: deny}]\n",
    );
    assert!(
        e.contains("`req.path` is not a variable; did you mean `req.url.path`?"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2232"), "{e}");
}

#[test]
fn unknown_subfields_at_any_depth_are_load_errors() {
    let e = err(
        "on_http_request:\n  - expressions: [\"req.user_agent.raw.matches('curl.*')\"]\n    actions: [{type: deny}]\n",
    );
    assert!(e.contains("p.yml:2:19"), "{e}");
    assert!(e.contains("`req.user_agent.raw` is not a variable"), "{e}");
    assert!(e.contains("did you mean `req.user_agent`"), "{e}");
    assert!(e.contains("ERR_SLUICE_2232"), "{e}");
    // In a `${…}` template too, and deep under `conn`.
    let e = err(
        "on_http_request:\n  - actions: [{type: add-headers, config: {headers: {x-c: \"${conn.client_ip.geo.locaton.city}\"}}}]\n",
    );
    assert!(
        e.contains("`conn.client_ip.geo.locaton` is not a variable"),
        "{e}"
    );
    assert!(e.contains("ERR_SLUICE_2232"), "{e}");
    // Keys of user-data maps stay free.
    assert!(
        load("on_http_request:\n  - expressions: [\"req.headers.x_a.size() > 0 || vars.a.b == 'c' || req.url.query_params.q.size() > 0\"]\n    actions: [{type: deny}]\n").is_ok()
    );
}

#[test]
fn expensive_expressions_are_refused_at_load() {
    let l: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let l = format!("[{}]", l.join(","));
    let e = err(&format!(
        "on_http_request:\n  - expressions: [\"{l}.exists(a, {l}.exists(b, {l}.exists(c, a + b + c == -1)))\"]\n    actions: [{{type: deny}}]\n"
    ));
    assert!(e.contains("p.yml:2:19"), "{e}");
    assert!(e.contains("ERR_SLUICE_2270"), "{e}");
    assert!(e.contains("over the limit of 10000000"), "{e}");
    let e = err(
        "on_http_request:\n  - actions: [{type: add-headers, config: {headers: {x-c: \"${req.headers.exists(k, req.headers.exists(j, j == k))}\"}}}]\n",
    );
    assert!(e.contains("ERR_SLUICE_2270"), "{e}");
    // One loop over a header's values loads (ngrok's documentation example, issue 22); the
    // same loop nested in itself is refused, located at its expression.
    assert!(
        load("on_http_request:\n  - expressions: [\"getReqHeader('tier').exists(v, v.matches('(?i)bronze'))\"]\n    actions: [{type: deny}]\n").is_ok()
    );
    let e = err(
        "on_http_request:\n  - expressions:\n      - \"getReqHeader('tier').exists(v, getReqHeader('tier').exists(w, v.matches(w)))\"\n    actions: [{type: deny}]\n",
    );
    assert!(e.contains("p.yml:3:9"), "{e}");
    assert!(e.contains("ERR_SLUICE_2270"), "{e}");
    assert!(e.contains("estimated worst-case cost"), "{e}");
}

#[test]
fn policies_only_build_the_fields_they_read() {
    let p = load("on_http_request:\n  - expressions: [\"req.method == 'GET'\", \"hasReqHeader('x')\"]\n    actions: [{type: add-headers, config: {headers: {a: \"${req.url.path}\"}}}]\n")
        .expect("loads");
    let needs = p.needs();
    let fields = sluice_policy::cel::needs::REQ_FIELDS;
    let wanted: Vec<&str> = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| needs.req.has(*i))
        .map(|(_, f)| *f)
        .collect();
    assert_eq!(wanted, vec!["method", "__url", "headers"]);
    assert!(needs.res.is_empty() && !needs.time && !needs.vars && !needs.actions);
}

#[test]
fn variables_that_do_not_exist_yet_in_a_phase() {
    let e = err(
        "on_tcp_connect:\n  - expressions: [\"req.method == 'GET'\"]\n    actions: [{type: deny}]\non_http_request:\n  - expressions: [\"res.status_code == 500\"]\n    actions: [{type: deny}]\n  - actions:\n      - type: add-headers\n        config: {headers: {x: \"${getResHeader('server')}\"}}\n",
    );
    assert!(e.contains("p.yml:2:19: on_tcp_connect[0].expressions[0]: `req` and `res` do not exist in on_tcp_connect"), "{e}");
    assert!(
        e.contains("on_http_request[0].expressions[0]: `res` does not exist in on_http_request"),
        "{e}"
    );
    assert!(
        e.contains("on_http_request[1].actions[0].config: `res` does not exist in on_http_request"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 3, "{e}");
}
