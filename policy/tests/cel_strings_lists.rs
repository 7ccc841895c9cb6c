//! Strings, lists, regex matching and random numbers.

#[path = "cel_common/mod.rs"]
mod common;

use cel::Value;
use common::{assert_err, assert_true, eval};

#[test]
fn lower_and_upper_follow_go_strings_to_lower_and_upper() {
    assert_true("'ÀBC Straße'.lower() == 'àbc straße'");
    assert_true("'àbc straße'.upper() == 'ÀBC STRAßE'");
    assert_true("'İstanbul'.lower() == 'istanbul' && 'ΟΔΟΣ'.lower() == 'οδοσ'");
    assert_true("''.lower() == '' && ''.upper() == ''");
    assert_true("'ÀBC'.lowerAscii() == 'Àbc'");
}

#[test]
fn strings_extension_functions_work() {
    assert_true("'hello'.charAt(1) == 'e' && 'hello'.charAt(5) == ''");
    assert_err("'hello'.charAt(6)", "index out of range");
    assert_true("'hello'.indexOf('l') == 2 && 'hello'.indexOf('z') == -1");
    assert_true("'hello'.lastIndexOf('l') == 3 && 'hello'.lastIndexOf('z') == -1");
    assert_true("'hello'.substring(1, 3) == 'el' && 'hello'.substring(2) == 'llo'");
    assert_err("'hello'.substring(4, 2)", "");
    assert_true("'héllo'.reverse() == 'olléh' && ''.reverse() == ''");
    assert_true(r#"strings.quote('a"b') == '"a\\"b"'"#);
    assert_true("'a,b,c'.split(',') == ['a', 'b', 'c'] && ''.split(',') == ['']");
    assert_true("'  a b\\tc\\n'.split() == ['a', 'b', 'c'] && ''.split() == []");
    assert_true("' x '.trim() == 'x' && 'aXa'.replace('a', 'b') == 'bXb'");
    assert_true("'%s=%d'.format(['n', 1]) == 'n=1'");
    assert_true("'A'.upperAscii() == 'A'");
}

#[test]
fn join_takes_an_optional_separator() {
    assert_true("['a', 'b'].join() == 'ab' && ['a', 'b'].join('-') == 'a-b'");
    assert_true("[].join(',') == ''");
    assert_err("[1, 2].join(',')", "");
}

#[test]
fn lists_extension_functions_work() {
    assert_true("[1, 2, 3, 4].slice(1, 3) == [2, 3]");
    assert_err("[1, 2].slice(2, 1)", "");
    assert_true("[[1], [2, [3]]].flatten() == [1, 2, [3]]");
    assert_true("[[1], [2, [3]]].flatten(2) == [1, 2, 3]");
    assert_true("[3, 1, 2].sort() == [1, 2, 3] && ['b', 'a'].sort() == ['a', 'b']");
    assert_err("[1, 'a'].sort()", "");
    assert_true("[{'n': 2}, {'n': 1}].sortBy(e, e.n) == [{'n': 1}, {'n': 2}]");
    assert_true("[1, 2, 1, 3].distinct() == [1, 2, 3] && [].distinct() == []");
    assert_true("lists.range(3) == [0, 1, 2] && lists.range(0) == []");
    assert_true("[1, 2].reverse() == [2, 1]");
}

#[test]
fn sort_with_a_comparator_orders_by_it_and_is_stable() {
    // The form of ngrok's set-vars example.
    assert_true(
        "[{'n': 'b', 'latency': 30}, {'n': 'a', 'latency': 10}, {'n': 'c', 'latency': 20}]\
         .sort(x, y, x.latency < y.latency).map(e, e.n) == ['a', 'c', 'b']",
    );
    assert_true("[3, 1, 2].sort(a, b, a > b) == [3, 2, 1]");
    assert_true("[].sort(a, b, a < b) == [] && [7].sort(a, b, a < b) == [7]");
    // Equal keys keep their order.
    assert_true(
        "[{'k': 1, 'i': 0}, {'k': 0, 'i': 1}, {'k': 1, 'i': 2}, {'k': 0, 'i': 3}]\
         .sort(p, q, p.k < q.k).map(e, e.i) == [1, 3, 0, 2]",
    );
    // Key comparisons in every spelling, and a general comparator, agree.
    for (expr, want) in [
        ("[2, 3, 1, 2].sort(a, b, a < b)", "[1, 2, 2, 3]"),
        ("[2, 3, 1, 2].sort(a, b, b > a)", "[1, 2, 2, 3]"),
        ("[2, 3, 1, 2].sort(a, b, a >= b)", "[3, 2, 2, 1]"),
        ("[2, 3, 1, 2].sort(a, b, b < a)", "[3, 2, 2, 1]"),
        (
            "[2, 3, 1, 2].sort(a, b, a % 10 < b % 10 || a < b)",
            "[1, 2, 2, 3]",
        ),
        (
            "['bb', 'a', 'ccc'].sort(a, b, size(a) > size(b))",
            "['ccc', 'bb', 'a']",
        ),
    ] {
        assert_true(&format!("{expr} == {want}"));
    }
    // Descending keeps equal keys in their order too.
    assert_true(
        "[{'k': 1, 'i': 0}, {'k': 0, 'i': 1}, {'k': 1, 'i': 2}, {'k': 0, 'i': 3}]\
         .sort(p, q, p.k > q.k).map(e, e.i) == [0, 2, 1, 3]",
    );
    // The other list functions ngrok documents keep working next to it.
    assert_true("[3, 1, 2].sort() == [1, 2, 3] && [2, 1].sortBy(v, v) == [1, 2]");
    assert_err("[1, 2].sort(a, b, 'not a bool')", "");
}

#[test]
fn sort_with_a_comparator_needs_two_distinct_names() {
    for (expr, needle) in [
        ("[1, 2].sort(a.b, c, true)", "simple names"),
        ("[1, 2].sort(a, a, a < a)", "must differ"),
    ] {
        match common::ENV.compile(expr) {
            Err(e) => assert!(e.to_string().contains(needle), "{expr}: {e}"),
            Ok(_) => panic!("{expr} should not compile"),
        }
    }
}

#[test]
fn matches_works_as_function_and_method() {
    assert_true("'/api/v2/x'.matches('^/api/v[0-9]+/')");
    assert_true("matches('/api/v2/x', 'v2')");
    assert_true("!'/web'.matches('^/api')");
    assert_true("'ABC'.matches('(?i)abc')");
}

#[test]
fn matches_reports_an_invalid_pattern() {
    // A literal pattern is rejected when compiling...
    assert!(common::ENV.compile("'a'.matches('(')").is_err());
    assert!(common::ENV.compile("matches('a', '[')").is_err());
    // ...a computed one when evaluating.
    assert_err("'a'.matches('(' + '')", "matches");
}

#[test]
fn rand_double_is_in_unit_interval() {
    for _ in 0..100 {
        assert_true("rand.double() >= 0.0 && rand.double() < 1.0");
    }
}

#[test]
fn rand_int_is_in_range() {
    assert_eq!(eval("rand.int()"), Ok(Value::Int(0)));
    for _ in 0..100 {
        assert_true("rand.int(5, 8) >= 5 && rand.int(5, 8) < 8");
        assert_true("rand.int(-3, -2) == -3");
    }
    assert_err("rand.int(5, 5)", "min (5) must be less than max (5)");
    assert_err("rand.int(9, 1)", "must be less than");
}
