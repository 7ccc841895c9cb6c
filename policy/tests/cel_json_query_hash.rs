//! JSON, query strings and hashes.

#[path = "cel_common/mod.rs"]
mod common;

use cel::Value;
use common::{assert_err, assert_true, eval};

#[test]
fn json_decode_builds_cel_values() {
    assert_true(
        r#"json.decode('{"a": [1, 2.5, "x", true, null], "b": {"c": -3}}') == {'a': [1, 2.5, 'x', true, null], 'b': {'c': -3}}"#,
    );
    assert_true(r#"'[1]'.decodeJson() == [1] && '"s"'.decodeJson() == 's'"#);
    assert_true(r#"json.decode('{"n": 1}').n + 1 == 2"#);
    assert_err("json.decode('{nope')", "json.decode");
    assert_err("''.decodeJson()", "json.decode");
}

#[test]
fn json_encode_is_compact_with_sorted_keys() {
    assert_eq!(
        eval("json.encode({'b': [1, 2.5, 'x', null], 'a': true})"),
        Ok(Value::from(r#"{"a":true,"b":[1,2.5,"x",null]}"#))
    );
    assert_true(r#"[1, 'a'].encodeJson() == '[1,"a"]' && {}.encodeJson() == '{}'"#);
    assert_true(r#"json.encode('x') == '"x"' && json.encode(b'hi') == '"aGk="'"#);
    assert_true(r#"json.encode({1: 'one'}) == '{"1":"one"}'"#);
    assert_err("json.encode(1.0 / 0.0)", "unsupported number");
}

#[test]
fn is_json_checks_well_formedness() {
    assert_true(r#"'{"a": 1}'.isJson() && '[]'.isJson() && '1'.isJson() && 'null'.isJson()"#);
    assert_true("!'{a: 1}'.isJson() && !''.isJson() && !'[1,'.isJson()");
}

#[test]
fn query_string_decode() {
    assert_true("queryString.decode('a=1&a=2&b=x+y&c') == {'a': ['1', '2'], 'b': 'x y', 'c': ''}");
    assert_true("queryString.decode('a=b&c=d')['a'] == 'b'");
    assert_true("'k=%2F'.decodeQueryString() == {'k': '/'} && ''.decodeQueryString() == {}");
    assert_true("queryString.encode(queryString.decode('a=1&a=2&b=3')) == 'a=1&a=2&b=3'");
    assert_err("queryString.decode('a=%zz')", "invalid URL escape");
    assert_err("'a=1;b=2'.decodeQueryString()", "semicolon");
}

#[test]
fn query_string_encode() {
    assert_true("queryString.encode({'b': ['2', '3'], 'a': 'x y'}) == 'a=x+y&b=2&b=3'");
    assert_true("{'k': ['/&']}.encodeQueryString() == 'k=%2F%26' && {}.encodeQueryString() == ''");
    assert_err("queryString.encode({'a': 1})", "string or list(string)");
    assert_err("queryString.encode({'a': [1]})", "string");
}

#[test]
fn is_query_string() {
    assert_true("'a=1&b=2'.isQueryString() && ''.isQueryString() && 'flag'.isQueryString()");
    assert_true("!'a=%zz'.isQueryString() && !'a=1;b=2'.isQueryString()");
    assert_true("!'not a query string'.isQueryString() && !'a=1#frag'.isQueryString()");
    assert_true("'q=a+b&x=%20'.isQueryString()");
}

#[test]
fn hashes_default_to_lower_hex() {
    assert_true("hash.md5('hello') == '5d41402abc4b2a76b9719d911017c592'");
    assert_true("hash.sha1('hello') == 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'");
    assert_true(
        "hash.sha256('hello') == '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'",
    );
    assert_true(
        "hash.sha512('hello').startsWith('9b71d224bd62f378') && size(hash.sha512('')) == 128",
    );
    assert_true("hash.crc32('hello') == '3610a686'");
    assert_true(
        "hash.crc64('123456789') == 'b90956c775a41001' && hash.crc64('hello') == '3c3eeee2d8100000'",
    );
    assert_true("hash.xxhash64('') == 'ef46db3751d8e999'");
}

#[test]
fn hashes_have_method_forms_and_accept_bytes() {
    assert_true("'hello'.md5() == hash.md5('hello') && b'hello'.md5() == hash.md5(b'hello')");
    assert_true(
        "'hello'.sha1() == hash.sha1(b'hello') && 'hello'.sha256() == hash.sha256('hello')",
    );
    assert_true("'x'.sha512() == hash.sha512('x') && 'x'.crc32() == hash.crc32('x')");
    assert_true("'x'.crc64() == hash.crc64('x') && 'x'.xxhash64() == hash.xxhash64(b'x')");
}

#[test]
fn hash_format_argument() {
    assert_true("hash.crc32('hello', 'base64') == 'NhCmhg=='");
    assert_true("'hello'.sha256('base64') == 'LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ='");
    assert_true("hash.md5('hello', 'hex') == hash.md5('hello')");
    assert_err("hash.md5('hello', 'base32')", "unsupported format 'base32'");
    assert_err("'hello'.sha1('HEX')", "unsupported format");
    assert_err("hash.md5(1)", "no matching overload");
}
