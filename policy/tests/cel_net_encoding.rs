//! IP ranges, base64, basic auth and URLs.

#[path = "cel_common/mod.rs"]
mod common;

use cel::Value;
use common::{assert_err, assert_true, eval};

#[test]
fn in_cidr_range_checks_v4_and_v6() {
    assert_true("inCidrRange('10.1.2.3', '10.0.0.0/8')");
    assert_true("!inCidrRange('11.1.2.3', '10.0.0.0/8')");
    assert_true("inCidrRange('2001:db8::1', '2001:db8::/32')");
    assert_true("!inCidrRange('2001:db9::1', '2001:db8::/32')");
    assert_true("inCidrRange('::ffff:10.0.0.1', '10.0.0.0/8')");
    assert_true("!inCidrRange('10.0.0.1', 'not-a-cidr') && !inCidrRange('nope', '10.0.0.0/8')");
    assert_true("!inCidrRange('10.0.0.1', '10.0.0.0/33')");
}

#[test]
fn in_cidr_ranges_ignores_invalid_entries() {
    assert_true("inCidrRanges('192.168.1.5', ['bogus', 1, '10.0.0.0/8', '192.168.0.0/16'])");
    assert_true("!inCidrRanges('8.8.8.8', ['bogus', '10.0.0.0/8'])");
    assert_true("!inCidrRanges('8.8.8.8', []) && !inCidrRanges('x', ['0.0.0.0/0'])");
}

#[test]
fn is_private_ip_is_rfc1918_or_unique_local() {
    assert_true(
        "'10.0.0.1'.isPrivateIp() && '172.16.5.4'.isPrivateIp() && '192.168.0.1'.isPrivateIp()",
    );
    assert_true("!'172.32.0.1'.isPrivateIp() && !'8.8.8.8'.isPrivateIp()");
    assert_true("!'127.0.0.1'.isPrivateIp() && !'169.254.1.1'.isPrivateIp()");
    assert_true("'fd00::1'.isPrivateIp() && !'2001:db8::1'.isPrivateIp() && !'::1'.isPrivateIp()");
    assert_true("!'not an ip'.isPrivateIp()");
}

#[test]
fn base64_functions_and_methods() {
    assert_true("'hello'.encodeBase64() == 'aGVsbG8=' && ''.encodeBase64() == ''");
    assert_true("'aGVsbG8='.decodeBase64() == 'hello' && 'aGVsbG8'.decodeBase64() == 'hello'");
    assert_err("'@@@'.decodeBase64()", "decodeBase64");
    assert_err("'/w=='.decodeBase64()", "utf-8");
    assert_true("base64.encode(b'hello') == 'aGVsbG8='");
    assert_true("base64.decode('aGVsbG8=') == b'hello'");
}

#[test]
fn basic_auth_encode() {
    assert_true("basic_auth.encode('user', 'pass') == 'Basic dXNlcjpwYXNz'");
    assert_true("basic_auth.encode('', '') == 'Basic Og=='");
}

#[test]
fn url_escaping_matches_go_query_escape() {
    assert_true("url.escape('a b&c=d/é~*') == 'a+b%26c%3Dd%2F%C3%A9~%2A'");
    assert_true("'a b'.escapeUrl() == 'a+b'");
    assert_true("url.unescape('a+b%26c%3Dd%2F%C3%A9') == 'a b&c=d/é'");
    assert_true("'x%20y'.unescapeUrl() == 'x y'");
    assert_err("url.unescape('%zz')", "invalid URL escape");
    assert_err("'%4'.unescapeUrl()", "invalid URL escape");
}

#[test]
fn url_parse_returns_the_parts() {
    let expr = "url.parse('https://bob:pw@Example.com:8443/a%20b?x=1&x=2&y=z#top')";
    assert_true(&format!(
        "{expr}.scheme == 'https' && {expr}.host == 'Example.com' && {expr}.port == '8443' \
         && {expr}.path == '/a b' && {expr}.raw_query == 'x=1&x=2&y=z' \
         && {expr}.query == {{'x': ['1', '2'], 'y': ['z']}} && {expr}.fragment == 'top' \
         && {expr}.user == 'bob' && {expr}.opaque == '' && {expr}.authority == 'Example.com:8443'"
    ));
    assert_true("'/p?q=1'.parseUrl().path == '/p' && '/p?q=1'.parseUrl().host == ''");
    assert_true("'mailto:a@b.c'.parseUrl().opaque == 'a@b.c'");
    assert_true("'http://[::1]:80/'.parseUrl().host == '::1'");
    assert_err("url.parse(':no-scheme')", "missing protocol scheme");
    assert_err("'http://h:port/'.parseUrl()", "invalid port");
    assert_err("url.parse('/a%zz')", "invalid URL escape");
}

#[test]
fn is_url_needs_scheme_and_host() {
    assert_true("'https://example.com/x'.isURL() && 'ftp://h'.isURL()");
    assert_true("!'/relative'.isURL() && !'example.com'.isURL() && !'mailto:a@b'.isURL()");
    assert_true("!'http://bad port:x'.isURL() && !''.isURL()");
    assert_eq!(eval("'http://h'.isURL()"), Ok(Value::Bool(true)));
}
