//! `req.url.user_password` and `req.url.authority`: user information in the request URL is
//! kept apart from the host, and put back where RFC 3986 has it.

use sluice_policy::harness;
use sluice_policy::values::RequestUrl;

fn url_of(url: &str) -> RequestUrl {
    let req = harness::request("GET", url, &[]);
    RequestUrl::of(&req, &harness::endpoint("https://app.example.com"))
}

#[test]
fn user_information_is_split_from_the_host() {
    let url = url_of("https://alice:s3cret@app.example.com:8443/a?b=1");
    assert_eq!(url.userinfo, "alice:s3cret");
    assert_eq!(url.host, "app.example.com");
    assert_eq!(url.authority(), "app.example.com:8443");
    assert_eq!(
        url.authority_with_userinfo(),
        "alice:s3cret@app.example.com:8443"
    );
    assert_eq!(
        url.full_with_userinfo(),
        "https://alice:s3cret@app.example.com:8443/a?b=1"
    );
    assert_eq!(url.full(), "https://app.example.com:8443/a?b=1");
}

#[test]
fn a_user_without_password_and_no_user_at_all() {
    let url = url_of("https://alice@app.example.com/");
    assert_eq!(url.userinfo, "alice");
    assert_eq!(url.authority_with_userinfo(), "alice@app.example.com");
    let plain = url_of("/x");
    assert_eq!(plain.userinfo, "");
    assert_eq!(plain.authority_with_userinfo(), "app.example.com");
    assert_eq!(plain.full_with_userinfo(), plain.full());
}
