use super::*;

#[test]
fn gitlab_token_is_compared_with_the_secret() {
    let secret = "gitlab-token-123";
    let req = Req::post(r#"{"object_kind":"push"}"#).header("X-Gitlab-Token", secret);
    assert_verified(req.verify(Provider::GitLab, secret, now()));
    assert_mismatch(req.verify(Provider::GitLab, "gitlab-token-124", now()));
    assert_mismatch(req.verify(Provider::GitLab, "gitlab-token-1234", now()));
    let bare = req.without("X-Gitlab-Token");
    assert_missing(
        bare.verify(Provider::GitLab, secret, now()),
        "X-Gitlab-Token",
    );
}

#[test]
fn gitlab_token_does_not_sign_the_body() {
    // GitLab's scheme authenticates the sender only; any body passes with the token.
    let secret = "gitlab-token-123";
    let req = Req::post("anything").header("X-Gitlab-Token", secret);
    assert_verified(req.verify(Provider::GitLab, secret, now()));
}
