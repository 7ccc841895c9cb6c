//! `sluice policy eval`: the CEL playground, run as a user runs it (the real binary).

use std::process::Command;

use serde_json::Value;

mod support;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn sluice(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("sluice runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `policy eval … --format json`, parsed.
fn eval_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["policy", "eval", "--format", "json"];
    all.extend_from_slice(args);
    let r = sluice(&all);
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

#[test]
fn an_expression_has_its_value_and_cel_type() {
    let (code, v) = eval_json(&[
        "req.url.query_params['b'][0]",
        "--request",
        "GET https://x.test/a?b=1",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["value"], "1");
    assert_eq!(v["type"], "string");
    assert_eq!(v["phase"], "on_http_request");

    let (_, v) = eval_json(&["req.url.host", "--request", "https://x.test:8443/p"]);
    assert_eq!(v["value"], "x.test", "the host comes from the request URL");

    let (_, v) = eval_json(&["size(req.headers['x-a'])", "-H", "X-A: 1", "-H", "x-a: 2"]);
    assert_eq!(v["value"], 2, "repeated -H give a list of two values");
    assert_eq!(v["type"], "int");

    let (_, v) = eval_json(&["req.method == 'POST'", "--request", "POST /"]);
    assert_eq!(v["value"], Value::Bool(true), "{v}");
}

#[test]
fn the_text_form_writes_a_cel_literal_and_the_type() {
    let r = sluice(&["policy", "eval", "req.headers['x-a']", "-H", "x-a: it's"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "['it\\'s']\n  type: list · phase: on_http_request\n"
    );
}

#[test]
fn templates_render_and_the_client_ip_is_used() {
    let (code, v) = eval_json(&[
        "${req.method} from ${conn.client_ip}",
        "--client-ip",
        "10.1.2.3",
        "--request",
        "DELETE /x",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["value"], "DELETE from 10.1.2.3");
}

#[test]
fn on_tcp_connect_sees_the_connection() {
    let (code, v) = eval_json(&[
        "conn.client_ip",
        "--phase",
        "on_tcp_connect",
        "--client-ip",
        "192.0.2.44",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["phase"], "on_tcp_connect");
    assert_eq!(v["value"], "192.0.2.44");
}

#[test]
fn reading_the_response_picks_the_response_phase() {
    let (_, v) = eval_json(&[
        "res.status_code >= 500 && res.headers['retry-after'][0] == '3'",
        "--response-status",
        "503",
        "--response-header",
        "Retry-After: 3",
    ]);
    assert_eq!(v["phase"], "on_http_response");
    assert_eq!(v["value"], Value::Bool(true), "{v}");
}

#[test]
fn a_context_file_describes_the_request_and_flags_override_it() {
    let path = support::scratch_dir().join("ctx.yml");
    std::fs::write(
        &path,
        "endpoint: https://api.example.com\n\
         conn:\n  client_ip: 192.0.2.9\n\
         request:\n  method: PUT\n  url: /v1/items?id=7\n  headers:\n    authorization: Bearer t\n",
    )
    .expect("write context");
    let ctx = path.to_str().expect("utf-8 path");
    let (_, v) = eval_json(&[
        "[req.method, req.url.host, req.url.query_params['id'][0], conn.client_ip, req.headers['authorization'][0]]",
        "--context",
        ctx,
    ]);
    assert_eq!(
        v["value"],
        serde_json::json!(["PUT", "api.example.com", "7", "192.0.2.9", "Bearer t"])
    );
    let (_, v) = eval_json(&[
        "conn.client_ip",
        "--context",
        ctx,
        "--client-ip",
        "10.9.9.9",
    ]);
    assert_eq!(v["value"], "10.9.9.9");

    std::fs::write(&path, "request:\n  methd: GET\n").expect("write context");
    let r = sluice(&["policy", "eval", "1", "--context", ctx]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("ctx.yml:2:3"), "{}", r.stderr);
}

#[test]
fn errors_have_codes_columns_and_exit_1() {
    let r = sluice(&["policy", "eval", "req.pth"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("ERR_SLUICE_2232"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("${"),
        "a plain expression is reported as written: {}",
        r.stderr
    );

    let r = sluice(&["policy", "eval", "req.method == 'GET' &&"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("1:23"),
        "syntax error column: {}",
        r.stderr
    );

    let (code, v) = eval_json(&["req.headers['missing'][0]"]);
    assert_eq!(code, 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("missing"),
        "{v}"
    );

    let r = sluice(&["policy", "eval", "1", "--request", "x.test/a"]);
    assert_eq!(r.code, 2, "a request without a scheme or a leading slash");
}

#[test]
fn with_a_policy_it_shows_which_rules_fire() {
    let path = support::scratch_dir().join("p.yml");
    std::fs::write(
        &path,
        "on_http_request:\n\
         \x20 - name: admin\n    expressions: [\"req.url.path.startsWith('/admin')\"]\n    actions: [{type: deny}]\n\
         \x20 - name: tag\n    actions: [{type: add-headers, config: {headers: {x-tag: one}}}]\n",
    )
    .expect("write policy");
    let p = path.to_str().expect("utf-8 path");
    let (code, v) = eval_json(&["--policy", p, "--request", "GET /admin/users"]);
    assert_eq!(code, 0);
    let rules = &v["phases"][0]["rules"];
    assert_eq!(rules[0]["fired"], Value::Bool(true));
    assert_eq!(rules[0]["expressions"][0]["value"], Value::Bool(true));
    assert_eq!(
        rules[1]["reached"],
        Value::Bool(false),
        "deny ended the phase"
    );
    assert_eq!(v["forwarded"], Value::Bool(false));
    assert_eq!(v["status"], 403);

    let (_, v) = eval_json(&["--policy", p, "--request", "GET /home"]);
    let rules = &v["phases"][0]["rules"];
    assert_eq!(rules[0]["fired"], Value::Bool(false));
    assert_eq!(rules[0]["expressions"][0]["value"], Value::Bool(false));
    assert_eq!(rules[1]["fired"], Value::Bool(true));
    assert_eq!(v["forwarded"], Value::Bool(true));
    assert_eq!(v["status"], 200);
}

#[test]
fn with_trace_it_shows_what_each_action_changed() {
    let path = support::scratch_dir().join("p.yml");
    std::fs::write(
        &path,
        "on_http_request:\n\
         \x20 - name: tag\n    actions: [{type: add-headers, config: {headers: {x-tag: one}}}]\n\
         \x20 - name: admin\n    expressions: [\"req.url.path.startsWith('/admin')\"]\n    actions: [{type: deny}]\n",
    )
    .expect("write policy");
    let p = path.to_str().expect("utf-8 path");
    let (code, v) = eval_json(&["--policy", p, "--trace", "--request", "GET /admin/users"]);
    assert_eq!(code, 0);
    let rules = &v["trace"]["phases"][0]["rules"];
    assert_eq!(v["trace"]["phases"][0]["phase"], "on_http_request");
    assert_eq!(rules[0]["actions"][0]["effect"], "added x-tag");
    assert_eq!(rules[1]["matched"], Value::Bool(true));
    assert_eq!(rules[1]["expressions"][0]["result"], Value::Bool(true));
    assert_eq!(rules[1]["actions"][0]["effect"], "responded 403");
    assert_eq!(rules[1]["actions"][0]["terminated"], Value::Bool(true));

    let (_, v) = eval_json(&["--policy", p, "--request", "GET /admin/users"]);
    assert!(v.get("trace").is_none(), "no trace unless asked: {v}");

    let r = sluice(&[
        "policy",
        "eval",
        "--policy",
        p,
        "--trace",
        "--request",
        "GET /home",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("add-headers: added x-tag"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("no match"), "{}", r.stdout);
}
